"""``StudySearch``: Ray Tune's ``OptunaSearch`` over a study kept in a database.

It changes four things of ``OptunaSearch`` (ray/tune/search/optuna/optuna_search.py), which
otherwise samples, asks and tells as it always does:

- intermediate values (single-objective studies only: Optuna keeps none for several objectives)
  are the search metric (the best so far) at the reported **epoch** (Ray's
  step counts reports, which a trial throttles), so Optuna's and the dashboard's curves read in
  epochs: at every ASHA rung, at the last epoch, and in between at most one every
  ``INTERMEDIATE_INTERVAL_S`` seconds per trial (each is a database transaction, a few ms;
  TensorBoard keeps every epoch);
- a finished trial's state says why it ended (``STUDY_STATES``): ``OptunaSearch`` tells Optuna
  COMPLETE for a trial ASHA stopped, so importance and history would mix a 10-epoch score with a
  400-epoch one;
- each trial carries ``user_attrs``: ``trial`` (its folder, as in ``trials.csv``) and
  ``stop_reason`` (as in ``trials.csv``);
- its saved state (Ray snapshots it every few seconds) holds the study's name and URL and the
  open trials' ids, never the study: the database is the one copy, so ``resume`` continues the
  same study, a snapshot does not grow with the trials, trials a killed driver left RUNNING
  are marked FAIL, and an errored trial that resume runs again gets a second trial (``retry_of``);
- the sampler works on an in-memory copy of the study (``_ot_study``, the study ``OptunaSearch``
  asks and tells), and the database gets each trial in a few writes: once its parameters are
  sampled (one transaction, state RUNNING), its intermediate values, its end. Optuna's own
  ask/suggest over a database writes every parameter in a transaction of its own and re-reads
  the unfinished trials for TPE's ``constant_liar`` (~40 ms per trial on SQLite, half of that
  this way: benchmarks/RESULTS.md). The copy is rebuilt from the database on ``resume``.

Optuna's ``Trial._trial_id`` (the storage's id of a trial, which ``optuna.trial.Trial(study,
trial_id)`` takes) is read here and nowhere else; tests/test_study_search.py restores a searcher
and fails the day it changes.
"""
from __future__ import annotations

import logging
import math
import pickle
import time
import warnings
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from ray.tune.search.optuna import OptunaSearch

from tune_gae.search.space import resolve_trial_config
from tune_gae.search.stopping import ERROR, STUDY_STATES, stop_reason
from tune_gae.search.study import WarmStart, apply_warm_start, load_study_with, open_storage

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

INTERMEDIATE_INTERVAL_S = 1.0


