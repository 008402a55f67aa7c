"""Config: defaults for every key, one-line errors naming the key."""

import dataclasses
import os
import subprocess

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from pubbot.config import settings as config
from pubbot.config.networks import chat_networks
from pubbot.config.registry import is_array
from pubbot.config.settings import ConfigError, Settings, effective, load, parse
from pubbot.loader import load_plugins
from pubbot.tap import load_settings

from .support.servers import bot_env, twistd_argv

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
        # it runs as it is: the console room, no network to connect to
        s = load_settings(os.path.join(ROOT, "pubbot.example.toml"))
        self.assertEqual((s.irc.server, s.irc.channels, dict(s.networks)), ("", ("#pubbot",), {}))
        self.assertEqual(chat_networks(s), [])


class ErrorTests(SynchronousTestCase):
    def error(self, data):
        with self.assertRaises(ConfigError) as e:
            parse(data)
        text = str(e.exception)
        self.assertNotIn("\n", text)
        return text

    def test_unknown_key(self):
        self.assertEqual(self.error({"irc": {"nikc": "x"}}), "unknown key [irc] nikc")
        self.assertEqual(self.error({"bogus": {}}), "[bogus]: plugin bogus is not installed")
        self.assertEqual(self.error({"bogus": 1}), "unknown key [bogus]")
        self.assertEqual(self.error({"irk": {}}), "[irk]: plugin irk is not installed (did you mean [irc]?)")
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

    def test_what_the_wire_cannot_carry(self):
        for bad in ("a\tb", "x" * 65, "a\x01", "a\x7f"):
            self.assertIn("[irc] username is not a valid IRC user name",
                          self.error({"irc": {"username": bad}}))
        for bad in ("pub\tbot", "p" * 65, "pub\x03bot", "pub\rbot"):
            self.assertIn("[irc] nick is not a valid nick", self.error({"irc": {"nick": bad}}))
            self.assertIn("[irc] alt_nicks", self.error({"irc": {"alt_nicks": [bad]}}))
        self.assertIn("[irc] realname is longer than 300 bytes", self.error({"irc": {"realname": "é" * 151}}))
        self.assertIn("[irc] realname must not contain", self.error({"irc": {"realname": "a\nQUIT"}}))
        for bad in ("#a\tb", "#a\x02", "#" + "c" * 200, "#a " + "k" * 101, "#a key\tx", "#a :key",
                    "#a\u00a0b", "#a b c", "#a,#b"):
            self.assertIn("[irc] channels has a bad channel", self.error({"irc": {"channels": [bad]}}))
        self.assertIn("[irc] channels has a bad channel", self.error({"irc": {"channels": ["#a\x00"]}}))
        for key in ("nickserv_password",):
            text = self.error({"irc": {key: "hunter2\r\nQUIT"}})
            self.assertIn("[irc] %s must not contain" % (key,), text)
            self.assertNotIn("hunter2", text)
        text = self.error({"irc": {"sasl": {"password": "hunter2\0x"}}})
        self.assertIn("[irc.sasl] password must not contain", text)
        self.assertNotIn("hunter2", text)
        # the longest of each still passes
        settings = parse({"irc": {"username": "u" * 64, "nick": "n" * 64, "realname": "é" * 150,
                                  "channels": ["#" + "c" * 199 + " " + "k" * 100]}})
        self.assertEqual(settings.irc.username, "u" * 64)

    def test_password_from_the_environment_must_be_one_line(self):
        os.environ["PUBBOT_TEST_BAD_PASSWORD"] = "hunter2\nQUIT"
        self.addCleanup(os.environ.pop, "PUBBOT_TEST_BAD_PASSWORD")
        text = self.error({"irc": {"nickserv_password_env": "PUBBOT_TEST_BAD_PASSWORD"}})
        self.assertIn("PUBBOT_TEST_BAD_PASSWORD, whose value holds CR, LF or NUL", text)
        self.assertNotIn("hunter2", text)

    def test_not_utf8_names_line_and_column(self):
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(b'[irc]\nnick = "ok"\nrealname = "caf\xe9"\n')
        with self.assertRaises(ConfigError) as e:
            load(path)
        self.assertEqual(str(e.exception),
                         "config %s is not valid UTF-8 (at line 3, column 16: byte 0xe9)" % (path,))

    def test_bad_toml_names_line_and_column(self):
        path = self.mktemp()
        with open(path, "w") as f:
            f.write('[irc]\nnick = "ok"\nchannels = ["#a",\n  "#b" "#c"]\n')
        with self.assertRaises(ConfigError) as e:
            load(path)
        self.assertIn("is not valid TOML", str(e.exception))
        self.assertIn("line 4, column", str(e.exception))
        self.assertNotIn("\n", str(e.exception))

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


