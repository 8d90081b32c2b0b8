"""tune-gae benchmarks, measured side by side in one run; writes results.json and RESULTS.md.

Parts (``--parts``, comma-separated; default: all):

- ``epoch``:   per-epoch train/eval time of tune-gae vs the seed recipe (PyG's
               examples/autoencoder.py, see seed_recipe.py) at equal hyperparameters, Cora and
               CiteSeer, 1 and 2 threads, hidden 32/latent 16 and 128/64; then final test AUC/AP
               of both over several seeds (GAE and VGAE).
- ``scaling``: per-epoch time and peak memory (max RSS of a fresh subprocess per size) on
               synthetic graphs from 1e4 to 1e6 edges, tune-gae and the seed recipe; log-log slope.
- ``report``:  the cost of one ``tune.report`` in a Ray Tune function trainable (a trivial
               trainable reporting N times), alone, with checkpoints, with a TensorBoard writer.
- ``search``:  ``run_search`` (FIFO, 8 fixed configurations x 300 epochs, Ray start included) vs
               the seed recipe run 8 times in a row; orchestration efficiency.
- ``target``:  time until a validation AUC target is first reached: tune-gae (ASHA, default space,
               32 trials) vs plain Optuna (TPE + MedianPruner, one process, same space, seed and
               budget); orchestration efficiency of the 32-trial ASHA search.

Both searches' trials are then trained again without Ray, in fresh processes: all in one
process (the pure compute of the efficiency), and one process per slot side by side (what the
machine gives with no orchestration at all).

Usage (from the repository root)::

    .venv/bin/python benchmarks/run.py                    # everything: about 7 minutes on 2 cores
    .venv/bin/python benchmarks/run.py --quick            # smoke check, 2-3 minutes
    .venv/bin/python benchmarks/run.py --parts epoch,scaling --data-root /tmp/tgdata

Timings are the minimum over repeats of a mean over epochs (robust to other load); run on a
quiet machine for numbers to quote.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

PARTS = ("epoch", "scaling", "report", "search", "target")
DEFAULT_DATA_ROOT = "/tmp/tgdata"


@dataclass(frozen=True)
class Plan:
    """How much of each part to run: the full benchmark or the --quick smoke check."""

    datasets: tuple[str, ...]
    sizes: tuple[tuple[int, int], ...]  # (hidden, latent)
    threads: tuple[int, ...]
    repeats: int
    epochs_per_repeat: int
    metric_seeds: int
    metric_epochs: int
    metric_models: tuple[str, ...]
    search_configs: int
    search_epochs: int
    target_trials: int
    target_epochs: int
    target_aucs: tuple[float, ...]  # validation AUC targets, each timed
    scaling_edges: tuple[int, ...]
    scaling_degree: int
    scaling_epochs: int
    report_count: int


FULL = Plan(
    datasets=("Cora", "CiteSeer"),
    sizes=((32, 16), (128, 64)),
    threads=(1, 2),
    repeats=5,
    epochs_per_repeat=10,
    metric_seeds=3,
    metric_epochs=200,
    metric_models=("gae", "vgae"),
    search_configs=8,
    search_epochs=300,
    target_trials=32,
    target_epochs=300,
    target_aucs=(0.93, 0.94, 0.95),
    scaling_edges=(10_000, 30_000, 100_000, 300_000, 1_000_000),
    scaling_degree=10,
    scaling_epochs=5,
    report_count=300,
)
QUICK = Plan(
    datasets=("Cora",),
    sizes=((32, 16),),
    threads=(1,),
    repeats=2,
    epochs_per_repeat=5,
    metric_seeds=1,
    metric_epochs=20,
    metric_models=("gae",),
    search_configs=2,
    search_epochs=20,
    target_trials=4,
    target_epochs=30,
    target_aucs=(0.75, 0.80),
    scaling_edges=(10_000, 30_000),
    scaling_degree=10,
    scaling_epochs=2,
    report_count=50,
)

_T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - _T0:6.1f}s] {message}", flush=True)


# --------------------------------------------------------------------------- timing helpers


def min_of_means(fn: Callable[[], Any], *, repeats: int, epochs: int) -> tuple[float, float]:
    """(min, median) over ``repeats`` of the mean seconds per call over ``epochs`` calls."""
    means = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(epochs):
            fn()
        means.append((time.perf_counter() - started) / epochs)
    return min(means), statistics.median(means)


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
        "load_average_start": os.getloadavg(),
    }


# --------------------------------------------------------------------------- part 1: per epoch


def part_epoch(plan: Plan, root: str) -> dict[str, Any]:
    import seed_recipe
    import torch

    from tune_gae.config import DataConfig, ModelConfig, TrainConfig
    from tune_gae.data.split import load_split
    from tune_gae.train.trainer import Trainer, train_epoch, validation_metrics

    rows = []
    for dataset in plan.datasets:
        train_data, val_data, _ = seed_recipe.load_data(root, dataset, seed=0)
        split = load_split(DataConfig(dataset, root=root))
        for hidden, latent in plan.sizes:
            for threads in plan.threads:
                torch.set_num_threads(threads)
                recipe = seed_recipe.SeedRecipe(train_data, hidden=hidden, latent=latent)
                model_config = ModelConfig(in_channels=split.num_features, hidden_channels=(hidden,),
                                           latent_channels=latent)
                train_config = TrainConfig(epochs=10**9)
                trainer = Trainer(split, model_config, train_config)  # step(): what a trial runs
                parts = Trainer(split, model_config, train_config)  # train_epoch / evaluate alone

                def ours_train() -> None:
                    train_epoch(parts.model, parts.optimizer, parts.x, parts.message_edges, parts.train_pos,
                                train_config)

                def ours_eval() -> None:
                    validation_metrics(parts.model, parts.x, parts.message_edges, parts.val_pos, parts.val_neg)

                fns = {
                    "seed_train": recipe.train,
                    "seed_eval": lambda: recipe.test(val_data),
                    "ours_step": trainer.step,
                    "ours_train": ours_train,
                    "ours_eval": ours_eval,
                }
                interleaved(fns, repeats=1, epochs=3)  # warm-up
                means = interleaved(fns, repeats=plan.repeats, epochs=plan.epochs_per_repeat)
                best = {k: min(v) for k, v in means.items()}
                med = {k: statistics.median(v) for k, v in means.items()}
                row = {
                    "dataset": dataset, "hidden": hidden, "latent": latent, "threads": threads,
                    **{f"{k}_ms": ms(v) for k, v in best.items()},
                    **{f"{k}_median_ms": ms(v) for k, v in med.items()},
                }
                row["seed_total_ms"] = ms(best["seed_train"] + best["seed_eval"])
                row["speedup"] = round((best["seed_train"] + best["seed_eval"]) / best["ours_step"], 2)
                row["speedup_median"] = round((med["seed_train"] + med["seed_eval"]) / med["ours_step"], 2)
                rows.append(row)
                log(f"epoch {dataset} h{hidden}/l{latent} {threads} thread(s): seed {row['seed_train_ms']:.1f}"
                    f"+{row['seed_eval_ms']:.1f} ms, tune-gae {row['ours_step_ms']:.2f} ms/epoch "
                    f"(train {row['ours_train_ms']:.2f}, eval {row['ours_eval_ms']:.2f}) -> x{row['speedup']}")
    torch.set_num_threads(max(plan.threads))
    return {"rows": rows, "metrics": metric_equality(plan, root)}


def metric_equality(plan: Plan, root: str) -> list[dict[str, Any]]:
    """Final-epoch test AUC/AP of both at equal settings (hidden 32, latent 16, lr 0.01)."""
    import seed_recipe

    from tune_gae.config import DataConfig, ModelConfig, TrainConfig
    from tune_gae.data.split import load_split
    from tune_gae.nn.encoders import build_model
    from tune_gae.train.trainer import Trainer, score_test_edges

    rows = []
    for dataset in plan.datasets:
        for model in plan.metric_models:
            seed_runs, ours_final, ours_selected = [], [], []
            seed_s = ours_s = 0.0
            for seed in range(plan.metric_seeds):
                run = seed_recipe.run(root, dataset, epochs=plan.metric_epochs, variational=model == "vgae", seed=seed)
                seed_runs.append((run["test_auc"], run["test_ap"]))
                seed_s += run["seconds"]
                started = time.perf_counter()
                split = load_split(DataConfig(dataset, root=root, split_seed=seed))
                model_config = ModelConfig(in_channels=split.num_features, model=model)
                trainer = Trainer(split, model_config, TrainConfig(epochs=plan.metric_epochs, seed=seed))
                while not trainer.done:
                    trainer.step()
                final = build_model(model_config)
                final.load_state_dict(trainer.model.state_dict())
                got = score_test_edges(final.eval(), split)
                ours_final.append((got["test_auc"], got["test_ap"]))
                chosen = score_test_edges(trainer.best_model(), split)
                ours_selected.append((chosen["test_auc"], chosen["test_ap"]))
                ours_s += time.perf_counter() - started
            row = {"dataset": dataset, "model": model, "epochs": plan.metric_epochs, "seeds": plan.metric_seeds,
                   "seed_seconds": round(seed_s, 2), "ours_seconds": round(ours_s, 2)}
            for label, runs in (("seed", seed_runs), ("ours", ours_final), ("ours_selected", ours_selected)):
                for i, metric in enumerate(("auc", "ap")):
                    values = [r[i] for r in runs]
                    row[f"{label}_{metric}"] = round(statistics.fmean(values), 4)
                    row[f"{label}_{metric}_sd"] = round(statistics.stdev(values), 4) if len(values) > 1 else None
            for metric in ("auc", "ap"):
                diff = row[f"ours_{metric}"] - row[f"seed_{metric}"]
                sds = [row[f"seed_{metric}_sd"] or 0.0, row[f"ours_{metric}_sd"] or 0.0]
                noise = 2 * math.sqrt((sds[0] ** 2 + sds[1] ** 2) / plan.metric_seeds)
                row[f"{metric}_diff"] = round(diff, 4)
                row[f"{metric}_equal_within_noise"] = abs(diff) <= max(noise, 0.01)
            rows.append(row)
            log(f"metrics {dataset} {model}: seed test AUC {row['seed_auc']:.4f}/AP {row['seed_ap']:.4f}, "
                f"tune-gae {row['ours_auc']:.4f}/{row['ours_ap']:.4f} (selected on val: "
                f"{row['ours_selected_auc']:.4f}/{row['ours_selected_ap']:.4f}); "
                f"{seed_s:.1f}s vs {ours_s:.1f}s")
    return rows


# --------------------------------------------------------------------------- part 4: scaling


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would include the parent's, pre-exec)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def scaling_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs in a fresh subprocess: one graph size, one implementation; prints JSON."""
    import torch

    torch.set_num_threads(int(spec["threads"]))
    rss_start = peak_rss_mib()
    from tune_gae.config import DataConfig, ModelConfig, TrainConfig
    from tune_gae.data.sources import load_graph
    from tune_gae.data.split import load_split

    nodes, degree, epochs = int(spec["nodes"]), int(spec["degree"]), int(spec["epochs"])
    source = f"synthetic:nodes={nodes},degree={degree}"
    rss_imports = peak_rss_mib()
    if spec["impl"] == "tune_gae":
        from tune_gae.train.trainer import Trainer

        split = load_split(DataConfig(source))
        edges = split.train_pos.size(1) + split.val_pos.size(1) + split.test_pos.size(1)
        trainer = Trainer(split, ModelConfig(in_channels=split.num_features), TrainConfig(epochs=10**9))
        step = trainer.step
    else:
        import seed_recipe

        graph = load_graph(DataConfig(source))
        edges = graph.edge_index.size(1) // 2
        train_data, val_data, _ = seed_recipe.split_graph(graph, seed=0)
        recipe = seed_recipe.SeedRecipe(train_data)

        def step() -> None:
            recipe.train()
            recipe.test(val_data)

    rss_data = peak_rss_mib()
    step()  # warm-up (builds caches)
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    rss_end = peak_rss_mib()
    return {
        "impl": spec["impl"], "nodes": nodes, "edges": int(edges), "threads": spec["threads"],
        "epoch_ms": ms(min(times)), "epoch_median_ms": ms(statistics.median(times)),
        "peak_rss_mib": round(rss_end, 1),
        "rss_after_imports_mib": round(rss_imports, 1),
        "rss_after_data_mib": round(rss_data, 1),
        "rss_interpreter_mib": round(rss_start, 1),
    }


