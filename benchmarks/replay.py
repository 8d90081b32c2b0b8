"""A finished search read back (when trials ran, when targets were reached) and its trials
trained again without Ray: the pure compute and the no-orchestration bound of efficiency.

Also the bare slot worker: ``python benchmarks/replay.py --worker SPEC`` trains a list of
trials back to back in one fresh process.
"""
from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import REPO, log, slots, stop_ray, worker_command, worker_main


def bare_trial_seconds(split: Any, hyper: dict[str, Any], epochs: int, *, threads: int = 1) -> float:
    """Seconds to redo one trial's training work without any orchestration: a fresh ``Trainer``
    (as the trial built it) run for the epochs the trial ran, in this process, ``threads`` threads.

    This is the "pure training compute" of orchestration efficiency: the same epochs of the same
    configuration, mean cost included (a min-of-repeats epoch time would understate it; epochs of
    sparse, dropout-heavy configurations vary by 1.5x here).
    """
    import torch

    from tune_gae.config import run_config_from_dict
    from tune_gae.train.trainer import DivergedError, Trainer

    torch.set_num_threads(threads)
    model_config, train_config = run_config_from_dict({**hyper, "epochs": 10**9}, in_channels=split.num_features)
    started = time.perf_counter()
    trainer = Trainer(split, model_config, train_config)
    try:
        for _ in range(epochs):
            trainer.step()
    except DivergedError:
        pass
    return time.perf_counter() - started


def replays(folder: Path, rows: list[dict[str, Any]], root: str, dataset: str, seed: int) -> dict[str, Any]:
    """A finished search's trials trained again without Ray, in fresh processes (Ray stopped):

    - ``pure_compute_s``: all of them one after another in ONE process: the pure training
      compute of orchestration efficiency;
    - ``side_by_side_wall_s``: the same trials on the same slots in the same order, one process
      per slot, all at once: what this machine gives for the work with no orchestration at all
      (two processes on its 2 cores share caches and memory bandwidth).
    """
    stop_ray()  # its idle processes would take CPU from the replays
    plan = slot_plan(folder, rows)
    compute = _replay([[trial for slot in plan for trial in slot]], root, dataset, seed)
    side = _replay(plan, root, dataset, seed)
    result = {"pure_compute_s": round(compute, 2), "side_by_side_wall_s": round(side, 2),
              "side_by_side_slots": len(plan), "side_by_side_efficiency": round(compute / (side * slots()), 3)}
    log(f"replays: the trials' epochs alone in one bare process {compute:.1f}s; on their {len(plan)} slots side "
        f"by side {side:.1f}s (efficiency ceiling {result['side_by_side_efficiency']:.2f})")
    return result


def _replay(plan: list[list[tuple[dict[str, Any], int]]], root: str, dataset: str, seed: int) -> float:
    """Wall seconds for one bare process per list of trials, all started at once."""
    workers = [
        subprocess.Popen(
            worker_command("replay", {"root": root, "dataset": dataset, "seed": seed, "trials": trials}),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=str(REPO),
        )
        for trials in plan if trials
    ]
    for worker in workers:
        if worker.stdout.readline().strip() != "ready":
            raise RuntimeError("a bare slot worker failed to start")
    started = time.time()
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    ends = [json.loads(worker.communicate()[0].strip().splitlines()[-1])["end"] for worker in workers]
    return max(ends) - started


def slot_plan(folder: Path, rows: list[dict[str, Any]]) -> list[list[tuple[dict[str, Any], int]]]:
    """The search's trials grouped by the actor process that ran them, in the order they ran:
    [(run keys, epochs run), ...] per slot (from each trial's result.json)."""
    by_name = {row["trial"]: row for row in rows}
    by_pid: dict[int, list[tuple[float, dict[str, Any], int]]] = {}
    for result_file in folder.glob("trial_*/result.json"):
        lines = [json.loads(line) for line in result_file.read_text().splitlines() if line.strip()]
        row = by_name.get(result_file.parent.name)
        if lines and row:
            started = report_time(lines[0]) - float(lines[0]["time_total_s"])
            by_pid.setdefault(int(lines[0]["pid"]), []).append((started, trial_hyper(row), int(row["epochs_run"])))
    return [[(hyper, epochs) for _, hyper, epochs in sorted(trials, key=lambda t: t[0])] for trials in by_pid.values()]


def worker(spec: dict[str, Any]) -> None:
    """A list of trials back to back, bare (no Ray), once told to start.

    Prints "ready" after imports and data loading, waits for a line on stdin, then prints JSON
    with the wall-clock end of its last trial."""
    from tune_gae.config import DataConfig
    from tune_gae.data.split import load_split

    split = load_split(DataConfig(spec["dataset"], root=spec["root"]))
    bare_trial_seconds(split, {"seed": spec["seed"], **spec["trials"][0][0]}, 2)  # first-call costs
    print("ready", flush=True)
    sys.stdin.readline()
    compute = sum(bare_trial_seconds(split, {"seed": spec["seed"], **hyper}, epochs) for hyper, epochs in spec["trials"])
    print(json.dumps({"end": time.time(), "compute_s": compute}), flush=True)


