"""Bounded disk: once a search ends, only the checkpoints an export can pick are kept.

While it runs Ray keeps each trial's two newest checkpoints (``CHECKPOINT_KEEP``): what resume
needs (ASHA decides on reported metrics, not files). When it ends, the winners by each
validation metric keep theirs (``tune-gae export --metric`` may pick either), slimmed to what an
export reads; every other trial's checkpoint is deleted. ``--keep-checkpoints`` keeps them all.
What stays per trial is its TensorBoard events, its reported metrics and its config: tens of
kilobytes (the README search: 0.12 MB per trial on average, the winner's weights included).
"""
from __future__ import annotations

import shutil
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tune_gae.errors import TuneGAEError
from tune_gae.search.results import CHECKPOINT_FILE
from tune_gae.search.selection import select_trial

# Checkpoints Ray keeps per trial while the search runs. Two, not one: Ray's saved experiment
# state (a snapshot every TUNE_GLOBAL_CHECKPOINT_S) may still name the older one when the driver
# is killed, and a resumed trial restores from the checkpoint the snapshot names.
CHECKPOINT_KEEP = 2
CHECKPOINT_GLOB = "checkpoint_*"
DELETE_THREADS = 8  # checkpoint folders deleted at once when a search ends
# What an export reads from a checkpoint (tune_gae.search.selection): a finished search cannot be
# resumed, so the optimizer state and the last epoch's weights (2/3 of a checkpoint) go.
EXPORT_KEYS = ("epoch", "best", "best_state", "model_config")


def winners(folder: Path, rows: list[dict[str, Any]], metrics: tuple[str, ...]) -> set[str]:
    """The trials an export would pick, one per metric (the same rule as ``export_best``)."""
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


def prune_checkpoints(folder: Path, rows: list[dict[str, Any]], metrics: tuple[str, ...],
                      keep_also: Collection[str] = ()) -> int:
    """Delete the checkpoints of every trial but the winners and ``keep_also`` (a multi-objective
    search's Pareto front: ``export --trial`` may pick any of it), blanking their ``checkpoint``
    cell; keep only what an export reads in the others. Returns the bytes freed."""
    keep = winners(folder, rows, metrics) | set(keep_also)
    freed = 0
    doomed: list[Path] = []
    for row in rows:
        kept = Path(str(row["checkpoint"])).name if row["trial"] in keep and row["checkpoint"] else None
        for checkpoint in (folder / str(row["trial"])).glob(CHECKPOINT_GLOB):
            if checkpoint.is_dir() and checkpoint.name != kept:
                freed += sum(f.stat().st_size for f in checkpoint.rglob("*") if f.is_file())
                doomed.append(checkpoint)
        if kept is None:
            row["checkpoint"] = ""
        else:
            freed += _slim(Path(str(row["checkpoint"])) / CHECKPOINT_FILE)
    # Thousands of folders at the end of a large search: one after the other, each unlink waits on
    # the file system (1,200 checkpoints: 5-9 s here); side by side, 0.2 s.
    with ThreadPoolExecutor(max_workers=DELETE_THREADS) as pool:
        for _ in pool.map(shutil.rmtree, doomed):
            pass
    return freed


def _slim(path: Path) -> int:
    """Rewrite a checkpoint with ``EXPORT_KEYS`` only; the bytes freed."""
    import torch

    if not path.is_file():
        return 0
    before = path.stat().st_size
    state = torch.load(path, map_location="cpu", weights_only=True)
    slim = path.with_name(path.name + ".slim")
    torch.save({k: state[k] for k in EXPORT_KEYS if k in state}, slim)
    slim.replace(path)  # atomic: a crash leaves the old file or the new one
    return before - path.stat().st_size
