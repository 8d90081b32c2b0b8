"""The one exception type that means "the user asked for something wrong"."""
from __future__ import annotations


class TuneGAEError(Exception):
    """A user error: the message names the problem and the fix, in one line.

    The CLI turns it into ``Error: <message>`` and exit code 2, never a traceback.
    """
