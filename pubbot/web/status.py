"""The bot's state as one JSON-ready dict: what /status serves and the page shows.

Chat services show their connection through L{IChatStatus} (the IRC
service, the console, a worker's remote chat); one without it shows only
its network, protocol and nick. Values are read defensively: a failing
method is logged and read as None, and anything not JSON-safe is made so.
"""

from __future__ import annotations

import math
from typing import Any

from twisted.application.service import IService
from twisted.logger import Logger

from ..core.dispatch import LATENCY_BUCKETS
from ..core.interfaces import IChannelSummary, IChatStatus

log = Logger()

_SCALARS = (str, int, float, bool, type(None))


def reported(value: Any, default: Any = None) -> Any:
    """C{value()} if it is callable (C{default} if that fails, logged), else C{value}."""
    if callable(value):
        try:
            return value()
        except Exception:
            log.failure("status: {value!r} failed", value=value)
            return default
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


def _plain(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of C{value} (scalars, lists, dicts; others as str)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, _SCALARS):
        return value
    if depth > 4:
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v, depth + 1) for v in value]
    return str(value)


def _member(entry: Any) -> dict:
    if isinstance(entry, dict):
        return _plain(entry)
    return {"nick": str(entry)}


#: /status is bounded however big the rosters: at most this many connections,
#: channels a connection and members a channel are listed, with counts of the rest.
MAX_CONNECTIONS = 20
MAX_CHANNELS = 50
MAX_MEMBERS = 100


def bounded_channels(service: Any) -> dict:
    """
    A connection's channels, bounded: C{channels} {name: [at most
    L{MAX_MEMBERS} entries]} for at most L{MAX_CHANNELS} channels,
    C{channel_count}, C{channels_omitted}, C{members} {name: how many are
    in it} and C{members_omitted} (entries left out, all channels shown).
    A service with L{IChannelSummary} (IRC) builds only what is shown;
    others' full lists are cut.
    """
    summary = None
    summarise = IChannelSummary(service, None)
    if summarise is not None:
        try:
            summary = summarise.channel_summary(MAX_CHANNELS, MAX_MEMBERS)
        except Exception:
            log.failure("status: channel summary of {service!r} failed", service=service)
            summary = None
    if isinstance(summary, dict) and isinstance(summary.get("channels"), dict):
        count = summary.get("count")
        shown_channels = {str(name): (counted, [_member(m) for m in list(entries or ())[:MAX_MEMBERS]])
                          for name, (counted, entries) in list(summary["channels"].items())[:MAX_CHANNELS]}
        total = count if isinstance(count, int) else len(shown_channels)
    else:
        everything = channels(service)
        total = len(everything)
        shown_channels = {name: (len(members), members[:MAX_MEMBERS])
                          for name, members in list(everything.items())[:MAX_CHANNELS]}
    members = {name: counted for name, (counted, _) in shown_channels.items()}
    listed = {name: entries for name, (_, entries) in shown_channels.items()}
    return {
        "channels": listed,
        "channel_count": total,
        "channels_omitted": max(0, total - len(listed)),
        "members": members,
        "members_omitted": sum(max(0, members[name] - len(listed[name])) for name in listed),
    }


def channels(service: Any) -> dict:
    """{channel: [roster entry dicts]} for a chat service (everything: see L{bounded_channels});
    empty without L{IChatStatus}."""
    status = IChatStatus(service, None)
    listed = reported(status.channels) if status is not None else None
    if isinstance(listed, dict):
        return {str(name): [_member(m) for m in (members or ())] for name, members in listed.items()}
    names = listed if isinstance(listed, (list, tuple, set)) else ()
    out = {}
    for name in names:
        try:
            members = service.roster(name)
        except Exception:
            log.failure("status: roster of {channel} failed", channel=name)
            members = ()
        out[str(name)] = [_member(m) for m in members]
    return out


def connection(network: str, service: Any) -> dict:
    """
    One chat network's connection state: C{network} is its name in pubbot
    (the key of C{bot.chat_services}), C{protocol} what kind it is,
    C{server_network} the name the server gives itself (ISUPPORT NETWORK).
    """
    status = IChatStatus(service, None)
    if status is None:
        running = service.running if IService.providedBy(service) else True
        state = {"network": network, "protocol": _plain(service.protocol), "server_network": None,
                 "connected": bool(running), "nick": _plain(service.nick), "lag": None, "lines_in": None,
                 "lines_out": None, "reconnects": None, "throttle_depth": None}
        state.update(bounded_channels(service))
        return state
    state = {
        "network": network,
        "protocol": _plain(service.protocol),
        "server_network": _plain(status.server_network),
        "connected": bool(status.connected),
        "nick": _plain(service.nick),
        "lag": _number(reported(status.lag)),
        "lines_in": _number(status.lines_in),
        "lines_out": _number(status.lines_out),
        "reconnects": _number(status.reconnects),
        "throttle_depth": _number(reported(status.throttle_depth)),
    }
    state.update(bounded_channels(service))
    return state


