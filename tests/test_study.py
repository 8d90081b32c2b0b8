"""A search's Optuna study in a real database: SQLite in the search folder, read back by Optuna and
served by optuna-dashboard; a shared storage refuses a study name it holds."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import optuna
import psutil
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState
from test_faults import cli, descendants, wait_for

from tune_gae.cli import main
from tune_gae.search.results import STUDY_FILE, SearchFolder
from tune_gae.search.study import load_study
from tune_gae.search.study_search import STUDY_STATES


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.loads(response.read())


def _answers(port: int) -> bool:
    try:
        _get(port, "/api/studies")
        return True
    except OSError:
        return False


@pytest.mark.slow
def test_the_study_holds_every_trial_as_the_trial_table_has_it(smoke_search: Path) -> None:
    """Same trials, values, parameters and stop reasons as trials.json; each state follows from
    the stop reason; intermediate values are by epoch and end at the epoch the trial stopped."""
    folder = SearchFolder.open(smoke_search)
    url, name = folder.study()
    assert (name, url) == ("smoke", f"sqlite:///{smoke_search / STUDY_FILE}")
    study = load_study(url, name)
    rows = {row["trial"]: row for row in folder.trials()}
    trials = {trial.user_attrs["trial"]: trial for trial in study.trials}
    assert set(trials) == set(rows) and len(study.trials) == len(rows) == 4
    assert study.user_attrs == {"split_hash": folder.record()["split_hash"], "dataset": "Cora"}
    assert study.metric_names == ["best_val_auc"]  # the trial table's column, the dashboard's axis name
    for name, trial in trials.items():
        row = rows[name]
        assert trial.user_attrs["stop_reason"] == row["stop_reason"]
        assert trial.state == TrialState[STUDY_STATES[row["stop_reason"]]], name
        assert trial.value == pytest.approx(row["best_val_auc"]), name  # PRUNED: its best at the stop
        steps = sorted(trial.intermediate_values)
        assert steps[-1] == row["epochs_run"] and steps[0] >= 1
        assert trial.intermediate_values[steps[-1]] == pytest.approx(row["best_val_auc"])
        values = [trial.intermediate_values[s] for s in steps]
        assert values == sorted(values)  # the best so far never falls
        for key, value in trial.params.items():
            assert row[key] == value, (name, key)
    # No write-ahead log left behind: study.db alone holds the study.
    wal = smoke_search / f"{STUDY_FILE}-wal"
    assert not wal.exists() or wal.stat().st_size == 0


@pytest.mark.slow
def test_dashboard_serves_the_study_and_stops_on_sigterm(smoke_search: Path) -> None:
    port = _free_port()
    command = subprocess.Popen(cli("dashboard", str(smoke_search), "--port", str(port)), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_for(lambda: _answers(port), f"optuna-dashboard on port {port}", timeout=120,
                 alive=lambda: command.poll() is None)
        server = descendants(command.pid)
        assert server, "the dashboard runs as a child process of the command"
        summaries = _get(port, "/api/studies")["study_summaries"]
        assert [s["study_name"] for s in summaries] == ["smoke"]
        study = _get(port, f"/api/studies/{summaries[0]['study_id']}")
        table = {row["trial"]: row for row in SearchFolder.open(smoke_search).trials()}
        served = {next(a["value"] for a in t["user_attrs"] if a["key"] == "trial"): t for t in study["trials"]}
        assert set(served) == set(table)
        for name, trial in served.items():
            assert trial["values"] == [pytest.approx(table[name]["best_val_auc"])]
            assert trial["state"] == {"COMPLETE": "Complete", "PRUNED": "Pruned"}[
                STUDY_STATES[table[name]["stop_reason"]]]
        command.send_signal(signal.SIGTERM)
        output, _ = command.communicate(timeout=30)
    finally:
        if command.poll() is None:
            command.kill()
    assert command.returncode == 128 + signal.SIGTERM, output
    assert output.splitlines()[0] == f"optuna-dashboard on http://127.0.0.1:{port}/dashboard/studies/1 (Ctrl-C to stop)"
    _, alive = psutil.wait_procs(server, timeout=10)
    assert alive == [] and not _answers(port)
    assert "Traceback" not in output


@pytest.mark.slow
def test_dashboard_refuses_a_taken_port_and_a_search_without_its_study(smoke_search: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        began = time.monotonic()
        result = subprocess.run(cli("dashboard", str(smoke_search), "--port", str(port)), capture_output=True,
                                check=False, text=True, timeout=60)
    assert result.returncode == 2 and time.monotonic() - began < 20
    assert "http://" not in result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"Error: port {port} on 127.0.0.1 is already in use: pass another --port (e.g. --port {port + 1}) "
        f"or stop what serves on it."]
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "search.json").write_text((smoke_search / "search.json").read_text())  # its study.db not copied
    result = CliRunner().invoke(main, ["dashboard", str(copy)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (f"Error: the study database {copy / STUDY_FILE} is not there: a search keeps "
                                     f"its study where --storage said (default: study.db in its folder).")


def test_a_shared_storage_refuses_a_study_name_it_holds_before_anything_starts(tmp_path: Path) -> None:
    """Two searches of one name in one database would write one study: the second is refused
    (exit 2) before Ray starts or anything is written; --overwrite would replace it."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    optuna.create_study(storage=url, study_name="cora-a")
    began = time.monotonic()
    result = CliRunner().invoke(main, ["search", "smoke", "--storage", url, "--name", "cora-a",
                                       "--results-dir", str(tmp_path / "results")])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1] == (f"Error: the study storage {url} already holds a study named 'cora-a': pick "
                                     f"another --name, or pass --overwrite to delete it.")
    assert not (tmp_path / "results").exists() and time.monotonic() - began < 10
    result = CliRunner().invoke(main, ["search", "smoke", "--storage", "nosuchdb://x", "--name", "b",
                                       "--results-dir", str(tmp_path / "results")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith("Error: cannot open the study storage nosuchdb://x (")
    assert result.output.rstrip().endswith("pass a reachable SQLAlchemy URL to --storage (e.g. postgresql://user@host/db).")


# --------------------------------------------------------------------------- warm starts

SMOKE_NARROW_LR = """\
parameters:
  model: {choice: [gae, vgae]}
  hidden_channels: {choice: [[16], [32]]}
  latent_channels: {choice: [8, 16]}
  lr: {loguniform: [0.00501, 0.00502]}
  epochs: {int: [10, 30]}
  normalize_features: false
"""


def _smoke_space(tmp_path: Path, text: str | None = None):  # noqa: ANN202
    from tune_gae.search.catalog import resolve_space_path
    from tune_gae.search.space_parser import load_space

    if text is None:
        return load_space(resolve_space_path("smoke")).define_by_run(max_epochs=30, graph="features")
    (tmp_path / "space.yaml").write_text(text)
    return load_space(str(tmp_path / "space.yaml")).define_by_run(max_epochs=30, graph="features")


@pytest.mark.slow
def test_a_warm_start_on_the_same_split_adds_the_earlier_trials_as_evaluated(smoke_search: Path, tmp_path: Path) -> None:
    from tune_gae.search.study import apply_warm_start, plan_warm_start

    split_hash = SearchFolder.open(smoke_search).record()["split_hash"]
    warm = plan_warm_start(str(smoke_search), _smoke_space(tmp_path), split_hash, num_samples=8)
    earlier = load_study(*SearchFolder.open(smoke_search).study())
    assert warm.same_split and not warm.first and len(warm.evaluated) == len(earlier.trials) == 4
    study = optuna.create_study(direction="maximize", storage=f"sqlite:///{tmp_path / 'new.db'}", study_name="new")
    apply_warm_start(study, warm)
    by_number = {f"smoke#{t.number}": t for t in earlier.trials}
    assert len(study.trials) == 4
    for trial in study.trials:  # the same trials, as evaluated: the sampler's history before trial 1
        source = by_number[trial.user_attrs["warm_start"]]
        assert (trial.params, trial.state, trial.value) == (source.params, source.state, source.value)
        assert trial.intermediate_values == source.intermediate_values
    assert study.user_attrs["warm_start"] == {"source": str(smoke_search), "same_split": True, "evaluated": 4,
                                              "first": 0}


@pytest.mark.slow
def test_a_space_that_does_not_fit_is_refused_by_parameter(smoke_search: Path, tmp_path: Path) -> None:
    from tune_gae.errors import TuneGAEError
    from tune_gae.search.study import plan_warm_start

    earlier = load_study(*SearchFolder.open(smoke_search).study())
    outside = next(t for t in earlier.trials if not 0.00501 <= t.params["lr"] <= 0.00502)
    with pytest.raises(TuneGAEError) as narrow:
        plan_warm_start(str(smoke_search), _smoke_space(tmp_path, SMOKE_NARROW_LR), "any", 8)
    assert f"parameter 'lr' = {outside.params['lr']!r} is outside [0.00501, 0.00502] here" in str(narrow.value)
    with pytest.raises(TuneGAEError, match="parameter 'dropout' is sampled here but the earlier trial has no value"):
        plan_warm_start(str(smoke_search), _smoke_space(tmp_path, SMOKE_NARROW_LR.replace(
            "lr: {loguniform: [0.00501, 0.00502]}", "lr: {loguniform: [0.005, 0.02]}\n  dropout: {uniform: [0.0, 0.5]}")),
            "any", 8)
    with pytest.raises(TuneGAEError, match="parameter 'model' is not sampled here"):
        plan_warm_start(str(smoke_search), _smoke_space(tmp_path, SMOKE_NARROW_LR.replace(
            "model: {choice: [gae, vgae]}", "model: gae").replace("[0.00501, 0.00502]", "[0.005, 0.02]")), "any", 8)
    used = earlier.trials[0].params["latent_channels"]
    other = 16 if used == 8 else 8
    with pytest.raises(TuneGAEError) as choice:
        plan_warm_start(str(smoke_search), _smoke_space(tmp_path, SMOKE_NARROW_LR.replace(
            "latent_channels: {choice: [8, 16]}", f"latent_channels: {{choice: [{other}]}}").replace(
            "[0.00501, 0.00502]", "[0.005, 0.02]")), "any", 8)
    assert str(choice.value) == (f"--warm-start {smoke_search} does not fit this space: trial 0: parameter "
                                 f"'latent_channels' = {used} is outside the choices [{other}] here (widen the "
                                 f"space, or warm-start from a search inside it).")
    result = CliRunner().invoke(main, ["search", "smoke", "--warm-start", str(tmp_path / "nothing"), "--name", "w",
                                       "--results-dir", str(tmp_path)])
    assert result.exit_code == 2 and "is neither a search folder nor URL#STUDY" in result.output.splitlines()[-1]


@pytest.mark.slow
def test_a_warm_start_on_another_split_runs_the_earlier_best_configurations_first(
        smoke_search: Path, data_root: Path, tmp_path: Path) -> None:
    from tune_gae import DataConfig, SearchSettings, run_search

    earlier = load_study(*SearchFolder.open(smoke_search).study())
    best = max((t for t in earlier.trials if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    outcome = run_search(SearchSettings(
        space="smoke", data=DataConfig("Cora", root=str(data_root), split_seed=1), seed=1, num_samples=2,
        max_epochs=30, grace_period=10, results_dir=str(tmp_path), name="warm", reselect_top=0,
        warm_start=str(smoke_search), max_concurrent=1,
    ))
    study = load_study(*SearchFolder.open(outcome.path).study())
    assert study.user_attrs["warm_start"] == {"source": str(smoke_search), "same_split": False, "evaluated": 0,
                                              "first": 1}  # 2 // 4 -> at least one
    first = study.trials[0]
    assert first.params == best.params and first.user_attrs["warm_start"] == "tried first"
    assert len(study.trials) == 2 and study.trials[1].params != best.params
    assert first.user_attrs["trial"] in {row["trial"] for row in outcome.trials}
