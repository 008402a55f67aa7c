"""
Admin commands: C{!join #chan [key]}, C{!part [#chan] [reason]}, C{!say
#chan text}, C{!act #chan text}, C{!nick name}, C{!quit [reason]}. Only
admins (C{[plugins] admins}) may use them; a channel is on the network
asked from unless written C{#chan@network} or followed by the words
C{--network NAME} (C{!nick name --network NAME} too). Joins and parts
outlive restarts (see L{pubbot.admin}).
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from pubbot.admin import Keeper, can_control, channel_problem, key_problem, nick_problem, split_place
from pubbot.api import Handler, command, one_line

#: Text sent by !say and !act, at most (the connection splits it to fit lines).
MAX_TEXT = 400

_keepers: WeakKeyDictionary = WeakKeyDictionary()


def keeper_of(bot: Any) -> Keeper:
    keeper = _keepers.get(bot)
    if keeper is None:
        keeper = _keepers[bot] = Keeper(bot)
    return keeper


class AdminKeeper(Handler):
    """Keeps the connections held here in their channels (see L{pubbot.admin.Keeper})."""

    def __init__(self) -> None:
        super().__init__(lambda msg: None, (), name="admin-keeper", description="")

    def start(self, bot) -> None:
        super().start(bot)
        keeper_of(bot).start()

    def stop(self) -> None:
        if self.bot is not None:
            keeper_of(self.bot).stop()
        super().stop()


admin_keeper = AdminKeeper()


def _usage(msg, text: str) -> dict:
    return {"content": "Usage: %s%s" % (msg.bot.command_prefix(msg.network), text)}


def _who(msg) -> str:
    return "%s (%s)" % (msg.source, msg.fields.get("account") or msg.fields.get("hostmask") or "?")


#: The word naming a network: C{--network NAME} (or C{--network=NAME}).
NETWORK_WORD = "--network"


def _networks(msg) -> list[str]:
    """The networks the bot knows: those of the config, then any other it is on."""
    settings = msg.bot.settings
    known = [settings.irc.name, *settings.networks]
    return known + sorted(n for n in msg.bot.chat_services if n not in known)


def _network_word(msg, words: list[str], at: tuple[int, ...]) -> tuple[str | None, list[str], str | None]:
    """
    C{--network NAME} taken out of C{words} where it may stand (the indexes
    C{at}: not in free text): C{(NAME or None, the other words, problem)}.
    """
    for i in at:
        word = words[i] if i < len(words) else ""
        if word != NETWORK_WORD and not word.startswith(NETWORK_WORD + "="):
            continue
        name = word.partition("=")[2] if "=" in word else (words[i + 1] if i + 1 < len(words) else "")
        rest = words[:i] + words[i + (1 if "=" in word else 2):]
        if not name:
            return None, rest, "Say %s NAME (one of %s)." % (NETWORK_WORD, ", ".join(_networks(msg)))
        if name not in _networks(msg):
            return None, rest, "I know no network %s (networks: %s)." % (
                one_line(name, 40), ", ".join(_networks(msg)))
        return name, rest, None
    return None, words, None


def _place(msg, text: str, network: str | None = None) -> tuple[str, str, str | None]:
    """C{(network, channel, problem)} of C{#chan[@network]}, on C{network} (C{--network}) when given."""
    at, name = split_place(text, msg.bot.chat_services, network or msg.network)
    if network is not None and at != network:
        return network, name, "%s is on %s, not %s: say one network" % (text, at, network)
    return at, name, channel_problem(name)


def _network_problem(msg, network: str) -> str | None:
    """Why the bot cannot change its channels or nick on C{network}, or None."""
    service = msg.bot.chat_services.get(network)
    if service is None:
        return "I am not on %s." % (network,)
    if getattr(service, "protocol", "irc") != "irc":
        return "There are no channels to join or part on %s." % (network,)
    return None


def _on(network: str, msg) -> str:
    return "" if network == msg.network else " on %s" % (network,)


@command("join", args=r"(?P<rest>.*)", usage="#channel[@network] [key] [--network NAME]", admin=True)
async def join(msg, rest=""):
    """Joins a channel (kept across restarts)."""
    given, words, problem = _network_word(msg, (rest or "").split(), (0, 1, 2))
    if problem:
        return {"content": problem}
    if not words or len(words) > 2:
        return _usage(msg, "join #channel[@network] [key] [--network NAME]")
    network, name, problem = _place(msg, words[0], given)
    key = words[1] if len(words) > 1 else None
    problem = problem or (key_problem(key) if key is not None else None)
    refused = await _record(msg, network, name, problem, True, key)
    if refused:
        return refused
    await keeper_of(msg.bot).sync(network)
    return {"content": "Joining %s%s." % (name, _on(network, msg))}


async def _record(msg, network: str, name: str, problem: str | None, joined: bool,
                  key: str | None) -> dict | None:
    """Keep a join or part made from chat in the store; the answer when it cannot be."""
    if problem:
        return {"content": "%s: %s." % (msg.source, problem)}
    refusal = _network_problem(msg, network) or await keeper_of(msg.bot).record(
        network, name, joined, key, _who(msg))
    return {"content": refusal} if refusal else None


@command("part", args=r"(?P<rest>.*)", usage="[#channel[@network]] [--network NAME] [reason]", admin=True)
async def part(msg, rest=""):
    """Leaves a channel (this one by default; kept across restarts)."""
    words = (rest or "").split(" ")
    given, words, problem = _network_word(msg, words, (0, 1) if words[0][:1] in "#&+!" else (0,))
    if problem:
        return {"content": problem}
    text = " ".join(words).strip()
    if text[:1] in "#&+!" and text:
        first, _, reason = text.partition(" ")
        network, name, problem = _place(msg, first, given)
    elif given is not None or msg.private or msg.protocol == "console" and not text:
        return _usage(msg, "part #channel[@network] [--network NAME] [reason]")
    else:
        network, name, problem, reason = msg.network, msg.channel, None, text
    refused = await _record(msg, network, name, problem, False, None)
    if refused:
        return refused
    keeper = keeper_of(msg.bot)
    service = msg.bot.chat_services.get(network)
    if can_control(service) and reason:
        service.part_channel(name, one_line(reason, 200))
        keeper.applied.get(network, {}).pop(name.lower(), None)
    await keeper.sync(network)
    return {"content": "Leaving %s%s." % (name, _on(network, msg))}


def _send(msg, rest: str, kind: str, word: str) -> dict | None:
    words = (rest or "").strip().split(" ")
    given, words, problem = _network_word(msg, words, (0, 1))
    if problem:
        return {"content": problem}
    first, _, text = " ".join(words).strip().partition(" ")
    text = one_line(text, MAX_TEXT)  # no CR, LF or other control character reaches the network
    if not first or not text:
        return _usage(msg, word + " #channel[@network] [--network NAME] text")
    network, target, problem = _place(msg, first, given)
    if problem:
        return {"content": "%s: %s." % (msg.source, problem)}
    if network not in msg.bot.chat_services:
        return {"content": "I am not on %s." % (network,)}
    msg.bot.send(network, target, text, kind, msg.source)
    if network == msg.network and target.lower() == str(msg.channel).lower():
        return None
    return {"content": "Sent to %s%s." % (target, _on(network, msg))}


@command("say", args=r"(?P<rest>.*)", usage="#channel[@network] [--network NAME] text", admin=True)
def say(msg, rest=""):
    """Says something in a channel."""
    return _send(msg, rest, "say", "say")


@command("act", args=r"(?P<rest>.*)", usage="#channel[@network] [--network NAME] text", admin=True)
def act(msg, rest=""):
    """Does something (/me) in a channel."""
    return _send(msg, rest, "action", "act")


@command("nick", args=r"(?P<rest>.*)", usage="name [--network NAME]", admin=True)
async def nick(msg, rest=""):
    """Changes the bot's nick (until it reconnects)."""
    given, words, problem = _network_word(msg, (rest or "").split(), (0, 1))
    if problem:
        return {"content": problem}
    if not words or len(words) > (1 if given else 2):
        return _usage(msg, "nick name [--network NAME]")
    network = given or (words[1] if len(words) > 1 else msg.network)  # "nick name NAME" too
    problem = nick_problem(words[0])
    if problem:
        return {"content": "%s: %s." % (msg.source, problem)}
    refusal = _network_problem(msg, network)
    if refusal:
        return {"content": refusal}
    keeper = keeper_of(msg.bot)
    order_id = await keeper.order(network, "nick", words[0])
    service = msg.bot.chat_services.get(network)
    if can_control(service):
        keeper.done_orders.add(order_id)
        service.change_nick(words[0])
    return {"content": "Changing my nick to %s%s." % (words[0], _on(network, msg))}


@command("quit", args=r"(?P<reason>.*)", usage="[reason]", admin=True)
async def quit(msg, reason=""):
    """Stops the bot (every process of it)."""
    reason = one_line(reason or "", 200) or "pubbot stopping"
    keeper = keeper_of(msg.bot)
    order_id = await keeper.order("*", "quit", reason)
    keeper.done_orders.add(order_id)
    keeper.quit(reason)
    return None
