"""tune_gae.search.driver_memory: freed memory handed back once every N ended trials."""
from __future__ import annotations

from tune_gae.search.driver_memory import ReleaseFreedMemory


def test_released_once_every_n_ended_trials_completed_or_errored() -> None:
    callback = ReleaseFreedMemory(every=100)
    for number in range(250):
        hook = callback.on_trial_error if number % 7 == 0 else callback.on_trial_complete
        hook(iteration=number, trials=[], trial=None)
    assert (callback.ended, callback.releases) == (250, 2)
