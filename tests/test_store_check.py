"""
A store that cannot be read at start is said on the console, in the log and
on /status (pubbot.store.check), against real SQLite files: corrupt, a
directory, a good one; and through a real twistd -n pubbot.
"""

from __future__ import annotations

import io
import json
import os
import subprocess

from twisted.internet import reactor
from twisted.logger import LogLevel
from twisted.trial.unittest import SynchronousTestCase, TestCase

from pubbot.store.check import check_store, report_store
from pubbot.store.memory import MemoryStore
from pubbot.store.sqlite import SQLiteStore
from pubbot.testing import Harness
from pubbot.web.status import snapshot

from .support.config import DROPINS, write_config
from .support.logs import capture_logs
from .support.servers import bot_env, twistd_argv


def corrupt_file(path: str) -> str:
    with open(path, "wb") as f:
        f.write(b"this is not an SQLite database, whatever its name says\n" * 200)
    return path


class SQLiteCheckTests(TestCase):
    def store(self, path: str) -> SQLiteStore:
        store = SQLiteStore(path, reactor)
        self.addCleanup(store.close)
        return store

    async def test_good_file(self):
        self.assertIsNone(await check_store(self.store(os.path.abspath(self.mktemp()))))

    async def test_corrupt_file(self):
        problem = await check_store(self.store(corrupt_file(self.mktemp())))
        self.assertIn("DatabaseError", problem)
        self.assertIn("not a database", problem)

    async def test_path_that_cannot_be_opened(self):
        path = os.path.abspath(self.mktemp())
        os.makedirs(path)
        problem = await check_store(self.store(path))
        self.assertIn("unable to open database file", problem)

    async def test_reported_on_console_log_and_status(self):
        h = Harness()
        h.bot.store = self.store(corrupt_file(self.mktemp()))
        events = capture_logs(self)
        err = io.StringIO()
        self.assertFalse(await report_store(h.bot, err))
        self.assertRegex(err.getvalue(), r"^pubbot: the store \(SQLite file .*\) cannot be read: "
                                         r"DatabaseError: file is not a database\n$")
        critical = [e for e in events if e.get("log_level") == LogLevel.critical]
        self.assertEqual(len(critical), 1)
        self.assertIn("not a database", critical[0]["problem"])
        state = json.loads(json.dumps(snapshot(h.bot)))["store"]
        self.assertEqual((state["ok"], state["checked"]), (False, True))
        self.assertIn("not a database", state["error"])

    async def test_good_store_reported_ok(self):
        h = Harness()
        h.bot.store = self.store(os.path.abspath(self.mktemp()))
        err = io.StringIO()
        self.assertTrue(await report_store(h.bot, err))
        self.assertEqual(err.getvalue(), "")
        self.assertEqual(snapshot(h.bot)["store"]["ok"], True)


class UncheckedStoreTests(SynchronousTestCase):
    def test_a_store_without_check_is_not_checked(self):
        h = Harness()
        h.bot.store = MemoryStore(h.clock)
        d = report_store(h.bot, io.StringIO())
        from twisted.internet.defer import Deferred
        self.assertTrue(self.successResultOf(Deferred.fromCoroutine(d)))
        self.assertEqual(h.bot.state["store"]["checked"], False)


class TwistdStoreTests(SynchronousTestCase):
    def test_corrupt_store_said_on_console_and_in_the_log(self):
        cwd = os.path.abspath(self.mktemp())
        os.makedirs(cwd)
        store = corrupt_file(os.path.join(cwd, "store.sqlite"))
        config = write_config(os.path.join(cwd, "bot.toml"), (
            '[plugins]\npaths = ["%s"]\n[web]\nendpoint = ""\n[store]\npath = "%s"\n') % (DROPINS, store))
        out = subprocess.run(twistd_argv("--pidfile=", "-n", "pubbot", "--config", config),
                             input="!ping\n", capture_output=True, text=True, env=bot_env(), cwd=cwd,
                             timeout=120)
        self.assertIn("pubbot: the store (SQLite file %s) cannot be read: "
                      "DatabaseError: file is not a database" % (store,), out.stderr)
        self.assertIn("<pubbot> pong", out.stdout)  # the bot still runs
        with open(os.path.join(cwd, "pubbot.log")) as f:
            log = f.read()
        self.assertIn("cannot be read: DatabaseError", log)
        self.assertIn("critical", log)