def latency_quantile(buckets: list, q: float) -> float | None:
    """The upper bound of the bucket holding quantile C{q}, None when empty."""
    total = sum(buckets)
    if not total:
        return None
    rank = q * total
    seen = 0
    for bound, count in zip(LATENCY_BUCKETS, buckets, strict=False):
        seen += count
        if seen >= rank:
            return bound if math.isfinite(bound) else None
    return None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def plugins(bot: Any) -> list:
    """Each loaded handler with its counters and latency."""
    out = []
    stats = bot.dispatcher.stats
    for handler in list(bot.handlers):
        name = getattr(handler, "name", repr(handler))
        s = stats.get(name)
        done = sum(s.buckets) if s is not None else 0
        out.append({
            "name": name,
            "description": _plain(getattr(handler, "description", "")),
            "calls": s.calls if s else 0,
            "errors": s.errors if s else 0,
            "timeouts": s.timeouts if s else 0,
            "mean_ms": (s.seconds / done * 1000.0) if s and done else None,
            "p95_ms": _ms(latency_quantile(s.buckets, 0.95)) if s else None,
        })
    return out


#: At most this many per-channel overrides are listed on /status (the rest counted).
MAX_OVERRIDES = 200


def channel_settings(bot: Any) -> dict:
    """
    What differs by channel: the plugins off in each channel (the config's
    and chat's) and the overrides made from chat, with who and when.
    """
    keeper = getattr(bot, "channels", None)
    if keeper is None:
        return {"disabled": [], "overrides": [], "overrides_omitted": 0}
    listed = keeper.listing()
    off = [{"network": network, "channel": channel, "plugins": sorted(plugins)}
           for (network, channel), plugins in sorted(keeper.all_disabled().items())][:MAX_CHANNELS]
    overrides = []
    for o in listed[:MAX_OVERRIDES]:
        entry = _plain(o.to_dict())
        entry["shown"] = o.shown()
        overrides.append(entry)
    return {"disabled": off, "overrides": overrides,
            "overrides_omitted": max(0, len(listed) - MAX_OVERRIDES)}


def jobs(bot: Any) -> list:
    """Each scheduled job: its schedule, runs, failures, skipped runs and next run (Unix time)."""
    scheduler = getattr(bot, "jobs", None)
    if scheduler is None:
        return []
    return [_plain(job) for job in reported(scheduler.report, [])]


def snapshot(bot: Any, feed: Any = None) -> dict:
    """The whole state: process, connections, music, cluster, brain, plugins, topics, feed."""
    cluster = bot.state.get("cluster")
    brain = reported(bot.state.get("brain"))
    music = bot.state.get("music")
    feed_state = None
    if feed is not None:
        hub = feed.hub
        feed_state = {"clients": len(hub.clients), "events": hub.newest,
                      "lines_in": dict(feed.lines_in), "lines_out": dict(feed.lines_out)}
    return {
        "process_id": bot.process_id,
        "time": bot.clock.seconds(),
        "uptime": bot.uptime(),
        "connections": [connection(network, s)
                        for network, s in list(bot.chat_services.items())[:MAX_CONNECTIONS]],
        "connections_omitted": max(0, len(bot.chat_services) - MAX_CONNECTIONS),
        "music": _plain(music) if music else None,
        "music_configured": bool(bot.settings.music.source),
        "cluster": _plain(cluster) if isinstance(cluster, dict) else None,
        "owner": _plain(cluster.get("owner")) if isinstance(cluster, dict) else bot.process_id,
        "brain": _plain(brain) if isinstance(brain, dict) else None,
        "store": _plain(bot.state.get("store")) if isinstance(bot.state.get("store"), dict) else None,
        "plugins": plugins(bot),
        "jobs": jobs(bot),
        "channel_settings": channel_settings(bot),
        "topics": dict(bot.dispatcher.topic_counts),
        "feed": feed_state,
    }
