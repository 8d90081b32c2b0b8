"""Re-selection's pure parts: which trials are candidates, what a fresh run trains, what it costs."""
from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from tune_gae.config import DataConfig
from tune_gae.data.split import load_split
from tune_gae.search.reselect import (
    STOP_POLL_S,
    FreshRun,
    _train_in_driver,
    candidates,
    fresh_run_config,
    fresh_seeds,
    training_minutes,
)


def _row(trial: str, value: float, **extra: object) -> dict[str, object]:
    return {"trial": trial, "state": "TERMINATED", "checkpoint": f"/c/{trial}", "best_val_auc": value, **extra}


def test_candidates_are_the_top_finished_trials_with_a_checkpoint_and_a_finite_value() -> None:
    rows = [_row("a", 0.90), _row("b", 0.95), _row("c", 0.99, state="ERROR"), _row("d", 0.97, checkpoint=None),
            _row("e", math.nan), _row("f", 0.93)]
    assert [row["trial"] for row in candidates(rows, "val_auc", 2)] == ["b", "f"]


def test_fresh_seeds_are_shared_by_every_candidate_and_away_from_the_search_seed() -> None:
    assert fresh_seeds(7, 3) == [1007, 1008, 1009]


def test_a_trial_cut_by_the_time_budget_is_not_retrained_past_the_epochs_it_ran() -> None:
    config = {"epochs": 400, "lr": 0.01}
    assert fresh_run_config(config, {"stop_reason": "time budget", "epochs_run": 120}, 5) == \
        {"epochs": 120, "lr": 0.01, "seed": 5}
    assert fresh_run_config(config, {"stop_reason": "patience", "epochs_run": 120}, 5)["epochs"] == 400


def test_training_minutes_sum_each_run_s_planned_epochs_at_its_trial_s_epoch_time() -> None:
    rows = {"a": {"epoch_ms": 80.0}, "b": {"epoch_ms": 20.0}, "c": {}}
    jobs = [(FreshRun("a", 1), {"epochs": 400}), (FreshRun("a", 2), {"epochs": 400}),
            (FreshRun("b", 1), {"epochs": 300}), (FreshRun("c", 1), {"epochs": 100})]
    # 2 x 400 x 80 ms + 300 x 20 ms = 70 s; a trial without a recorded epoch time adds nothing
    assert training_minutes(jobs, rows) == pytest.approx(70 / 60)
    assert training_minutes([], rows) == 0.0


def test_a_stop_seen_by_the_poll_ends_the_runs_even_when_the_signal_s_own_interrupt_was_lost(data_root: Path) -> None:
    """A SIGTERM handler's KeyboardInterrupt raised inside a garbage collector's callback is dropped
    by Python; the driver's poll of the recorded signal still stops re-selection at once."""
    split = load_split(DataConfig("Cora", root=str(data_root))).without_test()
    hyper = {"model": "gae", "encoder": "linear", "latent_channels": 16, "epochs": 100_000, "patience": 100_000,
             "normalize_features": False}
    polls: list[float] = []

    def stopped() -> bool:
        polls.append(time.monotonic())
        return len(polls) >= 3

    began = time.monotonic()
    finished = _train_in_driver(split, [(FreshRun("t", 1), hyper), (FreshRun("t", 2), hyper)], "val_auc", 2, 1,
                                stopped)
    with pytest.raises(KeyboardInterrupt):
        next(finished)
    # Three polls STOP_POLL_S apart, then the running runs stop at their next epoch: nothing ended.
    assert len(polls) == 3 and polls[-1] - polls[0] == pytest.approx(2 * STOP_POLL_S, abs=STOP_POLL_S)
    assert time.monotonic() - began < 30
