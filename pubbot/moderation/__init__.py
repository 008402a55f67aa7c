"""
Moderating channels from chat (the moderation plugin's logic): ban masks
(L{masks}), timed bans kept in the store (L{timed}), and carrying out
kicks, modes and topics with the bot's own ops or through ChanServ
(L{actions}).
"""

from ..ignore.durations import parse_duration
from .actions import NO_QUIET, Action, Moderator
from .masks import MAX_MASK, glob_match, host_ban, is_mask, mask_problem, nick_problem
from .timed import TimedBans

__all__ = ["Action", "MAX_MASK", "Moderator", "NO_QUIET", "TimedBans", "glob_match", "host_ban", "is_mask",
           "mask_problem", "nick_problem", "parse_duration"]
