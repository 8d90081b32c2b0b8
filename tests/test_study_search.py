"""StudySearch against a real SQLite study: the calls Ray Tune makes, then what Optuna reads back.

The hooks are called as Ray's TuneController calls them (suggest, on_trial_result per report,
on_trial_complete with the last result); test_study.py checks the same through real searches.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tune_gae.search import study_search
from tune_gae.search.space_parser import load_space
from tune_gae.search.study import load_study
from tune_gae.search.study_search import STUDY_STATES, StudySearch

RUNGS = (10, 30)
SPACE = """\
parameters:
  model: gae
  latent_channels: {choice: [8, 16]}
  lr: {loguniform: [0.005, 0.02]}
  epochs: 30
  patience: 5
"""


def _searcher(tmp_path: Path, name: str = "s") -> StudySearch:
    (tmp_path / "space.yaml").write_text(SPACE)
    space = load_space(str(tmp_path / "space.yaml")).define_by_run(max_epochs=30, graph="features")
    return StudySearch(space=space, metric="best_val_auc", storage_url=f"sqlite:///{tmp_path / 'study.db'}",
                       study_name=name, sampler=optuna.samplers.TPESampler(seed=0), rungs=RUNGS,
                       user_attrs={"split_hash": "abc"})


def _run(searcher: StudySearch, trial_id: str, epochs: list[int], *, last: dict | None = None,
         error: bool = False, values: list[float] | None = None) -> dict:
    """Report ``epochs`` (best-so-far AUC rising), then complete with the last report."""
    config = searcher.suggest(trial_id)
    values = values or [0.5 + e / 100 for e in epochs]
    result: dict = {}
    for epoch, value in zip(epochs, values):
        result = {"epoch": epoch, "best_val_auc": value, "best_epoch": epoch, "training_iteration": len(epochs)}
        searcher.on_trial_result(trial_id, result)
    searcher.on_trial_complete(trial_id, result={**result, **(last or {})} if not error else None, error=error)
    return config


def test_each_stop_is_recorded_in_the_state_optuna_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(study_search, "INTERMEDIATE_INTERVAL_S", 3600.0)  # deterministic: no report by time
    searcher = _searcher(tmp_path)  # every trial: 30 epochs, patience 5; ASHA rungs at 10 and 30
    _run(searcher, "full", [1, 5, 10, 20, 30])
    searcher.suggest("asha")
    for epoch in (3, 7, 10):
        searcher.on_trial_result("asha", {"epoch": epoch, "best_val_auc": 0.6 + epoch / 1000, "best_epoch": epoch})
    searcher.on_trial_complete("asha", result={"epoch": 10, "best_val_auc": 0.61, "best_epoch": 10})
    searcher.suggest("patient")
    searcher.on_trial_complete("patient", result={"epoch": 17, "best_val_auc": 0.7, "best_epoch": 12})
    searcher.suggest("budget")
    searcher.on_trial_complete("budget", result={"epoch": 13, "best_val_auc": 0.65, "best_epoch": 13})
    searcher.suggest("nan")
    searcher.on_trial_complete("nan", result={"epoch": 4, "best_val_auc": 0.55, "best_epoch": 2, "diverged": 1})
    _run(searcher, "crash", [1], error=True)
    searcher.suggest("pending")  # never started: removed when the time budget ran out
    searcher.on_trial_complete("pending")

    study = load_study(f"sqlite:///{tmp_path / 'study.db'}", "s")
    by_name = {t.user_attrs.get("trial"): t for t in study.trials}
    expected = {
        "trial_full": ("epochs", TrialState.COMPLETE),
        "trial_asha": ("asha", TrialState.PRUNED), "trial_patient": ("patience", TrialState.COMPLETE),
        "trial_budget": ("time budget", TrialState.PRUNED), "trial_nan": ("nan", TrialState.COMPLETE),
        "trial_crash": ("error", TrialState.FAIL), "trial_pending": ("time budget", TrialState.FAIL),
    }
    assert set(by_name) == set(expected)
    for name, (reason, state) in expected.items():
        trial = by_name[name]
        assert trial.user_attrs["stop_reason"] == reason, name
        assert trial.state == state, name
        assert state == TrialState[STUDY_STATES[reason]] or name == "trial_pending"  # no value: FAIL
    # ASHA's stop: PRUNED, its value the best so far at the rung. Intermediate values by epoch: the
    # first report, every rung, the last; none in between within INTERMEDIATE_INTERVAL_S.
    assert by_name["trial_asha"].intermediate_values == pytest.approx({3: 0.603, 10: 0.61})
    assert by_name["trial_asha"].value == pytest.approx(0.61)
    assert by_name["trial_patient"].value == pytest.approx(0.7)
    assert by_name["trial_patient"].intermediate_values == {17: pytest.approx(0.7)}  # the last report counts
    assert by_name["trial_crash"].value is None and by_name["trial_pending"].value is None
    assert by_name["trial_asha"].user_attrs == {"trial": "trial_asha", "stop_reason": "asha"}
    assert study.user_attrs == {"split_hash": "abc"}
    # Optuna's own readers take COMPLETE trials only: the ASHA and budget stops do not count.
    assert {t.user_attrs["trial"] for t in study.get_trials(states=(TrialState.COMPLETE,))} == {
        "trial_full", "trial_patient", "trial_nan"}
    assert by_name["trial_full"].intermediate_values == pytest.approx({1: 0.51, 10: 0.6, 30: 0.8})


def test_a_trial_enters_the_database_once_sampled_with_every_parameter(tmp_path: Path) -> None:
    """The dashboard sees a trial as soon as it runs: RUNNING, with the parameters the sampler's
    in-memory copy of the study gave it."""
    searcher = _searcher(tmp_path)
    config = searcher.suggest("t")
    trial = load_study(f"sqlite:///{tmp_path / 'study.db'}", "s").trials[0]
    assert trial.state == TrialState.RUNNING
    assert trial.params == {"latent_channels": config["latent_channels"], "lr": config["lr"]}
    assert searcher._ot_study.trials[0].params == trial.params


def test_a_retried_trial_does_not_report_an_epoch_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(study_search, "INTERMEDIATE_INTERVAL_S", 0.0)  # every report is recorded
    searcher = _searcher(tmp_path)
    searcher.suggest("t")
    for epoch in (1, 2, 3, 2, 3, 4):  # retried from its epoch-1 checkpoint after epoch 3
        searcher.on_trial_result("t", {"epoch": epoch, "best_val_auc": epoch / 10})
    trial = load_study(f"sqlite:///{tmp_path / 'study.db'}", "s").trials[0]
    assert trial.intermediate_values == pytest.approx({1: 0.1, 2: 0.2, 3: 0.3, 4: 0.4})
    assert trial.state == TrialState.RUNNING


def test_a_restored_searcher_continues_the_same_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray pickles the searcher (tuner.pkl, snapshots) and restores it on resume: the study comes
    back from the database, the open trial finishes, trials asked for after the snapshot (a killed
    driver) are marked FAIL, and nothing is duplicated."""
    monkeypatch.setattr(study_search, "INTERMEDIATE_INTERVAL_S", 0.0)
    searcher = _searcher(tmp_path)
    _run(searcher, "a", [5, 10])
    searcher.suggest("b")
    searcher.on_trial_result("b", {"epoch": 4, "best_val_auc": 0.6})
    snapshot = tmp_path / "searcher.pkl"
    searcher.save(str(snapshot))
    assert snapshot.stat().st_size < 20_000  # ids and the sampler, never the study's trials
    searcher.suggest("lost")  # asked for after the snapshot; then the driver dies

    restored = pickle.loads(pickle.dumps(searcher))  # what tuner.pkl holds; then Ray restores the snapshot
    restored.restore(str(snapshot))
    # The sampler's copy comes back from the database: the finished trial and the open one.
    assert [(t.state, t.params) for t in restored._ot_study.trials] == [
        (TrialState.PRUNED, searcher._ot_study.trials[0].params), (TrialState.RUNNING, searcher._ot_study.trials[1].params)]
    restored.on_trial_result("b", {"epoch": 4, "best_val_auc": 0.6})  # re-reported after the retry
    restored.on_trial_result("b", {"epoch": 8, "best_val_auc": 0.7})
    restored.on_trial_complete("b", result={"epoch": 8, "best_val_auc": 0.7, "best_epoch": 8})
    restored.on_trial_complete("a", result={"epoch": 10, "best_val_auc": 0.9})  # told before: ignored
    _run(restored, "c", [3])

    study = load_study(f"sqlite:///{tmp_path / 'study.db'}", "s")
    states = {t.user_attrs.get("trial", "lost"): t.state for t in study.trials}
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    assert set(states) == {"trial_a", "trial_b", "trial_c", "lost"}
    assert states["lost"] == TrialState.FAIL
    assert study.trials[2].user_attrs == {"stop_reason": "driver lost"}
    b = next(t for t in study.trials if t.user_attrs.get("trial") == "trial_b")
    assert b.intermediate_values == pytest.approx({4: 0.6, 8: 0.7})
    assert next(t for t in study.trials if t.user_attrs.get("trial") == "trial_a").value == pytest.approx(0.6)


