"""Multi-objective searches (``--objectives val_auc,COST``): the study's directions and values, the
Pareto front in ``report`` and TensorBoard, ``export --trial``, and the bad-input errors."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from optuna.study import StudyDirection
from optuna.trial import TrialState
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tune_gae.cli import main
from tune_gae.rules import COST_OBJECTIVES, parse_objectives
from tune_gae.search.board import HPARAMS_SUFFIX, run_dir
from tune_gae.search.results import SearchFolder
from tune_gae.search.study import load_study

COST = "parameters"  # deterministic per configuration, and it differs between the smoke space's models


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("objectives", "message"), [
    ("val_auc,epoch_s", "--objectives: unknown objective 'epoch_s' (did you mean 'epoch_ms'?): name a validation "
                        "metric (val_auc, val_ap, val_mrr, val_hits@10, val_hits@20, val_hits@50, val_hits@100), "
                        "then one of epoch_ms, parameters, embedding_dim."),
    ("epoch_ms,val_auc", "--objectives must start with a validation metric (val_auc, val_ap, val_mrr, val_hits@10, "
                         "val_hits@20, val_hits@50, val_hits@100) but starts with 'epoch_ms': put the metric first "
                         "(e.g. --objectives val_auc,epoch_ms)."),
    ("val_auc,val_auc", "--objectives names 'val_auc' twice: name each objective once (e.g. --objectives "
                        "val_auc,epoch_ms)."),
    ("val_auc,val_ap", "--objectives takes a validation metric and one cost (epoch_ms, parameters, embedding_dim) "
                       "but got 'val_auc,val_ap': e.g. --objectives val_auc,epoch_ms."),
])
def test_bad_objectives_are_refused_before_anything_starts(objectives: str, message: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["search", "smoke", "--dataset", "Cora", "--objectives", objectives,
                                       "--results-dir", str(tmp_path / "results")])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [f"Error: {message}"]
    assert not (tmp_path / "results").exists()


def test_objectives_and_a_disagreeing_metric_are_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["search", "smoke", "--metric", "val_ap", "--objectives", "val_auc,epoch_ms",
                                       "--results-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: --metric val_ap and --objectives val_auc,epoch_ms disagree: the first objective is the search "
        "metric, so drop --metric."]


def test_objectives_parse_and_set_the_search_metric() -> None:
    from tune_gae.search.settings import SearchSettings, study_objectives

    assert parse_objectives(" val_ap , embedding_dim") == ("val_ap", "embedding_dim")
    settings = SearchSettings(space="smoke", objectives="val_ap,epoch_ms")
    assert settings.metric == "val_ap" and settings.objectives == ("val_ap", "epoch_ms")
    assert study_objectives(settings) == (["best_val_ap", "epoch_ms"], ["max", COST_OBJECTIVES["epoch_ms"]])
    assert SearchSettings.from_json(json.loads(json.dumps(settings.to_json()))) == settings  # resume reads it back


# --------------------------------------------------------------------------- one real search


@pytest.fixture(scope="module")
def pareto_search(ray_session: None, data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 6-trial smoke search on Cora over val_auc and the parameter count (ASHA at epoch 8)."""
    from tune_gae import DataConfig, SearchSettings, run_search

    outcome = run_search(SearchSettings(
        space="smoke", data=DataConfig("Cora", root=str(data_root)), num_samples=6, max_epochs=16,
        grace_period=8, results_dir=str(tmp_path_factory.mktemp("pareto")), name="pareto", reselect_top=0,
        objectives=("val_auc", COST),
    ))
    return outcome.path


def _dominated(point: tuple[float, float], by: tuple[float, float]) -> bool:
    """Higher AUC and fewer parameters are better (written out here, not taken from tune_gae)."""
    return by[0] >= point[0] and by[1] <= point[1] and (by[0] > point[0] or by[1] < point[1])


def _brute_force_front(rows: list[dict[str, Any]]) -> set[str]:
    ran_out = [r for r in rows if r["stop_reason"] in ("epochs", "patience", "nan")]
    points = {r["trial"]: (float(r["best_val_auc"]), float(r[COST])) for r in ran_out}
    return {t for t, p in points.items() if not any(_dominated(p, q) for u, q in points.items() if u != t)}


