"""Human-readable durations."""


def format_duration(seconds: float) -> str:
    """C{3 days, 2:03:04}, C{5:07}, C{12s}: compact and unambiguous."""
    seconds = int(max(0, seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return "%d day%s, %d:%02d:%02d" % (days, "" if days == 1 else "s", hours, minutes, secs)
    if hours:
        return "%d:%02d:%02d" % (hours, minutes, secs)
    if minutes:
        return "%d:%02d" % (minutes, secs)
    return "%ds" % secs
