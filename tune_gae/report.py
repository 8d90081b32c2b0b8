"""Reading a finished search back: the trial table, learning curves, importances and plots.

Everything here reads the search folder only (``search.json``, ``trials.csv``, each trial's
TensorBoard events and Ray's ``progress.csv``/``result.json``); no Ray runtime is needed. Plots
are drawn with matplotlib's Agg canvas directly (no pyplot, so no global backend switch in the
caller's process).
"""
from __future__ import annotations

import csv
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tune_gae.errors import TuneGAEError
from tune_gae.search import TENSORBOARD_DIR, TRIALS_FILE, load_search_record

if TYPE_CHECKING:
    import optuna

__all__ = [
    "PLOTS_DIR",
    "TrialCurve",
    "learning_curves",
    "param_importances",
    "read_trials",
    "study_from_trials",
    "trial_order",
    "write_plots",
]

PLOTS_DIR = "plots"
TOP_CURVES = 5
# PED-ANOVA compares the top quantile of trials with all of them; it wants >= 5 trials on top.
MIN_TOP_TRIALS = 5
MIN_TARGET_QUANTILE, MAX_TARGET_QUANTILE = 0.1, 0.5
METRIC_LABELS = {"val_auc": "validation AUC", "val_ap": "validation AP"}


def _number(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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


# --------------------------------------------------------------------------- per-epoch history


@dataclass(frozen=True)
class TrialCurve:
    """One trial's per-epoch validation metrics (TensorBoard events; Ray's reports as a fallback)."""

    trial: str
    epochs: list[int]
    val_auc: list[float]
    val_ap: list[float]
    started: float  # Unix time the trial started (inf when unknown)

    def values(self, metric: str) -> list[float]:
        return self.val_auc if metric == "val_auc" else self.val_ap


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
            return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(handle)]
    result = trial_dir / "result.json"
    rows = []
    if result.is_file():
        for line in result.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a crash
    return rows


def _tensorboard_rows(run_dir: Path) -> list[dict[str, Any]]:
    """Every epoch's val_auc/val_ap from a trial's TensorBoard events (Ray only gets some)."""
    if not run_dir.is_dir():
        return []
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    if not {"val_auc", "val_ap"} <= set(events.Tags().get("scalars", [])):
        return []
    by_epoch: dict[int, dict[str, Any]] = {}
    for key in ("val_auc", "val_ap"):
        for event in events.Scalars(key):
            by_epoch.setdefault(event.step, {"epoch": event.step})[key] = event.value
    return [by_epoch[e] for e in sorted(by_epoch) if len(by_epoch[e]) == 3]


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
    )


def learning_curves(path: str | Path, metric: str | None = None, *, top: int = TOP_CURVES) -> list[TrialCurve]:
    """Per-epoch validation curves of the ``top`` best trials (by ``metric``), best first."""
    folder = Path(path).expanduser().resolve()
    rows, metric = read_trials(folder, metric)
    curves = []
    for row in rows:
        if len(curves) == top:
            break
        trial_dir = _trial_dir(folder, row)
        curve = _curve(str(row["trial"]), _history_rows(trial_dir) if trial_dir else [],
                       _tensorboard_rows(folder / TENSORBOARD_DIR / str(row["trial"])))
        if curve.epochs:
            curves.append(curve)
    return curves


def trial_order(path: str | Path, metric: str | None = None) -> list[dict[str, Any]]:
    """``trials.csv`` rows in the order the trials started (from their first reported result)."""
    folder = Path(path).expanduser().resolve()
    rows, _ = read_trials(folder, metric)
    started = {}
    for index, row in enumerate(rows):
        trial_dir = _trial_dir(folder, row)
        history = _history_rows(trial_dir) if trial_dir else []
        started[row["trial"]] = (_curve(str(row["trial"]), history[:1]).started, index)
    return sorted(rows, key=lambda r: started[r["trial"]])


# --------------------------------------------------------------------------- importance


def _space_parameters(record: dict[str, Any]) -> tuple[Any, ...] | None:
    """The search space's parameters as sampled (epochs capped), or None when the file is gone."""
    from tune_gae.spaces import load_space

    try:
        space = load_space(record["settings"]["space"])
    except TuneGAEError:
        return None
    return space.define_by_run(max_epochs=int(record["settings"]["max_epochs"])).parameters


def _optuna_distribution(dist: Any) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from tune_gae.spaces import Choice, FloatRange, IntRange

    if isinstance(dist, Choice):
        return CategoricalDistribution(list(dist.options))
    if isinstance(dist, FloatRange):
        return FloatDistribution(dist.low, dist.high, log=dist.log)
    if isinstance(dist, IntRange):
        return IntDistribution(dist.low, dist.high, log=dist.log)
    return None  # a constant: not an Optuna parameter