class NetworkTests(SynchronousTestCase):
    """[irc] name and [networks.NAME] tables: more networks, each with [irc]'s keys."""

    error = ErrorTests.error

    def test_none_by_default(self):
        s = parse({})
        self.assertEqual(s.irc.name, "irc")
        self.assertEqual(dict(s.networks), {})
        self.assertEqual(chat_networks(s), [])  # no server anywhere: the console room

    def test_tables_take_defaults_not_irc_values(self):
        s = parse({"irc": {"server": "tcp:a.example:6667", "nick": "first", "command_prefix": "?",
                           "throttle": {"burst": 9}},
                   "networks": {"libera": {"server": "tls:b.example:6697", "channels": ["#x"],
                                           "sasl": {"username": "bob"}},
                                "oftc": {"server": "tcp:c.example:6667", "nick": "other"}}})
        self.assertEqual(list(s.networks), ["libera", "oftc"])
        libera = s.networks["libera"]
        self.assertEqual((libera.name, libera.server, libera.channels, libera.sasl.username),
                         ("libera", "tls:b.example:6697", ("#x",), "bob"))
        defaults = config.IrcSettings()
        self.assertEqual((libera.nick, libera.command_prefix, libera.throttle.burst),
                         (defaults.nick, defaults.command_prefix, defaults.throttle.burst))
        self.assertEqual(s.networks["oftc"].nick, "other")
        self.assertEqual([n.name for n in chat_networks(s)], ["irc", "libera", "oftc"])
        with self.assertRaises(TypeError):  # frozen like the rest
            s.networks["x"] = libera  # type: ignore[index]

    def test_first_network_renamed_or_absent(self):
        s = parse({"irc": {"name": "home", "server": "tcp:a.example:6667"}})
        self.assertEqual([n.name for n in chat_networks(s)], ["home"])
        s = parse({"networks": {"libera": {"server": "tcp:b.example:6667"}}})
        self.assertEqual([n.name for n in chat_networks(s)], ["libera"])  # [irc] has no server

    def libera(self, **table):
        """The error of a config with [networks.libera] C{table} (server tcp:a:1 unless given)."""
        table.setdefault("server", "tcp:a:1")
        return self.error({"networks": {"libera": table}})

    def test_bad_tables(self):
        self.assertEqual(self.libera(sasl={"mechanisms": ["X"]}),
                         "[networks.libera.sasl] mechanisms has unknown mechanism 'X' (PLAIN, SCRAM-SHA-256, "
                         "EXTERNAL)")
        self.assertEqual(self.libera(nikc="x"),
                         "unknown key [networks.libera] nikc")
        self.assertEqual(self.libera(server="", channels=["#a"]),
                         "[networks.libera] server must be set")
        self.assertIn("[networks.libera] server must be an endpoint",
                      self.libera(server="irc.libera.chat"))
        self.assertEqual(self.libera(throttle={"burst": 0}),
                         "[networks.libera.throttle] burst must be greater than 0")
        self.assertEqual(self.libera(name="x"),
                         "unknown key [networks.libera] name (a network's name is its table's name)")
        self.assertEqual(self.error({"networks": {"libera": 5}}),
                         "[networks.libera] must be a table, not an integer")
        self.assertIn("[networks] must be a table", self.error({"networks": ["libera"]}))
        self.assertIn("[networks.libera.sasl] password_env names PUBBOT_SURELY_UNSET_VAR",
                      self.libera(sasl={"password_env": "PUBBOT_SURELY_UNSET_VAR"}))
        self.assertIn("[networks.libera] nickserv_password_env names PUBBOT_SURELY_UNSET_VAR",
                      self.libera(nickserv_password_env="PUBBOT_SURELY_UNSET_VAR"))

    def test_names(self):
        for bad in ["", "console", "a.b", "a*", "#a", "a b", "a\tb", "a%b", "x" * 33, "a\x00"]:
            self.assertIn("[networks] network name must",
                          self.error({"networks": {bad: {"server": "tcp:a:1"}}}))
            self.assertIn("[irc] name must", self.error({"irc": {"name": bad}}))
        self.assertIn("[irc] name must be a string", self.error({"irc": {"name": 1}}))
        for good in ["libera", "OFTC", "x" * 32, "ergo-test_2", "réseau"]:
            self.assertEqual(list(parse({"networks": {good: {"server": "tcp:a:1"}}}).networks), [good])
        self.assertEqual(self.error({"networks": {"irc": {"server": "tcp:a:1"}}}),
                         "[networks.irc] has the name of the first network ([irc] name); rename one")
        self.assertEqual(self.error({"irc": {"name": "libera"},
                                     "networks": {"libera": {"server": "tcp:a:1"}}}),
                         "[networks.libera] has the name of the first network ([irc] name); rename one")
        s = parse({"irc": {"name": "home"}, "networks": {"irc": {"server": "tcp:a:1"}}})
        self.assertEqual(list(s.networks), ["irc"])

    @given(st.dictionaries(st.text(max_size=5), st.one_of(
        st.integers(), st.dictionaries(st.sampled_from(["server", "nick", "sasl", "name"]),
                                       st.one_of(st.text(max_size=8), st.integers(), st.just({}))))))
    def test_arbitrary_tables_give_settings_or_config_error(self, data):
        try:
            s = parse({"networks": data})
        except ConfigError as e:
            self.assertNotIn("\n", str(e))
        else:
            self.assertEqual(list(s.networks), list(data))

    def test_config_check_output_masks_network_secrets(self):
        s = parse({"networks": {"libera": {"server": "tcp:a:1", "sasl": {"password": "hunter2"},
                                           "nickserv_password": "hunter3"}}})
        self.assertNotIn("hunter2", repr(s))
        eff = effective(s)
        self.assertEqual(eff["networks"]["libera"]["sasl"]["password"], "********")
        self.assertEqual(eff["networks"]["libera"]["nickserv_password"], "********")
        self.assertEqual(eff["networks"]["libera"]["server"], "tcp:a:1")
        self.assertNotIn("name", eff["networks"]["libera"])  # the table's name is the network's
        self.assertEqual(eff["irc"]["name"], "irc")
        self.assertEqual(effective(s, mask=False)["networks"]["libera"]["sasl"]["password"], "hunter2")


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


    def test_not_utf8_refused_in_one_line(self):
        path = os.path.abspath(self.mktemp())
        with open(path, "wb") as f:
            f.write(b'[irc]\nnick = "\xff\xfe"\n')
        result = self.run_twistd("--config", path)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stderr.strip(),
                         "pubbot: config %s is not valid UTF-8 (at line 2, column 9: byte 0xff)" % (path,))
        self.assertNotIn("Traceback", result.stdout + result.stderr)

    def test_not_toml_refused_in_one_line(self):
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            f.write('[irc]\nnick = \n')
        result = self.run_twistd("--config", path)
        self.assertEqual(result.returncode, 1)
        self.assertTrue(result.stderr.startswith("pubbot: config %s is not valid TOML: " % (path,)),
                        result.stderr)
        self.assertIn("(at line 2, column", result.stderr)
        self.assertEqual(result.stderr.count("\n"), 1)
        self.assertNotIn("Traceback", result.stdout + result.stderr)


