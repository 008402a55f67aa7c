"""
Roles against real servers: C{twistd -n pubbot --role owner} holds the IRC
connection and handles nothing, C{--role worker} processes handle and never
connect. Restarting every worker one by one, each time with a new version
of the plugin, never drops the IRC connection; every line said meanwhile is
answered once; the owner's /status shows each process's role and plugin
versions.
"""

from __future__ import annotations

import json
import os
import urllib.request

from twisted.trial.unittest import TestCase

from ..support.scaleout import ClusterCase, Pubbot
from ..support.servers import free_port

TOKEN = "roles-test-token-0123456789"


class RolesTests(ClusterCase, TestCase):
    def start(self, role: str, text: str) -> Pubbot:
        bot = Pubbot(self.directory, len(self.bots), text, ("--role", role)).start()
        self.bots.append(bot)
        return bot

    def status(self, port: int) -> dict:
        request = urllib.request.Request("http://127.0.0.1:%d/status" % port,
                                         headers={"Authorization": "Bearer " + TOKEN})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def bump_plugin(self, version: int) -> None:
        path = os.path.join(self.plugins, "scaleout_test_plugin.py")
        with open(path, "a") as f:
            f.write("\n# version %d\n" % version)

    async def answered_once(self, observer, text: str) -> None:
        observer.say("!echo " + text)
        self.assertTrue(await self.until(lambda: observer.said("echo " + text), 20), "no answer to " + text)
        await self.sleep(1.0)
        self.assertEqual(len(observer.said("echo " + text)), 1, text)

    async def test_restarting_every_worker_never_drops_the_connection(self):
        observer = await self.observe()
        port = free_port()
        web = '[web]\nendpoint = "tcp:%d:interface=127.0.0.1"\ntoken = "%s"' % (port, TOKEN)
        owner_text = self.config(lease=6.0, extra=web).replace('[web]\nendpoint = ""\n', "")
        worker_text = self.config(lease=6.0)
        owner = self.start("owner", owner_text)
        workers = [self.start("worker", worker_text) for _ in range(2)]
        self.assertTrue(await self.until(lambda: observer.joins, 60), "the owner never joined")
        self.assertTrue(await self.until(lambda: self.workers_alive() == 3, 30))
        self.assertTrue(await self.until(lambda: len(self.processes()) == 3, 30))
        await self.answered_once(observer, "before")
        first = self.processes()
        self.assertEqual(first[owner.pid]["role"], "owner")
        self.assertEqual({first[w.pid]["role"] for w in workers}, {"worker"})
        old_version = first[owner.pid]["plugins"]["scaleout_echo"]

        for round, worker in enumerate(list(workers)):
            self.bump_plugin(round + 2)
            worker.stop()
            observer.say("!echo during%d" % round)  # said while one worker is away
            workers.remove(worker)
            fresh = self.start("worker", worker_text)
            workers.append(fresh)
            started = await self.until(lambda fresh=fresh: fresh.pid in self.processes(), 30)
            self.assertTrue(started, fresh.log())
            self.assertTrue(await self.until(lambda round=round: observer.said("echo during%d" % round), 20))
            await self.answered_once(observer, "after%d" % round)

        # the connection never dropped: one join, no quit, the same owner; no worker connected
        self.assertEqual([nick for _, nick in observer.joins], ["pubbot"])
        self.assertEqual(observer.quits, [])
        self.assertTrue(owner.alive())
        self.assert_one_bot(observer)
        for round in range(2):
            self.assertEqual(len(observer.said("echo during%d" % round)), 1)
        # the owner handled nothing; the dashboard shows every process's role and plugin versions
        everyone = {owner.pid} | {w.pid for w in workers}
        self.assertTrue(await self.until(lambda: len(self.status(port)["cluster"].get("processes", [])) == 3
                                         and self.processes().keys() == everyone, 30))
        state = self.status(port)["cluster"]
        shown = {int(p["process"].rsplit(":", 1)[1]): p for p in state["processes"]}
        self.assertEqual(shown.keys(), {owner.pid} | {w.pid for w in workers})
        self.assertEqual(shown[owner.pid]["role"], "owner")
        self.assertEqual(shown[owner.pid]["handled"], 0)
        self.assertEqual(shown[owner.pid]["plugins"]["scaleout_echo"], old_version)
        for w in workers:
            self.assertEqual(shown[w.pid]["role"], "worker")
            self.assertNotEqual(shown[w.pid]["plugins"]["scaleout_echo"], old_version)
        self.assertEqual(len({shown[w.pid]["plugins"]["scaleout_echo"] for w in workers}), 2)
