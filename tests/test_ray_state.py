"""Ray's experiment snapshot read as JSON agrees with Ray's own reader (fails when Ray's layout changes)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tune_gae.search.ray_state import newest_snapshot, trial_statuses


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