class ExampleCompletenessTests(SynchronousTestCase):
    def test_example_lists_every_key(self):
        import tomllib
        with open(os.path.join(ROOT, "pubbot.example.toml"), "rb") as f:
            text = f.read().decode("utf-8")
        example = tomllib.loads(text)
        missing = []

        def walk(cls, data, path):
            defaults = cls()
            for field in dataclasses.fields(cls):
                value = getattr(defaults, field.name)
                if dataclasses.is_dataclass(value):
                    walk(type(value), data.get(field.name, {}), path + [field.name])
                elif field.name == "networks" and cls is Settings:  # a table of [irc]-like tables
                    if "\n# [networks." not in text:  # commented out: the example runs as it is
                        missing.append("[networks.NAME]")
                elif field.name == "sections" and cls is Settings:  # walked below, each on its own
                    continue
                elif field.name not in data:
                    missing.append("[%s] %s" % (".".join(path), field.name))
        walk(Settings, example, [])
        for section in [*config.feature_sections(), *load_plugins(installed=False).sections]:
            if is_array(section.cls):  # commented out: the example runs as it is
                block = text.partition("\n# [[%s]]\n" % (section.name,))[2].split("\n\n")[0]
                missing += ["[[%s]] %s" % (section.name, f.name) for f in dataclasses.fields(section.cls)
                            if "\n# %s = " % (f.name,) not in "\n" + block]
                continue
            walk(section.cls, example.get(section.name, {}), [section.name])
        self.assertEqual(missing, [])


