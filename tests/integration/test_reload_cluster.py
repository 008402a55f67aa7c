"""
!reload across a real cluster: one redis-server, one ngircd, an owner and
two workers (real C{twistd -n pubbot} processes). A drop-in plugin file is
changed and C{!reload} said once in the channel: the worker that handles
the line reloads and asks the others over Redis pub/sub; the answer counts
three processes, each process has imported the new code (each writes a
mark with its pid when the module is imported), the new command answers,
and the job (run only by the lease holder, the owner) runs the new code
from then on, never the old one again; the processes' shared descriptions
show the new plugin version.
"""

from __future__ import annotations

import os
import textwrap

from twisted.trial.unittest import TestCase

from ..support.scaleout import ClusterCase, Pubbot

PLUGIN = '''
import os
from pubbot.api import command, every

MARKS = %(marks)r
VERSION = %(version)d
open(os.path.join(MARKS, "loaded-%%d-%%d" %% (VERSION, os.getpid())), "w").close()


@command("hotver")
def hotver(msg):
    return "hotver %%d" %% VERSION


@every(0.5)
def hottick(bot):
    with open(os.path.join(MARKS, "ticks-%%d" %% os.getpid()), "a") as f:
        f.write("%%d\\n" %% VERSION)
%(padding)s
'''


class ReloadClusterTests(ClusterCase, TestCase):
    def write(self, version: int) -> None:
        # Each version a different length: never mistaken for the last one's cached bytecode.
        text = PLUGIN % {"marks": self.marks, "version": version, "padding": "#" * version}
        with open(os.path.join(self.plugins, "hotplug.py"), "w") as f:
            f.write(textwrap.dedent(text))

    def start(self, role: str, text: str) -> Pubbot:
        bot = Pubbot(self.directory, len(self.bots), text, ("--role", role)).start()
        self.bots.append(bot)
        return bot

    def loaded(self, version: int) -> set[int]:
        prefix = "loaded-%d-" % (version,)
        return {int(name[len(prefix):]) for name in os.listdir(self.marks) if name.startswith(prefix)}

    def ticks(self, pid: int) -> list[str]:
        try:
            with open(os.path.join(self.marks, "ticks-%d" % (pid,))) as f:
                return f.read().split()
        except FileNotFoundError:
            return []

    async def test_reload_in_every_process(self):
        self.write(1)
        observer = await self.observe()
        text = self.config(lease=6.0).replace("[plugins]\n", '[plugins]\nadmins = ["*@*"]\n', 1)
        owner = self.start("owner", text)
        workers = [self.start("worker", text) for _ in range(2)]
        everyone = {owner.pid} | {w.pid for w in workers}
        self.assertTrue(await self.until(lambda: observer.joins, 60), "the owner never joined")
        self.assertTrue(await self.until(lambda: self.processes().keys() == everyone, 30))
        self.assertEqual(self.loaded(1), everyone)
        self.assertTrue(await self.until(lambda: self.ticks(owner.pid), 30), "the job never ran")
        observer.say("!hotver")
        self.assertTrue(await self.until(lambda: observer.said("hotver 1"), 20), "no answer from v1")
        await self.sleep(2 * 2.0)  # two heartbeats: every process lists the others
        old = {pid: info["plugins"]["hotver"] for pid, info in self.processes().items()}
        self.assertEqual(len(set(old.values())), 1, old)

        self.write(2)
        observer.say("!reload hotplug")
        def answers() -> list[str]:
            return [h[2] for h in observer.heard if h[2].startswith("Reloaded hotplug")]
        self.assertTrue(await self.until(answers, 20), [h[2] for h in observer.heard])
        answer = answers()[0]
        self.assertTrue(answer.startswith("Reloaded hotplug in 3 processes: 2 handlers; commands !hotver; "
                                          "jobs hottick."), answer)
        self.assertEqual(self.loaded(2), everyone)
        observer.say("!hotver")
        self.assertTrue(await self.until(lambda: observer.said("hotver 2"), 20), "no answer from v2")
        self.assertTrue(await self.until(lambda: "2" in self.ticks(owner.pid), 20), "the new job never ran")
        await self.sleep(2.0)
        ticks = self.ticks(owner.pid)
        first_new = ticks.index("2")
        self.assertEqual(set(ticks[first_new:]), {"2"}, ticks)  # the old job never ran again
        for worker in workers:
            self.assertEqual(self.ticks(worker.pid), [])  # jobs run in the lease holder only
        # the dashboard's process list shows the new version everywhere
        def versions() -> set[str]:
            return {info["plugins"]["hotver"] for info in self.processes().values()}
        before = set(old.values())
        shown = await self.until(lambda: len(versions()) == 1 and versions() != before, 20)
        self.assertTrue(shown, versions())
        # nobody left IRC
        self.assertEqual([nick for _, nick in observer.joins], ["pubbot"])
        self.assertEqual(observer.quits, [])
