"""The pubbot command-line tool: log parsing, brain read/utter and config check."""

import json
import os
import random
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from pubbot import cli
from pubbot.brain.chatlog import Tally, addressee, chatter, decode, parse_line
from pubbot.brain.model import EDGE, TrigramModel, parse_shard_key
from pubbot.store.memory import MemoryStore
from pubbot.testing import Harness, make_settings

from .support.servers import bot_env


def now(d):
    """The result of a Deferred or coroutine that has already finished."""
    if not isinstance(d, Deferred):
        d = Deferred.fromCoroutine(d)
    return Harness._now(d)

IRSSI = b"""--- Log opened Tue Jan 01 00:00:00 2013
12:34 < alice> the cheese is on the moon
12:35 <@bob> pubbot: what do you know
12:36 <+carol> i like cheese on toast
12:37 < pubbot> i am the bot talking
12:38  * dave waves at everyone
12:39 -!- dave [d@example.org] has quit [<x> y]
12:40 < erin> pubbot_, you there
12:41 < erin> carol: toast is nice indeed
12:42 < frank> !karma cheese
--- Day changed Wed Jan 02 2013
[09:00:01] <~grace> mornings are for coffee
"""

WEECHAT = b"""2013-05-01 12:34:56\t@heidi\tcheese makes me happy
2013-05-01 12:35:00\t-->\tivan (i@example.org) has joined #pubbot
2013-05-01 12:35:30\t<--\tivan has quit
2013-05-01 12:36:00\t--\tMode #pubbot [+o heidi]
2013-05-01 12:36:30\t *\theidi dances
2013-05-01 12:37:00\t=!=\tsomething went wrong
2013-05-01 12:38:00\tpubbot\tbots say the darnedest things
2013-05-01 12:39:00\tjudy\tpubbot: tell me about cheese
2013-05-01 12:40:00\t+judy\twine goes with cheese
"""


class TestParsing:

    @pytest.mark.parametrize("line, expected", [
        ("12:34 < alice> hello there", ("alice", "hello there")),
        ("12:34 <@alice> hello", ("alice", "hello")),
        ("12:34:56 <+al|ce> hi", ("al|ce", "hi")),
        ("[2013-01-01 12:34] <bob> hi", ("bob", "hi")),
        ("<bob> no timestamp", ("bob", "no timestamp")),
        ("12:34 < alice> ", ("alice", "")),
        ("2013-05-01 12:34:56\t@heidi\tcheese <b> yes", ("heidi", "cheese <b> yes")),
        ("2013-05-01 12:34:56\tjudy\ta\ttab", ("judy", "a\ttab")),
        ("12:34 < alice> text\r\n", ("alice", "text")),
    ])
    def test_chat_lines(self, line, expected):
        assert parse_line(line) == expected

    @pytest.mark.parametrize("line", [
        "--- Log opened Tue Jan 01 00:00:00 2013",
        "12:38  * dave waves",
        "12:39 -!- dave [d@h] has quit [<x> y]",
        "12:39 -!- mode/#c [+o <nick>] by x",
        "12:40 < two words> hi",
        "12:40 <#chan> hi",
        "2013-05-01 12:35:00\t-->\tivan has joined",
        "2013-05-01 12:35:00\t<--\tivan has quit",
        "2013-05-01 12:35:00\t--\tnotice",
        "2013-05-01 12:35:00\t *\theidi dances",
        "2013-05-01 12:35:00\t=!=\terror",
        "",
        "random text",
    ])
    def test_other_lines(self, line):
        assert parse_line(line) is None

    @given(st.text())
    def test_any_text(self, line):
        parsed = parse_line(line)
        if parsed is not None:
            assert parsed.nick and not any(c.isspace() for c in parsed.nick)

    def test_addressee(self):
        assert addressee("pubbot: hi") == "pubbot"
        assert addressee("pubbot, hi") == "pubbot"
        assert addressee("pubbot:") == "pubbot"
        assert addressee("note: this") == "note"
        assert addressee("hello there") is None
        assert addressee(": hi") is None
        assert addressee("") is None

    def test_decode(self):
        assert decode("caf\u00e9".encode("utf-8")) == "caf\u00e9"
        assert decode("caf\u00e9".encode("cp1252")) == "caf\u00e9"
        assert decode(b"\x81\xff") == "\ufffd\u00ff"

    def test_chatter_skips_bots_and_commands(self):
        tally = Tally()
        lines = list(chatter(IRSSI.splitlines(True), ["pubbot", "pubbot_"], "!", tally))
        assert lines == [
            "the cheese is on the moon",
            "i like cheese on toast",
            "carol: toast is nice indeed",
            "mornings are for coffee",
        ]
        assert (tally.lines, tally.chat, tally.skipped) == (12, 8, 4)
        lines = list(chatter(WEECHAT.splitlines(True), ["PubBot"]))
        assert lines == ["cheese makes me happy", "wine goes with cheese"]

    def test_chatter_bad_bytes(self):
        lines = list(chatter([b"12:00 < al> caf\xe9 \xff\xfe", b"\x00\x01\x02", b"\xff" * 100], []))
        assert lines == ["caf\u00e9 \u00ff\u00fe"]


