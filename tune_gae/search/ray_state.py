"""Ray Tune's bookkeeping of a search, read and trimmed here and nowhere else.

- Each trial's status, read from Ray's newest experiment snapshot as plain JSON:
  ``ray.tune.ExperimentAnalysis`` rebuilds every trial (cloudpickle) and reads every trial's
  ``result.json`` into a DataFrame (6 s for 800 trials on a loaded machine, and it grows with the
  trials) when a search that ended needs only the statuses. The layout is Ray's own:
  ``experiment_state-<session>.json`` (the newest by name), ``trial_data`` a list of [trial JSON,
  run-metadata JSON], a trial's ``status`` and ``relative_logdir``.
- A finished trial's per-metric statistics, trimmed to the search metric: Ray keeps, in the
  driver, max/min/avg/last and the last 5 and 10 values of EVERY numeric key a trial reported
  (``Trial.run_metadata.metric_analysis`` and ``metric_n_steps``: 60 KiB per trial for the 27
  keys of a trial here, half of what Ray holds per trial) and rewrites them into every snapshot.
  Nothing reads them but ``ResultGrid.get_best_result``/``ExperimentAnalysis.get_best_trial``,
  which still work for the search metric.

- The per-trial DataFrames Ray reads when ``tune.run`` returns: its ``ExperimentAnalysis`` reads
  every trial's ``result.json`` into a pandas DataFrame (``_fetch_trial_dataframes``), which
  ``ResultGrid`` hands out as ``Result.metrics_dataframe``. tune-gae reads a trial's last result,
  config, error, path and checkpoint, never that DataFrame, and at thousands of trials reading
  them is seconds between the last trial and the exit, and the driver's memory peak.
  ``without_trial_dataframes`` skips them while a search's driver runs.

tests/test_ray_state.py checks all three against Ray itself and fails the day one changes.
"""
from __future__ import annotations

import contextlib
import json
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from ray.tune import Callback

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


def trim_metric_stats(trial: Any, keep: Collection[str]) -> None:
    """Drop Ray's statistics of every reported key but ``keep`` from ``trial`` (both tables
    together: a resumed trial that reports again starts a dropped key afresh)."""
    metadata = trial.run_metadata
    metadata.metric_analysis = {k: v for k, v in metadata.metric_analysis.items() if k in keep}
    metadata.metric_n_steps = {k: v for k, v in metadata.metric_n_steps.items() if k in keep}


class TrimFinishedTrials(Callback):
    """Trims each trial's metric statistics to ``keep`` once it ends (``trim_metric_stats``)."""

    def __init__(self, keep: Collection[str]) -> None:
        self.keep = frozenset(keep)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        trim_metric_stats(trial, self.keep)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        trim_metric_stats(trial, self.keep)


DATAFRAME_READER = "_fetch_trial_dataframes"  # ExperimentAnalysis's reader of every trial's result.json


@contextlib.contextmanager
def without_trial_dataframes() -> Iterator[None]:
    """While inside: every ``ExperimentAnalysis`` (the one ``Tuner.fit`` builds included) reads no
    trial's ``result.json`` into a DataFrame; its ``Result``s carry ``metrics_dataframe`` None.

    Raises ``RuntimeError`` the day Ray no longer has the reader, rather than patching nothing.
    """
    from ray.tune import ExperimentAnalysis

    original = ExperimentAnalysis.__dict__.get(DATAFRAME_READER)
    if original is None:
        raise RuntimeError(f"ray.tune.ExperimentAnalysis has no {DATAFRAME_READER} any more: "
                           "update tune_gae/search/ray_state.py for this Ray version.")
    setattr(ExperimentAnalysis, DATAFRAME_READER, _no_dataframes)
    try:
        yield
    finally:
        setattr(ExperimentAnalysis, DATAFRAME_READER, original)


def _no_dataframes(analysis: Any) -> dict[str, Any]:
    """In place of ``ExperimentAnalysis._fetch_trial_dataframes``: no trial's DataFrame."""
    return {}
