"""PNG plots of a search: metric per trial, the top learning curves, importances (matplotlib Agg)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tune_gae.errors import TuneGAEError
from tune_gae.report.importance import (
    _space_parameters,
    _target_quantile,
    param_importances,
    study_from_trials,
)
from tune_gae.report.tables import (
    METRIC_LABELS,
    TOP_CURVES,
    TrialCurve,
    _finite,
    _trial_dir,
    learning_curves,
    read_trials,
    stop_reason_of,
    trial_order,
)
from tune_gae.search.results import SearchFolder
from tune_gae.search.stopping import STUDY_STATES

PLOTS_DIR = "plots"


# --------------------------------------------------------------------------- plots


def _figure(width: float = 8.0, height: float = 4.5) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


# How trials.png names each stop reason (tune_gae.search.stopping.STOP_REASONS).
STOP_LABELS = {
    "epochs": "ran all its epochs",
    "patience": "stopped by patience",
    "asha": "stopped by ASHA",
    "time budget": "stopped by the time budget",
    "nan": "diverged (NaN) / error",
    "error": "diverged (NaN) / error",
}


def _plot_trials(ordered: list[dict[str, Any]], metric: str, name: str, out: Path, *, started_known: bool) -> Path:
    key = f"best_{metric}"
    figure = _figure()
    ax = figure.add_subplot()
    xs = list(range(1, len(ordered) + 1))
    values = [float(r[key]) if _finite(r.get(key)) else math.nan for r in ordered]
    styles = {
        "ran all its epochs": dict(marker="o", color="tab:blue", s=36),
        "stopped by patience": dict(marker="s", facecolors="none", edgecolors="tab:green", s=36),
        "stopped by ASHA": dict(marker="o", facecolors="none", edgecolors="tab:blue", s=36),
        "stopped by the time budget": dict(marker="D", facecolors="none", edgecolors="tab:purple", s=30),
        "diverged (NaN) / error": dict(marker="x", color="tab:red", s=40),
        "not ended yet": dict(marker=".", color="0.5", s=30),
    }
    labels = [STOP_LABELS.get(stop_reason_of(r), "not ended yet") for r in ordered]
    for label, style in styles.items():
        points = [(x, v) for x, v, shown in zip(xs, values, labels) if shown == label and not math.isnan(v)]
        if points:
            ax.scatter(*zip(*points), label=label, zorder=3, **style)
    best_so_far, running = [], -math.inf
    for v in values:
        running = max(running, v) if not math.isnan(v) else running
        best_so_far.append(running if running > -math.inf else math.nan)
    ax.step(xs, best_so_far, where="post", color="tab:orange", linewidth=2, label="best so far", zorder=2)
    finite = [(v, x, r) for x, v, r in zip(xs, values, ordered) if not math.isnan(v)]
    if finite:
        best_value, best_x, best_row = max(finite, key=lambda t: (t[0], -t[1]))
        left = best_x > len(xs) / 2  # the label goes where the best-so-far line is not
        ax.annotate(f"best: {best_row['trial']} ({best_value:.4f})", (best_x, best_value),
                    textcoords="offset points", xytext=(-8 if left else 8, 8), ha="right" if left else "left",
                    va="bottom", fontsize=8, color="tab:orange")
    ax.margins(y=0.12)
    ax.set_xlabel("trial, in the order trials started" if started_known
                  else "trial, in trials.csv order (start times unavailable)")
    ax.set_ylabel(f"best {METRIC_LABELS[metric]} of the trial")
    ax.set_title(f"{name}: {len(ordered)} trials")
    ax.set_xticks(xs if len(xs) <= 30 else ax.get_xticks())
    ax.set_xlim(0.5, len(xs) + 0.5)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    path = out / "trials.png"
    figure.savefig(path)
    return path


def _plot_curves(curves: list[TrialCurve], metric: str, name: str, rungs: tuple[int, ...], out: Path) -> Path:
    figure = _figure()
    ax = figure.add_subplot()
    for rung in rungs:
        ax.axvline(rung, color="0.6", linestyle=":", linewidth=1)
    for curve in curves:
        values = curve.values(metric)
        best = max(range(len(values)), key=lambda i: values[i])
        line, = ax.plot(curve.epochs, values, linewidth=1.5,
                        label=f"{curve.trial}: {values[best]:.4f} at epoch {curve.epochs[best]}")
        ax.scatter([curve.epochs[best]], [values[best]], marker="*", s=90, color=line.get_color(), zorder=3)
    if rungs:
        ax.plot([], [], color="0.6", linestyle=":", label="ASHA rungs")
    return _finish(figure, ax, "epoch", METRIC_LABELS[metric],
                   f"{name}: learning curves of the top {len(curves)} trials (star: best epoch)",
                   out / "learning_curves.png", legend="lower right")


def _finish(figure: Any, ax: Any, xlabel: str, ylabel: str, title: str, path: Path, *, legend: str) -> Path:
    """Label the axes, grid and legend, and write the PNG."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc=legend, fontsize=8)
    figure.savefig(path)
    return path