@pytest.mark.slow
def test_the_study_has_two_directions_and_every_trials_values(pareto_search: Path) -> None:
    folder = SearchFolder.open(pareto_search)
    assert folder.settings().objectives == ("val_auc", COST)
    study = load_study(*folder.study())
    assert study.directions == [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE]
    assert study.metric_names == ["best_val_auc", COST]  # the trial table's columns, the dashboard's axes
    rows = {row["trial"]: row for row in folder.trials()}
    trials = {t.user_attrs["trial"]: t for t in study.trials}
    assert set(trials) == set(rows) and len(rows) == 6
    for name, trial in trials.items():
        row = rows[name]
        assert trial.intermediate_values == {}  # Optuna keeps none for several objectives
        if row["stop_reason"] in ("epochs", "patience", "nan"):
            assert trial.state == TrialState.COMPLETE
            assert trial.values == [pytest.approx(row["best_val_auc"]), row[COST]]
        else:
            assert trial.state == TrialState.PRUNED and trial.values is None, name
        assert row["embedding_dim"] == row["latent_channels"]  # one ensemble member
        assert row["epoch_ms"] > 0
    # The parameter count each trial reported is the size of the weights it saved.
    for row in rows.values():
        if row["checkpoint"]:
            import torch

            state = torch.load(Path(row["checkpoint"]) / "trainer.pt", weights_only=True)
            assert sum(t.numel() for t in state["best_state"].values()) == row[COST]


