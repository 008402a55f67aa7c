"""
GitHub webhook events beyond pushes, each made one announcement line.

Pull requests (opened, reopened, closed, merged), issues (opened, reopened,
closed), releases (published) and workflow runs (completed: a failure, or
the first success after one, "fixed"). Every other action is not
announced. Payloads come from the network: each field is checked for its
type and every text is made one clean line of bounded length
(L{pubbot.util.text.clean_text}); a malformed payload raises
L{PayloadError}, which the webhook answers with 400.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from ..util.text import clean_text
from .github import PayloadError

#: Events announced besides push, with the actions that are.
EVENTS = ("pull_request", "issues", "release", "workflow_run")
#: mIRC colours as the push lines: green who, blue repository; then the text.
FORMAT = "\x0303%(who)s \x0302%(repository)s\x0f %(what)s"


@dataclass(frozen=True)
class Announcement:
    """One line for the channels, and what is published on the bus (C{vcs.<kind>})."""

    kind: str
    repository: str
    line: str
    fields: dict = field(default_factory=dict)


def _object(data: Any, key: str) -> dict:
    value = data.get(key)
    if not isinstance(value, dict):
        raise PayloadError("%s is not an object" % (key,))
    return value


def _text(data: dict, key: str, where: str, limit: int = 200, required: bool = True) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise PayloadError("%s%s is not a string" % (where, key))
    return clean_text(value, limit)


def _number(data: dict, key: str, where: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError("%s%s is not a number" % (where, key))
    return value


def repository_of(payload: dict) -> str:
    """The repository's C{owner/name}; L{PayloadError} when missing."""
    return _text(_object(payload, "repository"), "full_name", "repository.", 100)


def _sender(payload: dict) -> str:
    sender = payload.get("sender")
    if isinstance(sender, dict) and isinstance(sender.get("login"), str):
        return clean_text(sender["login"], 40)
    return "someone"


def _line(who: str, repository: str, what: str) -> str:
    return FORMAT % {"who": who, "repository": repository, "what": what}


def _numbered(payload: dict, kind: str, key: str, noun: str) -> Announcement | None:
    """A pull request's or an issue's opening, reopening or closing (a pull request's merge)."""
    action = payload.get("action")
    if action not in ("opened", "reopened", "closed"):
        return None
    repository = repository_of(payload)
    item = _object(payload, key)
    where = key + "."
    number = _number(item, "number", where)
    title = _text(item, "title", where)
    url = _text(item, "html_url", where, 300, required=False)
    verb = "merged" if action == "closed" and item.get("merged") is True else action
    who = _sender(payload)
    line = _line(who, repository, "%s %s #%d: %s %s" % (verb, noun, number, title, url))
    return Announcement(kind, repository, line.rstrip(),
                        {"action": verb, "number": number, "title": title, "url": url, "by": who})


def pull_request(payload: dict) -> Announcement | None:
    return _numbered(payload, "pull_request", "pull_request", "pull request")


def issues(payload: dict) -> Announcement | None:
    return _numbered(payload, "issues", "issue", "issue")


def release(payload: dict) -> Announcement | None:
    if payload.get("action") != "published":
        return None
    repository = repository_of(payload)
    published = _object(payload, "release")
    tag = _text(published, "tag_name", "release.", 100)
    name = _text(published, "name", "release.", required=False) or tag
    url = _text(published, "html_url", "release.", 300, required=False)
    pre = " (pre-release)" if published.get("prerelease") is True else ""
    who = _sender(payload)
    titled = ": " + name if name != tag else ""
    what = "released %s%s%s %s" % (tag, pre, titled, url)
    return Announcement("release", repository, _line(who, repository, what).rstrip(),
                        {"tag": tag, "name": name, "url": url, "prerelease": bool(pre), "by": who})


def workflow_run(payload: dict, previous: str | None) -> Announcement | None:
    """
    A completed run: announced when it failed, or when it succeeded and the
    C{previous} conclusion of the same workflow on the same branch failed.
    """
    if payload.get("action") != "completed":
        return None
    repository = repository_of(payload)
    run = _object(payload, "workflow_run")
    conclusion = _text(run, "conclusion", "workflow_run.", 40, required=False)
    name = _text(run, "name", "workflow_run.", 100)
    branch = _text(run, "head_branch", "workflow_run.", 100, required=False)
    sha = _text(run, "head_sha", "workflow_run.", 64, required=False)[:7]
    url = _text(run, "html_url", "workflow_run.", 300, required=False)
    if conclusion in FAILED:
        what = "workflow %s %s on %s (%s) %s" % (name, conclusion.replace("_", " "), branch, sha, url)
        verdict = "failed"
    elif conclusion == "success" and previous in FAILED:
        what = "workflow %s fixed on %s (%s) %s" % (name, branch, sha, url)
        verdict = "fixed"
    else:
        return None
    return Announcement("workflow_run", repository, _line(_sender(payload), repository, what).rstrip(),
                        {"workflow": name, "branch": branch, "sha": sha, "conclusion": conclusion,
                         "verdict": verdict, "url": url})


#: Workflow conclusions that count as broken.
FAILED = ("failure", "timed_out", "startup_failure")


def workflow_key(payload: dict) -> str | None:
    """What a workflow's last conclusion is stored under: repository, workflow and branch."""
    run = payload.get("workflow_run")
    if not isinstance(run, dict):
        return None
    workflow = run.get("workflow_id")
    branch = run.get("head_branch")
    if isinstance(workflow, bool) or not isinstance(workflow, int) or not isinstance(branch, str):
        return None
    return "vcs:workflow:%s:%d:%s" % (repository_of(payload), workflow, branch[:100])


def conclusion_of(payload: dict) -> str | None:
    run = payload.get("workflow_run")
    value = run.get("conclusion") if isinstance(run, dict) else None
    return value[:40] if isinstance(value, str) else None


def parse_route(entry: str) -> tuple[str, tuple[str, ...]]:
    """C{"owner/repo #a #b"} (the repository may hold C{*} and C{?}): the pattern and its channels."""
    words = entry.split()
    if len(words) < 2:
        raise ValueError("wants a repository and channels, e.g. \"octo/* #dev\", not %r" % (entry,))
    return words[0].lower(), tuple(words[1:])


def channels_for(repository: str, routes: tuple, default: tuple) -> tuple:
    """The channels of the first route whose pattern matches C{repository}, else C{default}."""
    name = repository.lower()
    for entry in routes:
        pattern, channels = parse_route(entry)
        if fnmatchcase(name, pattern):
            return channels
    return default