def test_an_errored_trial_that_resume_runs_again_gets_a_second_trial(tmp_path: Path) -> None:
    """Optuna cannot reopen a FAIL: the retried run's outcome is a new trial with the same
    parameters, ``retry_of`` the FAIL's number; its FAIL stays (the attempt that failed)."""
    searcher = _searcher(tmp_path)
    searcher.suggest("e")
    searcher.on_trial_result("e", {"epoch": 3, "best_val_auc": 0.6})
    searcher.on_trial_complete("e", error=True)
    snapshot = tmp_path / "searcher.pkl"
    searcher.save(str(snapshot))
    restored = pickle.loads(pickle.dumps(searcher))
    restored.restore(str(snapshot))  # resume, with Ray's resume_errored: the trial runs again
    for epoch in (4, 10, 20):
        restored.on_trial_result("e", {"epoch": epoch, "best_val_auc": 0.6 + epoch / 100})
    restored.on_trial_complete("e", result={"epoch": 30, "best_val_auc": 0.91, "best_epoch": 30})
    failed, retried = load_study(f"sqlite:///{tmp_path / 'study.db'}", "s").trials
    assert failed.state == TrialState.FAIL and failed.user_attrs == {"trial": "trial_e", "stop_reason": "error"}
    assert retried.state == TrialState.COMPLETE and retried.value == pytest.approx(0.91)
    assert retried.params == failed.params
    assert retried.user_attrs == {"trial": "trial_e", "stop_reason": "epochs", "retry_of": failed.number}
    assert retried.intermediate_values == pytest.approx({4: 0.64, 10: 0.7, 20: 0.8, 30: 0.91})


