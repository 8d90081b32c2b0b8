"""The search folder and the one object that owns it: file names, ``search.json``, the trial table
(``trials.csv`` for people, ``trials.json`` typed), the split-hash check.
"""
from __future__ import annotations

import csv
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tune_gae.errors import TuneGAEError
from tune_gae.rules import COST_OBJECTIVES, VALIDATION_METRICS
from tune_gae.search.settings import Echo, SearchSettings

if TYPE_CHECKING:  # tune_gae.data imports torch + PyG: seconds that a refused search must not pay
    from tune_gae.data.split import LinkSplit


SEARCH_FILE = "search.json"
TRIALS_FILE = "trials.csv"
TENSORBOARD_DIR = "tensorboard"
TRIAL_PREFIX = "trial_"
CHECKPOINT_FILE = "trainer.pt"  # what each trial writes into its checkpoint folders
STUDY_FILE = "study.db"  # the Optuna study (SQLite), unless --storage names another database


def experiment_path(settings: SearchSettings, split: LinkSplit, space_path: Path) -> Path:
    from tune_gae.data.sources import safe_name

    name = settings.name or f"{safe_name(split.name)}-{space_path.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    return Path(settings.results_dir).expanduser().resolve() / name


def is_search_dir(path: Path) -> bool:
    return (path / SEARCH_FILE).is_file()


def _not_writable(path: Path, reason: str) -> TuneGAEError:
    return TuneGAEError(f"results folder {path} is not writable ({reason}): pass a writable --results-dir.")


def check_results_dir(path: Path, *, overwrite: bool) -> None:
    """Refuse to clobber an earlier search unless asked, and a folder that cannot be written.

    Changes nothing (a probe folder is created and removed): the earlier search stays
    byte-identical when refused, and ``--overwrite`` deletes only once everything else passed,
    and only a folder that holds a search.
    """
    if path.is_file():
        raise _not_writable(path, "it is a file")
    if path.is_dir() and any(path.iterdir()):
        if is_search_dir(path) and not overwrite:
            raise TuneGAEError(
                f"{path} already holds a search: use `tune-gae resume {path}`, pick another --name, "
                f"or pass --overwrite to delete it."
            )
        if not is_search_dir(path):
            raise TuneGAEError(
                f"{path} exists, is not empty and holds no search: pick another --name or --results-dir "
                f"(--overwrite only replaces an earlier search)."
            )
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise _not_writable(path, f"{existing} is a file")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".tune-gae-probe-", dir=existing))
    except OSError as exc:
        raise _not_writable(path, exc.strerror or type(exc).__name__) from None