def part_scaling(plan: Plan, threads: int) -> dict[str, Any]:
    rows = []
    for impl in ("tune_gae", "seed"):
        for edges in plan.scaling_edges:
            nodes = int(round(2 * edges / plan.scaling_degree))
            spec = {"impl": impl, "nodes": nodes, "degree": plan.scaling_degree, "epochs": plan.scaling_epochs,
                    "threads": threads}
            done = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--scaling-worker", json.dumps(spec)],
                capture_output=True, text=True, cwd=str(REPO), check=False,
            )
            if done.returncode != 0:
                log(f"scaling {impl} {edges} edges FAILED: {done.stderr.strip().splitlines()[-1:]}")
                rows.append({**spec, "edges": edges, "error": done.stderr.strip()[-500:]})
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            log(f"scaling {impl:8s} {row['edges']:>9,} edges ({nodes:,} nodes): {row['epoch_ms']:9.1f} ms/epoch, "
                f"peak RSS {row['peak_rss_mib']:.0f} MiB (after imports {row['rss_after_imports_mib']:.0f})")
    slopes = {}
    for impl in ("tune_gae", "seed"):
        points = [(r["edges"], r["epoch_ms"], r["peak_rss_mib"] - r["rss_after_imports_mib"])
                  for r in rows if r.get("impl") == impl and "error" not in r]
        big = sorted(points)[-3:]  # the three largest: small graphs are overhead-bound
        slopes[impl] = {
            "time_slope_all": _loglog_slope([(p[0], p[1]) for p in points]),
            "time_slope_largest3": _loglog_slope([(p[0], p[1]) for p in big]),
            "memory_slope_largest3": _loglog_slope([(p[0], max(p[2], 1e-3)) for p in big]),
        }
    return {"rows": rows, "slopes": slopes, "threads": threads}


