"""SIGTERM and SIGHUP stop a command the way Ctrl-C does.

SIGTERM is what systemd, Kubernetes, Slurm and ``timeout`` send; SIGHUP what a closed terminal
sends. Inside ``StopSignals`` either one is handed to the SIGINT handler in force at that moment:
during ``tuner.fit()`` that is Ray Tune's, which stops the trials and saves the experiment
state; elsewhere it is Python's, which raises ``KeyboardInterrupt``. The signal that came is
kept so the command can exit with 128 + its number, as a shell reports it.
"""
from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class StopSignals:
    """Route SIGTERM/SIGHUP to the current SIGINT handler while the block runs (main thread only)."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._before: dict[signal.Signals, Any] = {}

    @property
    def exit_code(self) -> int:
        """128 + the signal that stopped the command (SIGINT when none of ours came)."""
        return 128 + int(self.received or signal.SIGINT)

    @property
    def name(self) -> str:
        return (self.received or signal.SIGINT).name

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signal.Signals(signum)
        interrupt = signal.getsignal(signal.SIGINT)
        if callable(interrupt):
            interrupt(signal.SIGINT, frame)
        else:  # SIG_IGN / SIG_DFL / a handler set outside Python: stop anyway
            raise KeyboardInterrupt

    def defer(self) -> None:
        """From now on a stop signal is only recorded: the command is already ending (shutting
        Ray down), and a handler raising in the middle of that would leave processes behind."""
        if self._before:
            for stop in STOP_SIGNALS:
                signal.signal(stop, self._record)

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self.received = signal.Signals(signum)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for stop in STOP_SIGNALS:
                self._before[stop] = signal.signal(stop, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        for stop, handler in self._before.items():
            signal.signal(stop, handler if handler is not None else signal.SIG_DFL)
        self._before.clear()


def python_handlers() -> dict[signal.Signals, Any]:
    """The Python-level SIGTERM/SIGHUP handlers now installed (to put back after ``ray.init``)."""
    return {stop: signal.getsignal(stop) for stop in STOP_SIGNALS}


def restore_handlers(handlers: dict[signal.Signals, Any]) -> None:
    """Put back handlers a library replaced; only Python callables (a caller's own choice).

    ``ray.init`` installs a SIGTERM handler (``sys.exit``) and its core worker a C-level one that
    prints a crash dump: neither may replace the command's own.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for stop, handler in handlers.items():
        if callable(handler):
            signal.signal(stop, handler)
