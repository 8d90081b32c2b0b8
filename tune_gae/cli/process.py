"""``tune-gae`` as a process: run the click group, then end without the interpreter's teardown."""
from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn


def run_as_process() -> NoReturn:
    """The console script (and ``python -m tune_gae.cli``): ``main``, then a quick exit.

    After a search had printed its last line, written every file and stopped its Ray, Python's
    own finalization (freeing modules, then Ray's and torch's native destructors) still took 1.7 s
    of a 21 s command on 2 cores. Once ``main`` has returned and the atexit handlers (logging's,
    Ray's, ...) have run, the process has nothing left to do: it flushes its streams and exits
    with main's code at once. When a non-daemon thread is still alive it exits the usual way
    instead (Python joins such threads first).
    """
    from tune_gae.cli import main

    try:
        main()  # click's standalone mode always ends in SystemExit
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    if any(t is not threading.main_thread() and not t.daemon and t.is_alive() for t in threading.enumerate()):
        raise SystemExit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can reach it
            pass
    os._exit(code)


def _exit_code(code: object) -> int:
    """What ``sys.exit(code)`` would give the shell (a text is printed to stderr, exit 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
