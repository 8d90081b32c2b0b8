"""What one search is asked to do (``SearchSettings``) and what it returns (``SearchOutcome``)."""
from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tune_gae.config import DataConfig
from tune_gae.errors import TuneGAEError
from tune_gae.rules import COST_OBJECTIVES, SEARCH_RULES, VALIDATION_METRICS, parse_objectives

METRICS = VALIDATION_METRICS  # what Optuna and ASHA may select and stop on
SCHEDULERS = ("asha", "fifo")


# Seconds between a trial's reports to Ray Tune (besides those at checkpoints, ASHA rungs and
# its last epoch). One report is a round trip through the driver, ~3 ms on 2 busy CPUs: more
# than a Cora epoch (2-10 ms), so reporting every epoch would cost a third of a search.
REPORT_INTERVAL_S = 0.1
DEFAULT_GRACE_PERIOD = 20  # epochs every trial runs before ASHA may stop it
# Settings whose command-line flag is not the field name.
FLAGS = {"time_budget_s": "time_budget", "report_interval_s": "report_interval"}


# Re-selection before export (tune_gae.search.reselect): the top trials re-trained with this many
# fresh seeds each; on the README's Cora search it adds 9 short runs over the free slots.
RESELECT_TOP = 3
RESELECT_SEEDS = 3


Echo = Callable[[str], None]


class SearchInterrupted(Exception):
    """The search stopped before all its trials finished (Ctrl-C, SIGTERM, SIGHUP); its state is
    saved to resume (``path`` is None when it stopped before its first trial)."""

    def __init__(self, path: Path | None, finished: int | None, total: int,
                 stopped_by: signal.Signals = signal.SIGINT) -> None:
        self.path, self.finished, self.total, self.stopped_by = path, finished, total, stopped_by
        if path is None:
            message = "search stopped before its first trial; nothing to resume."
        else:
            done = f" with {finished} of {total} trials finished" if finished is not None else ""
            message = f"search stopped{done}; its state is saved. Continue it with: tune-gae resume {path}"
        super().__init__(message)


