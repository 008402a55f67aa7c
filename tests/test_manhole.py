"""The manhole's checks, keys, command runner and SSH realm (no sockets)."""

import os
import stat
import sys
from io import StringIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from twisted.application.service import IServiceCollection
from twisted.conch.checkers import IAuthorizedKeysDB
from twisted.conch.interfaces import IConchUser, ISession
from twisted.conch.ssh import keys
from twisted.cred.credentials import ISSHPrivateKey, SSHPrivateKey
from twisted.cred.error import UnauthorizedLogin
from twisted.cred.portal import IRealm
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from pubbot import tap
from pubbot.config.settings import parse
from pubbot.manhole import (
    AuthorizedKeysFile,
    ManholeError,
    ManholeRealm,
    ManholeService,
    ManholeSession,
    ManholeUser,
    check_manhole_settings,
    load_host_key,
    make_factory,
    run_command,
)


def new_key():
    return keys.Key(Ed25519PrivateKey.generate())


def write(path, data, mode=0o600):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


def result(d):
    out = []
    d.addBoth(out.append)
    assert out, "Deferred has not fired"
    return out[0]


class Files(SynchronousTestCase):
    def setUp(self):
        self.dir = self.mktemp()
        os.makedirs(self.dir)
        self.user_key = new_key()
        line = self.user_key.public().toString("openssh") + b" alice@laptop\n"
        self.keys_path = write(os.path.join(self.dir, "authorized_keys"), b"# admins\n" + line)
        self.host_path = os.path.join(self.dir, "host_key")

    def settings(self, **manhole):
        values = {"endpoint": "tcp:0:interface=127.0.0.1", "authorized_keys": self.keys_path,
                  "host_key": self.host_path}
        values.update(manhole)
        return parse({"manhole": values})


class CheckTests(Files):
    def test_off_is_fine(self):
        self.assertIsNone(check_manhole_settings(parse({})))

    def test_good_settings(self):
        self.assertIsNone(check_manhole_settings(self.settings()))

    def test_missing_authorized_keys_file(self):
        problem = check_manhole_settings(self.settings(authorized_keys=self.keys_path + ".nope"))
        self.assertIn("[manhole] authorized_keys", problem)
        self.assertIn("No such file", problem)
        self.assertNotIn("\n", problem)

    def test_authorized_keys_without_keys(self):
        write(self.keys_path, b"# nothing here\nnot a key at all\n")
        problem = check_manhole_settings(self.settings())
        self.assertIn("holds no valid public key", problem)
        self.flushLoggedErrors()

    def test_host_key_open_to_others(self):
        load_host_key(self.host_path)
        os.chmod(self.host_path, 0o644)
        problem = check_manhole_settings(self.settings())
        self.assertIn("is open to others (mode 0644): chmod 600", problem)

    def test_host_key_directory_not_writable(self):
        problem = check_manhole_settings(self.settings(host_key="/proc/pubbot/host_key"))
        self.assertIn("cannot be created", problem)

    def test_service_refuses_to_be_built(self):
        self.assertRaises(ManholeError, ManholeService, self.settings(authorized_keys=self.keys_path + ".x"),
                          {}, MemoryReactorClock())

    def test_twistd_options_exit_with_one_line(self):
        config = os.path.join(self.dir, "pubbot.toml")
        with open(config, "w") as f:
            f.write('[manhole]\nendpoint = "tcp:0:interface=127.0.0.1"\nauthorized_keys = "%s"\n'
                    % (self.keys_path + ".missing"))
        err = StringIO()
        self.patch(sys, "stderr", err)
        with self.assertRaises(SystemExit) as e:
            tap.Options().parseOptions(["--config", config])
        self.assertEqual(e.exception.code, 1)
        self.assertIn("pubbot: [manhole] authorized_keys", err.getvalue())
        self.assertEqual(err.getvalue().count("\n"), 1)

    def test_make_service_adds_the_manhole(self):
        config = os.path.join(self.dir, "pubbot.toml")
        with open(config, "w") as f:
            f.write('[manhole]\nendpoint = "tcp:0:interface=127.0.0.1"\nauthorized_keys = "%s"\n'
                    'host_key = "%s"\n[web]\nendpoint = ""\n[store]\npath = "%s"\n'
                    % (self.keys_path, self.host_path, os.path.join(self.dir, "s.sqlite")))
        options = tap.Options()
        options["divert_log"] = False
        options.parseOptions(["--config", config])
        top = tap.makeService(options, MemoryReactorClock())
        names = [s.name for s in IServiceCollection(top)]
        self.assertIn("manhole", names)
        self.assertNotIn("web", names)
        manhole = top.getServiceNamed("manhole")
        ns = manhole.namespace
        self.assertIs(ns["bot"], top.bot)
        self.assertIs(ns["dispatcher"], top.bot.dispatcher)
        self.assertIs(ns["store"], top.bot.store)
        self.assertIs(ns["config"], top.bot.settings)
        self.assertIs(ns["services"], top)
        self.assertIs(ns["service"]("manhole"), manhole)
        top.bot.store.close()


