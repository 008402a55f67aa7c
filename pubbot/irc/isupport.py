"""
ISUPPORT (numeric 005): what the server told us about its limits and names.

Unknown or malformed tokens are kept as raw strings and never raise; the
fields the bot uses fall back to RFC defaults.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .casemap import folder

_HEX_ESCAPE = re.compile(r"\\x([0-9A-Fa-f]{2})")
_PREFIX = re.compile(r"^\(([^)]*)\)(.*)$")


#: More tokens than any real server sends; later new ones are ignored.
MAX_TOKENS = 200
#: The longest token value kept.
MAX_VALUE = 300
#: The longest LINELEN believed.
MAX_LINELEN = 8192


def _unescape(value: str) -> str:
    return _HEX_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)


def _int(value: str | None, default: int | None) -> int | None:
    try:
        n = int(value or "")
    except ValueError:
        return default
    return n if n > 0 else default


class ISupport:
    """Parsed 005 tokens with defaults for a server that sends none."""

    def __init__(self) -> None:
        self.raw: dict[str, str | None] = {}
        self.casemapping = "rfc1459"
        self.fold: Callable[[str], str] = folder(self.casemapping)
        self.chantypes = "#&"
        self.prefix_modes = "ov"
        self.prefix_symbols = "@+"
        #: Channel modes by type: A (list), B (always a parameter),
        #: C (parameter when set), D (never).
        self.chanmodes = ("beI", "k", "l", "imnpst")
        self.nicklen: int | None = None
        self.channellen: int | None = None
        self.linelen = 512
        self.network: str | None = None
        self.monitor: int | None = None
        self.whox = False

    def update(self, tokens: list[str]) -> None:
        """Apply the tokens of one 005 line (the parameters between nick and text)."""
        for token in tokens:
            if not token:
                continue
            if token[0] == "-":
                self.raw.pop(token[1:].upper(), None)
                self._reset(token[1:].upper())
                continue
            name, eq, value = token.partition("=")
            name = name.upper()[:MAX_VALUE]
            if name not in self.raw and len(self.raw) >= MAX_TOKENS:
                continue
            self.raw[name] = _unescape(value[:MAX_VALUE]) if eq else None
            self._apply(name, self.raw[name])

    def _reset(self, name: str) -> None:
        fresh = ISupport()
        for attr in {"CASEMAPPING": ("casemapping", "fold"), "CHANTYPES": ("chantypes",),
                     "PREFIX": ("prefix_modes", "prefix_symbols"), "CHANMODES": ("chanmodes",),
                     "NICKLEN": ("nicklen",), "CHANNELLEN": ("channellen",), "LINELEN": ("linelen",),
                     "NETWORK": ("network",), "MONITOR": ("monitor",), "WHOX": ("whox",)}.get(name, ()):
            setattr(self, attr, getattr(fresh, attr))

    def _apply(self, name: str, value: str | None) -> None:
        if name == "CASEMAPPING" and value:
            self.casemapping = value.lower()
            self.fold = folder(self.casemapping)
        elif name == "CHANTYPES":
            self.chantypes = value or ""
        elif name == "PREFIX":
            self._apply_prefix(value)
        elif name == "CHANMODES" and value:
            kinds = (value.split(",") + ["", "", "", ""])[:4]
            self.chanmodes = (kinds[0], kinds[1], kinds[2], kinds[3])
        elif name == "NICKLEN":
            self.nicklen = _int(value, None)
        elif name == "CHANNELLEN":
            self.channellen = _int(value, None)
        elif name == "LINELEN":
            self.linelen = min(MAX_LINELEN, max(512, _int(value, 512) or 512))
        elif name == "NETWORK":
            self.network = value or None
        elif name == "MONITOR":
            self.monitor = _int(value, 0) if value else 0
        elif name == "WHOX":
            self.whox = True

    def _apply_prefix(self, value: str | None) -> None:
        match = _PREFIX.match(value or "")
        if not value:
            self.prefix_modes = self.prefix_symbols = ""
        elif match and len(match.group(1)) == len(match.group(2)):
            self.prefix_modes, self.prefix_symbols = match.group(1), match.group(2)

    def is_channel(self, name: str) -> bool:
        return bool(name) and name[0] in self.chantypes

    def quiet_mode(self, mask: str) -> tuple[str, str] | None:
        """
        C{(letter, argument)} of the list mode quieting C{mask}: C{+q} when
        CHANMODES lists q among the list modes (and q is no prefix mode),
        else an extended ban (EXTBAN=prefix,types): UnrealIRCd's C{~q:mask}
        (its C{~m} is something else), else a mute C{m} (C{~m:mask},
        InspIRCd's C{m:mask}); None when the server offers no quiet.
        """
        if "q" in self.chanmodes[0] and "q" not in self.prefix_modes:
            return ("q", mask)
        prefix, comma, types = (self.raw.get("EXTBAN") or "").partition(",")
        if not comma or "b" not in self.chanmodes[0] or len(prefix) > 1:
            return None
        if prefix == "~" and "q" in types:
            return ("b", "~q:" + mask)
        if "m" in types:
            return ("b", "%sm:%s" % (prefix, mask))
        return None

    def mode_takes_param(self, mode: str, adding: bool) -> bool:
        """Whether channel mode C{mode} consumes a parameter when set (or unset)."""
        if mode in self.prefix_modes:
            return True
        a, b, c, _ = self.chanmodes
        if mode in a or mode in b:
            return True
        if mode in c:
            return adding
        return False
