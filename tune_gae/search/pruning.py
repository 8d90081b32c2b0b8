"""Bounded disk: once a search ends, only the checkpoints an export can pick are kept.

While it runs Ray keeps each trial's two newest checkpoints (``CHECKPOINT_KEEP``): the saved
experiment state a killed driver leaves can be a snapshot older than the newest checkpoint, and
resume restores from the checkpoint that snapshot names (ASHA decides on reported metrics, not files). When it ends, the winners by each
validation metric keep theirs (``tune-gae export --metric`` may pick either); every other
trial's checkpoint is deleted unless ``--keep-checkpoints``. What stays per trial is its
TensorBoard events, its reported metrics and its config: tens of kilobytes.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

CHECKPOINT_KEEP = 2  # per trial while the search runs: 1 loses the one a killed driver's state names
CHECKPOINT_GLOB = "checkpoint_*"


def winners(folder: Path, rows: list[dict[str, Any]], metrics: tuple[str, ...]) -> set[str]:
    """The trials an export would pick, one per metric (the same rule as ``export_best``)."""
    from tune_gae.bundle.writer import select_trial
    from tune_gae.errors import TuneGAEError

    picked = set()
    for metric in metrics:
        ordered = sorted(rows, key=lambda r: -_value(r.get(f"best_{metric}")))
        try:
            picked.add(str(select_trial(folder, ordered, metric).row["trial"]))
        except TuneGAEError:  # no finished trial with a checkpoint: nothing to keep
            pass
    return picked


def _value(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return float("-inf")
    return number if number == number else float("-inf")


def prune_checkpoints(folder: Path, rows: list[dict[str, Any]], metrics: tuple[str, ...]) -> int:
    """Delete the checkpoints of every trial but the winners; blank their ``checkpoint`` cell.

    Returns the bytes freed.
    """
    keep = winners(folder, rows, metrics)
    freed = 0
    for row in rows:
        if row["trial"] in keep:
            continue
        for checkpoint in (folder / str(row["trial"])).glob(CHECKPOINT_GLOB):
            if checkpoint.is_dir():
                freed += sum(f.stat().st_size for f in checkpoint.rglob("*") if f.is_file())
                shutil.rmtree(checkpoint)
        row["checkpoint"] = ""
    return freed
