"""
C{!channel}: per-channel settings from chat.

Ops change the channel they are opped in (said there); admins any channel,
also in private. What they change is kept in the store with who and when
(C{pubbot config diff} lists it, the dashboard shows it); the config file
is never rewritten. This plugin and C{core} cannot be disabled in a channel.
"""

from __future__ import annotations

from typing import Any

from pubbot.api import ALWAYS_ON, command, example, format_duration, is_admin, person_key, rate, require

#: Most lines C{!channel show} gives.
SHOW_LINES = 8
#: An override's name for a plugin's state (as L{pubbot.core.channels} keeps it).
PLUGIN = "plugin:"

USAGE = "[#chan] disable|enable <plugin> | set|unset <plugin.key> [value] | show"


def _place(msg, given: str | None) -> tuple[str, str] | str:
    """(network, channel) the command is about, or what is wrong."""
    network = msg.fields.get("network")
    if not given:
        if msg.fields.get("private"):
            return "Say which channel: %schannel #name %s" % (msg.bot.command_prefix(network), "show")
        return network, msg.fields.get("channel")
    channel, at, named = given.rpartition("@")
    if at and channel:
        if named != network and named not in msg.bot.chat_services and named != msg.bot.settings.irc.name \
                and named not in msg.bot.settings.networks:
            return "I know no network %r." % (named,)
        return named, channel
    return network, given


def _who(msg) -> str:
    return "%s (%s)" % (msg.fields.get("source"), person_key(msg))


def _ago(msg, when: float) -> str:
    return "%s ago" % (format_duration(msg.bot.clock.seconds() - when),)


@command("channel", args=r"(?:(?P<place>[#&]\S*)\s+)?(?P<action>disable|enable|set|unset|show)"
                          r"(?:\s+(?P<name>\S+)(?:\s+(?P<value>.+))?)?", usage=USAGE)
@require("op")
@rate(user=10, per=60)
@example("!channel #pubbot show", "#pubbot has the config's settings: nothing set from chat.")
@example("!channel #pubbot disable nosuch", "I know no plugin 'nosuch' (...).")
def channel(msg, action: str, place: str | None = None, name: str | None = None,
            value: str | None = None) -> Any:
    """Ops and admins: turn plugins off and on, and change per-channel settings, in one channel."""
    where = _place(msg, place)
    if isinstance(where, str):
        return {"content": where}
    network, target = where
    here = (network == msg.fields.get("network") and not msg.fields.get("private")
            and target.lower() == str(msg.fields.get("channel")).lower())
    if not here and not is_admin(msg):
        return {"content": "Sorry %s, only admins can change another channel: say it in %s, where you "
                           "have ops." % (msg.fields.get("source"), target)}
    channels = msg.bot.channels
    if action == "show":
        return {"content": _show(msg, channels, network, target)}
    if not name or (action == "set") != (value is not None):
        return {"content": "Usage: %schannel %s" % (msg.bot.command_prefix(msg.fields.get("network")), USAGE)}
    if action in ("disable", "enable"):
        return _switch(msg, channels, network, target, name.lower(), action == "disable")
    if action == "unset":
        return _unset(msg, channels, network, target, name.lower())
    return _set(msg, channels, network, target, name.lower(), value or "")


def _show(msg, channels, network: str, target: str) -> list[str]:
    configured, _ = channels.configured(network, target)
    off = channels.disabled(network, target)
    overrides = channels.listing(network, target)
    lines = []
    if off:
        lines.append("Off in %s: %s." % (target, ", ".join(
            "%s (%s)" % (p, "config" if p in configured and not any(
                o.name == PLUGIN + p for o in overrides) else "chat") for p in sorted(off))))
    for o in overrides:
        if len(lines) >= SHOW_LINES - 1 and len(overrides) > 1:
            lines.append("... and %d more: pubbot config diff shows them all." % (
                len(overrides) - overrides.index(o),))
            break
        label = o.name[len(PLUGIN):] if o.name.startswith(PLUGIN) else o.name
        lines.append("%s = %s (set by %s, %s)" % (label, o.shown(), o.who, _ago(msg, o.when)))
    if not overrides:
        lines.append("%s has the config's settings: nothing set from chat." % (target,))
    return lines


async def _switch(msg, channels, network: str, target: str, plugin: str, off: bool) -> dict:
    if plugin in ALWAYS_ON:
        return {"content": "%s cannot be turned off in a channel." % (plugin,)}
    known = channels.plugin_names()
    if plugin not in known:
        return {"content": "I know no plugin %r (%s)." % (plugin, ", ".join(sorted(known - ALWAYS_ON)))}
    word = "off" if off else "on"
    if (plugin in channels.disabled(network, target)) == off:
        return {"content": "%s is already %s in %s." % (plugin, word, target)}
    configured, _ = channels.configured(network, target)
    try:
        if (plugin in configured) == off:  # back to what the file says
            await channels.unset(network, target, PLUGIN + plugin)
        else:
            await channels.set(network, target, PLUGIN + plugin, off, _who(msg))
    except ValueError as e:
        return {"content": "Not changed: %s." % (e,)}
    return {"content": "%s is now %s in %s." % (plugin, word, target)}


async def _set(msg, channels, network: str, target: str, name: str, text: str) -> dict:
    try:
        value = channels.value(name, text)
        await channels.set(network, target, name, value, _who(msg))
    except ValueError as e:
        return {"content": "Not set: %s." % (e,)}
    shown = channels.listing(network, target)
    current = next((o.shown() for o in shown if o.name == name), repr(value))
    return {"content": "%s is now %s in %s." % (name, current, target)}


async def _unset(msg, channels, network: str, target: str, name: str) -> dict:
    if name.startswith(PLUGIN) or "." not in name:
        return {"content": "Say %schannel %s enable %s to turn a plugin back on." % (
            msg.bot.command_prefix(msg.fields.get("network")), target, name.split(":")[-1])}
    if not await channels.unset(network, target, name):
        return {"content": "%s was not set from chat in %s." % (name, target)}
    return {"content": "%s is back to the config's value in %s." % (name, target)}
