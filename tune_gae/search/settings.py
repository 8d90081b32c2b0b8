"""What one search is asked to do (``SearchSettings``) and what it returns (``SearchOutcome``)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tune_gae.config import DataConfig
from tune_gae.errors import TuneGAEError

if TYPE_CHECKING:  # tune_gae.data imports torch + PyG: seconds that a refused search must not pay
    pass


METRICS = ("val_auc", "val_ap")


SCHEDULERS = ("asha", "fifo")


# Seconds between a trial's reports to Ray Tune (besides those at checkpoints, ASHA rungs and
# its last epoch). One report is a round trip through the driver, ~3 ms on 2 busy CPUs: more
# than a Cora epoch (2-10 ms), so reporting every epoch would cost a third of a search.
REPORT_INTERVAL_S = 0.1


Echo = Callable[[str], None]


class SearchInterrupted(Exception):
    """The search stopped before all its trials finished (Ctrl-C); its state is saved to resume."""

    def __init__(self, path: Path, finished: int | None, total: int) -> None:
        self.path, self.finished, self.total = path, finished, total
        done = f" with {finished} of {total} trials finished" if finished is not None else ""
        super().__init__(
            f"search stopped{done}; its state is saved. Continue it with: tune-gae resume {path}"
        )


@dataclass(frozen=True)
class SearchSettings:
    """Everything one search needs; recorded in ``search.json`` so it can be resumed."""

    space: str = "default"
    data: DataConfig = field(default_factory=DataConfig)
    num_samples: int = 24
    max_epochs: int = 400
    grace_period: int = 20
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

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise TuneGAEError(f"--metric must be one of {', '.join(METRICS)} but got {self.metric!r}.")
        if self.scheduler not in SCHEDULERS:
            raise TuneGAEError(f"--scheduler must be one of {', '.join(SCHEDULERS)} but got {self.scheduler!r}.")
        for name in ("num_samples", "max_epochs", "grace_period", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise TuneGAEError(f"--{name.replace('_', '-')} must be at least 1 but got {getattr(self, name)}.")
        if self.reduction_factor < 2:
            raise TuneGAEError(f"--reduction-factor must be at least 2 but got {self.reduction_factor}.")
        if self.grace_period > self.max_epochs:
            raise TuneGAEError(
                f"--grace-period ({self.grace_period}) cannot exceed --max-epochs ({self.max_epochs})."
            )
        if self.cpus_per_trial <= 0:
            raise TuneGAEError(f"--cpus-per-trial must be positive but got {self.cpus_per_trial}.")
        if self.gpus_per_trial < 0:
            raise TuneGAEError(f"--gpus-per-trial cannot be negative but got {self.gpus_per_trial}.")
        if self.gpus_per_trial > 1 and self.gpus_per_trial != int(self.gpus_per_trial):
            raise TuneGAEError(
                f"--gpus-per-trial above 1 must be a whole number but got {self.gpus_per_trial}."
            )
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise TuneGAEError(f"--max-concurrent must be at least 1 but got {self.max_concurrent}.")
        if self.max_failures < 0:
            raise TuneGAEError(f"--max-failures cannot be negative but got {self.max_failures}.")
        if self.report_interval_s < 0:
            raise TuneGAEError(f"--report-interval cannot be negative but got {self.report_interval_s}.")

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
    seconds: float


# --------------------------------------------------------------------------- helpers


def asha_rungs(grace_period: int, reduction_factor: int, max_t: int) -> tuple[int, ...]:
    """The epochs at which ASHA may stop a trial: grace * rf^k below max_t."""
    rungs, t = [], grace_period
    while t < max_t:
        rungs.append(t)
        t *= reduction_factor
    return tuple(rungs)
