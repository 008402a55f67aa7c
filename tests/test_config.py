"""Config: defaults for every key, one-line errors naming the key."""

import dataclasses
import os
import subprocess

from hypothesis import given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from pubbot import config
from pubbot.config import ConfigError, Settings, effective, load, parse

from .servers import bot_env, twistd_argv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class DefaultsTests(SynchronousTestCase):
    def test_empty_config_is_valid(self):
        s = parse({})
        self.assertEqual(s.irc.server, "")
        self.assertEqual(s.irc.nick, "pubbot")
        self.assertEqual(s.irc.command_prefix, "!")
        self.assertEqual(s.irc.sasl.mechanisms, ("SCRAM-SHA-256", "PLAIN"))
        self.assertEqual(s.irc.throttle.burst, 5)
        self.assertEqual(s.store.path, "pubbot.sqlite")
        self.assertEqual(s.web.endpoint, "tcp:8080:interface=127.0.0.1")
        self.assertEqual(s.music.poll_seconds, 5.0)
        self.assertEqual(s.manhole.endpoint, "")

    def test_frozen(self):
        s = parse({})
        self.assertRaises(dataclasses.FrozenInstanceError, setattr, s.irc, "nick", "x")

    def test_design_keys_all_present(self):
        design = {
            "irc": ["server", "nick", "alt_nicks", "channels", "command_prefix", "tls_fingerprints",
                    "tls_ca", "client_cert"],
            "irc.sasl": ["mechanisms", "username", "password", "password_env"],
            "irc.throttle": ["enabled", "burst", "per_second"],
            "plugins": ["paths", "disabled"], "store": ["path"], "redis": ["url"],
            "zmq": ["publish", "commands"], "music": ["source", "poll_seconds", "announce"],
            "web": ["endpoint", "token"], "manhole": ["endpoint", "authorized_keys"],
        }
        s = parse({})
        for section, keys in design.items():
            obj = s
            for part in section.split("."):
                obj = getattr(obj, part)
            for k in keys:
                self.assertTrue(hasattr(obj, k), "%s.%s" % (section, k))

    def test_example_file_is_valid_and_complete(self):
        s = load(os.path.join(ROOT, "pubbot.example.toml"))
        self.assertEqual(s.irc.server, "tls:irc.example.net:6697")
        self.assertEqual(s.irc.channels, ("#pubbot", "#private key"))


