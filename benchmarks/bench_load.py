"""Load: thousands of smoke trials on Cora with the study in SQLite (issue 23).

``tune-gae search smoke --dataset Cora --num-samples N --max-epochs 10 --reselect-top 0
--no-export`` as a fresh command; its driver's memory is sampled every half second. From each
trial's ``result.json`` (its last report's own ``wall_time`` and ``time_total_s``):

- throughput of the first and the last tenth of the trials to end (trials / s over the span
  they ended in; the first tenth's span starts at the first trial's start);
- the driver's resident memory: its peak during the first tenth, and over the whole run;
- the seconds from the last trial's end to the command's exit.

Targets (issue 23): last-tenth throughput >= 0.7 x the first tenth's; peak memory <= 0.3 GiB
above the first tenth's; <= 10 s from the last trial to exit.

    python benchmarks/bench_load.py --trials 3000 --out benchmarks/load.json
    python benchmarks/bench_load.py --trials 20          # a check that it runs
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from commands import command_env, tune_gae_command
from common import DEFAULT_DATA_ROOT, REPO, log, save_standalone

THROUGHPUT_RATIO_TARGET = 0.7
MEMORY_GROWTH_TARGET_GIB = 0.3
EXIT_LAG_TARGET_S = 10.0
GIB = 1024 ** 3


def trial_spans(folder: Path) -> list[tuple[float, float]]:
    """(start, end) wall-clock seconds of every trial, from its last report."""
    spans = []
    for result_file in folder.glob("trial_*/result.json"):
        lines = [line for line in result_file.read_text().splitlines() if line.strip()]
        if lines:
            last = json.loads(lines[-1])
            end = float(last.get("wall_time", last["timestamp"]))
            spans.append((end - float(last.get("time_total_s", 0.0)), end))
    return sorted(spans, key=lambda span: span[1])


def measure(spans: list[tuple[float, float]], memory: list[tuple[float, int]], exited: float) -> dict[str, Any]:
    """The three figures from the trials' spans, the driver's (time, RSS) samples and its exit time."""
    count = len(spans)
    tenth = max(1, count // 10)
    first_end = spans[tenth - 1][1]
    first_span = first_end - min(start for start, _ in spans[:tenth])
    last_span = spans[-1][1] - spans[count - tenth - 1][1] if count > tenth else spans[-1][1] - spans[0][0]
    first_rate, last_rate = tenth / max(first_span, 1e-9), tenth / max(last_span, 1e-9)
    early = [rss for at, rss in memory if at <= first_end] or [memory[0][1]]
    peak_at, peak = max(memory, key=lambda sample: sample[1])
    early_peak = max(early)
    last_end = spans[-1][1]
    # The peak's moment: during the trials (negative) or in the end phase (after the last trial).
    end_phase = [rss for at, rss in memory if at > last_end] or [0]
    during = [rss for at, rss in memory if at <= last_end] or [0]
    return {
        "trials": count, "tenth": tenth,
        "first_tenth_trials_per_s": round(first_rate, 2), "last_tenth_trials_per_s": round(last_rate, 2),
        "throughput_ratio": round(last_rate / first_rate, 3),
        "driver_first_tenth_peak_gib": round(early_peak / GIB, 3), "driver_peak_gib": round(peak / GIB, 3),
        "driver_growth_gib": round((peak - early_peak) / GIB, 3),
        "driver_peak_after_last_trial_s": round(peak_at - last_end, 1),
        "driver_trials_peak_gib": round(max(during) / GIB, 3),
        "driver_end_phase_peak_gib": round(max(end_phase) / GIB, 3),
        "last_trial_to_exit_s": round(exited - last_end, 1),
    }


def run(trials: int, data_root: str, workdir: Path) -> dict[str, Any]:
    import psutil

    name = "bench-load"
    argv = tune_gae_command("search", "smoke", "--dataset", "Cora", "--num-samples", str(trials), "--max-epochs", "10",
                            "--reselect-top", "0", "--no-export", "--data-root", data_root,
                            "--results-dir", str(workdir), "--name", name, "--overwrite")
    log(" ".join(argv[2:]))
    began = time.time()
    driver = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=str(REPO),
                              env=command_env())
    memory: list[tuple[float, int]] = []
    process = psutil.Process(driver.pid)

    def sample() -> None:
        while driver.poll() is None:
            try:
                memory.append((time.time(), process.memory_info().rss))
            except psutil.NoSuchProcess:
                return
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = driver.communicate()
    exited = time.time()
    sampler.join()
    if driver.returncode != 0:
        raise RuntimeError(f"the search failed ({driver.returncode}): {stderr[-2000:]}")
    spans = trial_spans(workdir / name)
    result = {"command": "tune-gae search smoke --dataset Cora --num-samples "
                         f"{trials} --max-epochs 10 --reselect-top 0 --no-export",
              "wall_s": round(exited - began, 1), **measure(spans, memory, exited)}
    result["met"] = {
        "throughput": result["throughput_ratio"] >= THROUGHPUT_RATIO_TARGET,
        "memory": result["driver_growth_gib"] <= MEMORY_GROWTH_TARGET_GIB,
        "exit": result["last_trial_to_exit_s"] <= EXIT_LAG_TARGET_S,
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3000)
    parser.add_argument("--data-root", default=DEFAULT_DATA_ROOT)
    parser.add_argument("--out", type=Path, default=None, help="write the results here (JSON), e.g. benchmarks/load.json")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tune-gae-load-"))
    try:
        result = run(args.trials, args.data_root, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.out:
        save_standalone(args.out, result)
    else:
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
