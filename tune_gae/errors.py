"""The one exception type that means "the user asked for something wrong"."""
from __future__ import annotations

import difflib


class TuneGAEError(Exception):
    """A user error: the message names the problem and the fix, in one line.

    The CLI turns it into ``Error: <message>`` and exit code 2, never a traceback.
    """


def did_you_mean(name: str, known: tuple[str, ...] | list[str]) -> str:
    """A " (did you mean 'x'?)" suffix when ``name`` is a near-miss of a known name."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (at most 200 characters), for a one-line error."""
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else ""
