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


# A warm search's own service: its folder under the benchmark's workdir, never a developer's.
SERVICE_QUIET_CPU_PERCENT = 10.0
SERVICE_READY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class WarmService:
    """A ``tune-gae up`` of the benchmark's own, ready: its warm workers done importing."""

    env: dict[str, str]  # what a command needs to run on it (``RAY_ADDRESS`` empty: find the service)
    up: TimedCommand
    ready_s: float  # from `up`'s exit until the service's processes went quiet


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_warm_service(folder: Path) -> WarmService:
    """``tune-gae up`` with its record in ``folder``; returns once its processes idle (the warm
    workers imported torch, PyG and tune_gae), as after an `up` run a while before a search."""
    env = {"TUNE_GAE_SERVICE_DIR": str(folder)}
    up = run_timed(tune_gae_command("up", "--dashboard-port", str(free_port())), env=env)
    if up.returncode != 0:
        raise RuntimeError(f"tune-gae up failed ({up.returncode}):\n{up.tail()}")
    started = time.monotonic()
    wait_quiet(folder)
    return WarmService({**env, "RAY_ADDRESS": ""}, up, round(time.monotonic() - started, 2))


def wait_quiet(folder: Path) -> None:
    """Until the service's process tree uses under SERVICE_QUIET_CPU_PERCENT of a core for a second."""
    import json

    import psutil

    root = psutil.Process(json.loads((folder / "service.json").read_text())["pid"])
    deadline = time.monotonic() + SERVICE_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        tree = [root, *root.children(recursive=True)]
        for proc in tree:
            try:
                proc.cpu_percent(None)
            except psutil.Error:
                continue
        time.sleep(1.0)
        busy = 0.0
        for proc in tree:
            try:
                busy += proc.cpu_percent(None)
            except psutil.Error:
                continue
        if busy < SERVICE_QUIET_CPU_PERCENT:
            return
    raise RuntimeError(f"the service in {folder} was still busy after {SERVICE_READY_TIMEOUT_S:.0f} s")


def stop_warm_service(service: WarmService) -> TimedCommand:
    return run_timed(tune_gae_command("down"), env={k: v for k, v in service.env.items() if k != "RAY_ADDRESS"})
