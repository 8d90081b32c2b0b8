"""Hyperparameter importance: the trial table as an Optuna study, scored by PED-ANOVA."""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tune_gae.errors import TuneGAEError
from tune_gae.report.tables import _finite, trial_order
from tune_gae.search.results import SearchFolder

if TYPE_CHECKING:
    import optuna


# PED-ANOVA compares the top quantile of trials with all of them; it wants >= 5 trials on top.
MIN_TOP_TRIALS = 5


MIN_TARGET_QUANTILE, MAX_TARGET_QUANTILE = 0.1, 0.5


# --------------------------------------------------------------------------- importance


def _space_parameters(record: dict[str, Any]) -> tuple[Any, ...] | None:
    """The search space's parameters as sampled (epochs capped), or None when the file is gone."""
    from tune_gae.search.space_parser import load_space

    try:
        space = load_space(record["settings"]["space"])
    except TuneGAEError:
        return None
    return space.define_by_run(max_epochs=int(record["settings"]["max_epochs"])).parameters


def _optuna_distribution(dist: Any) -> Any:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    from tune_gae.search.space import Choice, FloatRange, IntRange

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
    from tune_gae.search.space import (
        HIDDEN_LAYERS_KEY,
        HIDDEN_WIDTH_PREFIX,
        Constant,
        HiddenLayers,
        decode_widths,
    )

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
            widths = decode_widths(cell)
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
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

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


def study_from_trials(path: str | Path | SearchFolder, metric: str | None = None) -> optuna.Study:
    """An in-memory Optuna study holding one COMPLETE trial per finished trial of the search.

    Parameters and distributions come from the search space file, replayed per trial so that a
    conditional parameter appears only where its condition held; values are the trials' best
    ``metric``. Without the space file (or if it was edited since), they are inferred from values.
    """
    import optuna

    folder = SearchFolder.open(path)
    record = folder.record()
    rows = [r for r in trial_order(folder, metric) if _finite(r.get(f"best_{metric or record['settings']['metric']}"))]
    metric = metric or record["settings"]["metric"]
    parameters = _space_parameters(record)

    def build(from_space: bool) -> optuna.Study:
        study = optuna.create_study(direction="maximize", study_name=f"{folder.path.name}:{metric}")
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
