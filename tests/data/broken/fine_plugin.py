from pubbot.api import command


@command("fine")
def fine(msg):
    """Says the drop-in directory still loads."""
    return "still fine"
