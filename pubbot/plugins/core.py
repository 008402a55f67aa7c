"""The core commands: help, ping, version, uptime."""

import platform

import twisted
from pubbot.api import PUBBOT_VERSION, command, format_duration, one_line


def _describe(handler, prefix: str) -> list:
    """Help lines for C{handler}: commands are shown with the command prefix."""
    if not handler.triggers:
        return []
    text = handler.description or "(no description)"
    lead = prefix if getattr(handler, "command_word", None) else ""
    return ["%s%s: %s" % (lead, trigger, text) for trigger in handler.triggers]


@command("help", args=r"(?P<topic>\S+)", usage="[command]")
def help(msg, topic=None):
    """Lists every trigger with what it does; 'help <command>' for one."""
    handlers = msg.bot.handlers
    prefix = msg.bot.command_prefix(msg.network)  # the prefix of the network asking
    if topic:
        word = topic.lower()
        if prefix and word.startswith(prefix):
            word = word[len(prefix):]
        lines = [line for h in handlers for line in _describe(h, prefix)
                 if word in (t.split(" ", 1)[0].lower() for t in h.triggers)]
        return {"content": lines or "I know no command '%s'; say %shelp for the list." % (
            one_line(topic, 32), prefix)}
    lines = [line for h in handlers for line in _describe(h, prefix)]
    if msg.private or msg.protocol == "console":
        return {"content": lines}
    msg.bot.send(msg.network, msg.source, "\n".join(lines), "notice")
    return {"content": "%s: I've sent you the %s I answer to." % (msg.source, _things(len(lines)))}


def _things(count: int) -> str:
    return "one thing" if count == 1 else "%d things" % (count,)


@command("ping")
def ping(msg):
    """Answers pong: am I alive?"""
    return {"content": "pong"}


@command("version")
def version(msg):
    """Says which pubbot, Twisted and Python this is."""
    return {"content": "pubbot %s on Twisted %s, Python %s" % (
        PUBBOT_VERSION, twisted.__version__, platform.python_version())}


@command("uptime")
def uptime(msg):
    """Says how long I have been running."""
    return {"content": "I have been up for %s." % format_duration(msg.bot.uptime())}
