"""The MPD protocol and source on StringTransport and Clock (the real mpd: tests/integration)."""

import re

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import CancelledError, fail, succeed
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransportWithDisconnection
from twisted.logger import LogLevel
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from pubbot.music.interfaces import IMusicSource, SourceUnavailable
from pubbot.music.mpd import (
    MPDCommandError,
    MPDProtocol,
    MPDSource,
    command_line,
    quote,
    songs,
    track_from_song,
)
from pubbot.music.track import Status, Track

from .support.logs import capture_logs


def mpd_tokenize(line: bytes) -> list:
    """
    How MPD reads one command line (src/util/Tokenizer.cxx): a bare command
    word, then arguments, each bare or double-quoted with backslash escaping
    the next character. MPD reads up to LF and its C strings end at NUL.
    """
    assert line.endswith(b"\n") and line.count(b"\n") == 1, line
    text = line[:-1].split(b"\0", 1)[0].decode("utf-8")
    words, i = [], 0
    while i < len(text):
        if text[i] in " \t":
            i += 1
            continue
        if text[i] == '"':
            i += 1
            word = []
            while True:
                if i >= len(text):
                    raise ValueError("Missing closing '\"'")
                c = text[i]
                if c == "\\":
                    i += 1
                    if i >= len(text):
                        raise ValueError("Missing closing '\"'")
                    word.append(text[i])
                elif c == '"':
                    break
                else:
                    word.append(c)
                i += 1
            i += 1
            if i < len(text) and text[i] not in " \t":
                raise ValueError("Space expected after closing '\"'")
            words.append("".join(word))
        else:
            j = i
            while j < len(text) and text[j] not in " \t":
                j += 1
            words.append(text[i:j])
            i = j
    return words


HOSTILE = 'x" \\" next\nclear\r\n\0stop %0A %s %% \\\\'


class QuotingTests(SynchronousTestCase):
    def test_hostile_text_is_one_argument(self):
        line = (command_line("search", "artist", HOSTILE) + "\n").encode("utf-8")
        self.assertEqual(mpd_tokenize(line),
                         ["search", "artist", 'x" \\" next clear   stop %0A %s %% \\\\'])

    @given(st.text())
    def test_any_text_reaches_mpd_as_one_argument(self, text):
        line = (command_line("search", "title", text) + "\n").encode("utf-8")
        self.assertNotIn(b"\0", line)
        expected = re.sub(r"[\x00-\x1f\x7f]", " ", text)
        self.assertEqual(mpd_tokenize(line), ["search", "title", expected])

    def test_quote(self):
        self.assertEqual(quote('a"b\\c'), '"a\\"b\\\\c"')
        self.assertEqual(quote(3), '"3"')

    def test_command_words_are_fixed(self):
        self.assertRaises(ValueError, command_line, "next\nclear")
        self.assertRaises(ValueError, command_line, "")


class ParsingTests(SynchronousTestCase):
    def test_songs_split_on_file_and_keep_repeated_tags(self):
        found = songs(["junk: before", "file: a.flac", "Title: A", "Artist: X", "Artist: Y",
                       "file: b.flac", "no separator", "Title: B: the sequel"])
        self.assertEqual(found, [{"file": "a.flac", "title": "A", "artist": ["X", "Y"]},
                                 {"file": "b.flac", "title": "B: the sequel"}])

    def test_track_from_song(self):
        self.assertEqual(track_from_song({"file": "d/a.flac", "title": "A", "artist": ["X", "Y"],
                                          "album": "Z"}, "7"),
                         Track("A", "X, Y", "Z", "d/a.flac", "7"))
        self.assertEqual(track_from_song({"file": "music/Some Song.ogg"}).title, "Some Song")
        self.assertEqual(track_from_song({"file": "http://radio/x", "name": "Radio X"}).title, "Radio X")
        self.assertEqual(track_from_song({"file": "a.flac", "albumartist": "AA"}).artist, "AA")