def _loglog_slope(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 2:
        return None
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    denom = sum((x - mx) ** 2 for x in xs)
    return round(sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / denom, 3) if denom else None


# --------------------------------------------------------------------------- Ray helpers


_RAY_START_S: list[float] = []


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
    _RAY_START_S.append(seconds)
    log(f"Ray started in {seconds:.1f}s: {ray.cluster_resources().get('CPU', 0):g} CPUs")
    return seconds


def stop_ray() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


# --------------------------------------------------------------------------- part 5: report cost


def _trivial_trainable(config: dict[str, Any]) -> None:
    """``n`` epochs of no work that report (every ``report_every``-th epoch), checkpoint and log
    TensorBoard scalars the way ``train_trial`` does: what orchestration costs per epoch."""
    import torch
    from ray import tune

    from tune_gae.train.logger import RunLogger

    n, every, report_every = int(config["n"]), int(config["checkpoint_every"]), int(config["report_every"])
    logger = RunLogger(tempfile.mkdtemp(prefix="bench-tb-"), {"lr": 0.01}) if config["tensorboard"] else None
    state = {"w": torch.randn(32, 1433), "b": torch.randn(32), "w2": torch.randn(16, 32)}
    started = time.perf_counter()
    for i in range(1, n + 1):
        row = {"epoch": i, "loss": 0.5, "val_auc": 0.9, "val_ap": 0.9, "best_val_auc": 0.9,
               "best_val_ap": 0.9, "best_epoch": i, "epoch_seconds": 0.001, "diverged": 0}
        if logger is not None:
            logger.log_epoch(row)
        checkpoint = every and (i % every == 0 or i == n)
        if not (checkpoint or i % report_every == 0 or i == n):
            continue
        if i == n:
            row["loop_seconds"] = time.perf_counter() - started
        if checkpoint:
            with tempfile.TemporaryDirectory(prefix="bench-ckpt-") as folder:
                torch.save(state, os.path.join(folder, "trainer.pt"))
                tune.report(row, checkpoint=tune.Checkpoint.from_directory(folder))
        else:
            tune.report(row)
    if logger is not None:
        logger.close()


def part_report(plan: Plan, workdir: Path) -> dict[str, Any]:
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    start_ray()
    base = {"checkpoint_every": 0, "tensorboard": False, "report_every": 1}
    variants = [
        ("tune.report every epoch (+ JSON/CSV logger callbacks, as run_search)", base, 1),
        ("+ checkpoint every 50 epochs", {**base, "checkpoint_every": 50}, 1),
        ("+ TensorBoard scalars every epoch (RunLogger: = train_trial with --report-interval 0)",
         {**base, "checkpoint_every": 50, "tensorboard": True}, 1),
        ("same, 2 trials at once (a search on 2 CPUs)", {**base, "checkpoint_every": 50, "tensorboard": True}, 2),
        ("tune.report every 10th epoch, rest as train_trial (--report-interval 0.1 at 10 ms epochs)",
         {**base, "checkpoint_every": 50, "tensorboard": True, "report_every": 10}, 2),
    ]
    from tune_gae.search.runner import RAY_TUNE_ENV, environment

    rows = []
    with environment(RAY_TUNE_ENV):  # the driver switches run_search sets
        for i, (label, options, trials) in enumerate(variants):
            trainable = tune.with_resources(_trivial_trainable, {"cpu": 1})
            tuner = tune.Tuner(
                trainable,
                param_space={"n": plan.report_count, **options},
                tune_config=tune.TuneConfig(num_samples=trials, reuse_actors=True),
                run_config=tune.RunConfig(name=f"report-{i}", storage_path=str(workdir), verbose=0,
                                          callbacks=[JsonLoggerCallback(), CSVLoggerCallback()]),
            )
            started = time.perf_counter()
            grid = tuner.fit()
            wall = time.perf_counter() - started
            loops = [r.metrics.get("loop_seconds") for r in grid if r.metrics]
            loop = statistics.fmean(x for x in loops if x is not None)
            row = {"variant": label, "epochs": plan.report_count, "trials": trials,
                   "reports": math.ceil(plan.report_count / options["report_every"]),
                   "per_epoch_ms": ms(loop / plan.report_count), "fit_wall_s": round(wall, 2)}
            rows.append(row)
            log(f"report: {label}: {row['per_epoch_ms']:.2f} ms per epoch (fit {wall:.1f}s)")
    return {"rows": rows}


# --------------------------------------------------------------------------- part 2: search speed


SEARCH_SPACE = """\
description: |
  Benchmark: fixed GCN GAEs, only the widths vary (8 combinations).
parameters:
  model: gae
  encoder: gcn
  hidden_channels: {choice: [[32], [64], [128], [256]]}
  latent_channels: {choice: [16, 64]}
  lr: 0.01
  epochs: %d
  normalize_features: true
  dropout: 0.0
  edge_dropout: 0.0
  neg_ratio: 1
  weight_decay: 0.0
"""


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


def replays(outcome: Any, root: str, dataset: str, seed: int) -> dict[str, Any]:
    """A finished search's trials trained again without Ray, in fresh processes (Ray stopped):

    - ``pure_compute_s``: all of them one after another in ONE process: the pure training
      compute of orchestration efficiency;
    - ``side_by_side_wall_s``: the same trials on the same slots in the same order, one process
      per slot, all at once: what this machine gives for the work with no orchestration at all
      (two processes on its 2 cores share caches and memory bandwidth).
    """
    stop_ray()  # its idle processes would take CPU from the replays
    plan = _slot_plan(outcome.path, outcome.trials)
    compute = _replay([[trial for slot in plan for trial in slot]], root, dataset, seed)
    side = _replay(plan, root, dataset, seed)
    slots = int(os.cpu_count() or 1)
    result = {"pure_compute_s": round(compute, 2), "side_by_side_wall_s": round(side, 2),
              "side_by_side_slots": len(plan), "side_by_side_efficiency": round(compute / (side * slots), 3)}
    log(f"replays: the trials' epochs alone in one bare process {compute:.1f}s; on their {len(plan)} slots side "
        f"by side {side:.1f}s (efficiency ceiling {result['side_by_side_efficiency']:.2f})")
    return result


def _replay(plan: list[list[tuple[dict[str, Any], int]]], root: str, dataset: str, seed: int) -> float:
    """Wall seconds for one bare process per list of trials, all started at once."""
    workers = [
        subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--bare-slot-worker",
             json.dumps({"root": root, "dataset": dataset, "seed": seed, "trials": trials})],
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


def _slot_plan(folder: Path, rows: list[dict[str, Any]]) -> list[list[tuple[dict[str, Any], int]]]:
    """The search's trials grouped by the actor process that ran them, in the order they ran:
    [(run keys, epochs run), ...] per slot (from each trial's result.json)."""
    by_name = {row["trial"]: row for row in rows}
    slots: dict[int, list[tuple[float, dict[str, Any], int]]] = {}
    for result_file in folder.glob("trial_*/result.json"):
        lines = [json.loads(line) for line in result_file.read_text().splitlines() if line.strip()]
        row = by_name.get(result_file.parent.name)
        if lines and row:
            started = _report_time(lines[0]) - float(lines[0]["time_total_s"])
            slots.setdefault(int(lines[0]["pid"]), []).append((started, _trial_hyper(row), int(row["epochs_run"])))
    return [[(hyper, epochs) for _, hyper, epochs in sorted(trials, key=lambda t: t[0])] for trials in slots.values()]


def bare_slot_worker(spec: dict[str, Any]) -> None:
    """Runs in a subprocess: a list of trials back to back, bare (no Ray), once told to start.

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


def _trial_hyper(row: dict[str, Any]) -> dict[str, Any]:
    """The run keys of a trials.csv row (hidden widths are written "64-32" / "none")."""
    from tune_gae.config import RUN_KEYS

    hyper = {k: v for k, v in row.items() if k in RUN_KEYS and v not in (None, "")}
    if "hidden_channels" in hyper:
        value = str(hyper["hidden_channels"])
        hyper["hidden_channels"] = [] if value == "none" else [int(w) for w in value.split("-")]
    hyper.pop("seed", None)
    return hyper


def part_search(plan: Plan, root: str, workdir: Path, dataset: str) -> dict[str, Any]:
    import seed_recipe
    import torch

    from tune_gae.config import DataConfig
    from tune_gae.search.runner import run_search
    from tune_gae.search.settings import SearchSettings

    space = workdir / "bench-8-configs.yaml"
    space.write_text(SEARCH_SPACE % plan.search_epochs)
    stop_ray()  # Ray's start is part of the measured time
    started = time.perf_counter()
    ray_s = start_ray()
    settings = SearchSettings(
        space=str(space), data=DataConfig(dataset, root=root), num_samples=plan.search_configs,
        max_epochs=plan.search_epochs, scheduler="fifo", cpus_per_trial=1.0, results_dir=str(workdir),
        name="bench-search", seed=0, overwrite=True,
    )
    since = time.time() - (time.perf_counter() - started)
    outcome = run_search(settings)
    wall = time.perf_counter() - started
    timeline = _timeline(outcome.path, since)
    slots = int(os.cpu_count() or 1)
    log(f"search: tune-gae {plan.search_configs} configs x {plan.search_epochs} epochs in {wall:.1f}s "
        f"(Ray start {ray_s:.1f}s, run_search {outcome.seconds:.1f}s)")

    configs = [_trial_hyper(row) for row in outcome.trials]
    epochs_run = [int(row["epochs_run"]) for row in outcome.trials]
    bare = replays(outcome, root, dataset, settings.seed)  # stops Ray: the seed recipe runs without it too
    compute = bare["pure_compute_s"]
    torch.set_num_threads(os.cpu_count() or 1)
    seed_started = time.perf_counter()
    seed_results = []
    for hyper in configs:
        hidden = hyper["hidden_channels"][0]
        result = seed_recipe.run(root, dataset, epochs=plan.search_epochs, hidden=hidden,
                                 latent=int(hyper["latent_channels"]), seed=0)
        seed_results.append(result)
        log(f"search: seed recipe h{hidden}/l{hyper['latent_channels']}: {result['seconds']:.1f}s")
    seed_wall = time.perf_counter() - seed_started

    result = {
        "dataset": dataset, "configs": plan.search_configs, "epochs": plan.search_epochs,
        "trial_configs": [{**c, "epochs_run": e} for c, e in zip(configs, epochs_run)],
        "tune_gae_wall_s": round(wall, 2), "ray_start_s": round(ray_s, 2),
        "run_search_s": round(outcome.seconds, 2),
        "seed_wall_s": round(seed_wall, 2),
        "ratio": round(wall / seed_wall, 3),
        "parallel_slots": slots,
        **bare,
        "wall_vs_side_by_side": round(bare["side_by_side_wall_s"] / wall, 3),
        "efficiency": round(compute / (wall * slots), 3),
        "efficiency_without_ray_start": round(compute / ((wall - ray_s) * slots), 3),
        **timeline,
    }
    if timeline:
        phase = timeline["last_trial_end_s"] - timeline["first_trial_start_s"]
        result["efficiency_trial_phase"] = round(compute / (max(phase, 1.0) * slots), 3)
    log(f"search: seed recipe x{plan.search_configs} in {seed_wall:.1f}s -> ratio {result['ratio']:.3f}; "
        f"pure compute {compute:.1f}s, efficiency {result['efficiency']:.2f} "
        f"({result['efficiency_without_ray_start']:.2f} without Ray start); trials ran "
        f"{timeline.get('first_trial_start_s')}-{timeline.get('last_trial_end_s')}s, "
        f"{timeline.get('mean_trials_running')} at once on average")
    shutil.rmtree(outcome.path, ignore_errors=True)
    return result


# --------------------------------------------------------------------------- part 3: time to target


def _timeline(folder: Path, since: float) -> dict[str, Any]:
    """From each trial's result.json: when trials ran, and how many ran at once on average
    (sum of their run times / the span from the first start to the last end)."""
    spans, busy = [], 0.0
    for result_file in folder.glob("trial_*/result.json"):
        rows = [json.loads(line) for line in result_file.read_text().splitlines() if line.strip()]
        if rows:
            total = float(rows[-1].get("time_total_s", 0.0))
            end = _report_time(rows[-1]) - since
            spans.append((end - total, end))
            busy += total
    if not spans:
        return {}
    first, last = min(a for a, _ in spans), max(b for _, b in spans)
    return {"first_trial_start_s": round(first, 1), "last_trial_end_s": round(last, 1),
            "mean_trials_running": round(busy / max(last - first, 1.0), 2)}


def _report_time(row: dict[str, Any]) -> float:
    """When a trial sent a report: its own sub-second ``wall_time`` (Ray's ``timestamp`` is whole
    seconds)."""
    return float(row.get("wall_time", row["timestamp"]))


def _first_reached(folder: Path, target: float, since: float) -> float | None:
    """Seconds from ``since`` to the first report whose best val_auc so far is >= target, from each
    trial's result.json (trials report every 0.1 s and at rungs, with sub-second timestamps)."""
    first: float | None = None
    for result_file in folder.glob("trial_*/result.json"):
        for line in result_file.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                row = json.loads(line)
                if row.get("best_val_auc", 0.0) >= target:
                    at = _report_time(row) - since
                    first = at if first is None else min(first, at)
                    break
    return first


def _reached_text(first: dict[float, float | None]) -> str:
    return ", ".join(f"{t} after {f'{v:.0f}s' if v is not None else 'never'}" for t, v in first.items())


def part_target(plan: Plan, root: str, workdir: Path, dataset: str) -> dict[str, Any]:
    import optuna
    import torch

    from tune_gae.config import DataConfig, run_config_from_dict
    from tune_gae.data.split import load_split
    from tune_gae.search.catalog import resolve_space_path
    from tune_gae.search.runner import run_search
    from tune_gae.search.settings import SearchSettings
    from tune_gae.search.space import resolve_trial_config
    from tune_gae.search.space_parser import load_space
    from tune_gae.train.trainer import DivergedError, Trainer

    targets, trials, max_epochs = plan.target_aucs, plan.target_trials, plan.target_epochs
    ray_s = start_ray()
    slots = int(os.cpu_count() or 1)
    settings = SearchSettings(
        space="default", data=DataConfig(dataset, root=root), num_samples=trials, max_epochs=max_epochs,
        scheduler="asha", cpus_per_trial=1.0, results_dir=str(workdir), name="bench-target", seed=0,
        overwrite=True,
    )
    since = time.time()
    started = time.perf_counter()
    outcome = run_search(settings)
    wall = time.perf_counter() - started
    tune_first = {t: _first_reached(outcome.path, t, since) for t in targets}
    timeline = _timeline(outcome.path, since)
    best_tune = max((r["best_val_auc"] or 0.0) for r in outcome.trials)
    log(f"target: tune-gae ASHA {trials} trials in {wall:.1f}s, best val AUC {best_tune:.4f}, "
        f"reached {_reached_text(tune_first)}; trials ran "
        f"{timeline.get('first_trial_start_s')}-{timeline.get('last_trial_end_s')}s, "
        f"{timeline.get('mean_trials_running')} at once on average")

    bare = replays(outcome, root, dataset, settings.seed)  # stops Ray: plain Optuna runs without it
    compute = bare["pure_compute_s"]
    shutil.rmtree(outcome.path, ignore_errors=True)
    split = load_split(DataConfig(dataset, root=root))

    torch.set_num_threads(os.cpu_count() or 1)
    define = load_space(resolve_space_path("default")).define_by_run(max_epochs=max_epochs)
    reached: dict[float, float] = {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        hyper = {"seed": 0, **resolve_trial_config(define(trial))}
        model_config, train_config = run_config_from_dict(hyper, in_channels=split.num_features)
        trainer = Trainer(split, model_config, train_config)
        try:
            while not trainer.done:
                row = trainer.step()
                for target in targets:
                    if row["val_auc"] >= target and target not in reached:
                        reached[target] = time.perf_counter() - optuna_started
                trial.report(row["best_val_auc"], row["epoch"])
                if trial.should_prune():
                    raise optuna.TrialPruned()
        except DivergedError:
            pass
        return max(trainer.best["val_auc"], 0.0)

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0),
                                pruner=optuna.pruners.MedianPruner())
    optuna_started = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    optuna_wall = time.perf_counter() - optuna_started
    optuna_first = {t: (round(reached[t], 2) if t in reached else None) for t in targets}
    log(f"target: plain Optuna {trials} trials in {optuna_wall:.1f}s, best val AUC {study.best_value:.4f}, "
        f"reached {_reached_text(optuna_first)}")
    return {
        "dataset": dataset, "target_val_aucs": list(targets), "trials": trials, "max_epochs": max_epochs,
        "tune_gae_time_to_target_s": {str(t): v for t, v in tune_first.items()}, "tune_gae_wall_s": round(wall, 2),
        "tune_gae_best_val_auc": round(best_tune, 4), "ray_start_s": round(ray_s or (_RAY_START_S or [0])[0], 2),
        "optuna_time_to_target_s": {str(t): v for t, v in optuna_first.items()},
        "optuna_wall_s": round(optuna_wall, 2), "optuna_best_val_auc": round(study.best_value, 4),
        "asha_pure_compute_s": round(compute, 2), "parallel_slots": slots,
        "asha_efficiency": round(compute / (wall * slots), 3),
        "epochs_run_total": sum(int(r["epochs_run"]) for r in outcome.trials),
        **timeline,
        **bare,
        "wall_vs_side_by_side": round(bare["side_by_side_wall_s"] / wall, 3),
        "asha_efficiency_trial_phase": round(
            compute / (max(timeline.get("last_trial_end_s", wall) - timeline.get("first_trial_start_s", 0.0), 1.0)
                       * slots), 3),
    }