SECTIONS = os.path.join(ROOT, "tests", "data", "sections")


class PluginSectionTests(SynchronousTestCase):
    """Tables declared with @section by features and plugins, read as twistd reads the file."""

    def load(self, text):
        from pubbot.tap import load_config
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(text)
        return load_config(path)

    def error(self, text):
        with self.assertRaises(ConfigError) as e:
            self.load(text)
        self.assertNotIn("\n", str(e.exception))
        return str(e.exception)

    def test_a_dropins_table_is_read_as_an_attribute(self):
        settings, plugins = self.load('[plugins]\npaths = ["%s"]\n[weather]\ncity = "Paris"\n' % SECTIONS)
        self.assertEqual((settings.weather.city, settings.weather.days), ("Paris", 3))
        self.assertIs(type(settings.weather), plugins.modules["weather"].WeatherSettings)
        self.assertIn("weather", [h.name for h in plugins.handlers])
        self.assertRaises(dataclasses.FrozenInstanceError, setattr, settings.weather, "city", "x")

    def test_defaults_without_a_table(self):
        settings, _ = self.load('[plugins]\npaths = ["%s"]\n' % SECTIONS)
        self.assertEqual(settings.weather.city, "London")
        # the built-ins' tables are there too, and the features'
        self.assertEqual((settings.greet.templates[0], settings.tell.max_pending, settings.music.source),
                         ("Hello %(nick)s!", 10, ""))

    def test_errors_name_the_key(self):
        dropin = '[plugins]\npaths = ["%s"]\n' % SECTIONS
        self.assertEqual(self.error(dropin + "[weather]\ndays = 0\n"),
                         "[weather] days must be greater than 0")
        self.assertEqual(self.error(dropin + "[weather]\ndays = '3'\n"),
                         "[weather] days must be an integer, not a string")
        self.assertEqual(self.error(dropin + "[weather]\ntown = 'x'\n"), "unknown key [weather] town")
        self.assertEqual(self.error("weather = 5\n" + dropin), "[weather] must be a table, not an integer")
        self.assertEqual(self.error("[greet]\ntemplates = 'hi'\n"),
                         "[greet] templates must be an array of strings")

    def test_a_table_of_a_plugin_not_installed(self):
        self.assertEqual(self.error("[weather]\ncity = 'Paris'\n"),
                         "[weather]: plugin weather is not installed")

    def test_a_table_of_a_plugin_that_failed_to_import(self):
        import os
        import sys
        directory = self.mktemp()
        os.makedirs(directory)
        with open(os.path.join(directory, "weather.py"), "w") as f:
            f.write("def broken(:\n")
        self.addCleanup(sys.modules.pop, "pubbot.plugins.weather", None)
        text = '[plugins]\npaths = ["%s"]\n[weather]\ncity = "x"\n' % (directory,)
        self.assertRegex(self.error(text), r"^\[weather\]: plugin weather failed to import: SyntaxError: ")
        self.flushLoggedErrors(SyntaxError)

    def test_a_table_of_a_disabled_plugin(self):
        text = '[plugins]\npaths = ["%s"]\ndisabled = ["weather"]\n[weather]\ncity = "x"\n' % SECTIONS
        self.assertEqual(self.error(text), "[weather]: plugin weather is disabled")
        # a built-in whose every handler is disabled; its tables are named with the plugin
        self.assertEqual(self.error('[plugins]\ndisabled = ["greet"]\n[greet]\n'),
                         "[greet]: plugin greet is disabled")
        self.assertEqual(self.error('[plugins]\ndisabled = ["seen", "tell"]\n[tell]\n'),
                         "[tell]: plugin seen is disabled")
        # one of a plugin's handlers disabled: its tables are still read
        settings, plugins = self.load('[plugins]\ndisabled = ["tell"]\n[tell]\nmax_pending = 2\n')
        self.assertEqual(settings.tell.max_pending, 2)
        self.assertNotIn("tell", [h.name for h in plugins.handlers])
        self.assertIn("seen", [h.name for h in plugins.handlers])

    def test_no_table_no_attribute(self):
        settings, _ = self.load("")
        with self.assertRaises(AttributeError) as e:
            _ = settings.no_such_plugin
        self.assertIn("no [no_such_plugin] table", str(e.exception))

    def test_settings_read_without_a_plugin_give_it_its_defaults(self):
        # a bot built by hand (settings without the plugin's section), then given the plugin
        module = load_plugins([SECTIONS]).modules["weather"]
        settings = parse({})
        self.assertNotIn("weather", settings.sections)
        self.assertEqual(settings.weather, module.WeatherSettings())
        self.assertIs(settings.weather, settings.weather)

    def test_config_check_output_has_the_sections_secrets_masked(self):
        settings, _ = self.load('[plugins]\npaths = ["%s"]\n[weather]\napi_key = "hunter2"\n' % SECTIONS)
        self.assertNotIn("hunter2", repr(settings.weather))
        eff = effective(settings)
        self.assertEqual(eff["weather"], {"city": "London", "days": 3, "api_key": "********"})
        self.assertEqual(eff["greet"]["templates"][0], "Hello %(nick)s!")
        self.assertNotIn("sections", eff)

    def test_harness_takes_a_plugins_table_as_config(self):
        from pubbot.testing import Harness
        module = load_plugins([SECTIONS]).modules["weather"]
        h = Harness(module.weather, config={"weather": {"city": "Paris", "days": 2}})
        self.assertEqual(h.reply("!weather"), "Paris: sunny for 2 days")
        self.assertEqual(h.reply("!weather Oslo"), "Oslo: sunny for 2 days")
        with self.assertRaises(ConfigError) as e:
            Harness(module.weather, config={"weather": {"days": -1}})
        self.assertEqual(str(e.exception), "[weather] days must be greater than 0")
        # given settings without the table: its defaults
        self.assertEqual(Harness(module.weather, settings=parse({})).reply("!weather"),
                         "London: sunny for 3 days")


