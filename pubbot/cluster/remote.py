"""
The owner's chat networks as seen from the other processes.

A process that does not hold the IRC lease has no IRC connection, yet its
handlers call C{bot.announce}, C{bot.nick} and C{bot.roster} like anywhere
else. L{RemoteChat} stands in for the owner's chat service there: what it
sends goes through the reply stream to the owner, and its nick, connection
state and rosters are what the owner last published (every heartbeat), one
entry per network name in C{CHAT_STATE}.
"""

from __future__ import annotations

from typing import Any

from zope.interface import implementer

from ..core.interfaces import IChatService, IChatStatus

#: The Redis key where the owner publishes its chat services' state.
CHAT_STATE = "pubbot:bus:chat"


@implementer(IChatService, IChatStatus)
class RemoteChat:
    """An IChatService for the network C{network} whose connection lives in the owner process."""

    remote = True
    #: Not counted here: the owner's connection reads and sends.
    lines_in = lines_out = reconnects = lag = None

    def __init__(self, bot, network: str, nick: str, protocol: str = "irc", command_prefix: str = "!"):
        self.bot = bot
        self.network = network
        self.protocol = protocol
        self.command_prefix = command_prefix
        self.nick = nick
        self.connected = False
        #: The network's own name for itself (ISUPPORT NETWORK), as the owner last saw it.
        self.server_network: str | None = None
        self.owner: str | None = None
        self._channels: dict[str, list[str]] = {}
        #: lower-cased channel -> lower-cased nick -> mode letters, for those holding any.
        self._modes: dict[str, dict[str, str]] = {}

    def send(self, target: str, text: str, kind: str = "say", person: str | None = None) -> Any:
        return self.bot.bus.relay(self.network, target, text, kind, person)

    def roster(self, channel: str) -> list:
        wanted = channel.lower()
        for name, nicks in self._channels.items():
            if name.lower() == wanted:
                return list(nicks)
        return []

    def channels(self) -> dict:
        return {name: list(nicks) for name, nicks in self._channels.items()}

    def modes(self, channel: str, nick: str) -> str:
        """C{nick}'s modes in C{channel} as the owner last published them (for permissions)."""
        return self._modes.get(channel.lower(), {}).get(nick.lower(), "")

    def throttle_depth(self) -> None:
        return None

    def update(self, state: Any, owner: str | None) -> None:
        """Take what the owner published about this network (ignoring anything malformed)."""
        if not isinstance(state, dict):
            self.connected = False
            return
        nick = state.get("nick")
        if isinstance(nick, str) and nick:
            self.nick = nick
        self.connected = bool(state.get("connected"))
        server_network = state.get("server_network")
        self.server_network = server_network if isinstance(server_network, str) else None
        self.owner = owner
        channels = state.get("channels")
        if isinstance(channels, dict):
            self._channels = {str(c): [str(n) for n in nicks] for c, nicks in channels.items()
                              if isinstance(nicks, list)}
        modes = state.get("modes")
        self._modes = {}
        if isinstance(modes, dict):
            for channel, held in modes.items():
                if isinstance(held, dict):
                    self._modes[str(channel).lower()] = {
                        str(n).lower(): m for n, m in held.items() if isinstance(m, str)}


def describe(service: Any) -> dict:
    """What the owner publishes about one of its chat services."""
    status = IChatStatus(service, None)
    names: list = []
    listed = status.channels() if status is not None else None
    if isinstance(listed, dict):
        names = list(listed)
    channels = {}
    modes: dict[str, dict[str, str]] = {}
    if isinstance(listed, dict):  # the IRC service's roster entries carry each member's modes
        for name, entries in listed.items():
            held = {str(e["nick"]): e["modes"] for e in entries or ()
                    if isinstance(e, dict) and e.get("modes") and isinstance(e.get("nick"), str)}
            if held:
                modes[str(name)] = held
    for name in names:
        try:
            channels[str(name)] = [str(n) for n in service.roster(name)]
        except Exception:  # a roster must never stop the heartbeat
            channels[str(name)] = []
    connected = status.connected if status is not None else None
    described = {"nick": service.nick,
                 "connected": True if connected is None else bool(connected),
                 "server_network": status.server_network if status is not None else None,
                 "channels": channels}
    if modes:
        described["modes"] = modes
    return described
