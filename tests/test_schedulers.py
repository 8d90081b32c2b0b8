"""tune_gae.search.schedulers: a freed actor goes to the newest pending trial, so every slot runs trials."""
from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest
from ray.tune.experiment import Trial

from tune_gae import DataConfig, SearchSettings, run_search
from tune_gae.search.schedulers import newest_pending_trial


def _trials(*statuses: str) -> list[Trial]:
    trials = []
    for number, status in enumerate(statuses):
        trial = Trial("fn", stub=True, trial_id=f"t{number}")
        trial.set_status(status)
        trials.append(trial)
    return trials


def test_the_newest_pending_trial_is_chosen_then_the_oldest_paused_then_none() -> None:
    trials = _trials(Trial.TERMINATED, Trial.PENDING, Trial.RUNNING, Trial.PENDING, Trial.TERMINATED)
    assert newest_pending_trial(trials).trial_id == "t3"  # Ray's FIFO would take t1, whose actor may be starting
    trials = _trials(Trial.TERMINATED, Trial.PAUSED, Trial.RUNNING, Trial.PAUSED)
    assert newest_pending_trial(trials).trial_id == "t1"  # paused ones keep Ray's order
    assert newest_pending_trial(_trials(Trial.TERMINATED, Trial.RUNNING, Trial.ERROR)) is None


@pytest.mark.slow
def test_a_search_of_short_trials_runs_them_on_both_trial_slots(ray_session: None, tmp_path: Path) -> None:
    """Trials far shorter than a trial process's start: with Ray's FIFO choice they all ran in the
    first process to start, while the second slot started processes that were killed."""
    space = tmp_path / "space.yaml"
    space.write_text("parameters:\n  model: gae\n  hidden_channels: [16]\n  latent_channels: 8\n"
                     "  lr: {loguniform: [0.005, 0.02]}\n  epochs: 5\n  patience: 0\n  normalize_features: false\n")
    run_search(SearchSettings(space=str(space), data=DataConfig("synthetic:nodes=300"), num_samples=60, max_epochs=5,
                              scheduler="fifo", reselect_top=0, results_dir=str(tmp_path), name="short",
                              report_interval_s=0.0))
    processes = collections.Counter()
    for result in (tmp_path / "short").glob("trial_*/result.json"):
        processes[json.loads(result.read_text().splitlines()[0])["pid"]] += 1
    assert sum(processes.values()) == 60
    assert len(processes) == 2, processes  # the two slots of the shared Ray (num_cpus=2), each one process