def settings(**brain):
    from pubbot.plugins import brain as plugin
    return make_settings({"brain": brain} if brain else {}, plugin)


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


class TestReadLogs:
    """read_logs and utter on a memory store (they are store-agnostic)."""

    def test_read_and_utter(self, tmp_path, capsys):
        store = MemoryStore(Clock())
        model = now(cli.read_logs(store, settings(), [write(tmp_path, "a.log", IRSSI)]))
        assert model.count("the", "cheese", "is") == 1
        assert model.count(EDGE, "bots", "say") == 0
        out = capsys.readouterr().out
        assert "learned 4 (skipped 4 by or to bots or commands)" in out
        assert "it knew 0 before" in out
        reply = now(cli.utter(store, settings(), "cheese?", random.Random(0)))
        assert "cheese" in reply.split()
        assert now(cli.utter(store, settings(), "zebra", random.Random(0))) == "You make no sense"

    def test_keeps_what_it_knew(self, tmp_path, capsys):
        store = MemoryStore(Clock())
        first = now(cli.read_logs(store, settings(), [write(tmp_path, "a.log", IRSSI)]))
        model = now(cli.read_logs(store, settings(), [write(tmp_path, "b.log", WEECHAT)]))
        assert model.count("the", "cheese", "is") == 1
        assert model.count("wine", "goes", "with") == 1
        assert "it knew %d before" % (len(first),) in capsys.readouterr().out

    def test_replace(self, tmp_path, capsys):
        store = MemoryStore(Clock())
        now(cli.read_logs(store, settings(), [write(tmp_path, "a.log", IRSSI)]))
        model = now(cli.read_logs(store, settings(), [write(tmp_path, "b.log", WEECHAT)],
                                  replace=True))
        assert model.count("the", "cheese", "is") == 0
        stored = TrigramModel()
        for key in now(store.keys("brain:shard:")):
            stored.load_shard(parse_shard_key(key), now(store.get(key)))
        assert dict(stored.trigrams()) == dict(model.trigrams())
        assert "forgotten" in capsys.readouterr().out

    def test_the_bot_on_every_network_is_a_bot(self):
        s = make_settings({"irc": {"nick": "one"}, "networks": {"two": {"server": "tcp:a:1", "nick": "Two",
                                                                "alt_nicks": ["two_"]}}})
        assert cli.bot_nicks(s) == ["one", "pubbot_", "pubbot__", "two", "two_"]

    def test_extra_bots_and_ignore(self, tmp_path, capsys):
        store = MemoryStore(Clock())
        model = now(cli.read_logs(store, settings(ignore=["carol"]),
                                  [write(tmp_path, "a.log", IRSSI)], bots=["Alice"]))
        assert model.count(EDGE, EDGE, "the") == 0
        assert model.count(EDGE, EDGE, "i") == 0
        assert model.count(EDGE, EDGE, "mornings") == 1

    def test_missing_file(self, tmp_path):
        store = MemoryStore(Clock())
        with pytest.raises(cli.CommandError, match="cannot read .*nothere.log: No such file"):
            now(cli.read_logs(store, settings(), [write(tmp_path, "a.log", IRSSI),
                                                  str(tmp_path / "nothere.log")]))
        assert now(store.keys("")) == []

    def test_bounded(self, tmp_path, capsys):
        store = MemoryStore(Clock())
        lines = b"".join(b"12:00 < al> word%d word%d word%d\n" % (i, i + 1, i + 2) for i in range(500))
        model = now(cli.read_logs(store, settings(max_trigrams=100), [write(tmp_path, "a.log", lines)]))
        assert len(model) <= 100

    def test_huge_line(self, tmp_path, capsys):
        store = MemoryStore(Clock())
        data = b"12:00 < al> " + b"spam " * 100000 + b"\n12:01 < bo> normal line here\n"
        model = now(cli.read_logs(store, settings(), [write(tmp_path, "a.log", data)]))
        assert model.count("normal", "line", "here") == 1
        assert len(model) < 100


