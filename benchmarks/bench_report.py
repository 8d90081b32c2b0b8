"""The cost of one ``tune.report`` in a Ray Tune function trainable: a trivial trainable
reporting N times, alone, with checkpoints, with a TensorBoard writer."""
from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from common import Context, columns, log, ms, start_ray

PART = "report"
ORDER = 30
NEEDS_PLANETOID = False
FULL_EPOCHS, QUICK_EPOCHS = 300, 50


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


def run(ctx: Context) -> dict[str, Any]:
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    from tune_gae.search.runner import RAY_TUNE_ENV, environment

    count = ctx.pick(FULL_EPOCHS, QUICK_EPOCHS)
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
    rows = []
    with environment(RAY_TUNE_ENV):  # the driver switches run_search sets
        for i, (label, options, trials) in enumerate(variants):
            trainable = tune.with_resources(_trivial_trainable, {"cpu": 1})
            tuner = tune.Tuner(
                trainable,
                param_space={"n": count, **options},
                tune_config=tune.TuneConfig(num_samples=trials, reuse_actors=True),
                run_config=tune.RunConfig(name=f"report-{i}", storage_path=str(Path(ctx.workdir)), verbose=0,
                                          callbacks=[JsonLoggerCallback(), CSVLoggerCallback()]),
            )
            started = time.perf_counter()
            grid = tuner.fit()
            wall = time.perf_counter() - started
            loops = [r.metrics.get("loop_seconds") for r in grid if r.metrics]
            loop = statistics.fmean(x for x in loops if x is not None)
            row = {"variant": label, "epochs": count, "trials": trials,
                   "reports": math.ceil(count / options["report_every"]),
                   "per_epoch_ms": ms(loop / count), "fit_wall_s": round(wall, 2)}
            rows.append(row)
            log(f"report: {label}: {row['per_epoch_ms']:.2f} ms per epoch (fit {wall:.1f}s)")
    return {"rows": rows}


def targets(result: dict[str, Any]) -> list:
    return []


COLUMNS = (
    ("variant", lambda r: r["variant"]),
    ("epochs", lambda r: r["epochs"]),
    ("reports", lambda r: r["reports"]),
    ("trials", lambda r: r["trials"]),
    ("ms per epoch", lambda r: f"{r['per_epoch_ms']:.2f}"),
    ("fit wall s", lambda r: f"{r['fit_wall_s']:.1f}"),
)


def markdown(result: dict[str, Any]) -> list[str]:
    return [
        "## Cost of one `tune.report` (Ray Tune function trainable)",
        "",
        "A trainable that does no training, only what train_trial does per epoch around it; "
        "ms per epoch = its loop time / epochs, as the trial sees it (the driver's work adds to that "
        "when trials compete for the CPUs). Compare with tune-gae's 3-15 ms per epoch of training.",
        "",
        *columns(COLUMNS, result["rows"]),
    ]