# --------------------------------------------------------------------------- output


def _targets(parts: dict[str, Any]) -> list[str]:
    """The issue's targets beside what this run measured (only for the parts that ran)."""
    rows = []
    if "epoch" in parts:
        worst = min(r["speedup"] for r in parts["epoch"]["rows"])
        rows.append(("per-epoch train+eval vs the seed recipe, equal config", ">= 4x", f"{worst:.1f}x at the least",
                     worst >= 4))
    if "search" in parts:
        ratio = parts["search"]["ratio"]
        s = parts["search"]
        rows.append((f"{s['configs']} configs x {s['epochs']} epochs vs the seed recipe {s['configs']} times "
                     "(Ray start included)", "<= 0.25",
                     f"{ratio:.3f}", ratio <= 0.25))
    if "target" in parts:
        t = parts["target"]
        ceiling = (f"; bare processes side by side, no orchestration: {t['side_by_side_efficiency']:.2f}"
                   if "side_by_side_efficiency" in t else "")
        rows.append((f"orchestration efficiency, {t['trials']}-trial ASHA search", ">= 0.85",
                     f"{t['asha_efficiency']:.2f} ({t['asha_efficiency_trial_phase']:.2f} while trials ran{ceiling})",
                     t["asha_efficiency"] >= 0.85))
        ahead = [v for v in t["target_val_aucs"]
                 if t["tune_gae_time_to_target_s"][str(v)] is not None
                 and (t["optuna_time_to_target_s"][str(v)] is None
                      or t["tune_gae_time_to_target_s"][str(v)] < t["optuna_time_to_target_s"][str(v)])]
        rows.append(("time to a validation AUC target vs plain Optuna", "before Optuna",
                     f"first at {', '.join(map(str, ahead)) if ahead else 'none'} of "
                     f"{', '.join(map(str, t['target_val_aucs']))}", len(ahead) == len(t["target_val_aucs"])))
    if not rows:
        return []
    lines = ["## Targets", "", "| what | target | this run | met |", "|---|---|---|---|"]
    lines += [f"| {what} | {goal} | {got} | {'yes' if met else '**no**'} |" for what, goal, got, met in rows]
    return lines + [""]