class SectionDeclarationTests(SynchronousTestCase):
    """@section refuses what cannot be a table when the plugin is imported."""

    def test_bad_declarations(self):
        from dataclasses import dataclass, field

        from pubbot.api import key, section

        with self.assertRaises(TypeError) as e:
            @section("mutable")
            @dataclass
            class Mutable:
                x: int = key(1)
        self.assertIn("not a frozen dataclass", str(e.exception))
        with self.assertRaises(TypeError) as e:
            @section("nodefault")
            @dataclass(frozen=True)
            class NoDefault:
                x: int
        self.assertIn("NoDefault.x has no default", str(e.exception))
        with self.assertRaises(TypeError) as e:
            @section("badtype")
            @dataclass(frozen=True)
            class BadType:
                x: dict = field(default_factory=dict)
        self.assertIn("a config key is str, int, float, bool or tuple[str, ...]", str(e.exception))
        for bad in ("Weather", "", "a.b", "x" * 33, "1a"):
            self.assertRaises(ValueError, section, bad)

    def test_a_plugin_cannot_take_a_core_table(self):
        from pubbot.config.registry import Declared
        from pubbot.config.settings import add_sections, parse_core

        @dataclass_frozen
        class Irc:
            nick: str = config.key("x")

        with self.assertRaises(ValueError):
            add_sections(parse_core({}), {}, [Declared("irc", Irc, "evil")])
        with self.assertRaises(ValueError):
            add_sections(parse_core({}), {}, [Declared("music", Irc, "evil")])


def dataclass_frozen(cls):
    return dataclasses.dataclass(frozen=True)(cls)
