"""Each trial's status from Ray Tune's newest experiment snapshot, read as plain JSON.

``ray.tune.ExperimentAnalysis`` rebuilds every trial (cloudpickle) and reads every trial's
``result.json`` into a DataFrame (6 s for 800 trials on a loaded machine, and it grows with the
trials) when a search that ended needs only each trial's status. The snapshot's layout is Ray's
own: ``experiment_state-<session>.json`` (the newest by name), ``trial_data`` a list of [trial
JSON, run-metadata JSON], a trial's ``status`` and ``relative_logdir``. It is read here and
nowhere else; tests/test_ray_state.py compares it with ``ExperimentAnalysis`` on a real search
and fails the day it changes.
"""
from __future__ import annotations

import json
from pathlib import Path

SNAPSHOT_GLOB = "experiment_state-*.json"


def newest_snapshot(experiment: Path) -> Path | None:
    """Ray's newest experiment snapshot in ``experiment`` (Ray picks the greatest name too)."""
    found = sorted(experiment.glob(SNAPSHOT_GLOB))
    return found[-1] if found else None


def trial_statuses(experiment: Path) -> dict[str, str]:
    """Trial folder name -> status (PENDING, RUNNING, PAUSED, TERMINATED, ERROR) as Ray's newest
    snapshot in ``experiment`` saved it; empty when Ray saved none."""
    snapshot = newest_snapshot(experiment)
    if snapshot is None:
        return {}
    statuses = {}
    for trial_json, _ in json.loads(snapshot.read_text())["trial_data"]:
        trial = json.loads(trial_json)
        statuses[Path(trial["relative_logdir"]).name] = trial["status"]
    return statuses
