"""
The systemd unit (systemd-analyze verify, when it is installed; its
hardening and restart policy) and `pubbot init` (the real tool in a
subprocess: a config that starts, validated before it is written, never
overwriting a file).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib

import pytest

from pubbot.config.init import config_text, server_endpoint
from pubbot.config.settings import load, parse

from .support.servers import ROOT, bot_env

UNIT = os.path.join(ROOT, "contrib", "pubbot.service")


def unit_settings() -> dict:
    found: dict = {}
    with open(UNIT, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "[")):
                name, _, value = line.partition("=")
                found.setdefault(name, []).append(value)
    return found


class TestUnit:
    @pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
    def test_systemd_analyze_verify_is_clean(self):
        done = subprocess.run(["systemd-analyze", "verify", UNIT], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stderr.strip() == "" and done.stdout.strip() == ""

    def test_runs_twistd_as_its_own_user_hardened(self):
        s = unit_settings()
        assert "twistd --nodaemon" in s["ExecStart"][0] and " pubbot " in s["ExecStart"][0]
        assert s["User"] == ["pubbot"] and s["DynamicUser"] == ["yes"]
        assert s["Restart"] == ["on-failure"]
        for name, value in (("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"), ("PrivateTmp", "yes"),
                            ("ProtectHome", "yes"), ("CapabilityBoundingSet", "")):
            assert s[name] == [value], name


def run_init(tmp_path, *args, stdin=subprocess.DEVNULL):
    return subprocess.run([sys.executable, "-m", "pubbot.cli", "init", *args], cwd=str(tmp_path),
                          env=bot_env(), capture_output=True, text=True, timeout=60, stdin=stdin)


class TestInit:
    def test_writes_a_config_that_loads(self, tmp_path):
        done = run_init(tmp_path, "--server", "irc.libera.chat", "--nick", "ourbot", "--channel", "#a",
                        "--channel", "#b key", "--admin", "alice")
        assert done.returncode == 0, done.stderr
        settings = load(str(tmp_path / "pubbot.toml"))
        assert settings.irc.server == "tls:irc.libera.chat:6697"
        assert (settings.irc.nick, settings.irc.channels) == ("ourbot", ("#a", "#b key"))
        assert settings.plugins.admins == ("alice",)
        text = (tmp_path / "pubbot.toml").read_text()
        assert text.startswith("# pubbot config, written by `pubbot init`")
        assert [p.name for p in tmp_path.iterdir()] == ["pubbot.toml"]  # no temporary file left

    def test_never_overwrites(self, tmp_path):
        (tmp_path / "mine.toml").write_text("# mine\n")
        done = run_init(tmp_path, "--config", "mine.toml", "--server", "s", "--nick", "n", "--channel", "#c")
        assert done.returncode == 1
        assert done.stderr == "pubbot: mine.toml exists; not overwriting it (remove it or choose another " \
                              "--config)\n"
        assert (tmp_path / "mine.toml").read_text() == "# mine\n"

    def test_validated_before_it_is_written(self, tmp_path):
        done = run_init(tmp_path, "--server", "irc.example.net", "--nick", "9bad", "--channel", "#c")
        assert done.returncode == 1
        assert done.stderr == "pubbot: [irc] nick is not a valid nick: '9bad'\n"
        done = run_init(tmp_path, "--server", "irc.example.net", "--nick", "ok", "--channel", "nochannel")
        assert "[irc] channels has a bad channel 'nochannel'" in done.stderr
        assert list(tmp_path.iterdir()) == []

    def test_a_server_the_bot_would_refuse_is_not_written(self, tmp_path):
        for server, problem in (
                ("irc.example.net:99999", "'tls:irc.example.net:99999' needs a port (1-65535)"),
                ("tcp:irc.example.net", "'tcp:irc.example.net' needs a port (1-65535)"),
                ("tls::6697", "'tls::6697' names no host")):
            done = run_init(tmp_path, "--server", server, "--nick", "ok", "--channel", "#c")
            assert (done.returncode, done.stderr) == (1, "pubbot: [irc] server %s\n" % (problem,)), server
        assert list(tmp_path.iterdir()) == []

    def test_needs_the_essentials_without_a_terminal(self, tmp_path):
        done = run_init(tmp_path, "--nick", "n")
        assert (done.returncode, done.stderr) == (1, "pubbot: init needs --server, --channel\n")

    def test_hostile_values_stay_strings(self, tmp_path):
        text = config_text('x"\n[web]\ntoken = "', "n", ['#c"]\nadmins = ["eve'], ["a\\"])
        data = tomllib.loads(text)
        assert set(data) == {"irc", "plugins", "store"}
        assert data["irc"]["server"] == 'tls:x"\n[web]\ntoken = ":6697'
        assert data["irc"]["channels"] == ['#c"]\nadmins = ["eve'] and data["plugins"]["admins"] == ["a\\"]
        with pytest.raises(ValueError):
            parse(data)  # and the checks refuse them

    def test_server_forms(self):
        assert server_endpoint("irc.example.net") == "tls:irc.example.net:6697"
        assert server_endpoint("irc.example.net:7000") == "tls:irc.example.net:7000"
        assert server_endpoint("tcp:127.0.0.1:6667") == "tcp:127.0.0.1:6667"


def test_init_asks_on_a_terminal(tmp_path):
    """On a terminal, what the flags leave out is asked for (a real pseudo-terminal)."""
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(str(tmp_path))
        os.environ.update(bot_env())
        os.execv(sys.executable, [sys.executable, "-m", "pubbot.cli", "init", "--nick", "asked"])
    answers = [b"irc.example.net\n", b"#one #two\n", b"alice\n"]
    seen = b""
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 30)
            if not ready:
                raise AssertionError("init stalled; it said: %r" % (seen,))
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if answers and seen.rstrip().endswith(b":"):
                os.write(fd, answers.pop(0))
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert b"IRC server" in seen and b"Channels" in seen and b"Admin accounts" in seen
    settings = load(str(tmp_path / "pubbot.toml"))
    assert (settings.irc.server, settings.irc.nick, settings.irc.channels, settings.plugins.admins) == (
        "tls:irc.example.net:6697", "asked", ("#one", "#two"), ("alice",))
