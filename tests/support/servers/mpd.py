"""
A real mpd for tests: its own free loopback port and temp dir, a null audio
output, and a music directory of short tagged FLAC files made with ffmpeg.
MPD logs at "verbose", so the test can read every command a client ran.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass

from . import ServerProcess, free_port, require


@dataclass(frozen=True)
class Song:
    """A file to generate: its name, length in seconds and tags (None: untagged)."""

    file: str
    seconds: float
    title: str | None = None
    artist: str | None = None
    album: str | None = None


def make_music(directory: str, songs: Sequence[Song]) -> None:
    """Write each song as a mono 8 kHz sine FLAC with its tags."""
    ffmpeg = require("ffmpeg", "ffmpeg")
    os.makedirs(directory, exist_ok=True)
    for i, song in enumerate(songs):
        argv = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi",
                "-i", "sine=frequency=%d:duration=%s:sample_rate=8000" % (300 + 40 * i, song.seconds),
                "-ac", "1"]
        for tag in ("title", "artist", "album"):
            value = getattr(song, tag)
            if value is not None:
                argv += ["-metadata", "%s=%s" % (tag, value)]
        subprocess.run(argv + [os.path.join(directory, song.file)], check=True, timeout=60,
                       stdin=subprocess.DEVNULL)


class MPDServer(ServerProcess):
    """One mpd process serving C{songs}; C{source} is what [music] source wants."""

    def __init__(self, songs: Sequence[Song], port: int | None = None):
        self.binary = require("mpd", "mpd")
        self.songs = list(songs)
        self.port = port or free_port()
        self.directory = tempfile.mkdtemp(prefix="pubbot-mpd-")
        self.music = os.path.join(self.directory, "music")
        self.log = os.path.join(self.directory, "mpd.log")
        self.process: subprocess.Popen | None = None
        make_music(self.music, self.songs)

    @property
    def source(self) -> str:
        return "mpd:tcp:127.0.0.1:%d" % (self.port,)

    def start(self, timeout: float = 20.0) -> MPDServer:
        config = os.path.join(self.directory, "mpd.conf")
        with open(config, "w") as f:
            f.write("\n".join([
                'music_directory "%s"' % self.music,
                'playlist_directory "%s"' % self.directory,
                'db_file "%s"' % os.path.join(self.directory, "db"),
                'state_file "%s"' % os.path.join(self.directory, "state"),
                'log_file "%s"' % self.log,
                'log_level "verbose"',
                'bind_to_address "127.0.0.1"',
                'port "%d"' % self.port,
                'auto_update "no"',
                'zeroconf_enabled "no"',
                'audio_output {',
                '  type "null"',
                '  name "null"',
                '  mixer_type "none"',
                '}',
                "",
            ]))
        self.process = subprocess.Popen([self.binary, "--no-daemon", config], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("mpd exited with %s: %s" % (self.process.returncode, self.log_tail()))
            try:
                stats = dict(self.pairs("stats"))
                if int(stats.get("songs", 0)) >= len(self.songs):
                    return self
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        tail = self.log_tail()
        self.stop()
        raise AssertionError("mpd did not serve %d songs on port %d within %ss: %s" % (
            len(self.songs), self.port, timeout, tail))

    def log_tail(self, lines: int = 8) -> str:
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return " | ".join(f.read().splitlines()[-lines:])
        except OSError as e:
            return "(no log: %s)" % (e,)

    def command(self, *lines: str, timeout: float = 5.0) -> list:
        """Run raw command lines over a fresh connection; the reply lines of the last."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            reader = s.makefile("rb")
            banner = reader.readline()
            if not banner.startswith(b"OK MPD "):
                raise OSError("not mpd: %r" % (banner,))
            reply: list = []
            for line in lines:
                s.sendall(line.encode("utf-8") + b"\n")
                reply = []
                while True:
                    got = reader.readline()
                    if not got:
                        raise OSError("mpd closed the connection")
                    text = got.decode("utf-8").rstrip("\n")
                    if text == "OK":
                        break
                    if text.startswith("ACK "):
                        raise OSError(text)
                    reply.append(text)
            return reply

    def pairs(self, *lines: str) -> list:
        return [tuple(line.split(": ", 1)) for line in self.command(*lines) if ": " in line]

    def status(self) -> dict:
        return dict(self.pairs("status"))

    def queue(self) -> list:
        """The files in the queue, in order."""
        return [v for k, v in self.pairs("playlistinfo") if k == "file"]

    def commands_run(self) -> list:
        """Every C{(client number, command line)} run, in order, from mpd's verbose log."""
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return [(int(n), line) for n, line in
                    re.findall(r'client: \[(\d+)\] process command "(.*)"$', f.read(), re.MULTILINE)]

    def restart(self, timeout: float = 20.0) -> MPDServer:
        """Start again on the same port and files (after L{terminate} or L{kill})."""
        return self.start(timeout)

    def terminate(self) -> None:
        """SIGTERM: mpd saves its state file (queue, position) and exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def __enter__(self) -> MPDServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
