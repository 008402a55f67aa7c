"""Who someone is: by account, else by user@host, never by nick alone."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Iterable, Optional


def user_host(hostmask: Optional[str]) -> Optional[str]:
    """The C{user@host} part of C{nick!user@host} (lower-cased), or None."""
    if not hostmask or "@" not in hostmask:
        return None
    return hostmask.split("!", 1)[-1].lower()


def person_key(msg) -> str:
    """
    A stable key for the sender of C{msg}: C{account:NAME} when logged in,
    else C{host:user@host}; only when neither is known (the console room)
    C{nick:NAME}.
    """
    fields = msg.fields
    account = fields.get("account")
    if account:
        return "account:" + account.lower()
    uh = user_host(fields.get("hostmask"))
    if uh:
        return "host:" + uh
    return "nick:" + str(fields.get("source", "")).lower()


def is_admin(msg, admins: Optional[Iterable[str]] = None) -> bool:
    """
    Is the sender an admin? C{admins} (default: C{[plugins] admins}) holds
    account names and C{user@host} masks with C{*}/C{?} wildcards. The nick
    is never looked at; a mask's C{nick!} part, if given, is ignored.
    """
    if admins is None:
        admins = msg.bot.settings.plugins.admins if msg.bot is not None else ()
    account = (msg.fields.get("account") or "").lower()
    uh = user_host(msg.fields.get("hostmask"))
    for entry in admins:
        entry = entry.lower()
        if "@" in entry:
            if uh and fnmatchcase(uh, entry.split("!", 1)[-1]):
                return True
        elif account and entry == account:
            return True
    return False
