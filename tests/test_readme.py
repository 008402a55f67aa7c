"""The README does what it says: its tour, its config and its plugin run as written; the docs parse."""

import io
import os
import re
import sys

from twisted.trial.unittest import SynchronousTestCase

from pubbot.loader import load_handlers
from pubbot.testing import Harness, make_settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme() -> str:
    with open(os.path.join(ROOT, "README.rst"), encoding="utf-8") as f:
        return f.read()


def literal_after(text: str, lead: str) -> list[str]:
    """The lines of the literal block that follows the paragraph ending with C{lead}."""
    start = text.index(lead) + len(lead)
    lines = []
    for line in text[start:].split("\n")[1:]:
        if line and not line.startswith("    "):
            break
        lines.append(line[4:])
    return [line for line in lines if line.strip()] if lines else []


class TourTests(SynchronousTestCase):
    def test_each_line_of_the_tour_answers_what_the_readme_says(self):
        tour = literal_after(readme(), "Try, line by line::")
        self.assertGreaterEqual(len(tour), 8)
        handlers = load_handlers()
        h = Harness(*handlers, network="console", settings=make_settings({}, *handlers))
        for row in tour:
            parts = re.split(r"\s{2,}", row.strip(), maxsplit=1)
            said, answer = parts[0], (parts[1] if len(parts) > 1 else "")
            before = len(h.sent)
            h.say(said, source="you", channel="#console", hostmask="you!you@console", protocol="console")
            h.clock.advance(5)
            later = re.match(r"\(a minute later\) (.*)", answer)
            if later is not None:
                h.clock.advance(60)
                answer = later.group(1)
            got = [text for _, text, _ in h.sent[before:]]
            if not answer:
                continue  # the README shows no answer (teaching: acknowledged)
            self.assertTrue(got, "%r got no answer" % (said,))
            if answer.startswith(("how ", "what ")):  # described, not quoted
                continue
            self.assertTrue(any(text.startswith(answer) for text in got),
                            "%r: %r, not %r" % (said, got, answer))


class ConnectTests(SynchronousTestCase):
    def test_the_example_config_passes_the_check(self):
        from pubbot.tap import load_config
        config = "\n".join(literal_after(readme(), "Write a config file, ``bot.toml``::"))
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(config)
        os.environ["MYBOT_PASSWORD"] = "sesame"
        self.addCleanup(os.environ.pop, "MYBOT_PASSWORD")
        settings, _ = load_config(path)
        self.assertEqual((settings.irc.server, settings.irc.nick, settings.plugins.admins),
                         ("tls:irc.libera.chat:6697", "mybot", ("myaccount",)))

    def test_the_plugin_runs_as_written(self):
        lead = "(or a package installed with pip, see ``docs/reference.rst``)::"
        code = "\n".join(literal_after(readme(), lead))
        directory = self.mktemp()
        os.makedirs(directory)
        with open(os.path.join(directory, "roll.py"), "w") as f:
            f.write(code + "\n")
        handlers = [h for h in load_handlers([directory]) if h.name == "roll"]
        self.assertEqual(len(handlers), 1)
        h = Harness(*handlers)
        self.assertRegex(h.reply("!roll 20"), r"^alice rolled \d+$")


class DocsTests(SynchronousTestCase):
    def test_the_docs_are_valid_restructuredtext(self):
        import docutils.core
        for name in ["README.rst"] + ["docs/" + n for n in sorted(os.listdir(os.path.join(ROOT, "docs")))
                                        if n.endswith(".rst")]:
            path = os.path.join(ROOT, name)
            with open(path, encoding="utf-8") as f:
                source = f.read()
            errors = io.StringIO()
            docutils.core.publish_doctree(source, source_path=path, settings_overrides={
                "warning_stream": errors, "report_level": 2, "halt_level": 5})
            self.assertEqual(errors.getvalue(), "", name)

    def test_the_readme_points_at_docs_that_exist(self):
        for name in re.findall(r"``(docs/[\w./-]+)``", readme()):
            self.assertTrue(os.path.exists(os.path.join(ROOT, name)), name)


class PluginPlatformTests(SynchronousTestCase):
    """The README's second plugin: a settings table, a job, a permission and an example, as written."""

    def dropin(self):
        lead = "checked when the bot starts and by ``pubbot\nconfig check``)::"
        directory = self.mktemp()
        os.makedirs(directory)
        with open(os.path.join(directory, "weather.py"), "w") as f:
            f.write("\n".join(literal_after(readme(), lead)) + "\n")
        self.addCleanup(sys.modules.pop, "pubbot.plugins.weather", None)
        return directory

    def test_the_drop_in_runs_as_written(self):
        from pubbot.config.settings import ConfigError
        from pubbot.tap import load_config
        from pubbot.testing import check_examples
        directory = self.dropin()
        path = self.mktemp()
        with open(path, "w") as f:
            f.write('[plugins]\npaths = ["%s"]\n[weather]\ncity = "Paris"\n' % (directory,))
        settings, plugins = load_config(path)
        self.assertEqual(settings.weather.city, "Paris")
        with open(path, "a") as f:
            f.write("days = 0\n")
        with self.assertRaises(ConfigError) as e:
            load_config(path)
        self.assertEqual(str(e.exception), "[weather] days must be greater than 0")
        mine = [h for h in plugins.handlers if h.name in ("weather", "storm", "forecast", "help")]
        self.assertEqual(len(mine), 4)
        self.assertEqual(check_examples(sys.modules["pubbot.plugins.weather"]), 1)
        h = Harness(*mine, settings=settings)
        self.assertEqual(h.reply("!weather"), "Paris: sunny for 3 days")
        self.assertEqual(h.reply("!storm Oslo"), "Sorry alice, storm needs ops (+o) in #pubbot.")
        h.give_modes("alice", "o")
        self.assertEqual(h.reply("!storm Oslo"), "Storm warning for Oslo!")
        self.assertIn("e.g. !weather Rome → Rome: sunny for 3 days", h.reply("!help weather"))
        h.clock.advance(3600)
        self.assertIn(("#mychannel", "Forecast for Paris: sunny", "notice"), h.sent)

    def test_the_test_runs_as_written(self):
        from pubbot.loader import load_plugins
        directory = self.dropin()
        module = {h.name: h for h in load_plugins([directory]).handlers}
        code = "\n".join(literal_after(readme(), "which runs its examples::"))
        scope = {"weather": module["weather"], "storm": module["storm"], "forecast": module["forecast"]}
        exec(compile(code, "README.rst", "exec"), scope)
        scope["test_weather"]()

    def test_the_package_is_declared_as_the_loader_reads_it(self):
        import tomllib

        from pubbot.loader import ENTRY_POINT_GROUP
        project = tomllib.loads("\n".join(literal_after(readme(), "a minimal ``pyproject.toml``::")))
        self.assertEqual(project["project"]["entry-points"][ENTRY_POINT_GROUP], {"weather": "pubbot_weather"})
        self.assertIn("pubbot", project["project"]["dependencies"])