def _side_by_side_text(part: dict[str, Any]) -> list[str]:
    if "side_by_side_wall_s" not in part:
        return []
    return [
        f"Without any orchestration: the same trials on the same slots in the same order, in "
        f"{part['side_by_side_slots']} bare processes at once (no Ray), took {part['side_by_side_wall_s']:.1f}s. "
        f"That is the most this machine gives: efficiency **{part['side_by_side_efficiency']:.2f}** at best "
        f"(two processes on its 2 cores share caches and memory bandwidth: each trains slower than one alone). "
        f"tune-gae's wall is {1 / part['wall_vs_side_by_side']:.2f}x that.",
        "",
    ]


def write_markdown(path: Path, results: dict[str, Any]) -> None:
    m = results["machine"]
    lines = [
        "# tune-gae benchmark results",
        "",
        f"Reproduce: `{results['command']}`" + ("  (**--quick smoke check: numbers mean little**)" if results["quick"] else ""),
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable); Python {m['python']}, "
        f"torch {m['torch']}, torch_geometric {m['torch_geometric']}, ray {m['ray']}, optuna {m['optuna']}; "
        f"load average at start {', '.join(f'{x:.2f}' for x in m['load_average_start'])}, "
        f"at end {', '.join(f'{x:.2f}' for x in results['load_average_end'])}. "
        f"Ran {results['started']}, {results['seconds']:.0f} s in all.",
        "",
        "Times are the minimum over repeats of the mean over epochs (medians in results.json).",
        "",
    ]
    if results.get("keep_freed_memory"):
        lines += [
            "Every process of this run, the seed recipe's included, uses the glibc malloc settings of "
            "tune-gae's trials and CLI (`tune_gae/allocator.py`: freed tensor memory is reused, not "
            "faulted in again), so both sides are measured at equal settings.",
            "",
        ]
    parts = results["parts"]
    lines += _targets(parts)
    if "epoch" in parts:
        lines += [
            "## Per-epoch time: tune-gae vs the seed recipe (PyG examples/autoencoder.py)",
            "",
            "Seed: `train()` + `test(val)` of the script (GCNConv cached, sklearn metrics, PyG "
            "negative_sampling). tune-gae: `Trainer.step()` (train + validation, what a trial runs); "
            "its train/eval columns time `train_epoch()` and `validation_metrics()` alone.",
            "",
            "| dataset | hidden/latent | threads | seed train ms | seed eval ms | seed total ms | "
            "tune-gae train ms | tune-gae eval ms | tune-gae epoch ms | speed-up |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in parts["epoch"]["rows"]:
            lines.append(
                f"| {r['dataset']} | {r['hidden']}/{r['latent']} | {r['threads']} | {r['seed_train_ms']:.1f} | "
                f"{r['seed_eval_ms']:.1f} | {r['seed_total_ms']:.1f} | {r['ours_train_ms']:.2f} | "
                f"{r['ours_eval_ms']:.2f} | {r['ours_step_ms']:.2f} | **{r['speedup']:.1f}x** |"
            )
        lines += [
            "",
            "Target: >= 4x. Final-epoch test metrics at equal settings (GCN 32/16, lr 0.01, "
            "mean over seeds, sd in brackets); the seed's split is PyG's RandomLinkSplit, "
            "tune-gae's its own seeded split (same 85/5/10 ratios):",
            "",
            "| dataset | model | epochs x seeds | seed AUC | tune-gae AUC | seed AP | tune-gae AP | "
            "equal within noise | tune-gae selected on val (AUC/AP) | time seed / tune-gae |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in parts["epoch"]["metrics"]:
            def fmt(label: str, metric: str) -> str:
                sd = r[f"{label}_{metric}_sd"]
                return f"{r[f'{label}_{metric}']:.4f}" + (f" ({sd:.4f})" if sd is not None else "")
            equal = "yes" if r["auc_equal_within_noise"] and r["ap_equal_within_noise"] else "NO"
            lines.append(
                f"| {r['dataset']} | {r['model']} | {r['epochs']} x {r['seeds']} | {fmt('seed', 'auc')} | "
                f"{fmt('ours', 'auc')} | {fmt('seed', 'ap')} | {fmt('ours', 'ap')} | {equal} | "
                f"{r['ours_selected_auc']:.4f}/{r['ours_selected_ap']:.4f} | "
                f"{r['seed_seconds']:.1f}s / {r['ours_seconds']:.1f}s |"
            )
        lines.append("")
    if "search" in parts:
        s = parts["search"]
        lines += [
            "## Whole search: tune-gae vs the seed recipe 8 times in a row",
            "",
            f"{s['configs']} fixed configurations (widths vary) x {s['epochs']} epochs on {s['dataset']}, "
            f"FIFO, 1 CPU per trial, {s['parallel_slots']} trials at once; Ray start included.",
            "",
            "| | wall s |",
            "|---|---|",
            f"| tune-gae `run_search` (Ray start {s['ray_start_s']:.1f}s + search {s['run_search_s']:.1f}s) "
            f"| {s['tune_gae_wall_s']:.1f} |",
            f"| seed recipe, {s['configs']} runs one after another | {s['seed_wall_s']:.1f} |",
            f"| **ratio** (target <= 0.25) | **{s['ratio']:.3f}** |",
            "",
            f"Orchestration efficiency = pure training compute ({s['pure_compute_s']:.1f}s: every trial's epochs trained again "
            f"in one fresh process without Ray, a fresh Trainer per trial, 1 thread) / (wall x {s['parallel_slots']} slots) = "
            f"**{s['efficiency']:.2f}** ({s['efficiency_without_ray_start']:.2f} without Ray's start; "
            f"{s.get('efficiency_trial_phase', float('nan')):.2f} from the first trial's start to the last "
            f"trial's end, {s.get('first_trial_start_s')}-{s.get('last_trial_end_s')} s). Trials running "
            f"at once, on average: {s.get('mean_trials_running')} of {s['parallel_slots']}.",
            "",
            *_side_by_side_text(s),
        ]
    if "target" in parts:
        t = parts["target"]

        def when(value: float | None) -> str:
            return f"{value:.1f}" if value is not None else "not reached"

        first_trial = t.get("first_trial_start_s")

        lines += [
            "## Time to target",
            "",
            f"Wall time until a trial first reports validation AUC >= each target on {t['dataset']}: "
            f"{t['trials']} trials of the default space, at most {t['max_epochs']} epochs, seed 0 "
            f"(both samplers: TPE seeded 0, so both start from the same random configurations).",
            "",
            "| | " + " | ".join(f"time to {v} s" for v in t["target_val_aucs"]) + " | wall s | best val AUC |",
            "|---|" + "---|" * len(t["target_val_aucs"]) + "---|---|",
            f"| tune-gae: Ray Tune + OptunaSearch (TPE) + ASHA, {t['parallel_slots']} trials at once | "
            + " | ".join(when(t["tune_gae_time_to_target_s"][str(v)]) for v in t["target_val_aucs"])
            + f" | {t['tune_gae_wall_s']:.1f} | {t['tune_gae_best_val_auc']:.4f} |",
            "| plain Optuna: TPE + MedianPruner, one process | "
            + " | ".join(when(t["optuna_time_to_target_s"][str(v)]) for v in t["target_val_aucs"])
            + f" | {t['optuna_wall_s']:.1f} | {t['optuna_best_val_auc']:.4f} |",
            *([f"| tune-gae, counted from its first trial's start ({first_trial:.1f} s: its trial processes "
               "import torch, Ray Tune and PyG first) | "
               + " | ".join(when(None if t["tune_gae_time_to_target_s"][str(v)] is None
                                 else t["tune_gae_time_to_target_s"][str(v)] - first_trial)
                            for v in t["target_val_aucs"])
               + f" | {t['tune_gae_wall_s'] - first_trial:.1f} | |"] if first_trial is not None else []),
            "",
            f"tune-gae's times come from its trials' report times (a trial reports every 0.1 s and at every rung); Ray was already "
            f"running (its start took {t['ray_start_s']:.1f}s). Orchestration efficiency of this "
            f"{t['trials']}-trial ASHA search: {t['asha_pure_compute_s']:.1f}s pure compute (every trial's "
            f"epochs trained again in one fresh process without Ray, 1 thread) / "
            f"({t['tune_gae_wall_s']:.1f}s x {t['parallel_slots']}) = **{t['asha_efficiency']:.2f}** (target >= 0.85); "
            f"{t['asha_efficiency_trial_phase']:.2f} counting only the time trials ran "
            f"({t.get('first_trial_start_s')}-{t.get('last_trial_end_s')} s). Trials running at once, on "
            f"average: {t.get('mean_trials_running')} of {t['parallel_slots']}; {t['epochs_run_total']} epochs in all.",
            "",
            *_side_by_side_text(t),
        ]
    if "scaling" in parts:
        sc = parts["scaling"]
        lines += [
            "## Scaling with graph size",
            "",
            f"Synthetic graphs (`synthetic:nodes=N,degree={FULL.scaling_degree}`, 64 binary features), GAE 32/16, "
            f"{sc['threads']} thread(s), one fresh subprocess per size; per-epoch = train + validation; "
            f"memory = peak RSS of the process (after imports in brackets).",
            "",
            "| implementation | edges | nodes | ms / epoch | peak RSS MiB |",
            "|---|---|---|---|---|",
        ]
        for r in sc["rows"]:
            if "error" in r:
                lines.append(f"| {r['impl']} | {r['edges']:,} | {r['nodes']:,} | failed | |")
                continue
            lines.append(f"| {r['impl']} | {r['edges']:,} | {r['nodes']:,} | {r['epoch_ms']:.1f} | "
                         f"{r['peak_rss_mib']:.0f} ({r['rss_after_imports_mib']:.0f}) |")
        lines.append("")
        for impl, slope in sc["slopes"].items():
            lines.append(f"- {impl}: log-log slope of time vs edges {slope['time_slope_all']} over all sizes, "
                         f"{slope['time_slope_largest3']} over the three largest; of peak memory above "
                         f"imports {slope['memory_slope_largest3']} over the three largest (1.0 = linear)")
        lines.append("")
    if "report" in parts:
        lines += [
            "## Cost of one `tune.report` (Ray Tune function trainable)",
            "",
            "A trainable that does no training, only what train_trial does per epoch around it; "
            "ms per epoch = its loop time / epochs, as the trial sees it (the driver's work adds to that "
            "when trials compete for the CPUs). Compare with tune-gae's 3-15 ms per epoch of training.",
            "",
            "| variant | epochs | reports | trials | ms per epoch | fit wall s |",
            "|---|---|---|---|---|---|",
        ]
        for r in parts["report"]["rows"]:
            lines.append(f"| {r['variant']} | {r['epochs']} | {r['reports']} | {r['trials']} | "
                         f"{r['per_epoch_ms']:.2f} | {r['fit_wall_s']:.1f} |")
        lines.append("")
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from {', '.join(PARTS)}")
    parser.add_argument("--quick", action="store_true", help="a smoke check: tiny sizes, 2-3 minutes")
    parser.add_argument("--data-root", default=os.environ.get("TUNE_GAE_DATA", DEFAULT_DATA_ROOT),
                        help="folder holding Planetoid/<Name>/raw (default: $TUNE_GAE_DATA or /tmp/tgdata)")
    parser.add_argument("--dataset", default="Cora", help="dataset of the search and target parts")
    parser.add_argument("--target", default=None, help="validation AUC targets of the target part, comma list")
    parser.add_argument("--scaling-threads", type=int, default=1)
    parser.add_argument("--out", default=str(HERE), help="folder for results.json and RESULTS.md")
    parser.add_argument("--scaling-worker", help=argparse.SUPPRESS)
    parser.add_argument("--bare-slot-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # Every process of the run, the seed recipe's included, trains with the malloc settings that
    # tune-gae's trials and CLI use: the comparisons are at equal settings.
    from tune_gae.train.allocator import keep_freed_memory

    allocator = keep_freed_memory()

    if args.bare_slot_worker:
        bare_slot_worker(json.loads(args.bare_slot_worker))
        return 0
    if args.scaling_worker:
        print(json.dumps(scaling_worker(json.loads(args.scaling_worker))))
        return 0

    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part {unknown[0]!r}: use {', '.join(PARTS)}")
    plan = QUICK if args.quick else FULL
    if args.target is not None:
        from dataclasses import replace

        plan = replace(plan, target_aucs=tuple(float(t) for t in args.target.split(",")))
    root = str(Path(args.data_root).expanduser().resolve())
    if any(p in parts for p in ("epoch", "search", "target")) and not (Path(root) / "Planetoid" / "Cora" / "raw").is_dir():
        parser.error(f"no Planetoid raw files under {root}: pass --data-root (a writable copy of "
                     f"shared/datasets), e.g. cp -r shared/datasets/Planetoid /tmp/tgdata/")

    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    # The seed recipe's `return float(loss)` (as in PyG's script) warns on every call.
    warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad=True to a scalar")
    command = "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results: dict[str, Any] = {
        "command": command.strip(), "quick": args.quick, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine_info(), "plan": plan.__dict__, "keep_freed_memory": allocator, "parts": {},
    }
    log(f"tune-gae benchmark: parts {', '.join(parts)}{' (quick)' if args.quick else ''}; "
        f"{results['machine']['cpu']}, {results['machine']['cores']} cores")
    workdir = Path(tempfile.mkdtemp(prefix="tune-gae-bench-"))
    try:
        # Parts that need no Ray first, in the order of PARTS.
        for part in PARTS:
            if part not in parts:
                continue
            log(f"--- {part}")
            if part == "epoch":
                results["parts"]["epoch"] = part_epoch(plan, root)
            elif part == "scaling":
                results["parts"]["scaling"] = part_scaling(plan, args.scaling_threads)
            elif part == "report":
                results["parts"]["report"] = part_report(plan, workdir)
            elif part == "search":
                results["parts"]["search"] = part_search(plan, root, workdir, args.dataset)
            elif part == "target":
                results["parts"]["target"] = part_target(plan, root, workdir, args.dataset)
    finally:
        stop_ray()
        shutil.rmtree(workdir, ignore_errors=True)
    results["seconds"] = round(time.monotonic() - _T0, 1)
    results["load_average_end"] = os.getloadavg()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if args.quick else ""
    (out / f"results{suffix}.json").write_text(json.dumps(results, indent=2, default=str))
    write_markdown(out / f"RESULTS{suffix}.md", results)
    log(f"wrote {out / f'results{suffix}.json'} and {out / f'RESULTS{suffix}.md'} ({results['seconds']:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
