"""The only Ray-aware training code: one Tune trial = one ``Trainer`` driven epoch by epoch.

Every epoch goes to TensorBoard; to Ray Tune a trial reports at every checkpoint (every ASHA
rung, every ``checkpoint_every`` epochs, the last epoch) and otherwise at most every
``report_interval_s`` seconds (0: every epoch). Reports carry the epoch (ASHA's time unit) and
the best validation metrics so far, so skipped epochs lose nothing that selection uses, and a
trial stopped by ASHA or retried after a crash keeps its best-validation weights and continues
where it was.

A trial whose loss turns NaN/inf, or whose best weights embed nodes as inf/NaN, ends itself
(``diverged=1``) instead of raising: Ray would retry it, and it would diverge again.
"""
from __future__ import annotations

import math
import os
import platform
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune

from tune_gae.config import run_config_from_dict
from tune_gae.data.split import LinkSplit, encode_for_run
from tune_gae.errors import TuneGAEError
from tune_gae.nn.encoders import prepare_features
from tune_gae.rules import VALIDATION_METRICS
from tune_gae.search.board import run_name
from tune_gae.search.results import CHECKPOINT_FILE
from tune_gae.search.space import resolve_trial_config
from tune_gae.train.allocator import keep_freed_memory
from tune_gae.train.logger import RunLogger
from tune_gae.train.trainer import DivergedError, Trainer


@dataclass(frozen=True)
class TrialSettings:
    """What every trial of one search shares (shipped once, with the split, by the driver)."""

    metric: str  # "val_auc" or "val_ap": selects the best-validation weights
    tensorboard_dir: str  # absolute: <results>/<name>/tensorboard
    seed: int
    cpus_per_trial: float
    gpus_per_trial: float
    checkpoint_every: int
    report_interval_s: float = 0.0  # at most this long between reports; 0: every epoch
    checkpoint_epochs: tuple[int, ...] = ()  # ASHA rungs: a checkpoint lands where a trial may stop


def trial_copy(split: LinkSplit) -> LinkSplit:
    """What a search ships to its trials: no test edge, features already in the layout trials
    train on (CSR when mostly zeros). Every trial unpickles it: Cora's dense features are
    15.6 MB (10 ms per trial), as CSR 0.6 MB."""
    return replace(split.without_test(), x=prepare_features(split.x, normalize=False))


def train_trial(config: dict[str, Any], *, split: LinkSplit, settings: TrialSettings) -> None:
    """Ray Tune function trainable. ``split`` carries no test edges (see ``trial_copy``)."""
    if split.test_pos is not None or split.test_neg is not None:
        raise ValueError("trials must not receive test edges: ship trial_copy(split).")
    keep_freed_memory()  # this actor's epochs reuse freed tensor memory instead of faulting it in
    torch.set_num_threads(max(1, int(settings.cpus_per_trial)))
    if settings.gpus_per_trial > 0 and not torch.cuda.is_available():  # never a quiet fall-back to the CPU
        raise TuneGAEError(
            f"this trial was given {settings.gpus_per_trial:g} GPU but torch {torch.__version__} on "
            f"{platform.node()} cannot use CUDA: install a CUDA build of torch on the GPU nodes, or use "
            f"--gpus-per-trial 0."
        )
    device = torch.device("cuda" if settings.gpus_per_trial > 0 else "cpu")
    split, hyper = encode_for_run(split, {"seed": settings.seed, **resolve_trial_config(config)})
    model_config, train_config = run_config_from_dict(hyper, in_channels=split.num_features)
    trainer = Trainer(split, model_config, train_config, device=device, metric=settings.metric)

    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            state = torch.load(Path(folder) / CHECKPOINT_FILE, map_location=device, weights_only=True)
        trainer.load_state_dict(state)

    context = tune.get_context()
    logger = RunLogger(  # curves only: the driver writes the HParams entry once the trial ended
        Path(settings.tensorboard_dir) / run_name(context.get_trial_name(), resolve_trial_config(config)),
        None,
        # From the epoch this attempt starts at: a retry that found no checkpoint starts at 1 and
        # must hide what an earlier attempt logged (else TensorBoard shows those epochs twice).
        purge_step=trainer.epoch + 1,
    )
    rungs = set(settings.checkpoint_epochs)
    node_id = ray.get_runtime_context().get_node_id()
    costs = TrialCosts(trainer)
    last_report = -math.inf
    try:
        while not trainer.done:
            try:
                row = trainer.step()
                if trainer.done and not trainer.best_is_finite():
                    raise DivergedError(f"the best weights embed nodes as inf/NaN after epoch {trainer.epoch}")
            except DivergedError:
                # Stop this trial for good (a retry would diverge again); keep its best so far.
                tune.report({**_diverged_row(trainer), **costs.row(), "node_id": node_id}, checkpoint=None)
                return
            logger.log_epoch(row)
            costs.add(row["epoch_seconds"])
            row.update(costs.row())  # the cost objectives of --objectives (rules.COST_OBJECTIVES)
            row["diverged"] = 0
            row["node_id"] = node_id  # where this epoch ran (trials move after node failures)
            row["wall_time"] = time.time()  # Ray overwrites "timestamp" with whole seconds; reports come faster
            epoch = trainer.epoch
            now = time.monotonic()
            if trainer.done or epoch in rungs or epoch % settings.checkpoint_every == 0:
                _report_with_checkpoint(row, trainer)
                last_report = now
            elif now - last_report >= settings.report_interval_s:
                tune.report(row)
                last_report = now
    finally:
        logger.close()


class TrialCosts:
    """What a trial costs, reported with every result (``rules.COST_OBJECTIVES``): mean ms per
    epoch (training step + validation) of this attempt, the model's parameter count and its
    embedding width."""

    def __init__(self, trainer: Trainer) -> None:
        self.parameters = sum(p.numel() for p in trainer.model.parameters())
        self.embedding_dim = trainer.model_config.embedding_dim
        self.seconds, self.epochs = 0.0, 0

    def add(self, epoch_seconds: float) -> None:
        self.seconds += epoch_seconds
        self.epochs += 1

    def row(self) -> dict[str, float]:
        return {"epoch_ms": 1000.0 * self.seconds / self.epochs if self.epochs else math.nan,
                "parameters": self.parameters, "embedding_dim": self.embedding_dim}


def _report_with_checkpoint(row: dict[str, Any], trainer: Trainer) -> None:
    with tempfile.TemporaryDirectory(prefix="tune-gae-ckpt-") as folder:
        state = trainer.state_dict()
        state["model_config"] = trainer.model_config.to_dict()
        torch.save(state, os.path.join(folder, CHECKPOINT_FILE))
        tune.report(row, checkpoint=tune.Checkpoint.from_directory(folder))


def _diverged_row(trainer: Trainer) -> dict[str, Any]:
    """The last report of a diverged trial: its best so far when that is a usable model, else 0."""
    usable = trainer.best_is_finite()
    return {
        # A NaN loss stops step() before it counts the epoch; a bad best is found after.
        "epoch": trainer.epoch if trainer.done else trainer.epoch + 1,
        "loss": math.nan,
        **{name: 0.0 for name in VALIDATION_METRICS},
        **{f"best_{name}": trainer.best[name] if usable else 0.0 for name in VALIDATION_METRICS},
        "best_epoch": trainer.best["epoch"] if usable else 0,
        "diverged": 1,
    }
