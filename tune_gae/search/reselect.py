"""Re-selection before export: the top trials re-trained with fresh seeds, winner by mean.

The best of many trials on one set of validation edges is partly noise (the winner's curse).
After the search, the ``top`` trials by validation are re-trained from scratch with ``seeds``
fresh model seeds each, on the same split without its test edges. The winner is the
configuration with the best MEAN validation score over those fresh runs; the search trial's own
value is recorded but not averaged in, because it is the maximum that put the configuration in
the top list.

Where the runs train: as Ray tasks spread over the cluster's free slots when the search joined a
cluster (or uses GPUs); in the driver's own process, one thread per trial slot, when it runs on
this machine's CPUs alone. A Ray task needs a fresh worker process that imports torch and PyG
first (Ray Tune's trial actors are gone by then): on 2 cores the README search's 9 runs took
7.6 s as Ray tasks, about 5 s of it imports, and 2.7 s in the driver. Each run draws from its
own random stream (``Trainer.generator``), so a run beside another is the run its seed gives
alone, and ``tune-gae evaluate`` re-trains the exported one exactly.

Exported weights: the winning configuration's fresh run with the best validation score (its
best-validation epoch). Every fresh run's weights are kept in ``<search>/reselection/`` so an
interrupted re-selection continues where it stopped (``tune-gae resume``), and so export reads
the chosen weights instead of training again.
"""
from __future__ import annotations

import contextlib
import math
import signal
import statistics
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tune_gae.errors import TuneGAEError

if TYPE_CHECKING:
    from tune_gae.data.split import LinkSplit
    from tune_gae.search.settings import Echo, SearchSettings
    from tune_gae.search.signals import StopSignals

RESELECTION_DIR = "reselection"
# Fresh model seeds start here, away from the search's own seed (trials use settings.seed).
SEED_OFFSET = 1000
# How often the driver checks for a stop signal while fresh runs train (seconds).
STOP_POLL_S = 0.25




@dataclass(frozen=True)
class FreshRun:
    """One re-training of a candidate configuration with one fresh seed."""

    trial: str
    seed: int

    @property
    def file_name(self) -> str:
        return f"{self.trial}-seed{self.seed}.pt"


def fresh_seeds(search_seed: int, count: int) -> list[int]:
    """The model seeds of the fresh runs: the same for every candidate (paired comparison)."""
    return [search_seed + SEED_OFFSET + i for i in range(count)]


def candidates(rows: list[dict[str, Any]], metric: str, top: int) -> list[dict[str, Any]]:
    """The ``top`` finished trials with a usable checkpoint, best validation first."""
    key = f"best_{metric}"
    usable = [
        row for row in rows
        if row.get("state") == "TERMINATED" and row.get("checkpoint") and _finite(row.get(key))
    ]
    usable.sort(key=lambda row: -float(row[key]))
    return usable[:top]


def training_minutes(jobs: list[tuple[FreshRun, dict[str, Any]]], rows_by_trial: dict[str, dict[str, Any]]) -> float:
    """Minutes the fresh runs train one after another, from each candidate trial's own time per
    epoch and the epochs a run plans (an upper bound: patience may stop a run earlier)."""
    total_ms = sum(float(rows_by_trial[run.trial].get("epoch_ms") or 0.0) * int(hyper.get("epochs") or 0)
                   for run, hyper in jobs)
    return total_ms / 60_000


class RunStopped(Exception):
    """A fresh run in the driver was told to stop (the search was interrupted); nothing saved."""


def fresh_run_config(config: dict[str, Any], row: dict[str, Any], seed: int) -> dict[str, Any]:
    """A candidate's hyperparameters for one fresh run: its own, with ``seed``; a trial that the
    search's time budget cut trains no more epochs than it ran (the budget capped the search, it
    must not be spent again on re-training to the planned epochs)."""
    fresh = {**config, "seed": seed}
    if row.get("stop_reason") == "time budget" and row.get("epochs_run"):
        fresh["epochs"] = min(int(fresh.get("epochs") or row["epochs_run"]), int(row["epochs_run"]))
    return fresh