@pytest.mark.slow
def test_report_front_equals_a_brute_force_front_and_the_studys(pareto_search: Path) -> None:
    rows = SearchFolder.open(pareto_search).trials()
    expected = _brute_force_front(rows)
    assert expected, "no trial of the search ran its own course"
    study = load_study(*SearchFolder.open(pareto_search).study())
    assert {t.user_attrs["trial"] for t in study.best_trials} == expected  # what optuna-dashboard draws

    result = CliRunner().invoke(main, ["report", str(pareto_search)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Pareto front ("))
    trials = "trial" if len(expected) == 1 else "trials"
    assert lines[start] == f"Pareto front ({len(expected)} {trials}; maximise val_auc, minimise {COST}):"
    table = lines[start + 2:start + 2 + len(expected)]
    assert {line.split()[0] for line in table} == expected
    for line in table:
        row = next(r for r in rows if r["trial"] == line.split()[0])
        assert line.split()[1:3] == [f"{row['best_val_auc']:.4f}", str(row[COST])]
    plot = pareto_search / "plots" / "pareto.png"
    assert f"Plot: {plot}" in lines and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with_plots = CliRunner().invoke(main, ["report", str(pareto_search), "--plots"])
    assert with_plots.exit_code == 0, with_plots.output
    assert f"  {plot}" in with_plots.output.splitlines()  # among the other plots

    # TensorBoard's HParams: pareto 1 on the front, 0 elsewhere, beside the cost.
    for row in rows:
        run = run_dir(pareto_search / "tensorboard", row["trial"])
        events = EventAccumulator(str(next(run.glob(f"*{HPARAMS_SUFFIX}"))), size_guidance={"scalars": 0})
        events.Reload()
        assert events.Scalars("verdict/pareto")[-1].value == float(row["trial"] in expected), row["trial"]
        assert events.Scalars(f"verdict/{COST}")[-1].value == pytest.approx(row[COST])


@pytest.mark.slow
def test_export_trial_exports_that_trial_and_says_it_was_picked_by_hand(pareto_search: Path, tmp_path: Path) -> None:
    rows = SearchFolder.open(pareto_search).trials()
    front = _brute_force_front(rows)
    best = max((r for r in rows if r["checkpoint"]), key=lambda r: r["best_val_auc"])["trial"]
    picked = sorted(front - {best} or front)[0]  # a point of the front other than the default winner, if any

    result = CliRunner().invoke(main, ["export", str(pareto_search), "--trial", picked, "--out",
                                       str(tmp_path / "picked")])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith(f"Exported {picked} (picked by hand, epoch ")
    config = json.loads((tmp_path / "picked" / "config.json").read_text())
    assert config["trial"]["id"] == picked and config["trial"]["picked_by_hand"] is True
    ran = json.loads((pareto_search / picked / "params.json").read_text())  # what Ray ran the trial with
    assert config["model"]["model"] == ran["model"] and config["model"]["latent_channels"] == ran["latent_channels"]
    assert config["model"]["hidden_channels"] == [int(ran["hidden_channels"])]  # the smoke space: one layer
    assert config["training"]["lr"] == ran["lr"] and config["training"]["epochs"] == ran["epochs"]
    assert config["search"]["objectives"] == ["val_auc", COST]
    assert f"Picked by hand: trial `{picked}`" in (tmp_path / "picked" / "MODEL_CARD.md").read_text()

    default = CliRunner().invoke(main, ["export", str(pareto_search), "--out", str(tmp_path / "best")])
    assert default.exit_code == 0, default.output
    assert default.output.splitlines()[:2] == [
        default.output.splitlines()[0],
        f"Multi-objective search: the default export is the best by val_auc, the first objective; `tune-gae "
        f"report {pareto_search}` lists the Pareto front, `tune-gae export {pareto_search} --trial ID` exports "
        f"any trial."]
    assert default.output.startswith(f"Exported {best} (epoch ")
    assert json.loads((tmp_path / "best" / "config.json").read_text())["trial"]["picked_by_hand"] is False

    unknown = CliRunner().invoke(main, ["export", str(pareto_search), "--trial", "trial_nope"])
    assert unknown.exit_code == 2
    assert unknown.output.strip() == (f"Error: --trial trial_nope: {pareto_search} has no such trial: pick an id "
                                      f"from `tune-gae report {pareto_search}`.")



@pytest.mark.slow
def test_a_multi_objective_search_stopped_by_ctrl_c_is_resumed_with_its_objectives(tmp_path: Path) -> None:
    """The objectives are saved with the search's settings: `resume` continues the same
    two-direction study, and every trial ends with both values."""
    import os
    import signal
    import subprocess

    from test_faults import DRIVER_TIMEOUT_S, GRAPH, cli, finished_trials, saved_as_terminated, wait_for, write_space

    epochs, samples = 300, 4
    space = write_space(tmp_path, epochs=epochs)
    search = tmp_path / "mo"
    flags = ["--no-export", "--json"]
    driver = subprocess.Popen(
        cli("search", str(space), "--dataset", GRAPH, "--num-samples", str(samples), "--max-epochs", str(epochs),
            "--scheduler", "fifo", "--objectives", "val_auc,epoch_ms", "--results-dir", str(tmp_path), "--name", "mo",
            *flags), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for(lambda: finished_trials(search, epochs) and saved_as_terminated(search), "a finished trial",
                 alive=lambda: driver.poll() is None)
        os.killpg(driver.pid, signal.SIGINT)
        _, stderr = driver.communicate(timeout=DRIVER_TIMEOUT_S)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 130, stderr[-2000:]
    assert not (search / "trials.csv").exists()

    resumed = subprocess.run(cli("resume", str(search), *flags), capture_output=True, text=True,
                             timeout=DRIVER_TIMEOUT_S, check=False)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    folder = SearchFolder.open(search)
    assert folder.settings().objectives == ("val_auc", "epoch_ms")
    assert len(folder.record()["segments"]) == 2
    rows = {row["trial"]: row for row in folder.trials()}
    study = load_study(*folder.study())
    assert study.directions == [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE]
    done = {t.user_attrs["trial"]: t for t in study.trials if t.state == TrialState.COMPLETE}
    assert set(done) == set(rows) and len(rows) == samples  # fifo: every trial runs its epochs
    for name, trial in done.items():
        assert trial.values == [pytest.approx(rows[name]["best_val_auc"]), pytest.approx(rows[name]["epoch_ms"])]


@pytest.mark.slow
def test_optuna_dashboard_serves_the_two_directions_and_the_front(pareto_search: Path) -> None:
    import signal
    import subprocess

    from test_faults import cli, wait_for
    from test_study import _answers, _free_port, _get

    expected = _brute_force_front(SearchFolder.open(pareto_search).trials())
    port = _free_port()
    command = subprocess.Popen(cli("dashboard", str(pareto_search), "--port", str(port)), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_for(lambda: _answers(port), f"optuna-dashboard on port {port}", timeout=120,
                 alive=lambda: command.poll() is None)
        study = _get(port, "/api/studies/1")
    finally:
        command.send_signal(signal.SIGTERM)
        command.communicate(timeout=30)
    assert study["directions"] == ["maximize", "minimize"]
    assert study["objective_names"] == ["best_val_auc", COST]  # its plots' axis names, not "0" and "1"
    by_number = {t["number"]: next(a["value"] for a in t["user_attrs"] if a["key"] == "trial") for t in study["trials"]}
    assert {by_number[t["number"]] for t in study["best_trials"]} == expected  # its Pareto-front plot's points