def test_a_multi_objective_searcher_tells_both_values_and_continues_after_restore(tmp_path: Path) -> None:
    """``--objectives val_auc,epoch_ms``: two directions, both values told for a trial that ran its
    course, none for one ASHA stopped (Optuna keeps no intermediate values for several objectives);
    restored from its snapshot (``resume``) it finishes the open trial and re-runs an errored one."""
    (tmp_path / "space.yaml").write_text(SPACE)
    space = load_space(str(tmp_path / "space.yaml")).define_by_run(max_epochs=30, graph="features")
    searcher = StudySearch(space=space, metric=["best_val_auc", "epoch_ms"], mode=["max", "min"],
                           storage_url=f"sqlite:///{tmp_path / 'study.db'}", study_name="mo",
                           sampler=optuna.samplers.TPESampler(seed=0), rungs=RUNGS)
    searcher.suggest("done")
    searcher.on_trial_result("done", {"epoch": 10, "best_val_auc": 0.7, "epoch_ms": 4.0})
    searcher.on_trial_complete("done", result={"epoch": 30, "best_val_auc": 0.9, "epoch_ms": 5.0, "best_epoch": 30})
    searcher.suggest("asha")
    searcher.on_trial_complete("asha", result={"epoch": 10, "best_val_auc": 0.6, "epoch_ms": 3.0, "best_epoch": 10})
    searcher.suggest("open")
    searcher.suggest("error")
    searcher.on_trial_complete("error", error=True)
    snapshot = tmp_path / "searcher.pkl"
    searcher.save(str(snapshot))

    restored = pickle.loads(pickle.dumps(searcher))
    restored.restore(str(snapshot))
    restored.on_trial_result("open", {"epoch": 10, "best_val_auc": 0.8, "epoch_ms": 2.0})
    restored.on_trial_complete("open", result={"epoch": 30, "best_val_auc": 0.85, "epoch_ms": 2.5, "best_epoch": 30})
    restored.on_trial_complete("error", result={"epoch": 30, "best_val_auc": 0.8, "epoch_ms": 9.0, "best_epoch": 30})

    study = load_study(f"sqlite:///{tmp_path / 'study.db'}", "mo")
    assert study.directions == [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]
    trials = {t.user_attrs["trial"] + ("-retry" if "retry_of" in t.user_attrs else ""): t for t in study.trials}
    assert {name: (t.state, t.values) for name, t in trials.items()} == {
        "trial_done": (TrialState.COMPLETE, [0.9, 5.0]),
        "trial_asha": (TrialState.PRUNED, None),
        "trial_open": (TrialState.COMPLETE, [0.85, 2.5]),
        "trial_error": (TrialState.FAIL, None),
        "trial_error-retry": (TrialState.COMPLETE, [0.8, 9.0]),
    }
    assert all(t.intermediate_values == {} for t in study.trials)
    assert {t.user_attrs["trial"] for t in study.best_trials} == {"trial_done", "trial_open"}
