"""The one way tests capture log events: C{events = capture_logs(self)}."""

from __future__ import annotations

from twisted.logger import formatEvent, globalLogPublisher


class LogEvents(list):
    """The log events emitted since L{capture_logs} (event dicts, in order), and ways to read them."""

    def texts(self, level=None) -> list[str]:
        """Each event's formatted text (only those at C{level}, a LogLevel, if given)."""
        return [formatEvent(e) for e in self if level is None or e.get("log_level") == level]

    def matching(self, text: str) -> list[str]:
        """The formatted texts that contain C{text}."""
        return [line for line in self.texts() if text in line]

    def at_level(self, level, namespace: str | None = None) -> list[dict]:
        """The events at C{level} (from C{namespace} only, if given)."""
        return [e for e in self if e.get("log_level") == level
                and (namespace is None or e.get("log_namespace") == namespace)]

    def text(self) -> str:
        """
        Everything logged, as one string: each event's text and its fields,
        so that a test can check a secret appears nowhere in the logs.
        """
        out = []
        for event in self:
            out.append(formatEvent(event))
            out.append(repr({k: v for k, v in event.items() if not k.startswith("log_")}))
        return "\n".join(out)


def capture_logs(case) -> LogEvents:
    """Collect the log events emitted until C{case} (a TestCase) cleans up."""
    events = LogEvents()
    globalLogPublisher.addObserver(events.append)
    case.addCleanup(globalLogPublisher.removeObserver, events.append)
    return events
