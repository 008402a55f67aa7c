"""The core commands: help, ping, version, uptime."""

import platform

import twisted
from pubbot.api import PUBBOT_VERSION, command, example, format_duration, help_text, require


@command("help", args=r"(?P<topic>\S+)", usage="[command|plugin]")
@example("!help ping", "!ping: Answers pong: am I alive?\ne.g. !ping → pong")
@example("!help", "core: !help !ping !reload !uptime !version...")
def help(msg, topic=None):
    """The plugins and their commands; 'help <command>' or 'help <plugin>' for one."""
    return {"content": help_text(msg, topic)}


@command("reload", args=r"(?P<plugin>\S+)", usage="<plugin>")
@require("admin")
@example("!reload nosuch", "Not reloaded: I know no plugin 'nosuch'.")
def reload(msg, plugin=None):
    """Admins: loads a plugin's code again (drop-ins and installed ones) in every process, staying on IRC."""
    if not plugin:
        return {"content": "Which plugin? Say %sreload <plugin>." % (msg.bot.command_prefix(msg.network),)}
    reloader = msg.bot.reloader
    if reloader is None:
        return {"content": "Reloading plugins is not offered here."}
    answer = reloader.answer(plugin)
    if isinstance(answer, str):
        return {"content": answer}
    return answer.addCallback(lambda text: {"content": text})


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
        PUBBOT_VERSION, twisted.__version__, platform.python_version())}


@command("uptime")
@example("!uptime", "I have been up for ...")
def uptime(msg):
    """Says how long I have been running."""
    return {"content": "I have been up for %s." % format_duration(msg.bot.uptime())}