def _plot_importances(importances: dict[str, float], labels: dict[str, str], metric: str, name: str,
                      num_trials: int, out: Path) -> Path:
    items = sorted(importances.items(), key=lambda kv: kv[1])
    figure = _figure(8.0, max(2.5, 0.45 * len(items) + 1.3))
    ax = figure.add_subplot()
    bars = ax.barh([labels.get(k, k) for k, _ in items], [v for _, v in items], color="tab:blue")
    for bar, (_, value) in zip(bars, items):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {value:.2f}", va="center", fontsize=8)
    top_share = _target_quantile(num_trials)
    ax.set_xlabel(f"importance for the best {METRIC_LABELS[metric]} (sums to 1)")
    ax.set_xlim(0, max([v for _, v in items] + [0.01]) * 1.15)
    ax.set_title(f"{name}: hyperparameter importance\n(Optuna PED-ANOVA, top {top_share:.0%} of {num_trials} trials)",
                 fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    path = out / "importance.png"
    figure.savefig(path)
    return path


def _plot_pareto(rows: list[dict[str, Any]], front: list[dict[str, Any]], objectives: tuple[str, ...], name: str,
                 out: Path) -> Path:
    """Every trial's two objectives (cost on x), the Pareto front as a step line with its trial ids."""
    from tune_gae.search.pareto import objective_columns

    (y_key, _), (x_key, x_mode) = objective_columns(objectives)
    on_front = {str(r["trial"]) for r in front}
    figure = _figure()
    ax = figure.add_subplot()
    groups: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        if _finite(row.get(x_key)) and _finite(row.get(y_key)) and str(row["trial"]) not in on_front:
            label = "ran its own course" if STUDY_STATES.get(stop_reason_of(row)) == "COMPLETE" else "stopped early"
            groups.setdefault(label, []).append((float(row[x_key]), float(row[y_key])))
    for label, style in (("ran its own course", dict(marker="o", color="tab:blue", s=30)),
                         ("stopped early", dict(marker="o", facecolors="none", edgecolors="0.5", s=30))):
        if groups.get(label):
            ax.scatter(*zip(*groups[label]), label=label, zorder=2, **style)
    points = sorted((float(r[x_key]), float(r[y_key]), str(r["trial"])) for r in front)
    if points:
        ax.step([p[0] for p in points], [p[1] for p in points], where="post" if x_mode == "min" else "pre",
                color="tab:orange", linewidth=1.5, zorder=3)
        ax.scatter([p[0] for p in points], [p[1] for p in points], marker="*", s=110, color="tab:orange",
                   label=f"Pareto front ({len(points)} trials)", zorder=4)
        middle = (points[0][0] + points[-1][0]) / 2
        for x, y, trial in points:
            right = x > middle  # the label goes inwards, not off the axes
            ax.annotate(trial, (x, y), textcoords="offset points", xytext=(-5 if right else 5, -10),
                        ha="right" if right else "left", fontsize=7, color="tab:orange")
    return _finish(figure, ax, f"{x_key} ({'lower' if x_mode == 'min' else 'higher'} is better)",
                   f"best {METRIC_LABELS.get(objectives[0], objectives[0])} of the trial",
                   f"{name}: {objectives[0]} against {x_key}", out / "pareto.png", legend="best")


def write_pareto_plot(path: str | Path | SearchFolder) -> Path:
    """``<search>/plots/pareto.png`` of a multi-objective search: every trial and the Pareto front."""
    from tune_gae.search.pareto import check_multi_objective, pareto_front

    search = SearchFolder.open(path)
    objectives = check_multi_objective(search)
    rows, _ = read_trials(search)
    return _plot_pareto(rows, pareto_front(rows, objectives), objectives, search.path.name, _plots_dir(search.path))


def _plots_dir(folder: Path) -> Path:
    out = folder / PLOTS_DIR
    try:
        out.mkdir(exist_ok=True)
    except OSError as exc:
        raise TuneGAEError(f"cannot write plots to {out} ({exc.strerror}): make {folder} writable.") from None
    return out


def _condition_labels(record: dict[str, Any]) -> dict[str, str]:
    """``kl_weight`` -> ``kl_weight (when model = vgae)`` for the space's conditional parameters."""
    from tune_gae.search.space import HIDDEN_LAYERS_KEY, HIDDEN_WIDTH_PREFIX

    labels: dict[str, str] = {}
    for parameter in _space_parameters(record) or ():
        for key in parameter.config_keys:
            condition = parameter.condition()
            if key.startswith(HIDDEN_WIDTH_PREFIX) and key != f"{HIDDEN_WIDTH_PREFIX}1":
                depth = int(key[len(HIDDEN_WIDTH_PREFIX):])
                condition = " and ".join(filter(None, [condition, f"{HIDDEN_LAYERS_KEY} >= {depth}"]))
            if condition:
                labels[key] = f"{key}\n(when {condition})"
    return labels


def write_plots(path: str | Path | SearchFolder, metric: str | None = None, *, top: int = TOP_CURVES) -> list[Path]:
    """PNG plots in ``<search>/plots/``: per-trial metric with best-so-far, top learning curves,
    hyperparameter importance. A plot without enough data (no curves, < 2 trials) is skipped."""
    from tune_gae.search.settings import asha_rungs

    search = SearchFolder.open(path)  # one object: search.json and the trial table parsed once
    folder = search.path
    record = search.record()
    _, metric = read_trials(search, metric)
    settings = search.settings()
    out = _plots_dir(folder)
    name = folder.name
    ordered = trial_order(search, metric)
    started_known = all(_trial_dir(folder, row) is not None for row in ordered)
    written = [_plot_trials(ordered, metric, name, out, started_known=started_known)]
    curves = learning_curves(search, metric, top=top)
    if curves:
        rungs = (asha_rungs(settings.grace_period, settings.reduction_factor, settings.max_epochs)
                 if settings.scheduler == "asha" else ())
        longest = max(curve.epochs[-1] for curve in curves)
        written.append(_plot_curves(curves, metric, name, tuple(r for r in rungs if r <= longest), out))
    study = study_from_trials(search, metric)
    importances = param_importances(study)
    if importances:
        written.append(_plot_importances(importances, _condition_labels(record), metric, name, len(study.trials), out))
    if settings.objectives is not None:
        written.append(write_pareto_plot(search))
    return written
