"""Who someone is: by account, else by user@host, never by nick alone."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase


def user_host(hostmask: str | None) -> str | None:
    """The C{user@host} part of C{nick!user@host} (lower-cased), or None."""
    if not hostmask or "@" not in hostmask:
        return None
    return hostmask.split("!", 1)[-1].lower()


def more_network(msg) -> str | None:
    """
    The network C{msg} came from when it is one of the C{[networks.NAME]}
    tables, else None (the C{[irc]} network, the console, no bot). Accounts
    and hosts are the network's own: the same account on two networks may
    be two people.
    """
    network = msg.fields.get("network")
    bot = msg.bot
    if network is None or bot is None:
        return None
    return network if network in bot.settings.networks else None


def person_key(msg) -> str:
    """
    A stable key for the sender of C{msg}: C{account:NAME} when logged in,
    else C{host:user@host}; only when neither is known (the console room)
    C{nick:NAME}. On a C{[networks.NAME]} network it starts C{NAME/}, so
    keys (and what is stored by them) of the C{[irc]} network stay as they were.
    """
    fields = msg.fields
    account = fields.get("account")
    if account:
        key = "account:" + account.lower()
    else:
        uh = user_host(fields.get("hostmask"))
        key = "host:" + uh if uh else "nick:" + str(fields.get("source", "")).lower()
    network = more_network(msg)
    return key if network is None else network + "/" + key


def admin_network(entry: str) -> str | None:
    """The network an admin entry C{NETWORK:entry} is for, or None (the first network's entry)."""
    prefix, colon, _ = entry.partition(":")
    if colon and "@" not in prefix and "!" not in prefix and prefix and not any(c in prefix for c in "*?"):
        return prefix
    return None


def is_admin(msg, admins: Iterable[str] | None = None) -> bool:
    """
    Is the sender an admin? C{admins} (default: C{[plugins] admins}) holds
    account names and C{user@host} masks with C{*}/C{?} wildcards. The nick
    is never looked at; a mask's C{nick!} part, if given, is ignored. An
    entry is for the C{[irc]} network (and the console) unless it starts
    C{NAME:}, for the C{[networks.NAME]} network only.

    In the console room (protocol C{console}) the one person there is
    whoever runs the bot on this terminal: an admin.
    """
    if msg.fields.get("protocol") == "console":
        return True
    if admins is None:
        admins = msg.bot.settings.plugins.admins if msg.bot is not None else ()
    account = (msg.fields.get("account") or "").lower()
    uh = user_host(msg.fields.get("hostmask"))
    network = more_network(msg)
    for entry in admins:
        scope = admin_network(entry)
        if scope != network:
            continue
        if scope is not None:
            entry = entry[len(scope) + 1:]
        entry = entry.lower()
        if "@" in entry:
            if uh and fnmatchcase(uh, entry.split("!", 1)[-1]):
                return True
        elif account and entry == account:
            return True
    return False
