"""
Commits announced from GitHub: the webhook at C{/hooks/github} (see
L{pubbot.vcs.github}) verifies each delivery against C{[vcs] secret} (or the
environment variable named by C{[vcs] secret_env}); a push is announced to
the C{[vcs] announce} channels as the original bot did (up to four commits:
author, repository, short hash and the message's first line, in colour) and
every commit is published as a C{vcs.commit} message (fields C{revision},
C{message}, C{committer}, C{repository}, C{branch}, C{url}).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twisted.logger import Logger
from twisted.plugin import IPlugin
from zope.interface import implementer

from pubbot.api import IHandler, checks, key, section
from pubbot.api import secret as configured_secret
from pubbot.vcs import events
from pubbot.vcs.github import GitHubHook, PayloadError

#: The events [vcs] events may name.
EVENTS = ("push", "pull_request", "issues", "release", "workflow_run")


def _routes(values: tuple) -> str | None:
    for entry in values:
        try:
            _, channels = events.parse_route(entry)
        except ValueError as e:
            return str(e)
        problem = checks.channels(channels)
        if problem:
            return problem
    return None


def _events(values: tuple) -> str | None:
    unknown = [v for v in values if v not in EVENTS]
    if unknown:
        return "has unknown events %s (known: %s)" % (", ".join(map(repr, unknown)), ", ".join(EVENTS))
    return None


@section("vcs")
@dataclass(frozen=True)
class VcsSettings:
    """[vcs]: the webhook's secret (or the variable holding it) and where pushes are announced."""

    secret: str = key("", secret=True)
    secret_env: str = key("", checks.environment)
    announce: tuple[str, ...] = key(["#pubbot"], checks.channels)
    #: "owner/repo #chan ..." (the repository may hold * and ?): the first match wins, else announce.
    routes: tuple[str, ...] = key([], _routes)
    events: tuple[str, ...] = key(list(EVENTS), _events)


log = Logger()

PATH = "hooks/github"
#: The events announced from their payload alone.
PARSERS = {"pull_request": events.pull_request, "issues": events.issues, "release": events.release}
#: How long a workflow's last conclusion is remembered (seconds): 90 days.
WORKFLOW_MEMORY = 90 * 86400
#: Commits announced per push (the original's four); published per push.
ANNOUNCED = 4
PUBLISHED = 100
#: Longest announcement line (the original's 240 with its " ..." trailer).
LINE_LENGTH = 240
TRAILER = " ..."
#: mIRC colours, as the original: green author, blue repository, cyan hash.
FORMAT = "\x0303%(author)s \x0302%(repository)s \x0310%(revision)s\x0f: %(message)s"


@dataclass(frozen=True)
class Commit:
    revision: str
    message: str
    author: str
    url: str
    distinct: bool


@dataclass(frozen=True)
class Push:
    repository: str
    branch: str
    commits: tuple


def _one_line(value: Any, limit: int = 400) -> str:
    """Text safe for one IRC line: no control characters (colours, CR/LF), whitespace collapsed."""
    text = str(value)
    text = "".join(" " if ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029" else c
                   for c in text[:limit * 4])
    return " ".join(text.split())[:limit]