class TestReadLogsStopping:
    """Between turns of the reactor, read_logs stops when asked, before anything is written."""

    def big_log(self, tmp_path, lines=10000):
        return write(tmp_path, "big.log", b"".join(b"12:00 < al> word%d and word%d\n" % (i, i + 1)
                                                   for i in range(lines)))

    def test_interrupted_writes_nothing(self, tmp_path, capsys):
        clock = Clock()
        store = MemoryStore(clock)
        now(cli.read_logs(store, settings(), [write(tmp_path, "a.log", IRSSI)]))
        before = sorted(now(store.keys("")))
        checks = []

        def stopping():  # SIGTERM comes after the first turn
            checks.append(True)
            return len(checks) >= 2
        d = Deferred.fromCoroutine(cli.read_logs(store, settings(), [self.big_log(tmp_path)], replace=True,
                                                 reactor=clock, stopping=stopping))
        clock.advance(0)
        assert len(checks) == 2
        failures = []
        d.addErrback(failures.append)
        assert failures and failures[0].check(cli.Interrupted)
        assert sorted(now(store.keys(""))) == before  # --replace forgot nothing either

    def test_turns_let_the_reactor_run(self, tmp_path, capsys):
        turns = []

        class Counting(Clock):
            def callLater(self, delay, f, *args, **kwargs):
                turns.append(delay)
                return super().callLater(delay, f, *args, **kwargs)
        clock = Counting()
        store = MemoryStore(clock)
        d = Deferred.fromCoroutine(cli.read_logs(store, settings(), [self.big_log(tmp_path)], reactor=clock))
        clock.advance(0)
        assert len(now(d)) > 0
        assert turns.count(0) >= 10000 // cli.LINES_PER_TURN

    def test_turns_come_on_lines_that_are_not_chat_too(self, tmp_path, capsys):
        checks = []
        clock = Clock()
        store = MemoryStore(clock)
        log = write(tmp_path, "noise.log", b"-!- someone joined, nothing to learn\n" * 10000)
        d = Deferred.fromCoroutine(cli.read_logs(store, settings(), [log], reactor=clock,
                                                 stopping=lambda: checks.append(True) or len(checks) >= 2))
        clock.advance(0)
        failures = []
        d.addErrback(failures.append)
        assert failures and failures[0].check(cli.Interrupted)
        assert len(checks) == 2

    def test_overlong_lines_are_skipped_whole(self, tmp_path, capsys):
        store = MemoryStore(Clock())
        # a piece of the long line would read as chat ("12:00 < mallory> ...") if it were cut in pieces
        data = (b"12:00 < al> " + b"x" * (cli.MAX_LOG_LINE - 12) + b"12:00 < mallory> learn this please\n"
                + b"12:01 < bo> normal line here\n")
        model = now(cli.read_logs(store, settings(), [write(tmp_path, "a.log", data)]))
        assert model.count("learn", "this", "please") == 0
        assert model.count("normal", "line", "here") == 1
        assert "1 longer than 65536 bytes" in capsys.readouterr().out

    def test_sigterm_stops_a_real_brain_read(self, tmp_path):
        import signal
        import time
        store = tmp_path / "store.sqlite"
        config = write(tmp_path, "bot.toml", b"[store]\npath = %s\n" % json.dumps(str(store)).encode())
        log = write(tmp_path, "huge.log", b"".join(
            b"12:%02d < al%d> the word%d goes with word%d and more words\n" % (i % 60, i % 7, i, i * 7)
            for i in range(400000)))
        command = [sys.executable, "-m", "pubbot.cli", "brain", "read", "--config", config, log]
        process = subprocess.Popen(command, cwd=str(tmp_path), env=bot_env(), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            for _ in range(600):  # the store opened: it is reading
                if store.exists() or process.poll() is not None:
                    break
                time.sleep(0.05)
            time.sleep(0.2)
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == 1, (out, err)
        assert err.strip() == ("pubbot: interrupted: stopped reading; nothing was written, "
                               "the brain is as it was")
        assert "Traceback" not in out + err
        import sqlite3
        db = sqlite3.connect(str(store))
        try:
            assert db.execute("SELECT count(*) FROM keys WHERE key LIKE 'brain:%'").fetchone() == (0,)
        finally:
            db.close()


def run_cli(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "pubbot.cli", *args], cwd=str(tmp_path),
                          env=bot_env(), capture_output=True, text=True, timeout=60)


