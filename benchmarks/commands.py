"""Fresh shell commands, timed from the moment they are spawned: a user's view of a search.

Every line the command prints is stamped with the seconds since the spawn, so a benchmark can
say when the banner came, when the last trial ended and when the command exited.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from common import REPO


@dataclass(frozen=True)
class TimedCommand:
    """A finished command: when it was spawned (epoch seconds), its wall time and stamped output."""

    argv: list[str]
    spawned: float
    wall_s: float
    returncode: int
    lines: list[tuple[float, str]]  # (seconds since the spawn, stdout or stderr line)

    def first_line_at(self, text: str) -> float | None:
        return next((at for at, line in self.lines if text in line), None)

    def tail(self, count: int = 5) -> str:
        return "\n".join(line for _, line in self.lines[-count:])


def command_env() -> dict[str, str]:
    """The environment of a benchmark command: this repository's code, a Ray of its own."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["RAY_ADDRESS"] = "local"  # never join a Ray runtime someone else started on this machine
    env["PYTHONUNBUFFERED"] = "1"
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env


def tune_gae_command(*args: str) -> list[str]:
    """``tune-gae ARGS`` with this interpreter (the console script's own start-up is the same)."""
    return [sys.executable, "-m", "tune_gae.cli", *args]


def run_timed(argv: list[str], *, timeout_s: float = 1800.0, env: dict[str, str] | None = None) -> TimedCommand:
    """Run ``argv`` as a fresh process (``env``: extra variables); stamp each output line; the
    wall time ends at its exit."""
    lines: list[tuple[float, str]] = []
    spawned_mono = time.monotonic()
    spawned = time.time()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=str(REPO), env={**command_env(), **(env or {})})

    def pump(stream) -> None:  # noqa: ANN001
        for line in stream:
            lines.append((round(time.monotonic() - spawned_mono, 3), line.rstrip("\n")))

    pumps = [threading.Thread(target=pump, args=(s,), daemon=True) for s in (process.stdout, process.stderr)]
    for thread in pumps:
        thread.start()
    try:
        returncode = process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        returncode = process.wait()
    wall = time.monotonic() - spawned_mono
    for thread in pumps:
        thread.join(timeout=10)
    return TimedCommand(argv, spawned, round(wall, 3), returncode, sorted(lines))
