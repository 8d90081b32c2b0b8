"""The Pareto front of a multi-objective search (``--objectives val_auc,epoch_ms``), from its trial table:
the one rule ``report`` (table, plot) and TensorBoard's HParams (``pareto``) read.

The front holds the trials Optuna's study calls COMPLETE (they ran their own course:
``stopping.STUDY_STATES``) that no other such trial dominates: at least as good on both
objectives and better on one. It is the set ``study.best_trials`` gives and optuna-dashboard
draws; a trial ASHA stopped is not on it (a multi-objective study keeps no values for a PRUNED
trial), though ``tune-gae export --trial ID`` exports it all the same.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from tune_gae.errors import TuneGAEError
from tune_gae.rules import COST_OBJECTIVES
from tune_gae.search.results import SearchFolder
from tune_gae.search.selection import _finite
from tune_gae.search.stopping import STUDY_STATES


def objective_columns(objectives: tuple[str, ...]) -> list[tuple[str, str]]:
    """(trial-table column, "max" or "min") per objective: the first is the best validation value."""
    first, cost = objectives
    return [(f"best_{first}", "max"), (cost, COST_OBJECTIVES[cost])]


def _dominates(a: list[float], b: list[float], modes: list[str]) -> bool:
    signed = [(x, y) if mode == "max" else (-x, -y) for (x, y), mode in zip(zip(a, b), modes)]
    return all(x >= y for x, y in signed) and any(x > y for x, y in signed)


def pareto_front(rows: list[dict[str, Any]], objectives: tuple[str, ...]) -> list[dict[str, Any]]:
    """The trials on the Pareto front, best first by the first objective (ties: cheaper first)."""
    columns = objective_columns(objectives)
    keys, modes = [key for key, _ in columns], [mode for _, mode in columns]
    eligible = [row for row in rows
                if STUDY_STATES.get(str(row.get("stop_reason") or "")) == "COMPLETE"
                and all(_finite(row.get(key)) for key in keys)]
    points = [[float(row[key]) for key in keys] for row in eligible]
    front = [row for row, point in zip(eligible, points)
             if not any(_dominates(other, point, modes) for other in points)]
    sign = [1.0 if mode == "max" else -1.0 for mode in modes]
    return sorted(front, key=lambda row: [-s * float(row[key]) for s, key in zip(sign, keys)])


def check_multi_objective(path: str | Path | SearchFolder) -> tuple[str, ...]:
    """The search's objectives, or a one-line error when it has one objective."""
    search = SearchFolder.open(path)
    objectives = search.settings().objectives
    if objectives is None:
        raise TuneGAEError(f"{search.path} searched one objective, so it has no Pareto front: run a search "
                           f"with --objectives (e.g. val_auc,epoch_ms).")
    return objectives


def front_ids(rows: list[dict[str, Any]], objectives: tuple[str, ...] | None) -> set[str]:
    """The trial ids on the front (none for a single-objective search)."""
    return set() if objectives is None else {str(row["trial"]) for row in pareto_front(rows, objectives)}


def default_winner_note(objectives: tuple[str, ...] | None, path: str | Path) -> str | None:
    """What a multi-objective search's default export is, and how to export another point."""
    if objectives is None:
        return None
    return (f"Multi-objective search: the default export is the best by {objectives[0]}, the first objective; "
            f"`tune-gae report {path}` lists the Pareto front, `tune-gae export {path} --trial ID` exports any trial.")