def retrain(split: LinkSplit, hyper: dict[str, Any], metric: str, threads: int,
            stop: threading.Event | None = None) -> dict[str, Any]:
    """Train one configuration to its planned epochs on ``split`` (no test edges); best weights back.
    ``stop`` (runs in the driver): checked every epoch, raises ``RunStopped`` once set."""
    import torch

    from tune_gae.config import run_config_from_dict
    from tune_gae.data.split import encode_for_run
    from tune_gae.train.allocator import keep_freed_memory
    from tune_gae.train.trainer import DivergedError, Trainer

    keep_freed_memory()
    torch.set_num_threads(max(1, threads))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    split, hyper = encode_for_run(split, hyper)  # the trial's node encoding (training edges only)
    model_config, train_config = run_config_from_dict(hyper, in_channels=split.num_features)
    trainer = Trainer(split, model_config, train_config, device=device, metric=metric)
    diverged = False
    try:
        while not trainer.done:
            if stop is not None and stop.is_set():
                raise RunStopped
            trainer.step()
    except DivergedError:
        diverged = True
    usable = trainer.best_is_finite()
    return {
        "best": {k: float(v) for k, v in trainer.best.items()} if usable else {},
        "best_state": {k: v.cpu() for k, v in trainer.best_state.items()} if usable else {},
        "model_config": model_config.to_dict(),
        "epoch": trainer.epoch,
        "diverged": diverged or not usable,
    }


def run_reselection(
    path: Path,
    split: LinkSplit,
    rows: list[dict[str, Any]],
    trial_configs: dict[str, dict[str, Any]],
    *,
    metric: str,
    top: int,
    seeds: int,
    search_seed: int,
    cpus_per_run: float,
    gpus_per_run: float,
    threads_here: int = 0,
    echo: Echo | None = None,
    stopped: Callable[[], bool] = lambda: False,
) -> list[dict[str, Any]]:
    """Re-train the top trials with fresh seeds; the record.

    ``threads_here`` > 0: in this process, that many runs at a time (one CPU thread each); else as
    Ray tasks (Ray must be connected). ``trial_configs``: each candidate trial's resolved hyperparameters.
    Runs whose weights already sit in ``<path>/reselection`` are not trained again. ``stopped``
    (polled while runs train): a stop signal came, raise ``KeyboardInterrupt`` even if the
    handler's own one was lost (raised inside a garbage collector's callback, Python drops it).
    Returns one entry per candidate, best mean first: ``trial, config, search_value, seeds,
    values, mean, std``.
    """
    import torch

    chosen = candidates(rows, metric, top)
    if top < 1 or seeds < 1 or len(chosen) < 1:
        return []
    folder = path / RESELECTION_DIR
    folder.mkdir(exist_ok=True)
    seed_list = fresh_seeds(search_seed, seeds)
    runs = [FreshRun(row["trial"], seed) for row in chosen for seed in seed_list]
    todo = [run for run in runs if not (folder / run.file_name).is_file()]
    rows_by_trial = {row["trial"]: row for row in chosen}
    jobs = [(run, fresh_run_config(trial_configs[run.trial], rows_by_trial[run.trial], run.seed)) for run in todo]
    if echo is not None:
        where = f"in this process, {threads_here} at a time" if threads_here else "as Ray tasks"
        minutes = training_minutes(jobs, rows_by_trial) / max(1, threads_here)
        cost = (f"; up to about {minutes:.0f} min{' of training in all' if not threads_here else ''} "
                f"after the trials; --reselect-top 0 skips it" if minutes >= 1 else "")
        echo(f"Re-selection: top {len(chosen)} trials x {seeds} fresh seeds on best_{metric}, {where} "
             f"({len(runs) - len(todo)} of {len(runs)} runs already done{cost}).")
    if todo:
        if threads_here:
            finished = _train_in_driver(split, jobs, metric, threads_here, max(1, int(cpus_per_run)), stopped)
        else:
            finished = _train_as_ray_tasks(split, jobs, metric, cpus_per_run, gpus_per_run, stopped)
        failed: list[str] = []
        left = len(todo)
        began = time.monotonic()
        with contextlib.closing(finished):  # interrupted here: the driver's runs stop too
            for run, state, error in finished:
                left -= 1
                if error is not None:  # not saved: resume retries it
                    failed.append(f"{run.trial} seed {run.seed}: {type(error).__name__}: {_last_line(error)}")
                    if echo is not None:
                        echo(f"  {failed[-1]} ({left} left)")
                    continue
                torch.save(state, folder / f".{run.file_name}.part")
                (folder / f".{run.file_name}.part").rename(folder / run.file_name)
                if echo is not None:
                    value = state["best"].get(metric)
                    shown = f"{value:.4f}" if value is not None else "diverged"
                    echo(f"  {run.trial} seed {run.seed}: {metric} {shown} "
                         f"({left} left, {time.monotonic() - began:.0f} s)")
        if failed:
            raise TuneGAEError(
                f"{len(failed)} re-selection run(s) failed (first: {failed[0]}): `tune-gae resume {path}` "
                f"retries them, or search again with --reselect-top 0."
            )
    return summarize_reselection(path, chosen, trial_configs, metric, seed_list)


