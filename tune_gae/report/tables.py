"""Reading a search back: the trial table, best first, and each trial's learning curve.

Everything here reads the search folder only (``search.json``, ``trials.csv``, each trial's
TensorBoard events and Ray's ``progress.csv``/``result.json``); no Ray runtime is needed. Plots
are drawn with matplotlib's Agg canvas directly (no pyplot, so no global backend switch in the
caller's process).
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tune_gae.errors import TuneGAEError
from tune_gae.rules import VALIDATION_METRICS
from tune_gae.search.results import TENSORBOARD_DIR, SearchFolder, csv_cell

TOP_CURVES = 5
METRIC_LABELS = {"val_auc": "validation AUC", "val_ap": "validation AP"}


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_trials(path: str | Path | SearchFolder, metric: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """Rows of ``trials.csv`` sorted best first by ``metric`` (default: the search's metric).

    A search that is interrupted or still running has no table yet: its rows come from Ray's
    newest saved state (ended trials, and the others as far as they got).
    """
    folder = SearchFolder.open(path)
    metric = metric or folder.record()["settings"]["metric"]
    if folder.has_trials():
        rows = folder.trials()
    else:
        from tune_gae.search.runner import saved_trial_rows

        rows = saved_trial_rows(folder.path, folder.settings())
        if not rows:
            raise TuneGAEError(f"{folder.path} holds no trial yet: the search stopped before its first one.")
    key = f"best_{metric}"
    rows.sort(key=lambda r: -(r[key] if isinstance(r[key], (int, float)) else -1.0))
    return rows, metric


def stop_reason_of(row: dict[str, Any]) -> str:
    """A row's stop reason ("" while the trial runs); derived for tables written before the column."""
    if "stop_reason" in row:
        return str(row["stop_reason"] or "")
    if row.get("state") == "ERROR":
        return "error"
    if row.get("diverged") is True:
        return "nan"
    return "asha" if row.get("stopped_early") is True else "epochs"


# --------------------------------------------------------------------------- per-epoch history


@dataclass(frozen=True)
class TrialCurve:
    """One trial's per-epoch validation metrics (TensorBoard events; Ray's reports as a fallback)."""

    trial: str
    epochs: list[int]
    val_auc: list[float]
    val_ap: list[float]
    started: float  # Unix time the trial started (inf when unknown)
    series: dict[str, list[float]] = field(default_factory=dict)  # every validation metric logged

    def values(self, metric: str) -> list[float]:
        return self.series.get(metric) or (self.val_auc if metric == "val_auc" else self.val_ap)


def _trial_dir(folder: Path, row: dict[str, Any]) -> Path | None:
    candidates = [folder / str(row["trial"])]
    if row.get("checkpoint"):
        candidates.append(Path(str(row["checkpoint"])).parent)
    return next((c for c in candidates if c.is_dir()), None)


def _history_rows(trial_dir: Path) -> list[dict[str, Any]]:
    """Ray's per-report rows: ``progress.csv``, else ``result.json`` (one JSON object per line)."""
    progress = trial_dir / "progress.csv"
    if progress.is_file() and progress.stat().st_size:
        with progress.open(newline="") as handle:
            return [{k: csv_cell(v) for k, v in row.items()} for row in csv.DictReader(handle)]
    result = trial_dir / "result.json"
    rows = []
    if result.is_file():
        for line in result.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a crash
    return rows


def _tensorboard_rows(run_dir: Path | None) -> list[dict[str, Any]]:
    """Every epoch's val_auc/val_ap from a trial's TensorBoard events (Ray only gets some)."""
    if run_dir is None or not run_dir.is_dir():
        return []
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    tags = set(events.Tags().get("scalars", []))
    if not {"val_auc", "val_ap"} <= tags:
        return []
    keys = [name for name in VALIDATION_METRICS if name in tags]
    by_epoch: dict[int, dict[str, Any]] = {}
    for key in keys:
        for event in events.Scalars(key):
            by_epoch.setdefault(event.step, {"epoch": event.step})[key] = event.value
    return [by_epoch[e] for e in sorted(by_epoch) if len(by_epoch[e]) == len(keys) + 1]


def _curve(trial: str, rows: list[dict[str, Any]], epoch_rows: list[dict[str, Any]] | None = None) -> TrialCurve:
    """``epoch_rows`` (TensorBoard's, every epoch) give the curve when present, else ``rows`` (Ray's)."""
    by_epoch: dict[int, dict[str, Any]] = {}
    for row in epoch_rows or rows:
        if _finite(row.get("epoch")) and _finite(row.get("val_auc")) and not row.get("diverged"):
            by_epoch[int(row["epoch"])] = row  # a retried trial repeats epochs: keep the latest
    epochs = sorted(by_epoch)
    started = math.inf
    sent = rows[0].get("wall_time", rows[0].get("timestamp")) if rows else None  # sub-second when present
    if rows and _finite(sent) and _finite(rows[0].get("time_total_s")):
        started = float(sent) - float(rows[0]["time_total_s"])
    return TrialCurve(
        trial=trial,
        epochs=epochs,
        val_auc=[float(by_epoch[e]["val_auc"]) for e in epochs],
        val_ap=[float(by_epoch[e]["val_ap"]) for e in epochs],
        started=started,
        series={name: [float(by_epoch[e][name]) for e in epochs] for name in VALIDATION_METRICS
                if all(_finite(by_epoch[e].get(name)) for e in epochs)},
    )


def learning_curves(
    path: str | Path | SearchFolder, metric: str | None = None, *, top: int = TOP_CURVES
) -> list[TrialCurve]:
    """Per-epoch validation curves of the ``top`` best trials (by ``metric``), best first."""
    from tune_gae.search.board import run_dir

    search = SearchFolder.open(path)
    rows, metric = read_trials(search, metric)
    folder = search.path
    curves = []
    for row in rows:
        if len(curves) == top:
            break
        trial_dir = _trial_dir(folder, row)
        curve = _curve(str(row["trial"]), _history_rows(trial_dir) if trial_dir else [],
                       _tensorboard_rows(run_dir(folder / TENSORBOARD_DIR, str(row["trial"]))))
        if curve.epochs:
            curves.append(curve)
    return curves


def trial_order(path: str | Path | SearchFolder, metric: str | None = None) -> list[dict[str, Any]]:
    """The trial rows in the order the trials started (from their first reported result)."""
    search = SearchFolder.open(path)
    rows, _ = read_trials(search, metric)
    folder = search.path
    started = {}
    for index, row in enumerate(rows):
        trial_dir = _trial_dir(folder, row)
        history = _history_rows(trial_dir) if trial_dir else []
        started[row["trial"]] = (_curve(str(row["trial"]), history[:1]).started, index)
    return sorted(rows, key=lambda r: started[r["trial"]])
