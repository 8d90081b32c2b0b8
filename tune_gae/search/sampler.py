"""``WindowedTPESampler``: Optuna's TPE whose cost per suggestion stops growing with the study.

Optuna's ``TPESampler`` reads every finished trial at every suggestion (its below/above split and
both Parzen estimators are Python loops over them): 2-3 ms per suggestion at 300 trials, 30-50 ms
at 3,000, and the driver of a search of thousands of short trials slows down with it
(benchmarks/notes/driver-load.md). This sampler is the same TPE, shown a window of the study
once it holds more than ``recent + 2 * best`` finished trials:

- the ``best`` best COMPLETE trials and the ``best`` best PRUNED ones (TPE's own order: the
  latest epoch reached, then the value), so TPE's "below" set, at most 25 trials with Optuna's
  default ``gamma``, is the one it would take from the whole study;
- the ``recent`` most recently finished trials, from which TPE builds its "above" density (it
  already weighs older trials less, ``default_weights``);
- every RUNNING trial (``constant_liar``).

It also reads the study once per suggestion (see ``StudyWindow._get_trials``).

Below the threshold it is TPE exactly (the same suggestions for the same seed), so searches of
a few hundred trials are not changed. Multi-objective studies are not windowed (their "below"
set is a Pareto ranking of every trial).

TPE reads trials through ``Study._get_trials``, which the window answers; that method is
private to Optuna, and tests/test_sampler.py fails the day TPE stops reading trials through it.
"""
from __future__ import annotations

import copy
import heapq
import math
from collections.abc import Container
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.study import Study
    from optuna.trial import FrozenTrial

RECENT_TRIALS = 1000
BEST_TRIALS = 25  # Optuna's default gamma takes at most 25 trials into TPE's "below" set


class WindowedTPESampler(optuna.samplers.TPESampler):
    """``TPESampler`` over the best trials and the most recent ones of a large study.

    ``recent``: finished trials TPE's "above" density is built from; ``best``: the best
    COMPLETE and the best PRUNED trials always kept. Other keywords go to ``TPESampler``.
    """

    def __init__(self, *, recent: int = RECENT_TRIALS, best: int = BEST_TRIALS, **tpe_options: Any) -> None:
        if recent < 1:
            raise ValueError(f"recent must be positive but got {recent}.")
        if best < 1:
            raise ValueError(f"best must be positive but got {best}.")
        super().__init__(**tpe_options)
        self.recent = recent
        self.best = best
        self._trial_window: TrialWindow | None = None

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return super().sample_relative(self._window(study), trial, search_space)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return super().sample_independent(self._window(study), trial, param_name, param_distribution)

    def _window(self, study: Study) -> Study:
        if len(study.directions) > 1:
            return study
        key = (id(study), study.study_name)
        if self._trial_window is None or self._trial_window.key != key:
            self._trial_window = TrialWindow(key, recent=self.recent, best=self.best,
                                             maximize=study.direction == optuna.study.StudyDirection.MAXIMIZE)
        return StudyWindow(study, self._trial_window)  # type: ignore[return-value]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_trial_window"] = None  # rebuilt from the study at the next suggestion
        return state


class StudyWindow:
    """A study whose ``_get_trials`` answers with ``trial_window``'s cut of its trials;
    everything else is the study's own."""

    def __init__(self, study: Study, trial_window: TrialWindow) -> None:
        self._study = study
        self._trial_window = trial_window

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None,
                    use_cache: bool = False) -> list[FrozenTrial]:
        # One read per suggestion (Optuna's per-ask cache), even where TPE asks for a fresh one
        # (``constant_liar``'s running trials): a search's study has one writer, its driver, so
        # nothing changes between the suggestion's start and TPE's read. (Over a database each
        # fresh read queries the unfinished trials, ~3 ms, three or four times per suggestion.)
        every = self._study._get_trials(deepcopy=False, states=None, use_cache=True)
        kept = self._trial_window.cut(every)
        if kept is None:  # a small study: all of it
            kept = every
        kept = [t for t in kept if states is None or t.state in states]
        return copy.deepcopy(kept) if deepcopy else kept


_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


class TrialWindow:
    """The best and the most recent finished trials of one study, kept up to date as trials end.

    A finished trial never changes, so each is looked at once: ``cut`` scans only the trials from
    the oldest one not yet finished, whatever the study's size.
    """

    def __init__(self, key: Any, *, recent: int, best: int, maximize: bool) -> None:
        self.key = key
        self.recent = recent
        self.best = best
        self._trial_window: TrialWindow | None = None
        self.maximize = maximize
        self._low = 0  # every trial numbered below this one has finished and been counted
        self._counted: set[int] = set()  # finished trials at or above ``_low``, counted
        self._finished = 0
        self.cuts = 0  # how many times a window (not the whole study) was handed to TPE
        self._best_complete: list[tuple[float, int]] = []  # min-heaps of (rank, number)
        self._best_pruned: list[tuple[tuple[float, float], int]] = []

    def cut(self, trials: list[FrozenTrial]) -> list[FrozenTrial] | None:
        """``trials`` (ALL the study's, in number order) cut to the window, in number order;
        None while the study has no more than ``recent + 2 * best`` finished trials."""
        if trials and trials[-1].number != len(trials) - 1:
            return None  # not the numbering a single study has: no window
        self._count_new(trials)
        if self._finished <= self.recent + 2 * self.best:
            return None
        numbers = {number for _, number in self._best_complete} | {number for _, number in self._best_pruned}
        kept = 0
        for trial in reversed(trials):
            if trial.state == TrialState.RUNNING:
                numbers.add(trial.number)
            elif trial.state in _FINISHED and kept < self.recent:
                numbers.add(trial.number)
                kept += 1
            elif kept >= self.recent and trial.number < self._low:
                break
        self.cuts += 1
        return [trials[number] for number in sorted(numbers)]

    def _count_new(self, trials: list[FrozenTrial]) -> None:
        for trial in trials[self._low:]:
            if trial.state in _FINISHED and trial.number not in self._counted:
                self._counted.add(trial.number)
                self._finished += 1
                self._offer(trial)
        while self._low < len(trials) and self._low in self._counted:
            self._counted.discard(self._low)
            self._low += 1

    def _offer(self, trial: FrozenTrial) -> None:
        sign = 1.0 if self.maximize else -1.0
        if trial.state == TrialState.COMPLETE:
            if trial.value is not None:
                _push(self._best_complete, (sign * trial.value, trial.number), self.best)
        elif trial.intermediate_values:
            # TPE's order for pruned trials: the latest step first, then the better value there.
            step, value = max(trial.intermediate_values.items())
            _push(self._best_pruned, ((step, -math.inf if math.isnan(value) else sign * value), trial.number),
                  self.best)
        else:
            _push(self._best_pruned, ((-math.inf, -math.inf), trial.number), self.best)


def _push(heap: list[Any], item: Any, size: int) -> None:
    if len(heap) < size:
        heapq.heappush(heap, item)
    elif item > heap[0]:
        heapq.heapreplace(heap, item)