Finished = Generator[tuple[FreshRun, dict[str, Any] | None, BaseException | None], None, None]


def _train_as_ray_tasks(split: LinkSplit, jobs: list[tuple[FreshRun, dict[str, Any]]], metric: str,
                        cpus_per_run: float, gpus_per_run: float, stopped: Callable[[], bool]) -> Finished:
    """Each run a Ray task (retried twice if its worker dies); (run, state, error) as they end."""
    import ray

    task = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=2)(retrain)
    split_ref = ray.put(split)
    pending = {task.remote(split_ref, hyper, metric, int(cpus_per_run)): run for run, hyper in jobs}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1, timeout=STOP_POLL_S)
        if stopped():
            raise KeyboardInterrupt
        if not done:
            continue
        run = pending.pop(done[0])
        try:
            yield run, ray.get(done[0]), None
        except Exception as exc:  # noqa: BLE001 - reported per run by the caller
            yield run, None, exc


def _train_in_driver(split: LinkSplit, jobs: list[tuple[FreshRun, dict[str, Any]]], metric: str,
                     threads: int, torch_threads: int, stopped: Callable[[], bool]) -> Finished:
    """``threads`` runs at a time in this process; (run, state, error) as they end. Interrupted
    (Ctrl-C, or the generator closed): runs not started are dropped, running ones stop at their
    next epoch, and this returns once they have."""
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tune-gae-reselect")
    pending: dict[Future[dict[str, Any]], FreshRun] = {
        pool.submit(retrain, split, hyper, metric, torch_threads, stop): run for run, hyper in jobs
    }
    try:
        while pending:
            done, _ = wait(list(pending), timeout=STOP_POLL_S, return_when=FIRST_COMPLETED)
            if stopped():
                raise KeyboardInterrupt
            for future in done:
                run = pending.pop(future)
                error = future.exception()
                yield run, (None if error else future.result()), error
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def _last_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def load_run(path: Path, trial: str, seed: int) -> dict[str, Any]:
    """A fresh run's saved state (weights, best metrics, model config)."""
    import torch

    file = path / RESELECTION_DIR / FreshRun(trial, seed).file_name
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means the same thing to the user
        raise TuneGAEError(
            f"cannot read {file} ({type(exc).__name__}): resume the search (`tune-gae resume {path}`) "
            f"to re-train it."
        ) from None