def _as_choice(value: Any, options: list[Any]) -> Any:
    """The option a CSV cell spells ("True" -> True, 32 -> "32", "1e-05" -> 1e-05)."""
    for option in options:
        if str(option) == str(value):
            return option
        if _finite(option) and _finite(value) and math.isclose(option, value, rel_tol=1e-9):
            return option
    raise ValueError(f"{value!r} is not one of {options}")


def _typed(dist: Any, value: Any) -> Any:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return _as_choice(value, list(dist.choices))
    if isinstance(dist, IntDistribution):
        return int(value)
    return float(value)


def _params_from_space(row: dict[str, Any], parameters: tuple[Any, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Optuna parameters one trial sampled, replayed through the space (conditions included)."""
    from tune_gae.spaces import HIDDEN_LAYERS_KEY, HIDDEN_WIDTH_PREFIX, Constant, HiddenLayers, _decode_widths

    params: dict[str, Any] = {}
    dists: dict[str, Any] = {}
    typed: dict[str, Any] = {}  # every value so far, constants too (conditions refer to them)
    for parameter in parameters:
        if parameter.requires and not parameter.applies(typed):
            continue
        cell = row.get(parameter.name, "")
        if cell == "" or cell is None:
            continue
        dist = parameter.distribution
        if isinstance(dist, HiddenLayers):
            widths = _decode_widths(cell)
            entries = [(HIDDEN_LAYERS_KEY, dist.layers, len(widths))]
            entries += [(f"{HIDDEN_WIDTH_PREFIX}{i}", dist.width, w) for i, w in enumerate(widths, start=1)]
            for name, sub, value in entries:
                optuna_dist = _optuna_distribution(sub)
                if optuna_dist is not None:
                    params[name], dists[name] = _typed(optuna_dist, value), optuna_dist
            continue
        if isinstance(dist, Constant):
            typed[parameter.name] = dist.value
            continue
        optuna_dist = _optuna_distribution(dist)
        params[parameter.name] = typed[parameter.name] = _typed(optuna_dist, cell)
        dists[parameter.name] = optuna_dist
    return params, dists


def _inferred_distributions(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Distributions guessed from the values (when the space file is gone or was edited)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from tune_gae.config import RUN_KEYS

    dists: dict[str, Any] = {}
    for key in RUN_KEYS:
        values = [row[key] for row in rows if row.get(key, "") not in ("", None)]
        if len({str(v) for v in values}) < 2:
            continue  # absent or constant
        if all(_finite(v) for v in values):
            low, high = min(values), max(values)
            if all(isinstance(v, int) for v in values):
                dists[key] = IntDistribution(int(low), int(high))
            else:
                dists[key] = FloatDistribution(float(low), float(high), log=low > 0 and high / low >= 10)
        else:
            dists[key] = CategoricalDistribution(sorted({str(v) for v in values}))
    return dists


def study_from_trials(path: str | Path, metric: str | None = None) -> optuna.Study:
    """An in-memory Optuna study holding one COMPLETE trial per finished trial of the search.

    Parameters and distributions come from the search space file, replayed per trial so that a
    conditional parameter appears only where its condition held; values are the trials' best
    ``metric``. Without the space file (or if it was edited since), they are inferred from values.
    """
    import optuna

    folder = Path(path).expanduser().resolve()
    record = load_search_record(folder)
    rows = [r for r in trial_order(folder, metric) if _finite(r.get(f"best_{metric or record['settings']['metric']}"))]
    metric = metric or record["settings"]["metric"]
    parameters = _space_parameters(record)

    def build(from_space: bool) -> optuna.Study:
        study = optuna.create_study(direction="maximize", study_name=f"{folder.name}:{metric}")
        inferred = {} if from_space else _inferred_distributions(rows)
        for row in rows:
            if from_space:
                params, dists = _params_from_space(row, parameters)
            else:
                dists = {k: d for k, d in inferred.items() if row.get(k, "") not in ("", None)}
                params = {k: _typed(d, row[k]) for k, d in dists.items()}
            study.add_trial(optuna.trial.create_trial(
                params=params, distributions=dists, value=float(row[f"best_{metric}"]),
                user_attrs={"trial": row["trial"]},
            ))
        return study

    with _quiet_optuna():
        if parameters is not None:
            try:
                return build(from_space=True)
            except (ValueError, TypeError, TuneGAEError):
                pass  # the space file changed since the search: fall back to the values
        return build(from_space=False)


class _quiet_optuna:
    """Silence Optuna's INFO logs and experimental/accuracy warnings inside a block."""

    def __enter__(self) -> None:
        import optuna

        self._level = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc: Any) -> None:
        import optuna

        self._warnings.__exit__(*exc)
        optuna.logging.set_verbosity(self._level)


def _target_quantile(num_trials: int) -> float:
    return min(MAX_TARGET_QUANTILE, max(MIN_TARGET_QUANTILE, MIN_TOP_TRIALS / max(num_trials, 1)))


def param_importances(study: optuna.Study) -> dict[str, float]:
    """``optuna.importance.get_param_importances`` with PED-ANOVA (conditional parameters included).

    The "top" quantile holds at least 5 trials where possible (10 % to 50 % of them); empty when
    fewer than two trials finished.
    """
    import optuna

    if len(study.trials) < 2:
        return {}
    evaluator = optuna.importance.PedAnovaImportanceEvaluator(target_quantile=_target_quantile(len(study.trials)))
    with _quiet_optuna():
        return {k: float(v) for k, v in optuna.importance.get_param_importances(study, evaluator=evaluator).items()}


# --------------------------------------------------------------------------- plots


def _figure(width: float = 8.0, height: float = 4.5) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _plot_trials(ordered: list[dict[str, Any]], metric: str, name: str, out: Path, *, started_known: bool) -> Path:
    key = f"best_{metric}"
    figure = _figure()
    ax = figure.add_subplot()
    xs = list(range(1, len(ordered) + 1))
    values = [float(r[key]) if _finite(r.get(key)) else math.nan for r in ordered]
    groups = {
        "finished": lambda r: r.get("state") == "TERMINATED" and str(r.get("stopped_early")) != "True"
        and str(r.get("diverged")) != "True",
        "stopped early (ASHA)": lambda r: r.get("state") == "TERMINATED" and str(r.get("stopped_early")) == "True",
        "diverged / error": lambda r: r.get("state") != "TERMINATED" or str(r.get("diverged")) == "True",
    }
    styles = {
        "finished": dict(marker="o", color="tab:blue", s=36),
        "stopped early (ASHA)": dict(marker="o", facecolors="none", edgecolors="tab:blue", s=36),
        "diverged / error": dict(marker="x", color="tab:red", s=40),
    }
    for label, member in groups.items():
        points = [(x, v) for x, v, r in zip(xs, values, ordered) if member(r) and not math.isnan(v)]
        if points:
            ax.scatter(*zip(*points), label=label, zorder=3, **styles[label])
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
    ax.set_xlabel("epoch")
    ax.set_ylabel(METRIC_LABELS[metric])
    ax.set_title(f"{name}: learning curves of the top {len(curves)} trials (star: best epoch)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    path = out / "learning_curves.png"
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


def _condition_labels(record: dict[str, Any]) -> dict[str, str]:
    """``kl_weight`` -> ``kl_weight (when model = vgae)`` for the space's conditional parameters."""
    from tune_gae.spaces import HIDDEN_LAYERS_KEY, HIDDEN_WIDTH_PREFIX

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


def write_plots(path: str | Path, metric: str | None = None, *, top: int = TOP_CURVES) -> list[Path]:
    """PNG plots in ``<search>/plots/``: per-trial metric with best-so-far, top learning curves,
    hyperparameter importance. A plot without enough data (no curves, < 2 trials) is skipped."""
    from tune_gae.search import SearchSettings, asha_rungs

    folder = Path(path).expanduser().resolve()
    record = load_search_record(folder)
    rows, metric = read_trials(folder, metric)
    settings = SearchSettings.from_json(record["settings"])
    out = folder / PLOTS_DIR
    try:
        out.mkdir(exist_ok=True)
    except OSError as exc:
        raise TuneGAEError(f"cannot write plots to {out} ({exc.strerror}): make {folder} writable.") from None
    name = folder.name
    ordered = trial_order(folder, metric)
    started_known = all(_trial_dir(folder, row) is not None for row in ordered)
    written = [_plot_trials(ordered, metric, name, out, started_known=started_known)]
    curves = learning_curves(folder, metric, top=top)
    if curves:
        rungs = (asha_rungs(settings.grace_period, settings.reduction_factor, settings.max_epochs)
                 if settings.scheduler == "asha" else ())
        longest = max(curve.epochs[-1] for curve in curves)
        written.append(_plot_curves(curves, metric, name, tuple(r for r in rungs if r <= longest), out))
    study = study_from_trials(folder, metric)
    importances = param_importances(study)
    if importances:
        written.append(_plot_importances(importances, _condition_labels(record), metric, name, len(study.trials), out))
    return written
