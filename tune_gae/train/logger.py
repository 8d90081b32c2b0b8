"""TensorBoard event files for one run: per-epoch scalars plus, for a single run, an HParams entry.

The HParams entry is written into the run's own event file (not a sub-run, as
``SummaryWriter.add_hparams`` does), so TensorBoard shows the run once, with its curves and its
row in the HParams tab. A search's trials log curves only: the driver writes their HParams
entries once it knows how each trial ended (``tune_gae.search.board``).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tensorboard.compat.proto.summary_pb2 import Summary
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from tune_gae.rules import VALIDATION_METRICS

SCALARS = ("loss", *VALIDATION_METRICS)


def hparam_value(value: Any) -> bool | int | float | str:
    """TensorBoard takes bool/number/str: lists (hidden widths) become "64-32"."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return "-".join(str(v) for v in value) or "none"
    return str(value)


class RunLogger:
    """Writes one run's curves and, at the end, its hyperparameters with final metrics
    (``hyperparameters=None``: curves only)."""

    def __init__(
        self, log_dir: str | Path, hyperparameters: Mapping[str, Any] | None, *, purge_step: int | None = None
    ) -> None:
        self.log_dir = Path(log_dir)
        self.hyperparameters = None if hyperparameters is None else {
            k: hparam_value(v) for k, v in hyperparameters.items()}
        self.writer = SummaryWriter(str(self.log_dir), purge_step=purge_step)
        self.last_epoch = 0
        if self.hyperparameters is not None:
            # Declare the HParams experiment up front so a run stopped early still shows in the tab.
            self._write_hparams({f"hparams/best_{name}": 0.0 for name in VALIDATION_METRICS}, declare_only=True)

    def log_epoch(self, row: Mapping[str, float]) -> None:
        """One event holding the epoch's scalars (3x less CPU than an ``add_scalar`` each: at
        3-10 ms epochs, three ``add_scalar`` calls cost 3-8 % of a trial)."""
        values = [Summary.Value(tag=key, simple_value=float(row[key])) for key in SCALARS if key in row]
        self.last_epoch = int(row["epoch"])
        self.writer._get_file_writer().add_summary(Summary(value=values), self.last_epoch)

    def finish(self, metrics: Mapping[str, float]) -> None:
        """Record final metrics (e.g. best_val_auc, test_auc) against the hyperparameters."""
        if self.hyperparameters is not None:
            self._write_hparams({f"hparams/{k}": float(v) for k, v in metrics.items() if v is not None})
        self.writer.close()

    def close(self) -> None:
        self.writer.close()

    def _write_hparams(self, metrics: dict[str, float], declare_only: bool = False) -> None:
        exp, start, end = hparams(self.hyperparameters, metrics)
        file_writer = self.writer._get_file_writer()
        file_writer.add_summary(exp)
        file_writer.add_summary(start)
        file_writer.add_summary(end)
        if not declare_only:  # at the last epoch, not a column of dots at step 0
            for key, value in metrics.items():
                self.writer.add_scalar(key, value, self.last_epoch)
        self.writer.flush()
