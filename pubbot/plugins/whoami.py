"""!whoami: how the bot knows you, and what that lets you do."""

from pubbot.api import command, is_admin, person_key, user_host


def describe(msg) -> str:
    """One line: the identity the bot keys you by, and whether it makes you an admin."""
    account = msg.fields.get("account")
    host = user_host(msg.fields.get("hostmask"))
    key = person_key(msg)
    network = key.partition("/")[0] + ": " if "/" in key else ""
    if msg.fields.get("protocol") == "console":
        known = "you are the one at the bot's terminal (the console room)"
    elif account:
        known = "%syou are logged in as %s; I know you by that account" % (network, account)
    elif host:
        known = ("%syou are not logged in, so I know you by %s (anyone there shares your limits; "
                 "log in to services to be known by your account)" % (network, host))
    else:
        known = "I know you by your nick only"
    if is_admin(msg):
        what = "you are an admin: you may teach replies, make me unlearn and forget."
    else:
        what = "you are not an admin (admins are listed in [plugins] admins by account or user@host)."
    return "%s: %s; %s" % (msg.source, known, what)


@command("whoami", description="Says how I know you (account or user@host) and whether you are an admin.")
def whoami(msg):
    return describe(msg)
