"""
The dashboard in a real headless Chromium (Debian's chromium + chromedriver,
driven by selenium): a chat line published in the bot shows in the live feed
within a second; a reload shows the state; the login form works with a token.
Screenshots go to test-artifacts/ (git-ignored).

Selenium blocks, so its calls run in a thread while the reactor (and the bot's
web service) runs in the test's thread.
"""

import os
import shutil
import tempfile
import time

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from pubbot.api import parse_chat_text
from pubbot.config.settings import parse
from pubbot.core.bot import Bot
from pubbot.store.memory import MemoryStore
from pubbot.web.service import WebService

from ..support.servers import free_port, require
from ..support.web import FakeIrc

ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                         "test-artifacts")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1000"]


@parse_chat_text(r"^hello(?: (?P<who>\w+))?$")
def hello(msg, who=None):
    return {"content": "hi %s" % msg.source}


class RecordingIrc(FakeIrc):
    def __init__(self, bot, network="irc", server_network="ExampleNet", nick="pubbot"):
        self.bot = bot
        self.network, self.server_network, self.nick = network, server_network, nick

    def send(self, target, text, kind="say", person=None):
        pass


def make_driver(profile):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = require("chromium", "chromium")
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument("--user-data-dir=" + profile)
    service = Service(executable_path=require("chromedriver", "chromium-driver"))
    return webdriver.Chrome(options=options, service=service)


