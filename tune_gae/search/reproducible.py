"""``--reproducible``: the same seed gives the same trials and the same winner on one machine.

Without it, parallel trials end in the order the machine decides, and two things read that order:
Optuna's sampler (each suggestion sees the trials that happened to have ended) and ASHA (a trial
reaching a rung is compared with the trials that happened to reach it first). Reproducible mode
takes the order out of both:

- suggestions come in fixed batches of ``batch_size`` trials (Ray Tune's
  ``ConcurrencyLimiter(batch=True)``): the next batch is suggested once every trial of the last
  one has ended, so the sampler's history before each batch is the same set of trials. Optuna's
  TPE reads that history by trial number, not by when each trial ended, and leaves out trials
  still running, so its suggestions then depend on the seed alone;
- ``BatchedASHA`` stops trials by ASHA's rule (below the rung's top 1/reduction_factor) but
  compares a trial only with the trials of EARLIER batches at that rung, which had all ended
  before it started; trials of its own batch, which reach the rung in any order, do not count.

The price: a batch waits for its slowest trial (idle slots meanwhile), and the first batch is
never stopped by ASHA. Only the batch size must match for a rerun: it is the number of trial
slots, which ``--max-concurrent`` fixes on any machine.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ray.tune.schedulers import FIFOScheduler, TrialScheduler
from ray.tune.search import ConcurrencyLimiter, Searcher


def batched_searcher(searcher: Searcher, batch_size: int) -> ConcurrencyLimiter:
    """``searcher`` suggesting ``batch_size`` trials at a time, each batch once the last has ended."""
    return ConcurrencyLimiter(searcher, max_concurrent=batch_size, batch=True)


def rung_cutoff(values: Sequence[float], reduction_factor: int) -> float | None:
    """ASHA's cutoff at a rung: the (1 - 1/reduction_factor) quantile of the values recorded there
    (linear interpolation, as ``numpy.nanpercentile``, which Ray's ASHA uses); None without any."""
    finite = sorted(v for v in values if not math.isnan(v))
    if not finite:
        return None
    position = (1 - 1 / reduction_factor) * (len(finite) - 1)
    low = math.floor(position)
    high = min(low + 1, len(finite) - 1)
    return finite[low] + (finite[high] - finite[low]) * (position - low)


class BatchedASHA(FIFOScheduler):
    """ASHA for batched suggestions: a trial at a rung is compared with earlier batches only.

    Trials are numbered in the order Ray Tune adds them (the order of suggestions), trial ``i``
    in batch ``i // batch_size``. At the highest rung a result has reached and the trial has not
    yet been recorded at, the trial stops when its value is below the cutoff of the values that
    trials of earlier batches recorded there (none recorded: it continues), as Ray's
    ``ASHAScheduler`` decides with one bracket and ``mode="max"``.
    """

    def __init__(self, *, time_attr: str, rungs: Sequence[int], reduction_factor: int, batch_size: int) -> None:
        super().__init__()
        self._time_attr = time_attr
        self._rungs = tuple(sorted(rungs, reverse=True))
        self._reduction_factor = reduction_factor
        self._batch_size = batch_size
        self._batch: dict[str, int] = {}
        self._recorded: dict[int, dict[str, tuple[int, float]]] = {rung: {} for rung in self._rungs}

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        if mode not in (None, "max"):
            return False
        return super().set_search_properties(metric, mode, **spec)

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        self._batch.setdefault(trial.trial_id, len(self._batch) // self._batch_size)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        if self._time_attr not in result or self.metric not in result:
            return TrialScheduler.CONTINUE
        return self.decide(trial.trial_id, float(result[self._time_attr]), float(result[self.metric]))

    def decide(self, trial_id: str, time: float, value: float) -> str:
        """CONTINUE or STOP for a result of ``trial_id`` at ``time`` (epochs) with ``value``."""
        batch = self._batch.setdefault(trial_id, len(self._batch) // self._batch_size)
        for rung in self._rungs:
            recorded = self._recorded[rung]
            if time < rung or trial_id in recorded:
                continue
            earlier = [v for b, v in recorded.values() if b < batch]
            recorded[trial_id] = (batch, value)
            cutoff = rung_cutoff(earlier, self._reduction_factor)
            return TrialScheduler.STOP if cutoff is not None and value < cutoff else TrialScheduler.CONTINUE
        return TrialScheduler.CONTINUE

    def debug_string(self) -> str:
        return f"BatchedASHA: batches of {self._batch_size}, rungs {sorted(self._rungs)}"