def _string(data: dict, key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise PayloadError("%s%s is not a string" % (where, key))
    return value


def parse_push(payload: dict) -> Push:
    """The repository, branch and commits of a push payload; L{PayloadError} when malformed."""
    repository = payload.get("repository")
    if not isinstance(repository, dict):
        raise PayloadError("repository is missing")
    name = repository.get("full_name")
    if not isinstance(name, str):
        owner = repository.get("owner")
        owner_name = owner.get("name") or owner.get("login") if isinstance(owner, dict) else None
        if not isinstance(owner_name, str) or not isinstance(repository.get("name"), str):
            raise PayloadError("repository.full_name is not a string")
        name = "%s/%s" % (owner_name, repository["name"])
    ref = payload.get("ref", "")
    if not isinstance(ref, str):
        raise PayloadError("ref is not a string")
    branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref
    commits = payload.get("commits", [])
    if not isinstance(commits, list):
        raise PayloadError("commits is not a list")
    parsed = []
    for i, commit in enumerate(commits[:PUBLISHED]):
        where = "commits[%d]." % (i,)
        if not isinstance(commit, dict):
            raise PayloadError("%s is not an object" % (where[:-1],))
        revision = _string(commit, "id", where)
        if not revision or not all(c in "0123456789abcdefABCDEF" for c in revision):
            raise PayloadError("%sid is not a commit hash" % (where,))
        author = commit.get("author")
        if not isinstance(author, dict):
            raise PayloadError("%sauthor is not an object" % (where,))
        author_name = author.get("name") or author.get("username")
        if not isinstance(author_name, str):
            raise PayloadError("%sauthor.name is not a string" % (where,))
        distinct = commit.get("distinct", True)
        url = commit.get("url", "")
        parsed.append(Commit(revision.lower(), _string(commit, "message", where), author_name,
                             url if isinstance(url, str) else "", distinct is not False))
    return Push(name, branch, tuple(parsed))


def format_commit(repository: str, commit: Commit) -> str:
    """One announcement line, as the original bot's."""
    message = commit.message.strip().split("\n", 1)[0]
    line = FORMAT % {
        "author": _one_line(commit.author, 60),
        "repository": _one_line(repository, 100),
        "revision": commit.revision[:6],
        "message": _one_line(message),
    }
    if len(line) > LINE_LENGTH:
        line = line[:LINE_LENGTH - len(TRAILER)] + TRAILER
    return line


def announcements(push: Push) -> list:
    """The lines for a push: its first four distinct commits."""
    return [format_commit(push.repository, c) for c in push.commits if c.distinct][:ANNOUNCED]


@implementer(IPlugin, IHandler)
class Vcs:
    """Offers the webhook resource at start; announces and publishes what it receives."""

    name = "vcs"
    description = ("Announces GitHub pushes, pull requests, issues, releases and broken or fixed "
                   "workflows (webhook at /hooks/github).")
    triggers = ()
    subscriptions = ()

    def __init__(self) -> None:
        self.bot: Any = None
        self.resource: GitHubHook | None = None

    def start(self, bot) -> None:
        self.bot = bot
        settings = bot.settings.vcs
        if not (settings.secret or settings.secret_env):
            return  # webhooks not set up: no route, nothing to warn about
        secret = configured_secret(settings.secret, settings.secret_env)
        if not secret:
            log.warn("vcs: [vcs] secret_env names {env}, which is unset or empty; "
                     "/hooks/github refuses every request", env=settings.secret_env)
        self.resource = GitHubHook(secret, self.on_event)
        bot.web_resources[PATH] = self.resource

    def stop(self) -> None:
        self.bot = None

    def handle(self, msg) -> None:
        return None

    def on_event(self, event: str, payload: dict, delivery: str) -> str:
        bot = self.bot
        if bot is None:
            return "not running"
        settings = bot.settings.vcs
        if event not in settings.events:
            log.info("vcs: ignored a {event} event (delivery {delivery})", event=event, delivery=delivery)
            return "ignored %s" % (event,)
        if event == "push":
            return self.on_push(parse_push(payload), delivery)
        if event == "workflow_run":
            return self.on_workflow_run(payload, delivery)
        parse = PARSERS.get(event)
        announcement = parse(payload) if parse is not None else None
        if announcement is None:
            return "nothing to announce in this %s event" % (event,)
        self.announce(announcement, delivery)
        return "announced %s" % (event,)

    def channels(self, repository: str) -> tuple:
        settings = self.bot.settings.vcs
        return events.channels_for(repository, settings.routes, settings.announce)

    def announce(self, announcement: events.Announcement, delivery: str) -> None:
        bot = self.bot
        if bot is None:
            return
        channels = self.channels(announcement.repository)
        if channels:
            bot.announce(channels, announcement.line, "say")
        bot.publish("vcs." + announcement.kind, repository=announcement.repository, **announcement.fields)
        log.info("vcs: {kind} in {repository} announced (delivery {delivery})", kind=announcement.kind,
                 repository=announcement.repository, delivery=delivery)

    def on_push(self, push: Push, delivery: str) -> str:
        bot = self.bot
        lines = announcements(push)
        channels = self.channels(push.repository)
        if lines and channels:
            bot.announce(channels, "\n".join(lines), "say")
        for commit in push.commits:
            if commit.distinct:
                bot.publish("vcs.commit", revision=commit.revision, message=commit.message,
                            committer=commit.author, repository=push.repository, branch=push.branch,
                            url=commit.url)
        log.info("vcs: push to {repository} {branch}: {count} commits (delivery {delivery})",
                 repository=push.repository, branch=push.branch, count=len(push.commits),
                 delivery=delivery)
        return "announced %d of %d commits" % (len(lines), len(push.commits))

    def on_workflow_run(self, payload: dict, delivery: str) -> str:
        """A completed run is compared with the last one of its workflow and branch (kept in the store)."""
        events.workflow_run(payload, None)  # a malformed payload is refused (400) now, not later
        key = events.workflow_key(payload)
        conclusion = events.conclusion_of(payload)
        if key is None or conclusion is None or payload.get("action") != "completed":
            return "nothing to announce in this workflow_run event"
        store = self.bot.store

        def compared(previous: str | None) -> Any:
            announcement = events.workflow_run(payload, previous)
            if announcement is not None:
                self.announce(announcement, delivery)
            return store.set(key, conclusion, WORKFLOW_MEMORY)

        d = store.get(key)
        d.addCallback(compared)
        d.addErrback(lambda f: log.failure("vcs: workflow run {delivery} not compared", f, delivery=delivery))
        return "workflow run %s" % (conclusion,)


vcs = Vcs()