class TestCommandLine:
    """The real tool in a subprocess, on the SQLite store."""

    def test_brain_read_and_utter(self, tmp_path):
        config = write(tmp_path, "pubbot.toml", b'[store]\npath = "brain.sqlite"\n')
        log = write(tmp_path, "irssi.log", IRSSI)
        done = run_cli(tmp_path, "brain", "read", "--config", config, log)
        assert done.returncode == 0, done.stderr
        assert "learned 4" in done.stdout
        assert os.path.exists(tmp_path / "brain.sqlite")
        said = run_cli(tmp_path, "brain", "utter", "--config", config, "--seed", "1", "cheese", "please")
        assert said.returncode == 0, said.stderr
        assert "cheese" in said.stdout.split()
        again = run_cli(tmp_path, "brain", "utter", "--config", config, "--seed", "1", "cheese", "please")
        assert again.stdout == said.stdout
        nonsense = run_cli(tmp_path, "brain", "utter", "--config", config, "zebra")
        assert nonsense.stdout == "You make no sense\n"
        weechat = write(tmp_path, "wee.log", WEECHAT)
        done = run_cli(tmp_path, "brain", "read", "--config", config, "--replace", weechat)
        assert done.returncode == 0, done.stderr
        assert run_cli(tmp_path, "brain", "utter", "--config", config, "moon").stdout == \
            "You make no sense\n"
        assert "wine" in run_cli(tmp_path, "brain", "utter", "--config", config, "wine").stdout

    def test_brain_read_errors(self, tmp_path):
        done = run_cli(tmp_path, "brain", "read", "nothere.log")
        assert done.returncode == 1
        assert done.stderr == "pubbot: cannot read nothere.log: No such file or directory\n"
        bad = write(tmp_path, "bad.toml", b"[brain]\nmax_trigrams = 0\n")
        done = run_cli(tmp_path, "brain", "read", "--config", bad, "x.log")
        assert done.returncode == 1
        assert done.stderr == "pubbot: [brain] max_trigrams must be greater than 0\n"
        done = run_cli(tmp_path, "brain", "read")
        assert done.returncode == 2
        assert "LOGFILE" in done.stderr