def summarize_reselection(
    path: Path,
    chosen: list[dict[str, Any]],
    trial_configs: dict[str, dict[str, Any]],
    metric: str,
    seed_list: list[int],
) -> list[dict[str, Any]]:
    """One entry per candidate from the saved runs, best mean first (diverged runs count as 0)."""
    entries = []
    for row in chosen:
        values = []
        for seed in seed_list:
            best = load_run(path, row["trial"], seed).get("best") or {}
            values.append(float(best.get(metric, 0.0)))
        entries.append({
            "trial": row["trial"],
            "config": trial_configs[row["trial"]],
            "search_value": float(row[f"best_{metric}"]),
            "seeds": seed_list,
            "values": values,
            "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        })
    entries.sort(key=lambda entry: -entry["mean"])
    return entries


def winner_run(path: Path, entry: dict[str, Any], metric: str) -> tuple[int, dict[str, Any]]:
    """The winning configuration's fresh run with the best validation score: (seed, state)."""
    best_seed = max(zip(entry["values"], entry["seeds"]), key=lambda pair: pair[0])[1]
    state = load_run(path, entry["trial"], best_seed)
    if not state.get("best_state"):
        raise TuneGAEError(f"every fresh run of {entry['trial']} diverged: search again with --reselect-top 0.")
    return best_seed, state


def write_record(path: Path, entries: list[dict[str, Any]], metric: str, top: int, seeds: int) -> None:
    """Record the re-selection in ``search.json`` (``reselection`` + how the winner was chosen)."""
    from tune_gae.search.results import SearchFolder

    winner = None
    if entries:
        seed, _ = winner_run(path, entries[0], metric)
        winner = {
            "trial": entries[0]["trial"],
            "seed": seed,
            "mean": entries[0]["mean"],
            "rule": f"best mean {metric} over {seeds} fresh seeds among the top {len(entries)} trials; "
                    f"exported: that configuration's fresh run with the best {metric} (seed {seed})",
        }
    SearchFolder(path).update_record(
        reselection=entries, reselection_settings={"top": top, "seeds": seeds, "metric": metric}, winner=winner
    )


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def reselect_search(
    path: Path, grid: Any, split: LinkSplit, settings: SearchSettings, rows: list[dict[str, Any]],
    echo: Echo | None = None, stop: StopSignals | None = None,
) -> list[dict[str, Any]]:
    """The search's re-selection phase (after its trials): run, record in ``search.json``, return.

    Ctrl-C, SIGTERM or SIGHUP (``stop`` says which) raises ``SearchInterrupted``: finished runs
    are saved, ``tune-gae resume`` continues.
    """
    from tune_gae.search.cluster import _node_resources, joins_cluster, trial_slots
    from tune_gae.search.settings import SearchInterrupted
    from tune_gae.search.space import resolve_trial_config

    configs = {}
    for result in grid:
        metrics = result.metrics or {}
        name = f"trial_{metrics['trial_id']}" if metrics.get("trial_id") else Path(result.path).name
        configs[name] = {"seed": settings.seed, **resolve_trial_config(result.config or {})}
    # Here, in the driver's threads, when every slot is one of this machine's CPUs; else Ray tasks.
    here = not joins_cluster(settings.address) and settings.gpus_per_trial == 0
    threads_here = trial_slots(settings, _node_resources()) if here else 0
    try:
        entries = run_reselection(
            path, split.without_test(), [row for row in rows if row["trial"] in configs], configs,
            metric=settings.metric, top=settings.reselect_top, seeds=settings.reselect_seeds,
            search_seed=settings.seed, cpus_per_run=settings.cpus_per_trial,
            gpus_per_run=settings.gpus_per_trial, threads_here=threads_here, echo=echo,
            stopped=lambda: stop is not None and stop.received is not None,
        )
    except KeyboardInterrupt:
        stopped_by = (stop.received if stop is not None else None) or signal.SIGINT
        raise SearchInterrupted(path, None, settings.num_samples, stopped_by) from None
    write_record(path, entries, settings.metric, settings.reselect_top, settings.reselect_seeds)
    if echo is not None and entries:
        echo(f"Winner by mean {settings.metric} over {settings.reselect_seeds} fresh seeds: {entries[0]['trial']} "
             f"({entries[0]['mean']:.4f} ± {entries[0]['std']:.4f}; its search value {entries[0]['search_value']:.4f}).")
    return entries


def prune_runs(path: Path, winner: dict[str, Any] | None) -> None:
    """Delete every fresh run's weights but the exported one's (bounded disk; the values stay
    in ``search.json``)."""
    keep = FreshRun(winner["trial"], int(winner["seed"])).file_name if winner else None
    for file in (path / RESELECTION_DIR).glob("*.pt"):
        if file.name != keep:
            file.unlink()
