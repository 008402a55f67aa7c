"""The contracts between pubbot's parts. Every provider has a verifyObject test."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zope.interface import Attribute, Interface

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred


class IHandler(Interface):
    """A handler plugin: receives messages on the topics it subscribes to."""

    name = Attribute("Unique name, used by [plugins] disabled and in logs.")
    description = Attribute("One line for help.")
    triggers = Attribute("Sequence of trigger strings shown by help (may be empty).")
    subscriptions = Attribute("Sequence of topic patterns.")

    def handle(message):
        """
        Handle C{message}. Return None, a reply dict, a L{Reply}, a Deferred
        of one of those, or a coroutine.
        """

    def start(bot):
        """Called once when the bot starts, with the L{pubbot.core.bot.Bot}."""

    def stop():
        """Called when the bot stops; may return a Deferred."""


class IBatchHandler(IHandler):
    """
    A handler that takes a batch of messages in one call (the lines of one
    read from the network), to keep per-line costs down on busy channels.

    Optional attributes any handler may also declare, read once when it is
    added to the dispatcher: C{trigger_words} (lower-case words; only called
    for messages whose C{command} or C{content} starts with one) and
    C{content_filter} (a tuple of substrings, any of which must occur, or a
    regex, searched with C{re.MULTILINE}; only called for messages whose
    C{content} it finds, so it must find something in every line the
    handler acts on; it is a pre-check, the handler still checks for
    itself; substrings are much the cheapest on busy channels).
    """

    def handle_many(messages):
        """
        Handle C{messages} (a list, in order) as L{IHandler.handle} would
        one by one. Return None when none gave a value, else an iterable of
        C{(index, value)} pairs: C{value} is what C{handle(messages[index])}
        would return. Raising loses this handler's answers for the whole
        batch, so isolate per-message failures inside.
        """


class ICommandWords(IHandler):
    """
    A handler that answers command words: C{!seen bob}, C{have you seen
    bob?}, a bare C{skip}. Each word has a L{pubbot.core.permissions.Guard}
    that the handler asks (C{guard.admit(msg)}) once it knows a line is
    that command, before it acts on the arguments: so C{[permissions]},
    C{@require} and C{@rate} apply to it as to a C{@command}, help shows
    its level, and the bot knows which C{[permissions]} words are in use.
    The handler starts and stops its guards with itself.
    """

    guards = Attribute("The Guard of each command word it answers (a tuple; the first is its main word).")


class IReloadPeers(Interface):
    """
    The other processes of a scaled-out bot, as C{!reload} reaches them:
    after reloading a plugin here, it asks them to reload it too.
    """

    def reload(name):
        """
        Ask every other live process to reload plugin C{name}. Fires (never
        fails) with a L{pubbot.reload.PeerReport}: the processes that
        reloaded it, those that failed (and why), and those that did not
        answer within the timeout.
        """


class IChatService(Interface):
    """A chat network connection that can send text (IRC, the console)."""

    network = Attribute("The network's name: the second word of its chat topics, e.g. 'irc'.")
    protocol = Attribute("What kind of network it is: 'irc' or 'console'.")
    command_prefix = Attribute("The command prefix on this network, e.g. '!'.")
    nick = Attribute("The bot's current nick on this network.")

    def send(target, text, kind="say", person=None):
        """
        Send C{text} to channel or nick C{target}; kind is say, notice or
        action; C{person} (a nick, or None) is who it answers, for fairness.
        """

    def roster(channel):
        """Return the nicks in C{channel} (a list; empty when unknown)."""


class IChannelModeration(Interface):
    """
    A chat service that can moderate the channels it is in (optional: IRC;
    the moderation plugin answers that it cannot elsewhere). Each method
    checks what it is given (no spaces where IRC takes none, no CR, LF or
    other control characters, bounded lengths) and returns False when it
    refuses that or is not connected, True when the line is queued (behind
    the output throttle). Whether the bot may do it is the server's
    business: the plugin first checks the bot's own modes.
    """

    def kick(channel, nick, reason=""):
        """KICK C{nick} out of C{channel}, saying C{reason}."""

    def mode(channel, change, argument):
        """
        Set or unset one channel mode that takes an argument: C{change} is a
        sign and a letter of the server's list or prefix modes (C{"+b"},
        C{"-o"}), C{argument} a mask or a nick.
        """

    def set_topic(channel, text):
        """Set C{channel}'s topic to C{text} (cut to the server's TOPICLEN)."""

    def quiet_mode(mask):
        """
        C{(letter, argument)} of the list mode that quiets C{mask} on this
        server (C{("q", mask)}, or an extended ban such as C{("b",
        "~m:" + mask)}, as ISUPPORT says), or None when it has none.
        """

    def hostmask_of(nick):
        """C{nick!user@host} of someone in a channel with the bot, when their host is known; else None."""


class IStore(Interface):
    """
    Asynchronous key/value state for plugins. Every method returns a Deferred.
    Values are JSON-compatible (str, int, float, bool, None, list, dict);
    C{set} and C{hset} also take a L{pubbot.store.Encoded} one (JSON text
    made elsewhere), stored as it stands and read back decoded.
    Keys hold one type each (string, set or hash); using a key as another
    type fails with TypeError.
    """

    def get(key: str) -> Deferred[Any]:
        """The value at C{key}, or None."""

    def set(key: str, value: Any, ttl: float | None = None) -> Deferred[Any]:
        """Set C{key} to C{value}, expiring after C{ttl} seconds if given."""

    def delete(key: str) -> Deferred[Any]:
        """Remove C{key} of any type. Fires with True if it existed."""

    def incr(key: str, amount: int = 1) -> Deferred[Any]:
        """Add C{amount} to the integer at C{key} (0 if absent); fires with the result."""

    def expire(key: str, ttl: float) -> Deferred[Any]:
        """Expire C{key} after C{ttl} seconds. Fires with True if it existed."""

    def sadd(key: str, *members: str) -> Deferred[Any]:
        """Add string members to the set at C{key}; fires with how many were new."""

    def srem(key: str, *members: str) -> Deferred[Any]:
        """Remove members from the set; fires with how many were removed."""

    def smembers(key: str) -> Deferred[Any]:
        """Fires with the set of members (empty if absent)."""

    def hset(key: str, field: str, value: Any) -> Deferred[Any]:
        """Set one field of the hash at C{key}."""

    def hget(key: str, field: str) -> Deferred[Any]:
        """One field of the hash, or None."""

    def hdel(key: str, *fields: str) -> Deferred[Any]:
        """Remove fields; fires with how many were removed."""

    def hgetall(key: str) -> Deferred[Any]:
        """Fires with the whole hash as a dict (empty if absent)."""

    def hincr(key: str, field: str, amount: int = 1) -> Deferred[Any]:
        """Add C{amount} to an integer hash field; fires with the result."""

    def keys(prefix: str = "") -> Deferred[Any]:
        """Fires with a sorted list of the live keys starting with C{prefix}."""

    def scan(cursor: Any = None, count: int = 100) -> Deferred[Any]:
        """
        One page of a walk over every live key, for export: fires with
        C{(next, entries)}, each entry C{(key, kind, expires)} with C{kind}
        "string", "set" or "hash" and C{expires} the absolute expiry time in
        seconds on the store's clock (Unix time for SQLite and Redis) or
        None. Start with C{cursor=None} and pass C{next} on until it is None.
        A page holds about C{count} entries (Redis: maybe none). A key live
        for the whole walk is listed at least once; a key changed meanwhile
        may be missed or listed twice (Redis's SCAN).
        """

    def scan_items(key: str, kind: str, cursor: Any = None, count: int = 100) -> Deferred[Any]:
        """
        One page of the contents of C{key} (of C{kind}, as L{scan} said),
        as stored: fires with C{(next, items)}; items are the value's JSON
        text (one, for a string), the members (a set) or C{(field, JSON
        text)} pairs (a hash). A missing key has no items; one now of
        another kind fails with TypeError. Walk as with L{scan}.
        """

    def begin_import() -> Deferred[Any]:
        """
        Fires with a new, empty L{IStoreImport}: a staging area whose
        writes are invisible to the store until committed.
        """


class IStoreImport(Interface):
    """Keys staged for an import into an L{IStore}, made live at once by L{commit}."""

    def add(records):
        """
        Stage C{records}, a list of C{(key, kind, expires, items, fresh)}:
        C{kind} and C{items} as L{IStore.scan_items} gives them (JSON texts
        stored as they stand), C{expires} an absolute time on the store's
        clock or None, applied to the key after the items. C{fresh} starts
        the staged key anew; otherwise the items are added to it (a string
        is replaced). Fires when staged.
        """

    def commit(replace=False):
        """
        Make every staged key live in one atomic step, each replacing the
        live key of its name; with C{replace}, every other live key is
        removed in the same step. Fires with how many keys were made live
        (keys whose expiry has passed are dropped). The staging area is gone.
        """

    def abort():
        """Drop the staging area; the store is as it was."""


class IBus(Interface):
    """Carries incoming messages to handlers and their replies back."""

    def submit(message):
        """
        Deliver C{message} to the handlers (here or in another process).
        Fires when the message has been accepted; replies are sent through
        the bot's outbox.
        """

    def submit_many(messages):
        """L{submit} for a list of messages, in order, as one batch."""

    def broadcast(message):
        """Show C{message} to every observer in every process (dashboards)."""

    def attach(bot):
        """
        Called once, by the constructor of the L{pubbot.core.bot.Bot} the
        bus was given to, with that bot: the handlers, chat services and
        observers the bus carries messages for. A bus is built before its
        bot (the bot takes it as a constructor argument) and used only once
        attached.
        """


class ILocalSend(Interface):
    """Sends text through this process's own chat connections (the bot: a Redis bus's owner speaks so)."""

    def send_local(network, target, text, kind, person=None):
        """
        Send C{text} to C{target} through this process's chat service for
        C{network}, past the outbox and its observers; a network without one
        here drops it (logged). C{person} as in L{IChatService.send}.
        """


class IInputFlow(Interface):
    """
    Flow control of what feeds this process's handlers, in the manner of
    C{IPushProducer} (see L{pubbot.core.bot.Bot.hold_input}): a chat
    service stops reading its network, a bus stops reading its stream, so
    that input waits outside this process's memory. Optional: a chat
    service or bus without it is never paused.
    """

    def pause_input():
        """Stop reading input until L{resume_input}. Must not raise."""

    def resume_input():
        """Read input again."""


class IChatRegistrations(Interface):
    """A bus that wants to hear of each chat service registering with the bot (optional)."""

    def chat_registered(service):
        """C{service} (an L{IChatService}) registered: e.g. pause it while input is held."""


class IChatStatus(Interface):
    """
    What a chat service shows of its connection on the dashboard (C{/status},
    C{/metrics}) and in the owner's heartbeat. Optional: a chat service
    without it shows only its network, protocol and nick. Readers are
    defensive: a value may be None when unknown, and a failing method is
    logged and read as None.
    """

    connected = Attribute("Whether the service is connected now (bool).")
    server_network = Attribute("The network's own name for itself (ISUPPORT NETWORK), or None.")
    lines_in = Attribute("Lines read from the network (int), or None when not counted.")
    lines_out = Attribute("Lines sent to the network (int), or None when not counted.")
    reconnects = Attribute("Connections made after the first (int), or None when not counted.")
    lag = Attribute("The server round-trip lag in seconds, or None when unknown.")

    def channels():
        """
        The channels it is in, C{{channel: [member, ...]}}: each member a nick
        or a dict with C{nick} and optionally C{prefix} and C{account}.
        """

    def throttle_depth():
        """How many lines wait to be sent (int), or None."""


class IClosable(Interface):
    """A store holding a connection or a file, to release once the plugins have stopped (optional)."""

    def close():
        """Release it; may return a Deferred that fires when done."""


class IChannelSummary(Interface):
    """A chat service that gives the dashboard a bounded view of its channels cheaply (optional: IRC)."""

    def channel_summary(max_channels, max_members):
        """
        C{{"count": channels in all, "channels": {name: (members in it, [at
        most max_members entries])}}} for at most C{max_channels} channels,
        at a cost bounded by the limits.
        """


class ICheckedStore(Interface):
    """A store that can say whether it can be read, checked once at start (optional: SQLite)."""

    where = Attribute("Which store it is, for people: e.g. 'SQLite file PATH'.")

    def check():
        """A Deferred firing with None when the store can be read, failing with what is wrong."""