class TestConfigCheck:

    def test_effective_settings_with_secrets_masked(self, tmp_path, capsys):
        path = write(tmp_path, "ok.toml", b'[irc]\nnick = "bobbot"\n[vcs]\nsecret = "hunter2"\n')
        assert cli.main(["config", "check", path]) == 0
        out = capsys.readouterr().out
        assert "hunter2" not in out
        settings = json.loads(out)
        assert settings["irc"]["nick"] == "bobbot"
        assert settings["vcs"]["secret"] == "********"
        assert settings["web"]["token"] == ""
        assert settings["brain"]["max_trigrams"] == 200000

    def test_network_tables_shown_with_secrets_masked(self, tmp_path, capsys):
        path = write(tmp_path, "ok.toml", b'[networks.libera]\nserver = "tls:irc.libera.chat:6697"\n'
                                          b'[networks.libera.sasl]\npassword = "hunter2"\n')
        assert cli.main(["config", "check", path]) == 0
        out = capsys.readouterr().out
        assert "hunter2" not in out
        libera = json.loads(out)["networks"]["libera"]
        assert (libera["server"], libera["sasl"]["password"], libera["nick"]) == (
            "tls:irc.libera.chat:6697", "********", "pubbot")

    @pytest.mark.parametrize("data, message", [
        (b"[networks.libera]\nnick = 'x'\n", "pubbot: [networks.libera] server must be set\n"),
        (b"[irc]\nnick = 5\n", "pubbot: [irc] nick must be a string, not an integer\n"),
        (b"[zzzz]\n", "pubbot: [zzzz]: plugin zzzz is not installed\n"),
        (b"nope = 1\n", "pubbot: unknown key [nope]\n"),
        (b"[plugins]\ndisabled = ['greet']\n[greet]\n", "pubbot: [greet]: plugin greet is disabled\n"),
        (b"[brain]\nignore = ['bad nick']\n", "pubbot: [brain] ignore is not a valid nick: 'bad nick'\n"),
        (b"[irc\n", None),
        (b"[irc]\nrealname = '\xc3'\n",
         "pubbot: config %s is not valid UTF-8 (at line 2, column 13: byte 0xc3)\n"),
        (b"[irc]\nusername = 'pub\tbot'\n", None),
    ])
    def test_bad_config(self, tmp_path, capsys, data, message):
        path = write(tmp_path, "bad.toml", data)
        assert cli.main(["config", "check", path]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        if message is not None:
            assert captured.err == (message % (path,) if "%s" in message else message)
        elif b"username" in data:
            assert captured.err.startswith("pubbot: [irc] username is not a valid IRC user name")
            assert captured.err.count("\n") == 1
        else:
            assert captured.err.startswith("pubbot: config %s is not valid TOML" % (path,))
            assert captured.err.count("\n") == 1

    @pytest.mark.parametrize("data", [
        b"[web]\nendpoint = 'tcp:8080:interface=0.0.0.0'\n",
        b"[web]\nendpoint = 'tcp:8080'\n",
        b"[manhole]\nendpoint = 'tcp:2222:interface=127.0.0.1'\nauthorized_keys = '/nonexistent/keys'\n",
        b"[irc]\nusername = 'has space'\n",
        b"[nope]\n",
        b"",
        b"[web]\nendpoint = 'tcp:8080:interface=0.0.0.0'\ntoken = 'sesame'\n",
    ])
    def test_config_check_refuses_what_twistd_refuses(self, tmp_path, capsys, data):
        from pubbot import tap
        path = write(tmp_path, "c.toml", data)
        options = tap.Options()
        try:
            options.parseOptions(["--config", path])
        except SystemExit as e:
            started = e.code
        else:
            started = 0
        twistd_err = capsys.readouterr().err
        assert cli.main(["config", "check", path]) == started
        assert capsys.readouterr().err == twistd_err

    def test_a_server_the_irc_service_would_refuse(self, tmp_path, capsys):
        for data, problem in (
                (b"[irc]\nserver = 'tls:irc.example.net:99999'\n",
                 "[irc] server 'tls:irc.example.net:99999' needs a port (1-65535)"),
                (b"[irc]\nserver = 'tls:a.example:6697'\n[networks.far]\nserver = 'tcp:b.example'\n",
                 "[networks.far] server 'tcp:b.example' needs a port (1-65535)")):
            assert cli.main(["config", "check", write(tmp_path, "s.toml", data)]) == 1
            assert capsys.readouterr().err == "pubbot: %s\n" % (problem,)

    def test_sasl_plain_over_plain_text_is_warned_about(self, tmp_path, capsys):
        plain = b"[irc]\nserver = 'tcp:irc.example.net:6667'\n[irc.sasl]\npassword = 'sesame'\n"
        assert cli.main(["config", "check", write(tmp_path, "a.toml", plain)]) == 0
        err = capsys.readouterr().err
        assert "pubbot: warning: [irc.sasl] PLAIN is never tried over the plain-text" in err
        assert "sesame" not in err
        allowed = plain + b"allow_plaintext = true\n"
        assert cli.main(["config", "check", write(tmp_path, "b.toml", allowed)]) == 0
        assert "sends the password in clear" in capsys.readouterr().err
        tls = b"[irc]\nserver = 'tls:irc.example.net:6697'\n[irc.sasl]\npassword = 'sesame'\n"
        assert cli.main(["config", "check", write(tmp_path, "c.toml", tls)]) == 0
        assert capsys.readouterr().err == ""

    def test_a_permission_no_command_has_is_warned_about(self, tmp_path, capsys):
        text = b"[permissions]\nforget = 'op'\nforgt = 'op'\n"
        assert cli.main(["config", "check", write(tmp_path, "p.toml", text)]) == 0
        assert capsys.readouterr().err == ("pubbot: warning: [permissions] forgt: no loaded command has that "
                                           "word; it changes nothing\n")

    def test_missing_file(self, tmp_path, capsys):
        assert cli.main(["config", "check", str(tmp_path / "none.toml")]) == 1
        assert capsys.readouterr().err == "pubbot: cannot read config %s: No such file or directory\n" % (
            tmp_path / "none.toml",)

    def test_console_script(self, tmp_path):
        path = write(tmp_path, "ok.toml", b"")
        done = run_cli(tmp_path, "config", "check", path)
        assert done.returncode == 0
        assert json.loads(done.stdout)["store"]["path"] == "pubbot.sqlite"


class TestVersion:

    def test_version_flag(self, capsys):
        from pubbot.version import __version__
        with pytest.raises(SystemExit) as exited:
            cli.main(["--version"])
        assert exited.value.code == 0
        assert capsys.readouterr().out == "pubbot %s\n" % (__version__,)

    def test_version_in_a_subprocess(self, tmp_path):
        done = run_cli(tmp_path, "--version")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("pubbot 0.") or done.stdout.startswith("pubbot 1"), done.stdout

    def test_source_tree_version_from_setup_cfg(self, tmp_path):
        """Not installed (run from a checkout): the version in setup.cfg, marked as a source tree."""
        from pubbot import version
        cfg = write(tmp_path, "setup.cfg", b"[metadata]\nname = pubbot\nversion = 2.3.4\n")
        assert version.source_version(cfg) == "2.3.4+source"
        assert version.source_version(str(tmp_path / "missing.cfg")) == "0+unknown"
        odd = write(tmp_path, "odd.cfg", b"[metadata]\nname = pubbot\n")
        assert version.source_version(odd) == "0+unknown"
