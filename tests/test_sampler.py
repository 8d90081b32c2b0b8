"""WindowedTPESampler: TPE exactly on small studies, over the right window on large ones."""
from __future__ import annotations

import math
import pickle
import random

import optuna
import pytest
from optuna.trial import TrialState

from tune_gae.search.sampler import TrialWindow, WindowedTPESampler

optuna.logging.set_verbosity(optuna.logging.WARNING)


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -3.0, 3.0)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    return -(x - 1.0) ** 2 + (0.5 if kind == "b" else 0.0)


def mixed_study(count: int, rng: random.Random, direction: str = "maximize") -> optuna.Study:
    """``count`` trials: COMPLETE, PRUNED (some with no report, one NaN report), FAIL, RUNNING."""
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.RandomSampler(seed=0))
    for number in range(count):
        trial = study.ask()
        trial.suggest_float("x", -3.0, 3.0)
        roll = rng.random()
        if roll < 0.45:
            study.tell(trial, rng.random())
        elif roll < 0.85:
            reports = rng.randint(0, 4)
            for step in range(reports):
                trial.report(math.nan if number == 7 and step == 0 else rng.random(), step * 5 + rng.randint(0, 4))
            study.tell(trial, state=TrialState.PRUNED)
        elif roll < 0.9:
            study.tell(trial, state=TrialState.FAIL)
        # else: left RUNNING
    return study


def reference_window(trials: list, recent: int, best: int, maximize: bool) -> set[int]:
    """The window written the slow way, from TPE's rules: sort everything, take the ends."""
    sign = 1 if maximize else -1
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    complete = sorted((t for t in finished if t.state == TrialState.COMPLETE), key=lambda t: -sign * t.value)

    def pruned_key(t):  # Optuna's _get_pruned_trial_score, ascending = best first
        if not t.intermediate_values:
            return (1, 0.0)
        step, value = max(t.intermediate_values.items())
        return (-step, math.inf if math.isnan(value) else -sign * value)

    pruned = sorted((t for t in finished if t.state == TrialState.PRUNED), key=pruned_key)
    numbers = {t.number for t in finished[-recent:]} | {t.number for t in complete[:best]}
    numbers |= {t.number for t in pruned[:best]} | {t.number for t in trials if t.state == TrialState.RUNNING}
    return numbers


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_window_holds_the_best_the_recent_and_the_running(direction: str) -> None:
    rng = random.Random(3)
    study = mixed_study(400, rng, direction)
    trial_window = TrialWindow("k", recent=60, best=5, maximize=direction == "maximize")
    trials = study.get_trials(deepcopy=False)
    cut = trial_window.cut(trials)
    assert cut is not None
    assert [t.number for t in cut] == sorted(reference_window(trials, 60, 5, direction == "maximize"))
    # Trials end and new ones start: the kept state follows (each trial is counted once).
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))[:10]:
        study.tell(trial.number, rng.random())
    for _ in range(150):
        trial = study.ask()
        trial.suggest_float("x", -3.0, 3.0)
        study.tell(trial, rng.random() * 2)  # better than all before: the best set changes
    trials = study.get_trials(deepcopy=False)
    assert [t.number for t in trial_window.cut(trials)] == sorted(
        reference_window(trials, 60, 5, direction == "maximize"))


def test_the_window_starts_past_recent_plus_twice_best_finished_trials() -> None:
    study = optuna.create_study(direction="maximize")
    trial_window = TrialWindow("k", recent=60, best=5, maximize=True)
    for value in range(70):
        study.add_trial(optuna.trial.create_trial(value=float(100 - value)))  # the oldest are the best
    study.ask()  # a running trial does not count
    assert trial_window.cut(study.get_trials(deepcopy=False)) is None
    study.add_trial(optuna.trial.create_trial(value=-1.0))
    cut = trial_window.cut(study.get_trials(deepcopy=False))
    assert cut is not None and [t.number for t in cut] == [0, 1, 2, 3, 4, *range(11, 70), 70, 71]  # best 5, recent 60, the running 70


def test_below_the_threshold_it_is_tpe_exactly() -> None:
    plain = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=5))
    windowed = optuna.create_study(direction="maximize", sampler=WindowedTPESampler(seed=5, recent=100))
    plain.optimize(objective, n_trials=60)
    windowed.optimize(objective, n_trials=60)
    assert [t.params for t in windowed.trials] == [t.params for t in plain.trials]


def test_tpe_reads_its_trials_through_the_window() -> None:
    """Fails the day Optuna's TPE stops reading trials through ``Study._get_trials``: the window
    would then be bypassed and the cost would grow again."""
    sampler = WindowedTPESampler(seed=0, recent=20, best=3)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=40)
    assert sampler._trial_window is not None and sampler._trial_window.cuts > 0
    plain = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    plain.optimize(objective, n_trials=40)
    first_cut = 20 + 2 * 3 + 1  # the first suggestion that sees a window instead of the study
    same = [a.params == b.params for a, b in zip(study.trials, plain.trials)]
    assert all(same[:first_cut]) and not all(same[first_cut:])


def test_multi_objective_studies_are_not_windowed() -> None:
    sampler = WindowedTPESampler(seed=0, recent=5, best=2)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    study.optimize(lambda t: (objective(t), abs(t.params["x"])), n_trials=30)
    assert sampler._trial_window is None


def test_pickled_sampler_rebuilds_its_window() -> None:
    sampler = WindowedTPESampler(seed=0, recent=10, best=2)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=30)
    restored = pickle.loads(pickle.dumps(sampler))
    assert restored._trial_window is None and sampler._trial_window is not None
    study.sampler = restored
    study.optimize(objective, n_trials=5)
    assert restored._trial_window.cuts >= 5  # rebuilt from the study, cut at every suggestion


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="recent must be positive but got 0"):
        WindowedTPESampler(recent=0)
    with pytest.raises(ValueError, match="best must be positive but got -1"):
        WindowedTPESampler(best=-1)
