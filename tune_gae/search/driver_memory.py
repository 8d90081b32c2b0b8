"""The search driver's memory over thousands of trials: freed memory goes back to the OS.

Every trial leaves the driver small allocations that come and go (Ray's results and snapshots,
Optuna's storage rows, the progress view). glibc keeps the freed pages between live chunks, so
the driver's resident memory grew ~84 KB per trial on Cora smoke trials, about half of it pages
nothing used any more (benchmarks/notes/driver-load.md). Every ``RELEASE_EVERY_TRIALS`` ended
trials, ``release_freed_memory`` hands them back (a few ms).
"""
from __future__ import annotations

from typing import Any

from ray.tune import Callback

from tune_gae.train.allocator import release_freed_memory

RELEASE_EVERY_TRIALS = 100


class ReleaseFreedMemory(Callback):
    """Calls ``release_freed_memory`` once every ``every`` trials that ended (completed or errored)."""

    def __init__(self, every: int = RELEASE_EVERY_TRIALS) -> None:
        self.every = every
        self.ended = 0
        self.releases = 0

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._ended()

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._ended()

    def _ended(self) -> None:
        self.ended += 1
        if self.ended % self.every == 0:
            release_freed_memory()
            self.releases += 1