class StudySearch(OptunaSearch):
    """``OptunaSearch`` over a study kept in a database, with epochs as steps and true states.

    ``rungs``: ASHA's rung epochs (empty without ASHA), to tell an ASHA stop from the time
    budget's, by the rule ``trials.csv`` uses (``tune_gae.search.stopping``).
    """

    def __init__(self, *, space: Callable[[optuna.Trial], dict | None], metric: str | list[str], storage_url: str,
                 study_name: str, sampler: optuna.samplers.BaseSampler, rungs: Collection[int] = (),
                 user_attrs: dict[str, Any] | None = None, warm_start: WarmStart | None = None,
                 mode: str | list[str] = "max") -> None:
        # ``storage=None``: OptunaSearch's study is the sampler's copy, in memory.
        super().__init__(space=space, metric=metric, mode=mode, sampler=sampler, study_name=study_name)
        self._storage_url = storage_url
        self._open_database(create=True)
        self._db_ids: dict[str, int] = {}  # Ray trial id -> the database's trial id, while it runs
        self._rungs = tuple(rungs)
        self._plans: dict[str, tuple[int | None, int]] = {}  # Ray trial id -> (epochs, patience)
        self._last_step: dict[str, tuple[int, float]] = {}  # the last recorded epoch, and when
        self._orphans_checked = True  # a new study has none
        self._restored: set[str] = set()  # open trials that came back from a snapshot
        # Trials told FAIL (an error) that ``resume`` may run again: database id, plan, the new reports.
        self._failed: dict[str, tuple[int, tuple[int | None, int], dict[int, float]]] = {}
        for key, value in (user_attrs or {}).items():
            self._db_study.set_user_attr(key, value)
        import optuna

        with warnings.catch_warnings():  # experimental in Optuna since 3.2; what the dashboard's axes are called
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._db_study.set_metric_names(metric if isinstance(metric, list) else [metric])
        if warm_start is not None:
            apply_warm_start(self._db_study, warm_start, sampler_study=self._ot_study)

    def _open_database(self, *, create: bool) -> None:
        """The study in the database: ``_db`` (its storage), ``_db_study``, ``_db_study_id``."""
        import optuna

        self._db = open_storage(self._storage_url, writer=True)
        if create:
            self._db_study = optuna.create_study(storage=self._db, study_name=self._study_name, load_if_exists=True,
                                                 directions=self._ot_study.directions,
                                                 sampler=optuna.samplers.RandomSampler())
        else:
            self._db_study = load_study_with(self._db, self._study_name, optuna.samplers.RandomSampler())
        self._db_study_id = self._db.get_study_id_from_name(self._study_name)

    # ------------------------------------------------------------------ Ray's Searcher hooks

    def suggest(self, trial_id: str) -> dict | None:
        if not self._orphans_checked:
            self._fail_orphans()
        config = super().suggest(trial_id)
        if config is not None and trial_id not in self._db_ids:  # OptunaSearch asks once per Ray trial
            self._db_ids[trial_id] = self._record_running(self._ot_trials[trial_id])
            run = resolve_trial_config(config)
            self._plans[trial_id] = (int(run["epochs"]) if "epochs" in run else None, int(run.get("patience") or 0))
        return config

    def _record_running(self, ot_trial: optuna.Trial) -> int:
        """The sampled trial, into the database in one transaction; its id there."""
        import optuna

        template = optuna.trial.FrozenTrial(
            number=0, state=optuna.trial.TrialState.RUNNING, value=None, datetime_start=ot_trial.datetime_start,
            datetime_complete=None, params=ot_trial.params, distributions=ot_trial.distributions,
            user_attrs=ot_trial.user_attrs, system_attrs={}, intermediate_values={}, trial_id=0)
        return self._db.create_new_trial(self._db_study_id, template_trial=template)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if isinstance(self.metric, list):  # Optuna keeps no intermediate values for several objectives
            return
        step, value = result.get("epoch"), result.get(self.metric)
        if step is None or not isinstance(value, (int, float)) or not math.isfinite(value):
            return
        if trial_id in self._failed:  # an errored trial that resume runs again
            self._failed[trial_id][2][int(step)] = float(value)
        elif trial_id not in self._completed_trials and trial_id in self._ot_trials:
            self._record(trial_id, int(step), float(value), final=False)

    def _record(self, trial_id: str, step: int, value: float, *, final: bool) -> None:
        last_step, last_time = self._last_step.get(trial_id, (0, -math.inf))
        if step <= last_step:  # a retried trial reports its epochs again
            return
        now = time.monotonic()
        if final or step in self._rungs or now - last_time >= INTERMEDIATE_INTERVAL_S:
            self._ot_trials[trial_id].report(value, step)
            self._db.set_trial_intermediate_value(self._db_ids[trial_id], step, value)
            self._last_step[trial_id] = (step, now)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self._failed:
            self._add_retried(trial_id, result, error)
            return
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        ot_trial = self._ot_trials[trial_id]
        # A trial restored from a snapshot may have been told before the driver died: that tell stands.
        if trial_id not in self._restored or not self._db.get_trial(self._db_ids[trial_id]).state.is_finished():
            self._tell(trial_id, ot_trial, result, error)
        self._restored.discard(trial_id)
        self._ot_trials.pop(trial_id)
        self._db_ids.pop(trial_id)
        self._last_step.pop(trial_id, None)
        self._plans.pop(trial_id, None)
        self._completed_trials.add(trial_id)

    def _tell(self, trial_id: str, ot_trial: optuna.Trial, result: dict | None, error: bool) -> None:
        import optuna

        step, value = (result or {}).get("epoch"), self._values(result)
        if step is not None and isinstance(value, (int, float)) and math.isfinite(value):
            self._record(trial_id, int(step), float(value), final=True)  # the last report: always
        reason = self._stop_reason(trial_id, result, error)
        state = STUDY_STATES[reason] if value is not None else "FAIL"
        db_id = self._db_ids[trial_id]
        self._db.set_trial_user_attr(db_id, "trial", f"trial_{trial_id}")
        self._db.set_trial_user_attr(db_id, "stop_reason", reason)
        try:
            # A multi-objective PRUNED trial keeps no values: Optuna records a pruned trial's last
            # intermediate value, and multi-objective studies have none.
            told = self._ot_study.tell(ot_trial, value if state == "COMPLETE" else None,
                                       state=optuna.trial.TrialState[state])
        except ValueError as exc:  # e.g. a NaN value: Optuna's own rule decides, as OptunaSearch does
            logger.warning(exc)
        else:  # the database gets what Optuna made of it (a PRUNED trial's value is its last report)
            self._db.set_trial_state_values(db_id, told.state, told.values)
        if reason == ERROR:
            self._failed[trial_id] = (db_id, self._plans.get(trial_id, (None, 0)), {})

    def _add_retried(self, trial_id: str, result: dict | None, error: bool) -> None:
        """An errored trial ``resume`` ran again (from its checkpoint) and that ended: Optuna cannot
        reopen the FAIL it was told, so the study gets a second trial, its parameters and its new
        outcome, with ``retry_of`` = the FAIL's number."""
        import optuna

        storage_id, plan, values = self._failed.pop(trial_id)
        value = self._values(result)
        self._plans[trial_id] = plan
        reason = self._stop_reason(trial_id, result, error)
        self._plans.pop(trial_id, None)
        if error or value is None:
            return  # failed again: its FAIL stands
        step = (result or {}).get("epoch")
        if step is not None and not isinstance(value, list):
            values[int(step)] = value
        failed = self._db.get_trial(storage_id)
        state = optuna.trial.TrialState[STUDY_STATES[reason]]
        multi = isinstance(value, list)
        retried = optuna.trial.create_trial(
            state=state, value=None if multi else value,
            values=(value if state == optuna.trial.TrialState.COMPLETE else None) if multi else None,
            params=failed.params, distributions=failed.distributions,
            intermediate_values=values,
            user_attrs={"trial": f"trial_{trial_id}", "stop_reason": reason, "retry_of": failed.number})
        self._db_study.add_trial(retried)
        self._ot_study.add_trial(retried)

    def _values(self, result: dict | None) -> float | list[float] | None:
        """The trial's objective value (a list of them in a multi-objective search), None if missing."""
        result = result or {}
        metrics = self.metric if isinstance(self.metric, list) else [self.metric]
        values = [result.get(name) for name in metrics]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return None
        return [float(v) for v in values] if isinstance(self.metric, list) else float(values[0])

    def _stop_reason(self, trial_id: str, result: dict | None, error: bool) -> str:
        result = result or {}
        planned, patience = self._plans.get(trial_id, (None, 0))
        return stop_reason(error=error, diverged=bool(result.get("diverged", 0)), epochs_run=int(result.get("epoch") or 0),
                           planned_epochs=planned, best_epoch=int(result.get("best_epoch") or 0),
                           patience=patience, rungs=self._rungs)

    # ------------------------------------------------------------------ state: the database is the copy

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for live in ("_ot_study", "_storage", "_db", "_db_study", "_db_ids"):
            state.pop(live, None)
        state["_ot_trials"] = {tid: self._db_ids[tid] for tid in self._ot_trials}  # database ids
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        import optuna

        open_ids: dict[str, int] = state.pop("_ot_trials")
        self.__dict__.update(state)
        self._storage = None
        self._open_database(create=False)
        # The sampler's copy: every finished trial of the database, and the open ones this searcher knows.
        self._ot_study = optuna.create_study(directions=self._db_study.directions, sampler=self._sampler,
                                             pruner=optuna.pruners.NopPruner(), study_name=self._study_name)
        self._ot_study.add_trials([t for t in self._db.get_all_trials(self._db_study_id, deepcopy=False)
                                   if t.state.is_finished()])
        self._ot_trials, self._db_ids = {}, {}
        for trial_id, db_id in open_ids.items():
            frozen = self._db.get_trial(db_id)
            if frozen.state.is_finished():
                self._completed_trials.add(trial_id)
                continue
            self._ot_study.add_trial(frozen)
            self._ot_trials[trial_id] = optuna.trial.Trial(
                self._ot_study, self._ot_study.get_trials(deepcopy=False)[-1]._trial_id)
            self._db_ids[trial_id] = db_id
        self._restored = set(self._ot_trials)
        self._last_step = {trial_id: (step, -math.inf) for trial_id, (step, _) in self._last_step.items()}
        self._orphans_checked = False

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as handle:
            pickle.dump(self.__getstate__(), handle)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as handle:
            self.__setstate__(pickle.load(handle))

    def _fail_orphans(self) -> None:
        """RUNNING trials this searcher does not know: asked for by a driver killed before its
        next snapshot. Ray samples their replacements; the study keeps them as FAIL."""
        import optuna

        known = set(self._db_ids.values())
        running = self._db.get_all_trials(self._db_study_id, deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        for frozen in running:
            if frozen._trial_id not in known:
                self._db.set_trial_user_attr(frozen._trial_id, "stop_reason", "driver lost")
                self._db.set_trial_state_values(frozen._trial_id, optuna.trial.TrialState.FAIL)
        self._orphans_checked = True
