"""
The manhole against the real OpenSSH client: key login, commands, a shell;
a wrong key and a password attempt are refused.
"""

import os
import stat
import subprocess

from twisted.application.service import MultiService
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from pubbot.config.settings import parse
from pubbot.manhole import ManholeService, namespace_for
from pubbot.testing import Harness

from ..support.servers import free_port, require


class Shell(ProcessProtocol):
    """An interactive ssh: collects output, lets the test type."""

    def __init__(self):
        self.output = b""
        self.ended = Deferred()

    def outReceived(self, data):
        self.output += data

    errReceived = outReceived

    def processEnded(self, reason):
        self.ended.callback(reason.value.exitCode)


class ManholeSSHTests(TestCase):
    timeout = 60

    def setUp(self):
        self.ssh = require("ssh", "openssh-client")
        keygen = require("ssh-keygen", "openssh-client")
        self.dir = os.path.abspath(self.mktemp())
        os.makedirs(self.dir)
        self.key = os.path.join(self.dir, "id_ed25519")
        self.other_key = os.path.join(self.dir, "other_ed25519")
        for path in (self.key, self.other_key):
            subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", path], check=True)
        self.authorized = os.path.join(self.dir, "authorized_keys")
        with open(self.key + ".pub") as src, open(self.authorized, "w") as dst:
            dst.write(src.read())
        self.host_key = os.path.join(self.dir, "host_key")
        self.known_hosts = os.path.join(self.dir, "known_hosts")
        self.port = free_port()
        self.settings = parse({"manhole": {"endpoint": "tcp:%d:interface=127.0.0.1" % self.port,
                                           "authorized_keys": self.authorized, "host_key": self.host_key}})
        self.h = Harness(settings=self.settings)
        self.h.bot.process_id = "testbox:4242"
        top = MultiService()
        self.service = ManholeService(self.settings, namespace_for(top, self.h.bot, self.settings, reactor),
                                      reactor)
        self.service.setServiceParent(top)

    async def start(self):
        self.service.startService()
        self.addCleanup(self.service.stopService)
        port = await self.service.listening
        self.assertIsNotNone(port)

    def args(self, *extra, key=None, batch=True):
        args = [self.ssh, "-F", "/dev/null", "-p", str(self.port),
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=" + self.known_hosts,
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentityAgent=none",
                "-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR"]
        if batch:
            args += ["-o", "BatchMode=yes"]
        if key is not None:
            args += ["-i", key, "-o", "IdentitiesOnly=yes"]
        return args + list(extra)

    def env(self, **extra):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.dir}
        env.update(extra)
        return env

    async def run_ssh(self, *args, **kwargs):
        out, err, code = await getProcessOutputAndValue(self.ssh, self.args(*args, **kwargs)[1:],
                                                        env=self.env(), reactor=reactor)
        return out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), code

    def test_command_runs_in_the_bot(self):
        async def run():
            await self.start()
            out, err, code = await self.run_ssh("alice@127.0.0.1", "bot.process_id", key=self.key)
            self.assertEqual((out, code), ("'testbox:4242'\n", 0), err)
            expression = "(len(dispatcher.handlers), config.manhole.host_key == %r, store is bot.store)" % (
                self.host_key,)
            out, err, code = await self.run_ssh("alice@127.0.0.1", expression, key=self.key)
            self.assertEqual((out, code), ("(0, True, True)\n", 0), err)
            out, err, code = await self.run_ssh("alice@127.0.0.1", "1/0", key=self.key)
            self.assertEqual(code, 1)
            self.assertIn("ZeroDivisionError", err)
            # the host key was made on first start, 0600, and is the one ssh saw
            self.assertEqual(stat.S_IMODE(os.stat(self.host_key).st_mode), 0o600)
            pub = subprocess.run(["ssh-keygen", "-y", "-f", self.host_key], capture_output=True,
                                 check=True, text=True).stdout.split()[1]
            with open(self.known_hosts) as f:
                self.assertIn(pub, f.read())
        return Deferred.fromCoroutine(run())

    def test_interactive_shell(self):
        async def run():
            await self.start()
            shell = Shell()
            args = self.args("-tt", "bob@127.0.0.1", key=self.key)
            process = reactor.spawnProcess(shell, self.ssh, args, env=self.env(TERM="xterm"))
            for _ in range(400):
                if b">>> " in shell.output:
                    break
                await deferLater(reactor, 0.05, lambda: None)
            process.write(b"6 * 7\r")
            for _ in range(400):
                if b"42" in shell.output:
                    break
                await deferLater(reactor, 0.05, lambda: None)
            self.assertIn(b"42", shell.output)
            process.write(b"\x04")  # Ctrl-D on an empty line ends the manhole
            code = await shell.ended
            self.assertEqual(code, 0, shell.output)
        return Deferred.fromCoroutine(run())

    def test_wrong_key_refused(self):
        async def run():
            await self.start()
            out, err, code = await self.run_ssh("alice@127.0.0.1", "bot.process_id", key=self.other_key)
            self.assertEqual(code, 255)
            self.assertIn("Permission denied (publickey)", err)
            self.assertEqual(out, "")
        return Deferred.fromCoroutine(run())

    def test_password_attempt_refused(self):
        async def run():
            await self.start()
            asked = os.path.join(self.dir, "askpass-called")
            askpass = os.path.join(self.dir, "askpass.sh")
            with open(askpass, "w") as f:
                f.write("#!/bin/sh\ntouch '%s'\necho hunter2\n" % asked)
            os.chmod(askpass, 0o700)
            args = self.args("-o", "PubkeyAuthentication=no",
                             "-o", "PreferredAuthentications=password,keyboard-interactive",
                             "-o", "NumberOfPasswordPrompts=1", "alice@127.0.0.1", "bot.process_id",
                             batch=False)
            out, err, code = await getProcessOutputAndValue(
                self.ssh, args[1:], env=self.env(SSH_ASKPASS=askpass, SSH_ASKPASS_REQUIRE="force",
                                                 DISPLAY=":0"), reactor=reactor)
            self.assertEqual(code, 255)
            self.assertIn(b"Permission denied (publickey)", err)
            self.assertFalse(os.path.exists(asked), "the server offered a password prompt")
        return Deferred.fromCoroutine(run())
