"""What every benchmark module shares: the run context, logging, timing, machine facts, Ray,
markdown tables and the targets table.

A benchmark module (``benchmarks/bench_*.py``) declares ``PART`` (its ``--parts`` name),
``ORDER`` (when it runs), ``NEEDS_PLANETOID``, and three functions:

- ``run(ctx: Context) -> dict``: measures, returns JSON-able results;
- ``targets(result) -> list[Target]``: the issue's targets beside what this run measured;
- ``markdown(result) -> list[str]``: its section of RESULTS.md.

``benchmarks/run.py`` finds the modules, runs the chosen parts and writes both files.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
for _path in (str(REPO), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

DEFAULT_DATA_ROOT = "/tmp/tgdata"
_T0 = time.monotonic()


@dataclass(frozen=True)
class Context:
    """What a benchmark's ``run`` gets: the mode, the data, a scratch folder, the CLI options."""

    quick: bool
    root: str  # holds Planetoid/<Name>/raw
    workdir: Path  # scratch, removed after the run
    dataset: str  # dataset of the search-level parts
    options: dict[str, Any]  # the remaining CLI options (target AUCs, scaling threads, ...)

    def pick(self, full: Any, quick: Any) -> Any:
        """The full benchmark's settings, or the --quick smoke check's."""
        return quick if self.quick else full


@dataclass(frozen=True)
class Target:
    """One row of the targets table at the top of RESULTS.md."""

    what: str
    goal: str
    measured: str
    met: bool | None  # None: not measurable in this run (say why in ``measured``)


def log(message: str) -> None:
    print(f"[{time.monotonic() - _T0:6.1f}s] {message}", flush=True)


def elapsed() -> float:
    """Seconds since this process imported the benchmarks."""
    return time.monotonic() - _T0


# --------------------------------------------------------------------------- timing


def interleaved(fns: dict[str, Callable[[], Any]], *, repeats: int, epochs: int) -> dict[str, list[float]]:
    """Per-call means of several functions, their repeats interleaved so load hits all alike."""
    means: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            started = time.perf_counter()
            for _ in range(epochs):
                fn()
            means[name].append((time.perf_counter() - started) / epochs)
    return means


def ms(seconds: float) -> float:
    return round(seconds * 1e3, 3)


def machine_info() -> dict[str, Any]:
    import optuna
    import ray
    import torch
    import torch_geometric

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "ray": ray.__version__,
        "optuna": optuna.__version__,
        "cuda": torch.cuda.is_available(),
        "load_average_start": os.getloadavg(),
    }


def slots() -> int:
    """Trials a local search runs at once here (1 CPU each)."""
    return int(os.cpu_count() or 1)


# --------------------------------------------------------------------------- Ray


RAY_START_S: list[float] = []


def start_ray() -> float:
    """A fresh local Ray for this process (never one started by someone else); seconds taken."""
    import logging

    import ray

    if ray.is_initialized():
        return 0.0
    os.environ.pop("RAY_ADDRESS", None)
    started = time.perf_counter()
    ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False,
             configure_logging=True)
    seconds = time.perf_counter() - started
    RAY_START_S.append(seconds)
    log(f"Ray started in {seconds:.1f}s: {ray.cluster_resources().get('CPU', 0):g} CPUs")
    return seconds


def stop_ray() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


# --------------------------------------------------------------------------- subprocess workers


def worker_command(module: str, spec: dict[str, Any]) -> list[str]:
    """The command line that runs ``module``'s ``worker(spec)`` in a fresh interpreter."""
    return [sys.executable, str(HERE / f"{module}.py"), "--worker", json.dumps(spec)]


def worker_main(worker: Callable[[dict[str, Any]], Any]) -> None:
    """``python benchmarks/<module>.py --worker SPEC``: run ``worker`` with the run's malloc settings."""
    from tune_gae.train.allocator import keep_freed_memory

    if len(sys.argv) != 3 or sys.argv[1] != "--worker":
        sys.exit(f"usage: {sys.argv[0]} --worker JSON (started by benchmarks/run.py)")
    keep_freed_memory()
    result = worker(json.loads(sys.argv[2]))
    if result is not None:
        print(json.dumps(result), flush=True)


# --------------------------------------------------------------------------- markdown


def cell(value: Any) -> str:
    if value is None:
        return ""
    return str(value).replace("|", "\\|")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """A markdown table (then a blank line)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines + [""]


def columns(spec: Sequence[tuple[str, Callable[[dict[str, Any]], Any]]], rows: Iterable[dict[str, Any]]) -> list[str]:
    """A markdown table from (header, row -> cell) pairs: the column layout declared once."""
    return table([header for header, _ in spec], ([get(row) for _, get in spec] for row in rows))


def targets_table(targets: Sequence[Target]) -> list[str]:
    if not targets:
        return []
    verdict = {True: "yes", False: "**no**", None: "not measured"}
    return ["## Targets", "", *table(("what", "target", "this run", "met"),
                                     ((t.what, t.goal, t.measured, verdict[t.met]) for t in targets))]


def seconds_text(value: float | None, digits: int = 1) -> str:
    return "not reached" if value is None else f"{value:.{digits}f}"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def save_standalone(path: Path, results: dict[str, Any]) -> None:
    """A standalone benchmark's results with the command that made them and when (RESULTS.md reads it)."""
    record = {"command": " ".join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]]),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "results": results}
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(results))


def load_standalone(path: Path) -> dict[str, Any] | None:
    """What ``save_standalone`` wrote, or None when that benchmark never ran."""
    return json.loads(path.read_text()) if path.is_file() else None


def standalone_args(doc: str) -> Any:
    """A standalone benchmark's command line (``--data-root``), its process set up as a trial's:
    tune-gae's allocator settings and one torch thread."""
    import torch

    from tune_gae.train.allocator import keep_freed_memory

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    keep_freed_memory()
    torch.set_num_threads(1)
    return args


def step_ms(trainer: Any, *, warmup: int, repeats: int) -> float:
    """Median milliseconds of a whole ``Trainer.step`` (train + validate) after ``warmup`` steps."""
    import time

    for _ in range(warmup):
        trainer.step()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        trainer.step()
        times.append(time.perf_counter() - started)
    return 1000 * median(times)


def ratio_rows(results: dict[str, dict[str, float]], names: Sequence[str], base: str) -> list[str]:
    """One table row per graph: each variant's ms, and its ratio to ``base``'s."""
    return [f"| {graph} | " + " | ".join(
        f"{row[n]:.1f} ms" + ("" if n == base else f" ({row[n] / row[base]:.2f}x)") for n in names) + " |"
        for graph, row in results.items()]
