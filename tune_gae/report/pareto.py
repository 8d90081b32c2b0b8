"""The Pareto front of a multi-objective search as text (the rule: ``tune_gae.search.pareto``)."""
from __future__ import annotations

from typing import Any

from tune_gae.search.pareto import objective_columns

# The hyperparameters the Pareto table shows beside the objectives (those a trial has).
KEY_PARAMS = ("model", "encoder", "hidden_channels", "latent_channels", "decoder", "ensemble", "lr", "epochs")


def pareto_table(front: list[dict[str, Any]], objectives: tuple[str, ...]) -> list[str]:
    """The front as text lines: trial id, the objectives, key hyperparameters."""
    columns = objective_columns(objectives)
    lines = [f"Pareto front ({len(front)} trial{'' if len(front) == 1 else 's'}; maximise {objectives[0]}, "
             f"{'minimise' if columns[1][1] == 'min' else 'maximise'} {objectives[1]}):"]
    header = f"  {'trial':<16} {objectives[0]:>10} {objectives[1]:>13}  params"
    lines.append(header)
    for row in front:
        params = " ".join(f"{key}={_param(row[key])}" for key in KEY_PARAMS if row.get(key) not in (None, ""))
        lines.append(f"  {row['trial']:<16} {float(row[columns[0][0]]):>10.4f} "
                     f"{_shown(float(row[columns[1][0]])):>13}  {params}")
    if not front:
        lines.append("  (no trial ran its own course: every one was stopped early or failed)")
    return lines


def _shown(value: float) -> str:
    return f"{int(value)}" if value.is_integer() else f"{value:.2f}"


def _param(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
