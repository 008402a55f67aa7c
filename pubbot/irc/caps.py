"""
IRCv3 capability negotiation state (C{CAP LS 302}, REQ/ACK/NAK, NEW/DEL).

L{Capabilities} only tracks what the server offers and what is enabled; the
protocol decides what to send. Everything here tolerates hostile input: any
number of LS lines, odd tokens, ACKs for things never requested.
"""

from __future__ import annotations

#: What pubbot asks for when offered ("sasl" only when SASL is configured).
#: C{sts} is honoured from the LS/NEW value but never requested: the STS
#: spec forbids clients to request it.
WANTED = frozenset({
    "message-tags", "server-time", "account-tag", "extended-join", "account-notify",
    "away-notify", "chghost", "multi-prefix", "userhost-in-names", "batch", "echo-message",
    "invite-notify", "setname", "cap-notify", "sasl",
})
#: More capability names than any real server offers; the rest are ignored.
MAX_CAPS = 500
#: Longest CAP REQ argument we send in one line.
REQ_BYTES = 400


def parse_list(text: str) -> dict[str, str | None]:
    """C{"a b=1 -c"} -> {"a": None, "b": "1", "-c": None}."""
    caps: dict[str, str | None] = {}
    for token in text.split(" "):
        if not token:
            continue
        name, eq, value = token.partition("=")
        caps[name] = value if eq else None
    return caps


def request_lines(names: list[str]) -> list[str]:
    """Group capability names into CAP REQ arguments that fit one line each."""
    lines: list[str] = []
    current = ""
    for name in names:
        if current and len(current) + 1 + len(name) > REQ_BYTES:
            lines.append(current)
            current = name
        else:
            current = current + " " + name if current else name
    if current:
        lines.append(current)
    return lines


class Capabilities:
    """What the server offers (with values) and what is enabled on this connection."""

    def __init__(self) -> None:
        self.available: dict[str, str | None] = {}
        self.enabled: set[str] = set()
        self._ls_buffer: dict[str, str | None] = {}
        self.pending: set[str] = set()  # REQ lines awaiting ACK/NAK, by their argument

    def ls_line(self, text: str, more: bool) -> bool:
        """One C{CAP * LS [*] :...} line; True when the listing is complete."""
        for name, value in parse_list(text).items():
            if len(self._ls_buffer) < MAX_CAPS:
                self._ls_buffer[name] = value
        if more:
            return False
        self.available.update(self._ls_buffer)
        self._ls_buffer = {}
        return True

    def new(self, text: str) -> dict[str, str | None]:
        """C{CAP NEW}: returns the newly offered capabilities."""
        added = {}
        for name, value in parse_list(text).items():
            if len(self.available) < MAX_CAPS or name in self.available:
                self.available[name] = value
                added[name] = value
        return added

    def delete(self, text: str) -> set[str]:
        """C{CAP DEL}: returns the names that were withdrawn."""
        gone = set(parse_list(text))
        for name in gone:
            self.available.pop(name, None)
            self.enabled.discard(name)
        return gone

    def wanted(self, offered: dict[str, str | None], sasl: bool) -> list[str]:
        names = [name for name in offered if name in WANTED and name not in self.enabled]
        if not sasl and "sasl" in names:
            names.remove("sasl")
        return sorted(names)

    def ack(self, text: str) -> set[str]:
        """C{CAP ACK}: enable (or, with C{-}, disable) the listed names; returns those enabled."""
        self.pending.discard(text.strip())
        added = set()
        for name in parse_list(text):
            if name.startswith("-"):
                self.enabled.discard(name[1:])
            elif name in WANTED:
                self.enabled.add(name)
                added.add(name)
        return added

    def nak(self, text: str) -> None:
        self.pending.discard(text.strip())

    def value(self, name: str) -> str | None:
        return self.available.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.enabled