def trial_hyper(row: dict[str, Any]) -> dict[str, Any]:
    """The run keys a trial trained with (seed excluded), typed."""
    return {k: v for k, v in row["hyper"].items() if k != "seed"}


def read_rows(folder: Path) -> list[dict[str, Any]]:
    """A finished search's trial rows (trials.csv), each with ``hyper``: the typed run keys of
    the trial, from the ``params.json`` Ray wrote into its folder."""
    import csv

    from tune_gae.config import RUN_KEYS
    from tune_gae.search.space import resolve_trial_config

    with (folder / "trials.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        params = json.loads((folder / row["trial"] / "params.json").read_text())
        row["hyper"] = {k: v for k, v in resolve_trial_config(params).items() if k in RUN_KEYS}
        row["epochs_run"] = int(row["epochs_run"] or 0)
    return rows


# --------------------------------------------------------------------------- timelines


def report_time(row: dict[str, Any]) -> float:
    """When a trial sent a report: its own sub-second ``wall_time`` (Ray's ``timestamp`` is whole
    seconds)."""
    return float(row.get("wall_time", row["timestamp"]))


def timeline(folder: Path, since: float) -> dict[str, Any]:
    """From each trial's result.json: when trials ran, and how many ran at once on average
    (sum of their run times / the span from the first start to the last end)."""
    spans, busy = [], 0.0
    for result_file in folder.glob("trial_*/result.json"):
        rows = [json.loads(line) for line in result_file.read_text().splitlines() if line.strip()]
        if rows:
            total = float(rows[-1].get("time_total_s", 0.0))
            end = report_time(rows[-1]) - since
            spans.append((end - total, end))
            busy += total
    if not spans:
        return {}
    first, last = min(a for a, _ in spans), max(b for _, b in spans)
    return {"first_trial_start_s": round(first, 2), "last_trial_end_s": round(last, 2),
            "mean_trials_running": round(busy / max(last - first, 1.0), 2)}


def first_reached(folder: Path, target: float, since: float) -> float | None:
    """Seconds from ``since`` to the first report whose best val_auc so far is >= target, from each
    trial's result.json (trials report every 0.1 s and at rungs, with sub-second timestamps)."""
    first: float | None = None
    for result_file in folder.glob("trial_*/result.json"):
        for line in result_file.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                row = json.loads(line)
                if row.get("best_val_auc", 0.0) >= target:
                    at = report_time(row) - since
                    first = at if first is None else min(first, at)
                    break
    return None if first is None else round(first, 2)


def reached_text(first: dict[float, float | None]) -> str:
    return ", ".join(f"{t} after {f'{v:.1f}s' if v is not None else 'never'}" for t, v in first.items())


# --------------------------------------------------------------------------- a search as a command


def measured_search(ctx: Any, name: str, args: list[str], *, replay: bool = True,
                    env: dict[str, str] | None = None) -> dict[str, Any]:
    """``tune-gae search ARGS`` as a fresh command (``env``: extra variables, e.g. a service's), then
    (``replay``) its trials again without Ray.

    Efficiency = pure training / (wall x slots); ``of_bound`` = the side-by-side bare processes'
    wall / the command's wall (1.0: no orchestration cost at all beyond what the machine imposes).
    """
    from commands import run_timed, tune_gae_command

    stop_ray()
    folder = ctx.workdir / name
    command = run_timed(tune_gae_command(
        "search", *args, "--data-root", ctx.root, "--results-dir", str(ctx.workdir), "--name", name, "--overwrite",
    ), env=env)
    if command.returncode != 0:
        raise RuntimeError(f"tune-gae search failed ({command.returncode}):\n{command.tail()}")
    rows = read_rows(folder)
    record = json.loads((folder / "search.json").read_text())
    result: dict[str, Any] = {
        "command": "tune-gae search " + " ".join(args), "wall_s": command.wall_s, "trials": len(rows),
        "reselection_s": record.get("reselection_seconds"),
        "epochs_run_total": sum(int(r["epochs_run"] or 0) for r in rows),
        "best_val_auc": max(float(r["best_val_auc"] or 0.0) for r in rows),
        "moments": {"banner_s": command.first_line_at("Search "), **timeline(folder, command.spawned),
                    "table_s": command.first_line_at("trials in"), "exit_s": command.wall_s},
        "spawned": command.spawned,
    }
    log(f"{name}: `{result['command']}` {command.wall_s:.1f}s, best val AUC {result['best_val_auc']:.4f}")
    if replay:
        bare = replays(folder, rows, ctx.root, ctx.dataset, seed=0)
        result.update(bare)
        result["efficiency"] = round(bare["pure_compute_s"] / (command.wall_s * slots()), 3)
        result["of_bound"] = round(bare["side_by_side_wall_s"] / command.wall_s, 3)
    result["folder"] = str(folder)
    return result


def remove_search(result: dict[str, Any]) -> None:
    import shutil

    shutil.rmtree(result.pop("folder"), ignore_errors=True)


if __name__ == "__main__":
    worker_main(worker)
