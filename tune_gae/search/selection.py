"""Which trial a search's export picks: the one rule that ``export`` and checkpoint pruning share
(and the trial a user names with ``export --trial``).

It lives below both ``tune_gae.bundle`` (export) and ``tune_gae.search.pruning`` (which keeps the
checkpoints an export can pick), so neither imports the other.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tune_gae.errors import TuneGAEError, first_line
from tune_gae.search.results import CHECKPOINT_FILE


@dataclass(frozen=True)
class SelectedTrial:
    """The trial (or re-selected fresh run) an export reads, with its checkpoint read back."""

    row: dict[str, Any]
    checkpoint: Path
    state: dict[str, Any]
    value: float
    # How the winner was chosen when re-selection picked it (search.json's "winner"), and the
    # hyperparameters of its fresh run (seed included); None: the single best trial.
    reselected: dict[str, Any] | None = None
    hyper: dict[str, Any] | None = None
    by_hand: bool = False  # named with ``export --trial``, not chosen by a rule


def select_trial(folder: Path, rows: list[dict[str, Any]], metric: str) -> SelectedTrial:
    """The finished trial whose checkpointed best weights score highest on ``metric``.

    ``rows`` come best first by the value each trial last reported; a checkpoint can only hold
    that value or an earlier (lower) best, so reading checkpoints stops once no later row can win.
    """
    key = f"best_{metric}"
    candidates = [
        (row, checkpoint) for row in rows
        if row.get("state") == "TERMINATED" and _finite(row.get(key))
        and (checkpoint := _checkpoint_file(folder, row)) is not None
    ]
    if not candidates:
        states: dict[str, int] = {}
        for row in rows:
            states[str(row.get("state") or "?")] = states.get(str(row.get("state") or "?"), 0) + 1
        seen = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "no trial at all"
        raise TuneGAEError(
            f"no finished trial with a checkpoint in {folder} ({seen}): resume it with "
            f"`tune-gae resume {folder}` or run a new search."
        )
    best: SelectedTrial | None = None
    for row, checkpoint in candidates:
        if best is not None and float(row[key]) <= best.value:
            break
        state = _read_checkpoint(checkpoint)
        value = float(state["best"][metric])
        if best is None or value > best.value:
            best = SelectedTrial(row, checkpoint, state, value)
    assert best is not None
    return best


def named_trial(folder: Path, rows: list[dict[str, Any]], trial: str, metric: str) -> SelectedTrial:
    """The trial ``export --trial`` names (``trial_<id>`` or ``<id>``), whatever its rank, with its
    checkpoint; a one-line error when there is no such trial or it left no checkpoint."""
    from tune_gae.search.results import TRIAL_PREFIX

    wanted = trial if trial.startswith(TRIAL_PREFIX) else TRIAL_PREFIX + trial
    row = next((r for r in rows if str(r.get("trial")) == wanted), None)
    if row is None:
        raise TuneGAEError(f"--trial {trial}: {folder} has no such trial: pick an id from `tune-gae report {folder}`.")
    checkpoint = _checkpoint_file(folder, row) if row.get("state") == "TERMINATED" else None
    if checkpoint is None:
        raise TuneGAEError(f"--trial {trial} left no checkpoint to export ({row.get('stop_reason') or row.get('state')}; "
                           f"a finished search keeps only its winners' and its Pareto front's): run the search with "
                           f"--keep-checkpoints to export any trial.")
    state = _read_checkpoint(checkpoint)
    return SelectedTrial(row, checkpoint, state, float(state["best"][metric]), by_hand=True)


def reselected_winner(folder: Path, rows: list[dict[str, Any]], record: dict[str, Any], metric: str) -> SelectedTrial:
    """The re-selection's winner: its configuration's fresh run with the best validation score."""
    from tune_gae.search.reselect import RESELECTION_DIR, FreshRun, load_run

    winner = record["winner"]
    entry = next(e for e in record["reselection"] if e["trial"] == winner["trial"])
    state = load_run(folder, winner["trial"], int(winner["seed"]))
    if not state.get("best_state"):
        raise TuneGAEError(f"the re-selected run of {winner['trial']} has no weights: resume the search to re-train it.")
    row = next((r for r in rows if r.get("trial") == winner["trial"]), {"trial": winner["trial"]})
    file = folder / RESELECTION_DIR / FreshRun(winner["trial"], int(winner["seed"])).file_name
    return SelectedTrial(row, file, state, float(state["best"][metric]), reselected={**winner, "entry": entry},
                     hyper={**entry["config"], "seed": int(winner["seed"])})


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _checkpoint_file(folder: Path, row: dict[str, Any]) -> Path | None:
    """The trial's ``trainer.pt``; found inside ``folder`` too when the search folder was moved."""
    recorded = str(row.get("checkpoint") or "")
    if not recorded:
        return None
    recorded_path = Path(recorded)
    for candidate in (recorded_path, folder / recorded_path.parent.name / recorded_path.name):
        if (candidate / CHECKPOINT_FILE).is_file():
            return candidate / CHECKPOINT_FILE
    return None


def _read_checkpoint(path: Path) -> dict[str, Any]:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means the same thing to the user
        raise TuneGAEError(
            f"cannot read checkpoint {path} ({type(exc).__name__}: {first_line(exc)}): "
            f"the search folder is damaged; resume it or run a new search."
        ) from None
    missing = [k for k in ("best", "best_state", "model_config") if k not in state]
    if missing:
        raise TuneGAEError(f"checkpoint {path} lacks {', '.join(missing)}: it was not written by tune-gae.")
    return state