@dataclass(frozen=True)
class SearchSettings:
    """Everything one search needs; recorded in ``search.json`` so it can be resumed."""

    space: str = "default"
    data: DataConfig = field(default_factory=DataConfig)
    num_samples: int = 24
    max_epochs: int = 400
    grace_period: int | None = None  # None: min(DEFAULT_GRACE_PERIOD, max_epochs)
    reduction_factor: int = 3
    metric: str = "val_auc"
    scheduler: str = "asha"
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int | None = None
    address: str | None = None
    name: str | None = None
    results_dir: str = "results"
    seed: int = 0
    checkpoint_every: int = 50
    max_failures: int = 2
    overwrite: bool = False
    time_budget_s: float | None = None  # stop starting/running trials after this long
    report_interval_s: float = REPORT_INTERVAL_S  # 0: report every epoch to Ray Tune
    keep_checkpoints: bool = False  # keep every trial's last checkpoint, not only the winners'
    reselect_top: int = RESELECT_TOP  # 0 (or reselect_seeds 0): export the single best trial
    reselect_seeds: int = RESELECT_SEEDS
    # Suggestions in fixed batches and ASHA against earlier batches only (tune_gae.search.reproducible):
    # the same seed gives the same trials and winner on one machine.
    reproducible: bool = False
    storage: str | None = None  # the Optuna study's SQLAlchemy URL; None: study.db in the search folder
    warm_start: str | None = None  # an earlier search folder (or URL#study) whose trials seed this one
    # Multi-objective (``--objectives val_auc,epoch_ms``): a validation metric, then a cost
    # (rules.COST_OBJECTIVES); the first becomes ``metric`` (ASHA, export). None: one objective.
    objectives: tuple[str, ...] | None = None

    @property
    def reselects(self) -> bool:
        """Whether the top trials are re-trained with fresh seeds before export."""
        return self.reselect_top > 0 and self.reselect_seeds > 0

    def __post_init__(self) -> None:
        if self.objectives is not None:
            object.__setattr__(self, "objectives", parse_objectives(self.objectives))
            object.__setattr__(self, "metric", self.objectives[0])
            if self.warm_start is not None:
                raise TuneGAEError("--warm-start seeds a single-objective study, so it cannot start a search with "
                                   "--objectives: drop either.")
        if self.metric not in METRICS:
            raise TuneGAEError(f"--metric must be one of {', '.join(METRICS)} but got {self.metric!r}.")
        if self.scheduler not in SCHEDULERS:
            raise TuneGAEError(f"--scheduler must be one of {', '.join(SCHEDULERS)} but got {self.scheduler!r}.")
        for name, rule in SEARCH_RULES.items():
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, rule.check(FLAGS.get(name, name), value, flag=True))
        if self.grace_period is None:  # the rule: 20 epochs, or all of them when fewer are allowed
            object.__setattr__(self, "grace_period", min(DEFAULT_GRACE_PERIOD, self.max_epochs))
        if self.grace_period > self.max_epochs:
            raise TuneGAEError(
                f"--grace-period ({self.grace_period}) cannot exceed --max-epochs ({self.max_epochs})."
            )
        if self.reproducible and self.time_budget_s is not None:
            raise TuneGAEError(
                "--time-budget stops trials when the clock says, so a --reproducible search cannot have one: drop either."
            )
        if self.gpus_per_trial > 1 and self.gpus_per_trial != int(self.gpus_per_trial):
            raise TuneGAEError(
                f"--gpus-per-trial above 1 must be a whole number but got {self.gpus_per_trial}."
            )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> SearchSettings:
        values = dict(values)
        values["data"] = DataConfig(**values["data"])
        return cls(**values)


@dataclass(frozen=True)
class SearchOutcome:
    """Where a finished search lives and how it went."""

    path: Path
    best_trial: str | None
    best: dict[str, Any]
    trials: list[dict[str, Any]]
    split_hash: str
    seconds: float  # running time over all the search's segments (first run and resumes)
    already_finished: bool = False  # resume found nothing left to run
    winner: str | None = None  # the exported trial: the re-selection's winner, else best_trial


# --------------------------------------------------------------------------- helpers


def study_objectives(settings: SearchSettings) -> tuple[str | list[str], str | list[str]]:
    """The metric(s) and mode(s) Optuna's study optimises: the best ``metric`` so far (maximised),
    then with ``objectives`` the cost each trial reports, in its ``rules.COST_OBJECTIVES`` direction."""
    if settings.objectives is None:
        return f"best_{settings.metric}", "max"
    first, cost = settings.objectives
    return [f"best_{first}", cost], ["max", COST_OBJECTIVES[cost]]


def objectives_line(settings: SearchSettings) -> str | None:
    """The banner's line for a multi-objective search."""
    if settings.objectives is None:
        return None
    first, cost = settings.objectives
    way = {"min": "minimise", "max": "maximise"}[COST_OBJECTIVES[cost]]
    return (f"Objectives: maximise {first}, {way} {cost} (Optuna's multi-objective sampling); ASHA stops "
            f"and export selects on {first}.")


def asha_rungs(grace_period: int, reduction_factor: int, max_t: int) -> tuple[int, ...]:
    """The epochs at which ASHA may stop a trial: grace * rf^k below max_t."""
    rungs, t = [], grace_period
    while t < max_t:
        rungs.append(t)
        t *= reduction_factor
    return tuple(rungs)


def search_rungs(settings: SearchSettings) -> tuple[int, ...]:
    """The epochs where this search's scheduler may stop a trial (none without ASHA)."""
    if settings.scheduler != "asha":
        return ()
    return asha_rungs(settings.grace_period, settings.reduction_factor, settings.max_epochs)
