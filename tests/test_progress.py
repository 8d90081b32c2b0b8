"""The live view's lines, and its cost per line in a search of thousands of trials."""
from __future__ import annotations

from typing import Any

from tune_gae.search.progress import ProgressView


class _Trial:
    """What the view reads of a Ray Tune trial; counts reads of ``last_result`` (a Ray property
    that builds a set on every read)."""

    def __init__(self, trial_id: str, status: str, last_result: dict[str, Any] | None = None) -> None:
        self.trial_id, self.status, self._last = trial_id, status, last_result or {}
        self.reads = 0

    @property
    def last_result(self) -> dict[str, Any]:
        self.reads += 1
        return self._last


def test_a_line_per_ended_trial_counts_and_names_the_best_including_trials_ended_before_a_resume() -> None:
    lines: list[str] = []
    view = ProgressView(lines.append, "val_auc", num_samples=4)
    restored = _Trial("r0", "TERMINATED", {"best_val_auc": 0.95, "epoch": 30})  # ended before the resume
    a, b = _Trial("a1", "RUNNING"), _Trial("b2", "RUNNING")
    trials = [restored, a, b, _Trial("c3", "PENDING")]
    view.on_result(a, {"best_val_auc": 0.91, "epoch": 10}, trials)
    view.on_end(a, trials, "done")
    assert lines[-1].startswith("  trial_a1 done after 10 epochs, val_auc 0.9100.")
    assert lines[-1].endswith("2/4 done, 1 running, best val_auc 0.9500 (trial_r0)")


def test_an_ended_trial_is_forgotten_and_saved_results_are_read_once_not_per_line() -> None:
    lines: list[str] = []
    view = ProgressView(lines.append, "val_auc", num_samples=1000)
    trials = [_Trial(f"t{i}", "TERMINATED", {"best_val_auc": 0.5}) for i in range(500)]
    for i in range(500, 1000):
        trial = _Trial(f"t{i}", "RUNNING")
        trials.append(trial)
        view.on_result(trial, {"best_val_auc": 0.6, "epoch": 10}, trials)
        trial.status = "TERMINATED"  # Ray marks it after the callback; the view counts it as ended
        view.on_end(trial, trials, "done")
    assert lines[-1].endswith("1000/1000 done, 0 running, best val_auc 0.6000 (trial_t500)")
    assert view.last == {}  # no result kept for a trial that ended
    # The 500 saved results were read once (the first line), not once per line (250,000 reads).
    assert sum(t.reads for t in trials[:500]) == 500
