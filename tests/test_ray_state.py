"""What tune_gae.search.ray_state reads and trims of Ray Tune's bookkeeping, checked against Ray itself."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tune_gae.search.ray_state import newest_snapshot, trial_statuses, trim_metric_stats, without_trial_dataframes


@pytest.mark.slow
def test_statuses_read_as_json_are_those_ray_reads_back(smoke_search: Path) -> None:
    from ray.tune import ExperimentAnalysis

    analysis = ExperimentAnalysis(str(smoke_search))
    expected = {Path(trial.path).name: trial.status for trial in analysis.trials}
    assert len(expected) == 4 and set(expected.values()) == {"TERMINATED"}
    assert trial_statuses(smoke_search) == expected
    assert newest_snapshot(smoke_search) == Path(analysis._experiment_json_fs_path)


def test_the_newest_snapshot_wins_and_none_saved_reads_as_no_trial(tmp_path: Path) -> None:
    assert trial_statuses(tmp_path) == {}

    def snapshot(session: str, status: str) -> None:
        trial = json.dumps({"trial_id": "aaaa0001", "relative_logdir": "trial_aaaa0001", "status": status})
        (tmp_path / f"experiment_state-{session}.json").write_text(json.dumps({"trial_data": [[trial, "{}"]]}))

    snapshot("2026-12-05_20-17-43", "RUNNING")
    snapshot("2026-12-05_21-02-10", "TERMINATED")  # a resume's session: later
    assert trial_statuses(tmp_path) == {"trial_aaaa0001": "TERMINATED"}


def test_a_finished_trials_metric_statistics_keep_the_search_metric_only() -> None:
    from ray.tune.experiment import Trial

    trial = Trial("fn", stub=True, trial_id="aaaa0001")
    for step in (1, 2):
        trial.update_last_result({"best_val_auc": 0.5 + step / 10, "loss": 1.0 / step, "training_iteration": step})
    # What Ray keeps of every numeric key (the day this changes, the trimming has nothing to do).
    assert {"best_val_auc", "loss", "training_iteration"} <= set(trial.run_metadata.metric_analysis)
    assert set(trial.run_metadata.metric_n_steps) == set(trial.run_metadata.metric_analysis)
    before = len(trial.run_metadata.get_json_state())
    trim_metric_stats(trial, {"best_val_auc"})
    assert set(trial.run_metadata.metric_analysis) == set(trial.run_metadata.metric_n_steps) == {"best_val_auc"}
    assert trial.metric_analysis["best_val_auc"]["max"] == 0.7
    assert len(trial.run_metadata.get_json_state()) < before  # what every snapshot rewrites
    trial.update_last_result({"best_val_auc": 0.9, "loss": 0.1, "training_iteration": 3})  # a retried trial reports again
    assert trial.metric_analysis["best_val_auc"]["max"] == 0.9 and trial.metric_analysis["loss"]["last"] == 0.1


@pytest.mark.slow
def test_without_trial_dataframes_ray_reads_no_result_file_and_the_grid_keeps_what_tune_gae_reads(
    smoke_search: Path,
) -> None:
    from ray.tune import ExperimentAnalysis, ResultGrid

    # Ray's own reading: one DataFrame per trial, from its result.json (what the patch removes).
    read = ExperimentAnalysis(str(smoke_search))
    assert len(read.trial_dataframes) == 4 and all(len(df) > 0 for df in read.trial_dataframes.values())
    with without_trial_dataframes():
        skipped = ExperimentAnalysis(str(smoke_search))
        grid = ResultGrid(skipped)
    assert skipped.trial_dataframes == {}
    assert ExperimentAnalysis._fetch_trial_dataframes is read._fetch_trial_dataframes.__func__  # restored
    # What trial_rows and the re-selection read is all still there.
    by_path = {Path(r.path).name: r for r in ResultGrid(read)}
    for result in grid:
        assert result.metrics_dataframe is None
        twin = by_path[Path(result.path).name]
        assert result.metrics == twin.metrics and result.config == twin.config
        assert (result.checkpoint and result.checkpoint.path) == (twin.checkpoint and twin.checkpoint.path)
        assert result.error is None