class DashboardChromiumTests(TestCase):
    timeout = 120

    def setUp(self):
        require("chromium", "chromium")
        require("chromedriver", "chromium-driver")
        self.port = free_port()

    def make_bot(self, token="", music="mpd:tcp:127.0.0.1:6600"):
        # the music source is never polled here (no MusicService): it only makes the card show
        settings = parse({"web": {"endpoint": "tcp:%d:interface=127.0.0.1" % self.port, "token": token},
                          "music": {"source": music}})
        bot = Bot(settings, reactor, MemoryStore(reactor), process_id="dashbox:777")
        bot.add_handler(hello)
        bot.register_chat(RecordingIrc(bot))
        bot.register_chat(RecordingIrc(bot, "libera", "Libera.Chat", "pb"))
        bot.start()
        bot.state["music"] = {"title": "Blue Monday", "artist": "New Order", "album": "Substance"}
        return bot

    async def start(self, bot):
        service = WebService(bot, reactor, history_interval=0.5)
        service.startService()
        self.addCleanup(service.stopService)
        self.assertIsNotNone(await service.listening)
        profile = tempfile.mkdtemp(prefix="pubbot-chromium-")
        self.addCleanup(shutil.rmtree, profile, True)
        driver = await deferToThread(make_driver, profile)
        self.addCleanup(lambda: deferToThread(driver.quit))
        return service, driver

    async def wait_for(self, driver, script, timeout=10.0):
        """Poll a JS expression in the page until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = await deferToThread(driver.execute_script, "return " + script)
            if value:
                return value
            if time.monotonic() > deadline:
                self.fail("timed out waiting for: %s" % (script,))
            await deferLater(reactor, 0.02, lambda: None)

    async def screenshot(self, driver, name):
        os.makedirs(ARTIFACTS, exist_ok=True)
        path = os.path.join(ARTIFACTS, name)
        await deferToThread(driver.save_screenshot, path)
        self.assertTrue(os.path.getsize(path) > 0)

    def feed_text(self):
        return "document.getElementById('feed').innerText"

    def test_live_feed_and_state(self):
        async def run():
            bot = self.make_bot()
            service, driver = await self.start(bot)
            base = "http://127.0.0.1:%d/" % self.port
            await deferToThread(driver.get, base)
            await self.wait_for(driver, "document.getElementById('live').textContent === 'feed: live'")
            # a chat line published in the bot appears within a second
            started = time.monotonic()
            await bot.chat_line("irc", "#pubbot", "alice", "hello dashboard")
            await self.wait_for(driver, self.feed_text() + ".includes('hello dashboard')", timeout=1.0)
            elapsed = time.monotonic() - started
            self.assertLess(elapsed, 1.0)
            await self.wait_for(driver, self.feed_text() + ".includes('hi alice')", timeout=1.0)
            # hostile text is shown as text, never as markup
            await bot.chat_line("irc", "#pubbot", "mallory", "<img src=x onerror=alert(1)>")
            await self.wait_for(driver, self.feed_text() + ".includes('<img src=x')", timeout=2.0)
            self.assertEqual(await deferToThread(driver.execute_script,
                                                 "return document.querySelectorAll('#feed img').length"), 0)
            # with two networks, each line says its network, and the answer goes back there as pb
            await bot.chat_line("libera", "#pubbot", "bob", "hello there")
            await self.wait_for(driver, self.feed_text() + ".includes('libera #pubbot')", timeout=2.0)
            await self.wait_for(driver, self.feed_text() + ".includes('<pb>')", timeout=2.0)
            # reload: the state is there, and the recent feed comes back from the backlog
            await deferToThread(driver.refresh)
            await self.wait_for(driver,
                                "document.getElementById('connections').innerText.includes('ExampleNet')")
            state = await self.wait_for(driver, """(function () {
                const t = (id) => document.getElementById(id).innerText;
                if (!t('plugins').includes('hello')) return null;
                return {conn: t('connections'), channels: t('channels'), music: t('music'),
                        plugins: t('plugins'), owner: t('owner'), feed: t('feed'), process: t('process')};
            })()""")
            self.assertIn("pubbot", state["conn"])
            self.assertIn("libera · Libera.Chat", state["conn"])  # each network by its name
            self.assertIn("irc · ExampleNet", state["conn"])
            self.assertIn("125 ms", state["conn"])
            self.assertIn("@alice", state["channels"])
            self.assertIn("bob", state["channels"])
            self.assertIn("Blue Monday", state["music"])
            self.assertIn("New Order", state["music"])
            self.assertEqual(state["owner"], "dashbox:777")
            self.assertEqual(state["process"], "dashbox:777")
            hello_row = [line for line in state["plugins"].splitlines() if line.startswith("hello")][0]
            # two calls (alice's and bob's): its regex, as its content filter, kept mallory's line from it
            self.assertEqual(hello_row.split()[1], "2")
            await self.wait_for(driver, self.feed_text() + ".includes('hello dashboard')")
            # the feed is visible without scrolling; the music card shows, a player being configured
            self.assertTrue(await deferToThread(driver.execute_script, """return (
                document.getElementById('feed').getBoundingClientRect().top < window.innerHeight) &&
                !document.getElementById('music-card').hidden"""))
            # the charts: drawn by the shipped uPlot from /history, one canvas each
            await bot.chat_line("irc", "#pubbot", "alice", "hello again")
            drawn = ("document.querySelector('#chart-lines:not([hidden]) canvas') && "
                     "document.querySelector('#chart-calls:not([hidden]) canvas')")
            await self.wait_for(driver, drawn, timeout=5.0)
            titles = await deferToThread(driver.execute_script, """return Array.from(
                document.querySelectorAll('#charts .chart:not([hidden]) h3')).map(h => h.textContent)""")
            self.assertIn("Chat lines a minute, by channel", titles)
            self.assertIn("Handler calls a minute, by plugin", titles)
            await self.screenshot(driver, "dashboard.png")
            # readable on a phone: nothing wider than the screen
            await deferToThread(driver.set_window_size, 390, 844)
            await deferLater(reactor, 1.0, lambda: None)
            fits = "return document.documentElement.scrollWidth <= window.innerWidth"
            self.assertTrue(await deferToThread(driver.execute_script, fits))
            await self.screenshot(driver, "dashboard-phone.png")
            await bot.stop()
        return Deferred.fromCoroutine(run())

    def test_per_channel_settings_card(self):
        async def run():
            settings = parse({"web": {"endpoint": "tcp:%d:interface=127.0.0.1" % self.port},
                              "channels": {"#work": {"disabled": ["fun"]}}})
            bot = Bot(settings, reactor, MemoryStore(reactor), process_id="dashbox:778")
            bot.register_chat(RecordingIrc(bot))
            bot.start()
            self.addCleanup(bot.stop)
            service, driver = await self.start(bot)
            await deferToThread(driver.get, "http://127.0.0.1:%d/" % self.port)
            await self.wait_for(driver, "!document.getElementById('channel-settings-card').hidden")
            self.assertEqual(await deferToThread(driver.execute_script,
                                                 "return document.getElementById('channels-off').innerText"),
                             "Off: #work fun")
            # an override made from chat (hostile text stays text) shows at the next poll
            await Deferred.fromCoroutine(bot.channels.set("irc", "#pubbot", "greet.templates",
                                                          ["<b>hi</b> %(nick)s"], "alice (account:alice)"))
            text = await self.wait_for(driver, """(function () {
                const t = document.getElementById('channel-overrides').innerText;
                return t.includes('greet.templates') ? t : null; })()""")
            self.assertIn('#pubbot\tgreet.templates\t["<b>hi</b> %(nick)s"]\talice (account:alice)', text)
            bold = "return document.querySelectorAll('#channel-overrides b').length"
            self.assertEqual(await deferToThread(driver.execute_script, bold), 0)
            await deferToThread(driver.execute_script,
                                "document.getElementById('channel-settings-card').scrollIntoView()")
            await self.screenshot(driver, "dashboard-channels.png")
        return Deferred.fromCoroutine(run())

    def test_login_with_token(self):
        async def run():
            bot = self.make_bot(token="correct horse", music="")
            service, driver = await self.start(bot)
            await deferToThread(driver.get, "http://127.0.0.1:%d/" % self.port)
            await self.wait_for(driver, "document.location.pathname === '/login'")
            await deferToThread(driver.execute_script, """
                document.getElementById('token').value = 'wrong';
                document.querySelector('form').submit();""")
            await self.wait_for(driver, "document.body.innerText.includes('not right')")
            # the login page has its style sheet without the token
            await self.wait_for(driver,
                                "getComputedStyle(document.body).backgroundColor === 'rgb(246, 246, 243)'")
            await self.screenshot(driver, "login.png")
            await deferToThread(driver.execute_script, """
                document.getElementById('token').value = 'correct horse';
                document.querySelector('form').submit();""")
            await self.wait_for(driver, "document.getElementById('live') && "
                                        "document.getElementById('live').textContent === 'feed: live'")
            await bot.chat_line("irc", "dave", "dave", "a private word", private=True)
            await bot.chat_line("irc", "#pubbot", "carol", "behind the token")
            await self.wait_for(driver, self.feed_text() + ".includes('behind the token')", timeout=2.0)
            # private messages stay out of the feed; no player configured, no music card
            private = "return " + self.feed_text() + ".includes('a private word')"
            self.assertFalse(await deferToThread(driver.execute_script, private))
            self.assertTrue(await deferToThread(driver.execute_script,
                                                "return document.getElementById('music-card').hidden"))
            await self.screenshot(driver, "dashboard-token.png")
            await bot.stop()
        return Deferred.fromCoroutine(run())