class ProtocolTests(SynchronousTestCase):
    def setUp(self):
        self.mpd = MPDProtocol()
        self.transport = StringTransportWithDisconnection()
        self.transport.protocol = self.mpd
        self.mpd.makeConnection(self.transport)
        self.logs = capture_logs(self)

    def hello(self):
        self.mpd.dataReceived(b"OK MPD 0.23.5\n")

    def test_banner_makes_it_ready(self):
        ready = []
        self.mpd.ready.addCallback(ready.append)
        self.hello()
        self.assertEqual(ready, [self.mpd])
        self.assertEqual(self.mpd.version, "0.23.5")

    def test_not_mpd(self):
        errors = []
        self.mpd.ready.addErrback(errors.append)
        self.mpd.dataReceived(b"SSH-2.0-OpenSSH\n")
        self.assertFalse(self.transport.connected)
        self.assertTrue(errors[0].check(SourceUnavailable))
        self.assertIn("not an MPD server", self.logs.at_level(LogLevel.warn)[0]["log_format"])

    def test_pipelined_commands_fire_in_order(self):
        self.hello()
        first = self.collect(self.mpd.command("status"))
        second = self.collect(self.mpd.command("search", "artist", 'a "b"'))
        self.assertEqual(self.transport.value(), b'status\nsearch "artist" "a \\"b\\""\n')
        self.mpd.dataReceived(b"state: play\nOK\nfile: x\nOK\n")
        self.assertEqual(first, [["state: play"]])
        self.assertEqual(second, [["file: x"]])

    @staticmethod
    def collect(d):
        box = []
        d.addCallback(box.append)
        return box

    def test_ack_fails_only_that_command(self):
        self.hello()
        d = self.mpd.command("play", 99)
        ok = self.collect(self.mpd.command("ping"))
        self.mpd.dataReceived(b"ACK [2@0] {play} Bad song index\nOK\n")
        error = self.failureResultOf(d, MPDCommandError).value
        self.assertEqual((error.code, error.command, error.message), (2, "play", "Bad song index"))
        self.assertEqual(ok, [[]])

    def test_command_list(self):
        self.hello()
        d = self.mpd.command_list([("next",), ("next",)])
        self.assertEqual(self.transport.value(), b"command_list_begin\nnext\nnext\ncommand_list_end\n")
        self.mpd.dataReceived(b"OK\n")
        self.assertEqual(self.successResultOf(d), [])

    def test_lost_connection_fails_every_pending_command(self):
        self.hello()
        a, b = self.mpd.command("status"), self.mpd.command("currentsong")
        self.transport.loseConnection()
        self.failureResultOf(a, SourceUnavailable)
        self.failureResultOf(b, SourceUnavailable)
        self.failureResultOf(self.mpd.command("status"), SourceUnavailable)

    def test_bad_utf8_is_replaced(self):
        self.hello()
        d = self.mpd.command("currentsong")
        self.mpd.dataReceived(b"Title: caf\xe9\nOK\n")
        self.assertEqual(self.successResultOf(d), ["Title: caf\ufffd"])

    def test_unasked_lines_close_the_connection(self):
        self.hello()
        self.mpd.dataReceived(b"OK\n")
        self.assertFalse(self.transport.connected)
        self.assertIn("unasked", self.logs.at_level(LogLevel.warn)[0]["log_format"])

    def test_overlong_line_closes_the_connection(self):
        self.hello()
        d = self.mpd.command("currentsong")
        self.mpd.dataReceived(b"Title: " + b"x" * (MPDProtocol.MAX_LENGTH + 10))
        self.failureResultOf(d, SourceUnavailable)
        self.assertIn("longer than", self.logs.at_level(LogLevel.warn)[0]["log_format"])

    def test_endless_reply_closes_the_connection(self):
        self.hello()
        self.mpd.max_reply_lines = 3
        d = self.mpd.command("listall")
        self.mpd.dataReceived(b"file: a\n" * 4)
        self.failureResultOf(d, SourceUnavailable)

    def test_cancel_drops_the_connection(self):
        self.hello()
        a, b = self.mpd.command("status"), self.mpd.command("currentsong")
        a.cancel()
        self.failureResultOf(a, CancelledError)
        self.failureResultOf(b, SourceUnavailable)
        self.assertFalse(self.transport.connected)


@implementer(IStreamClientEndpoint)
class StringEndpoint:
    """Connects to a StringTransport; or refuses."""

    def __init__(self):
        self.protocols = []
        self.refuse = False

    def connect(self, factory):
        if self.refuse:
            return fail(ConnectionRefusedError("refused"))
        protocol = factory.buildProtocol(None)
        transport = StringTransportWithDisconnection()
        transport.protocol = protocol
        protocol.makeConnection(transport)
        self.protocols.append(protocol)
        return succeed(protocol)


class SourceTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.endpoint = StringEndpoint()
        self.source = MPDSource(self.endpoint, self.clock, "MPD at test")
        self.source.start()
        self.addCleanup(self.source.stop)
        self.mpd = self.endpoint.protocols[0]
        self.mpd.dataReceived(b"OK MPD 0.23.5\n")

    def sent(self):
        value = self.mpd.transport.value()
        self.mpd.transport.clear()
        return value

    def test_provides_the_interface(self):
        verifyObject(IMusicSource, self.source)

    def test_status_playing(self):
        d = self.source.status()
        self.assertEqual(self.sent(), b"status\n")
        self.mpd.dataReceived(b"volume: -1\nstate: play\nsongid: 5\nOK\n")
        self.assertEqual(self.sent(), b"currentsong\n")
        self.mpd.dataReceived(b"file: a.flac\nTitle: A\nArtist: X\nAlbum: Z\nId: 5\nOK\n")
        self.assertEqual(self.successResultOf(d), Status("play", Track("A", "X", "Z", "a.flac", "5")))

    def test_status_stopped(self):
        d = self.source.status()
        self.mpd.dataReceived(b"state: stop\nOK\nOK\n")
        self.assertEqual(self.successResultOf(d), Status("stop"))

    def test_status_nonsense_is_unavailable(self):
        d = self.source.status()
        self.mpd.dataReceived(b"state: dancing\nOK\nOK\n")
        self.failureResultOf(d, SourceUnavailable)

    def test_timeout_on_the_clock(self):
        d = self.source.status()
        self.clock.advance(self.source.timeout)
        failure = self.failureResultOf(d, SourceUnavailable)
        self.assertIn("did not answer in time", str(failure.value))

    def test_refused(self):
        endpoint = StringEndpoint()
        endpoint.refuse = True
        source = MPDSource(endpoint, self.clock, "MPD at test", retry_max=2.0)
        source.start()
        self.addCleanup(source.stop)
        d = source.status()
        self.clock.advance(3)  # the next attempt, after the backoff (max 2 s + jitter < 1 s)
        failure = self.failureResultOf(d, SourceUnavailable)
        self.assertIn("cannot reach MPD at test", str(failure.value))

    def test_skip_n_is_one_command_list(self):
        d = self.source.skip(3)
        self.assertEqual(self.sent(), b"command_list_begin\nnext\nnext\nnext\ncommand_list_end\n")
        self.mpd.dataReceived(b"OK\n")
        self.assertIsNone(self.successResultOf(d))

    def test_skip_past_the_end_is_fine(self):
        d = self.source.skip(9)
        self.mpd.dataReceived(b"ACK [55@3] {next} Not playing\n")
        self.assertIsNone(self.successResultOf(d))

    def test_skip_other_errors_fail(self):
        d = self.source.skip(1)
        self.mpd.dataReceived(b"ACK [4@0] {next} you don't have permission for \"next\"\n")
        self.failureResultOf(d, MPDCommandError)

    def test_queue_replace(self):
        d = self.source.queue("artist", HOSTILE, True)
        line = self.sent()
        self.assertEqual(mpd_tokenize(line)[:3], ["search", "artist", re.sub(r"[\x00-\x1f]", " ", HOSTILE)])
        self.assertEqual(mpd_tokenize(line)[3:], ["window", "0:50"])
        self.mpd.dataReceived(b"file: a.flac\nTitle: A\nArtist: X\nfile: b.flac\nTitle: B\nArtist: X\nOK\n")
        self.assertEqual(self.sent(), b'command_list_begin\nclear\nadd "a.flac"\nadd "b.flac"\n'
                                      b'play "0"\ncommand_list_end\n')
        self.mpd.dataReceived(b"OK\n")
        self.assertEqual([t.title for t in self.successResultOf(d)], ["A", "B"])

    def test_queue_append_while_playing_does_not_interrupt(self):
        d = self.source.queue("title", "B", False)
        self.mpd.dataReceived(b"file: b.flac\nTitle: B\nOK\n")
        self.assertEqual(self.sent(), b'search "title" "B" "window" "0:50"\nstatus\n')
        self.mpd.dataReceived(b"state: play\nplaylistlength: 4\nOK\n")
        self.assertEqual(self.sent(), b'command_list_begin\nadd "b.flac"\ncommand_list_end\n')
        self.mpd.dataReceived(b"OK\n")
        self.assertEqual(len(self.successResultOf(d)), 1)

    def test_queue_append_while_stopped_plays_the_new_tracks(self):
        d = self.source.queue("title", "B", False)
        self.mpd.dataReceived(b"file: b.flac\nTitle: B\nOK\nstate: stop\nplaylistlength: 4\nOK\n")
        self.assertEqual(self.sent().split(b"\n")[-4:],
                         [b'add "b.flac"', b'play "4"', b"command_list_end", b""])
        self.mpd.dataReceived(b"OK\n")
        self.successResultOf(d)

    def test_queue_nothing_found_changes_nothing(self):
        d = self.source.queue("artist", "nobody", True)
        self.sent()
        self.mpd.dataReceived(b"OK\n")
        self.assertEqual(self.successResultOf(d), [])
        self.assertEqual(self.sent(), b"")

    def test_bad_arguments(self):
        self.assertRaises(ValueError, self.source.skip, 0)
        self.assertRaises(ValueError, self.source.queue, "genre", "x", True)


class StoppedSourceTests(SynchronousTestCase):
    def test_the_first_operation_connects(self):
        clock = Clock()
        endpoint = StringEndpoint()
        source = MPDSource(endpoint, clock)
        self.assertEqual(endpoint.protocols, [])
        d = source.skip(1)
        endpoint.protocols[0].dataReceived(b"OK MPD 0.23.5\nOK\n")
        self.assertIsNone(self.successResultOf(d))
        self.assertIsNone(self.successResultOf(source.stop()))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_stop_when_never_started(self):
        self.assertIsNone(self.successResultOf(MPDSource(StringEndpoint(), Clock()).stop()))