def prepare_results_dir(path: Path, *, overwrite: bool) -> None:
    """Create the search folder (after ``check_results_dir``), deleting an earlier one if asked."""
    check_results_dir(path, overwrite=overwrite)
    if path.is_dir() and any(path.iterdir()):
        shutil.rmtree(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _not_writable(path, exc.strerror or type(exc).__name__) from None


def remove_unrecorded_trials(path: Path, known: set[str], echo: Echo | None) -> None:
    """Delete trial folders the experiment state does not know.

    A driver killed between two snapshots of the experiment state leaves the folders of trials
    it started after the last one; the resumed search samples their replacements, so these
    partial runs would otherwise show up twice in TensorBoard and the folder.
    """
    for parent in (path, path / TENSORBOARD_DIR):
        for folder in sorted(parent.glob(f"{TRIAL_PREFIX}*")):
            trial = folder.name.split("-", 1)[0]  # a run folder: trial_<id>-<model>-... (board.run_name)
            if folder.is_dir() and trial not in known and known:
                shutil.rmtree(folder)
                if echo is not None and parent == path:
                    echo(f"  removed {folder.name}: started after the last saved state, replaced by a new trial.")


TRIALS_JSON = "trials.json"  # the same rows as trials.csv, typed: what every reader uses


def require_same_split(actual: str, expected: str, *, since: str, fix: str) -> None:
    """The one split-hash check: data that splits differently is not the data that was used."""
    if actual != expected:
        raise TuneGAEError(f"the data changed since {since} (split {actual} != {expected}): {fix}")


class SearchFolder:
    """The one owner of a search folder: its files, ``search.json``, the trial table, the split check.

    Everything that reads or writes a search goes through this object, so file names and row
    types are declared once. ``SearchFolder.open(path)`` refuses a folder that holds no search.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser().resolve()
        self._record: dict[str, Any] | None = None
        self._trials: list[dict[str, Any]] | None = None

    @classmethod
    def open(cls, path: str | Path | SearchFolder) -> SearchFolder:
        """An existing search folder, or a one-line error when ``path`` is not one.

        Passing a ``SearchFolder`` returns it as it is, so a caller that reads a search several
        times (``write_plots``) parses ``search.json`` and the trial table once.
        """
        if isinstance(path, SearchFolder):
            return path
        folder = cls(path)
        if not is_search_dir(folder.path):
            raise TuneGAEError(
                f"{folder.path} is not a tune-gae search (no {SEARCH_FILE}): pass a folder made by `tune-gae search`."
            )
        return folder

    @property
    def record_file(self) -> Path:
        return self.path / SEARCH_FILE

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / TENSORBOARD_DIR

    def study_url(self, storage: str | None = None) -> str:
        """The study's SQLAlchemy URL: ``storage`` (``--storage``) or SQLite in this folder."""
        return storage or f"sqlite:///{self.path / STUDY_FILE}"

    def study(self) -> tuple[str, str]:
        """(storage URL, study name) of this search's Optuna study; refused when it has none."""
        recorded = self.record().get("study")
        if not recorded:
            raise TuneGAEError(f"{self.path} has no Optuna study (it predates them): run a new search to get one.")
        return self.study_url(self.settings().storage), recorded["name"]

    def check_study_in_place(self) -> None:
        """Ray's saved state names the SQLite study by its path: a moved folder cannot resume."""
        recorded = self.record().get("study")
        if recorded and self.settings().storage is None and recorded["storage"] != self.study_url():
            was = Path(recorded["storage"].removeprefix("sqlite:///")).parent
            raise TuneGAEError(f"{self.path} was moved from {was}, where Ray's saved state expects its study: "
                               f"move it back to resume it.")

    def record(self) -> dict[str, Any]:
        """``search.json``: settings, split hash, best trial, times (read once, then cached)."""
        if self._record is not None:
            return self._record
        try:
            self._record = json.loads(self.record_file.read_text())
            return self._record
        except (OSError, ValueError) as exc:
            raise TuneGAEError(
                f"{self.record_file} cannot be read ({type(exc).__name__}): restore it from a copy, "
                f"or start the search again with --overwrite."
            ) from None

    def write_record(self, record: dict[str, Any]) -> None:
        self.record_file.write_text(json.dumps(record, indent=2, default=str))
        self._record = record

    def update_record(self, **values: Any) -> dict[str, Any]:
        self._record = None  # another process (a resumed driver) may have written it since
        record = dict(self.record())
        record.update(values)
        self.write_record(record)
        return record

    def add_segment(self, *, started: str, ended: str, seconds: float, ended_by: str) -> None:
        """Record one run of the search's driver (the first, then each resume) and what ended it:
        ``finished``, ``time budget``, ``error`` or the signal (``SIGINT``, ``SIGTERM``, ``SIGHUP``)."""
        segments = list(self.record().get("segments", []))
        segments.append({"started": started, "ended": ended, "seconds": round(seconds, 1), "ended_by": ended_by})
        self.update_record(segments=segments)

    def seconds(self) -> float:
        """How long the search has run, over all its segments (not the time between them)."""
        record = self.record()
        if "segments" not in record:  # written before segments were recorded
            return float(record.get("seconds", 0.0))
        return round(sum(segment["seconds"] for segment in record["segments"]), 1)

    def settings(self) -> SearchSettings:
        return SearchSettings.from_json(self.record()["settings"])

    def check_split(self, split_hash: str, *, fix: str) -> None:
        """Refuse data whose split differs from the one this search ran on."""
        require_same_split(split_hash, self.record()["split_hash"], since="this search started", fix=fix)

    def has_trials(self) -> bool:
        return (self.path / TRIALS_JSON).is_file() or (self.path / TRIALS_FILE).is_file()

    def write_trials(self, rows: list[dict[str, Any]]) -> None:
        """The trial table twice: ``trials.csv`` for people and spreadsheets, ``trials.json`` typed."""
        columns: list[str] = []
        for row in rows:
            columns.extend(k for k in row if k not in columns)
        with (self.path / TRIALS_FILE).open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        (self.path / TRIALS_JSON).write_text(json.dumps(rows, indent=1, default=str))
        self._trials = None

    def trials(self) -> list[dict[str, Any]]:
        """The typed trial rows, in the order they were written (best first); read once, then cached."""
        if self._trials is None:
            self._trials = self._read_trials()
        return [dict(row) for row in self._trials]

    def _read_trials(self) -> list[dict[str, Any]]:
        typed = self.path / TRIALS_JSON
        if typed.is_file():
            return json.loads(typed.read_text())
        table = self.path / TRIALS_FILE
        if not table.is_file():
            raise TuneGAEError(
                f"{self.path} has no {TRIALS_FILE} yet (the search has not finished): run `tune-gae resume {self.path}`."
            )
        with table.open(newline="") as handle:  # a search written before trials.json existed
            return [{k: csv_cell(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def csv_cell(text: str) -> Any:
    """A CSV cell (an old trials.csv, Ray's progress.csv) back as the value it was written from."""
    if text in ("True", "False"):
        return text == "True"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def load_search_record(path: str | Path) -> dict[str, Any]:
    """``search.json`` of a search folder, or a one-line error when it is not one."""
    return SearchFolder.open(path).record()


# --------------------------------------------------------------------------- results


def trial_rows(grid: Any, metric: str, rungs: Collection[int] = ()) -> list[dict[str, Any]]:
    """One row per trial: config, best validation metrics, epochs run, why it stopped, state.

    ``grid`` holds ``ray.tune.Result``-like objects (``state`` read when they have one: a
    search still running); ``rungs`` are ASHA's rung epochs (empty without ASHA).
    """
    from tune_gae.search.space import resolve_trial_config
    from tune_gae.search.stopping import ENDED_EARLY, stop_reason
    from tune_gae.train.logger import hparam_value

    rows = []
    for result in grid:
        metrics = result.metrics or {}
        config = resolve_trial_config(result.config or {})
        epochs_run = int(metrics.get("epoch", 0))
        planned = int(config["epochs"]) if "epochs" in config else None
        diverged = bool(metrics.get("diverged", 0))
        state = getattr(result, "state", None) or ("ERROR" if result.error else "TERMINATED")
        reason = stop_reason(
            error=bool(result.error), diverged=diverged, epochs_run=epochs_run, planned_epochs=planned,
            best_epoch=int(metrics.get("best_epoch") or 0), patience=int(config.get("patience") or 0), rungs=rungs,
        ) if state in ("TERMINATED", "ERROR") else ""
        row = {
            "trial": f"trial_{metrics.get('trial_id', '')}" if metrics.get("trial_id") else Path(result.path).name,
            "state": state,
            **{f"best_{name}": metrics.get(f"best_{name}") for name in VALIDATION_METRICS},
            "best_epoch": metrics.get("best_epoch"),
            "epochs_run": epochs_run,
            "stop_reason": reason,  # one of tune_gae.search.stopping.STOP_REASONS; "" while it runs
            "stopped_early": reason in ENDED_EARLY,
            "diverged": diverged,
            **{name: metrics.get(name) for name in COST_OBJECTIVES},  # what the trial cost (--objectives)
            # A diverged trial without a usable best (its weights blew up) has no model to export.
            "checkpoint": result.checkpoint.path if result.checkpoint and not (diverged and not metrics.get("best_epoch"))
            else "",
        }
        row.update({k: hparam_value(v) for k, v in sorted(config.items())})
        rows.append(row)
    key = f"best_{metric}"
    rows.sort(key=lambda r: -(r[key] if isinstance(r[key], (int, float)) and math.isfinite(r[key]) else -1.0))
    return rows
