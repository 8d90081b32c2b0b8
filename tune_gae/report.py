"""Reading a finished search back: the trial table (plots come with the export issue)."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from tune_gae.errors import TuneGAEError
from tune_gae.search import TRIALS_FILE, load_search_record


def _number(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def read_trials(path: str | Path, metric: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """Rows of ``trials.csv`` sorted best first by ``metric`` (default: the search's metric)."""
    folder = Path(path).expanduser().resolve()
    record = load_search_record(folder)
    metric = metric or record["settings"]["metric"]
    table = folder / TRIALS_FILE
    if not table.is_file():
        raise TuneGAEError(f"{folder} has no {TRIALS_FILE} yet (the search has not finished): run `tune-gae resume {folder}`.")
    with table.open(newline="") as handle:
        rows = [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(handle)]
    key = f"best_{metric}"
    rows.sort(key=lambda r: -(r[key] if isinstance(r[key], (int, float)) else -1.0))
    return rows, metric
