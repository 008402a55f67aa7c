"""The core commands: help, ping, version, uptime."""

import platform

import twisted
from pubbot.api import command, example, help_text
from pubbot.util.timefmt import format_duration
from pubbot.version import __version__


@command("help", args=r"(?P<topic>\S+)", usage="[command|plugin]")
@example("!help ping", "!ping: Answers pong: am I alive?\ne.g. !ping → pong")
@example("!help", "core: !help !ping !uptime !version...")
def help(msg, topic=None):
    """The plugins and their commands; 'help <command>' or 'help <plugin>' for one."""
    return {"content": help_text(msg, topic)}


@command("ping")
@example("!ping", "pong")
def ping(msg):
    """Answers pong: am I alive?"""
    return {"content": "pong"}


@command("version")
@example("!version", "pubbot ... on Twisted ..., Python ...")
def version(msg):
    """Says which pubbot, Twisted and Python this is."""
    return {"content": "pubbot %s on Twisted %s, Python %s" % (
        __version__, twisted.__version__, platform.python_version())}


@command("uptime")
@example("!uptime", "I have been up for ...")
def uptime(msg):
    """Says how long I have been running."""
    return {"content": "I have been up for %s." % format_duration(msg.bot.uptime())}
