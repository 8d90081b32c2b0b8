"""Ray Tune's FIFO and ASHA schedulers, handing a free actor to the NEWEST pending trial.

Ray Tune requests a new actor (a process that imports torch and PyG: seconds) for a pending
trial as soon as a trial slot is free. When a running trial ends first, its actor is reused for
the trial the scheduler chooses, and if that trial's own actor is still starting, the starting
one is killed. Ray's ``FIFOScheduler.choose_trial_to_run`` (ASHA's too) chooses the OLDEST
pending trial, which is exactly the one whose actor holds the free slot. With trials shorter
than a process start (ASHA's early stops, short searches), a search then keeps ONE actor busy
while the other slots start processes and kill them, again and again: seen on 2 cores, 10-epoch
trials all ran in one process while a new one was started every ~4 s and killed.

Choosing the newest pending trial gives the freed actor to a trial whose own actor has not
started (it waits for a slot), so the starting actor lives and every slot runs trials. The
choice is as idempotent as Ray's, and finds a pending trial at the end of the trial list
without scanning every trial that has ended.
"""
from __future__ import annotations

from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler


def newest_pending_trial(trials: list[Trial]) -> Trial | None:
    """The newest PENDING trial; else the oldest PAUSED one (Ray's order for those); else None."""
    for trial in reversed(trials):
        if trial.status == Trial.PENDING:
            return trial
    for trial in trials:
        if trial.status == Trial.PAUSED:
            return trial
    return None


class NewestPendingFirst:
    """Mixin for a Ray Tune scheduler: hand a free actor to the newest pending trial (module docstring)."""

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        return newest_pending_trial(tune_controller.get_trials())


class NewestFirstFIFO(NewestPendingFirst, FIFOScheduler):
    """Ray's ``FIFOScheduler``, newest pending trial first."""


class NewestFirstASHA(NewestPendingFirst, ASHAScheduler):
    """Ray's ASHA (its stopping rule unchanged), newest pending trial first."""