class HostKeyTests(Files):
    def test_created_once_with_0600(self):
        key = load_host_key(self.host_path)
        self.assertEqual(stat.S_IMODE(os.stat(self.host_path).st_mode), 0o600)
        self.assertEqual(key.sshType(), b"ssh-ed25519")
        self.assertFalse(key.isPublic())
        again = load_host_key(self.host_path)
        self.assertEqual(again, key)

    def test_created_0600_even_with_a_lax_umask(self):
        old = os.umask(0)
        try:
            load_host_key(self.host_path)
        finally:
            os.umask(old)
        self.assertEqual(stat.S_IMODE(os.stat(self.host_path).st_mode), 0o600)

    def test_refuses_bad_files(self):
        write(self.host_path, b"garbage")
        self.assertRaises(ManholeError, load_host_key, self.host_path)
        write(self.host_path, new_key().public().toString("openssh"))
        self.assertRaises(ManholeError, load_host_key, self.host_path)
        self.assertRaises(ManholeError, load_host_key, self.host_path + ".missing", create=False)


class AuthorizedKeysTests(Files):
    def test_read_at_each_login(self):
        db = AuthorizedKeysFile(self.keys_path)
        verifyObject(IAuthorizedKeysDB, db)
        self.assertEqual(list(db.getAuthorizedKeys(b"anyone")), [self.user_key.public()])
        write(self.keys_path, b"")
        self.assertEqual(list(db.getAuthorizedKeys(b"anyone")), [])
        os.remove(self.keys_path)
        self.assertEqual(list(db.getAuthorizedKeys(b"anyone")), [])

    def test_only_public_keys_are_offered(self):
        factory = make_factory({}, self.keys_path, load_host_key(self.host_path))
        self.assertEqual(factory.portal.listCredentialsInterfaces(), [ISSHPrivateKey])
        self.assertEqual(list(factory.publicKeys), [b"ssh-ed25519"])
        self.assertTrue(factory.publicKeys[b"ssh-ed25519"].isPublic())

    def check(self, key, signed_with=None):
        factory = make_factory({}, self.keys_path, load_host_key(self.host_path))
        checker = factory.portal.checkers[ISSHPrivateKey]
        data = b"session data"
        signer = signed_with or key
        creds = SSHPrivateKey(b"root", b"ssh-ed25519", key.public().blob(), data, signer.sign(data))
        return result(checker.requestAvatarId(creds))

    def test_listed_key_accepted_for_any_user(self):
        self.assertEqual(self.check(self.user_key), b"root")

    def test_unlisted_key_refused(self):
        outcome = self.check(new_key())
        self.assertTrue(outcome.check(UnauthorizedLogin))

    def test_listed_key_with_bad_signature_refused(self):
        outcome = self.check(self.user_key, signed_with=new_key())
        self.assertTrue(outcome.check(UnauthorizedLogin))
        self.flushLoggedErrors()


class RealmTests(SynchronousTestCase):
    def test_interfaces(self):
        realm = ManholeRealm({"x": 1})
        verifyObject(IRealm, realm)
        interface, user, logout = realm.requestAvatar(b"alice", None, IConchUser)
        self.assertIs(interface, IConchUser)
        self.assertIsInstance(user, ManholeUser)
        session = ISession(user)
        self.assertIsInstance(session, ManholeSession)
        verifyObject(ISession, session)
        self.assertIsNot(ISession(user), session)  # one session per channel
        self.assertRaises(NotImplementedError, realm.requestAvatar, b"alice", None, ISession)


class RunCommandTests(SynchronousTestCase):
    def test_expression_value(self):
        self.assertEqual(result(run_command("x * 6", {"x": 7})), ("42\n", "", 0))

    def test_statements_and_prints(self):
        ns = {}
        self.assertEqual(result(run_command("y = 5\nprint('y is', y)", ns)), ("y is 5\n", "", 0))
        self.assertEqual(ns["y"], 5)
        self.assertEqual(result(run_command("None", ns)), ("", "", 0))

    def test_exception_gives_traceback_and_status_1(self):
        out, err, status = result(run_command("1/0", {}))
        self.assertEqual(status, 1)
        self.assertIn("ZeroDivisionError", err)
        out, err, status = result(run_command("def (", {}))
        self.assertEqual(status, 1)
        self.assertIn("SyntaxError", err)
        out, err, status = result(run_command("raise SystemExit(3)", {}))
        self.assertEqual(status, 1)

    def test_deferred_results_are_waited_for(self):
        self.assertEqual(result(run_command("succeed(3)", {"succeed": succeed})), ("3\n", "", 0))
        out, err, status = result(run_command("fail(ValueError('no'))", {"fail": fail}))
        self.assertEqual(status, 1)
        self.assertIn("ValueError: no", err)

    def test_deferred_that_never_fires_times_out(self):
        clock = Clock()
        d = run_command("Deferred()", {"Deferred": Deferred}, clock, timeout=5)
        clock.advance(5)
        out, err, status = result(d)
        self.assertEqual(status, 1)
        self.assertIn("TimeoutError", err)