class ErrorTests(SynchronousTestCase):
    def error(self, data):
        with self.assertRaises(ConfigError) as e:
            parse(data)
        text = str(e.exception)
        self.assertNotIn("\n", text)
        return text

    def test_unknown_key(self):
        self.assertEqual(self.error({"irc": {"nikc": "x"}}), "unknown key [irc] nikc")
        self.assertEqual(self.error({"bogus": {}}), "unknown key [bogus]")
        self.assertEqual(self.error({"irc": {"sasl": {"pw": 1}}}), "unknown key [irc.sasl] pw")

    def test_wrong_types(self):
        self.assertEqual(self.error({"irc": {"nick": 3}}), "[irc] nick must be a string, not an integer")
        self.assertIn("[irc] channels must be an array of strings", self.error({"irc": {"channels": "#a"}}))
        self.assertIn("[irc.throttle] enabled must be true or false",
                      self.error({"irc": {"throttle": {"enabled": "yes"}}}))
        self.assertIn("[irc.throttle] burst must be an integer",
                      self.error({"irc": {"throttle": {"burst": 1.5}}}))
        self.assertIn("[music] poll_seconds must be a number", self.error({"music": {"poll_seconds": True}}))
        self.assertIn("[irc] must be a table", self.error({"irc": 5}))

    def test_impossible_values(self):
        self.assertIn("[music] poll_seconds must be greater than 0",
                      self.error({"music": {"poll_seconds": 0}}))
        self.assertIn("[irc] nick is not a valid nick", self.error({"irc": {"nick": "bad nick"}}))
        self.assertIn("[irc] channels has a bad channel", self.error({"irc": {"channels": ["nochan"]}}))
        # what the wire cannot carry is refused here, not in every connection attempt
        for bad in ("pub bot", "", "a@b", "x:y"):
            self.assertIn("[irc] username is not a valid IRC user name",
                          self.error({"irc": {"username": bad}}))
        for bad in ("#a key with spaces", " #a", "#a "):
            self.assertIn("[irc] channels has a bad channel", self.error({"irc": {"channels": [bad]}}))
        self.assertIn("[irc] server must be an endpoint", self.error({"irc": {"server": "irc.example.net"}}))
        self.assertIn("[irc] tls_fingerprints has", self.error({"irc": {"tls_fingerprints": ["abc"]}}))
        self.assertIn("[irc.sasl] mechanisms has unknown",
                      self.error({"irc": {"sasl": {"mechanisms": ["X"]}}}))
        self.assertIn("[music] source must start with", self.error({"music": {"source": "spotify:x"}}))
        self.assertIn("[irc] command_prefix must not contain",
                      self.error({"irc": {"command_prefix": "!\n"}}))

    def test_cross_checks(self):
        self.assertIn("[manhole] authorized_keys must be set",
                      self.error({"manhole": {"endpoint": "tcp:2222:interface=127.0.0.1"}}))
        self.assertIn("PUBBOT_SURELY_UNSET_VAR", self.error(
            {"irc": {"sasl": {"password_env": "PUBBOT_SURELY_UNSET_VAR"}}}))

    def test_bad_toml_and_missing_file(self):
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("[irc\nnick=")
        with self.assertRaises(ConfigError) as e:
            load(path)
        self.assertIn("is not valid TOML", str(e.exception))
        with self.assertRaises(ConfigError) as e:
            load(path + ".missing")
        self.assertIn("cannot read config", str(e.exception))

    @given(st.dictionaries(st.sampled_from(["irc", "web", "music", "zzz"]),
                           st.one_of(st.integers(), st.text(), st.dictionaries(st.text(), st.integers()))))
    def test_arbitrary_input_gives_settings_or_config_error(self, data):
        try:
            self.assertIsInstance(parse(data), Settings)
        except ConfigError as e:
            self.assertNotIn("\n", str(e))


class SecretsTests(SynchronousTestCase):
    def test_secrets_masked_and_not_in_repr(self):
        s = parse({"irc": {"sasl": {"password": "hunter2"}}, "web": {"token": "tok"}})
        self.assertNotIn("hunter2", repr(s))
        eff = effective(s)
        self.assertEqual(eff["irc"]["sasl"]["password"], "********")
        self.assertEqual(eff["web"]["token"], "********")
        self.assertEqual(eff["irc"]["nick"], "pubbot")

    def test_secret_from_env(self):
        os.environ["PUBBOT_TEST_SECRET"] = "s3"
        self.addCleanup(os.environ.pop, "PUBBOT_TEST_SECRET")
        self.assertEqual(config.secret("", "PUBBOT_TEST_SECRET"), "s3")
        self.assertEqual(config.secret("direct", ""), "direct")


class TwistdExitTests(SynchronousTestCase):
    """Through twistd itself: one line on stderr, exit 1, no traceback."""

    def run_twistd(self, *args):
        return subprocess.run(twistd_argv("--pidfile=", "-n", "pubbot", *args), capture_output=True,
                              text=True, env=bot_env(), cwd=self.mktemp_dir(), timeout=60)

    def mktemp_dir(self):
        path = self.mktemp()
        os.makedirs(path)
        return path

    def test_unknown_key_refused(self):
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            f.write('[irc]\nnikc = "x"\n')
        result = self.run_twistd("--config", path)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stderr.strip(), "pubbot: unknown key [irc] nikc")
        self.assertNotIn("Traceback", result.stdout + result.stderr)


class ExampleCompletenessTests(SynchronousTestCase):
    def test_example_lists_every_key(self):
        import tomllib
        with open(os.path.join(ROOT, "pubbot.example.toml"), "rb") as f:
            example = tomllib.load(f)
        missing = []

        def walk(cls, data, path):
            defaults = cls()
            for field in dataclasses.fields(cls):
                value = getattr(defaults, field.name)
                if dataclasses.is_dataclass(value):
                    walk(type(value), data.get(field.name, {}), path + [field.name])
                elif field.name not in data:
                    missing.append("[%s] %s" % (".".join(path), field.name))
        walk(Settings, example, [])
        self.assertEqual(missing, [])
