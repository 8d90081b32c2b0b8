"""Faults a search survives: a killed trial, a diverging trial, Ctrl-C, a killed driver, a lost node.

Each test kills something real (a Ray worker process, the driver, a node's raylet) while a tiny
search on a synthetic graph runs, then checks from the files the search leaves (``progress.csv``
per trial, ``trials.csv``, Ray's experiment state) that nothing was lost or run twice.
Tests that need their own driver run it as a subprocess; the others share the session's Ray
(``ray_session``).
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from optuna.trial import TrialState
from ray_cluster import LocalRayCluster
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tune_gae.cli.options import INTERRUPTED_EXIT_CODE
from tune_gae.config import DataConfig
from tune_gae.search.board import trial_of_run
from tune_gae.search.results import SearchFolder
from tune_gae.search.runner import run_search, saved_trial_statuses
from tune_gae.search.settings import SearchSettings
from tune_gae.search.study import load_study

pytestmark = pytest.mark.slow

GRAPH = "synthetic:nodes=300"
WAIT_S = 240.0  # upper bound for anything a test waits for; normally seconds
DRIVER_TIMEOUT_S = 300

# Trials here report every epoch to Ray Tune (report interval 0), so progress.csv shows exactly
# which epochs ran twice after a retry; the default interval is covered in test_search.py.
# Every trial runs the same number of epochs (so "finished" is visible in progress.csv); only
# latent_channels and lr are sampled, lr from a continuous range so two trials never share one.
SPACE = """\
parameters:
  model: gae
  hidden_channels: [16]
  latent_channels: {{choice: [8, 16]}}
  lr: {lr}
  epochs: {epochs}
  normalize_features: false
"""


def write_space(folder: Path, *, epochs: int, lr: str = "{loguniform: [0.005, 0.02]}") -> Path:
    path = folder / "space.yaml"
    path.write_text(SPACE.format(epochs=epochs, lr=lr))
    return path


def progress(trial_dir: Path) -> list[dict[str, str]]:
    """Complete rows of a trial's progress.csv (one per reported epoch, in the order they came).

    The file is polled while a trial writes it, so a line without its newline (the header or a row
    caught half-written) is not read yet."""
    try:
        text = (trial_dir / "progress.csv").read_text()
    except FileNotFoundError:
        return []
    complete = text[: text.rfind("\n") + 1]
    return list(csv.DictReader(io.StringIO(complete, newline="")))


def trial_dirs(search: Path) -> dict[str, Path]:
    return {p.name: p for p in search.glob("trial_*") if p.is_dir()}


def finished_trials(search: Path, epochs: int) -> list[str]:
    return sorted(name for name, d in trial_dirs(search).items()
                  if (rows := progress(d)) and int(rows[-1]["epoch"]) == epochs)


def wait_for(condition: Callable[[], Any], what: str, *, timeout: float = WAIT_S,
             alive: Callable[[], bool] = lambda: True) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if not alive():
            pytest.fail(f"gave up waiting for {what}: the process it depends on ended")
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def table(search: Path) -> list[dict[str, str]]:
    with (search / "trials.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def saved_as_terminated(search: Path) -> bool:
    """Whether Ray's saved experiment state (once written, and readable) has a TERMINATED trial."""
    try:
        return "TERMINATED" in saved_trial_statuses(search).values()
    except Exception:  # not written yet, or read while being replaced
        return False


def saved_trial_states(search: Path) -> dict[str, dict[str, Any]]:
    """Ray's newest experiment snapshot: trial folder -> {"status", "num_failures"}."""
    from ray.tune import ExperimentAnalysis

    return {Path(t.path).name: {"status": t.status, "num_failures": t.run_metadata.num_failures}
            for t in ExperimentAnalysis(str(search)).trials}


def assert_resumed_from_checkpoint(rows: list[dict[str, str]], *, killed_at: int, checkpoints: set[int],
                                   epochs: int) -> int:
    """One restart, at the epoch after a checkpoint (not at 1), then on to the end.

    Returns the index of the first row after the restart.
    """
    seen = [int(r["epoch"]) for r in rows]
    # Ray counts reports per run of the trial: 1 again where the retry starts.
    restarts = [i for i in range(1, len(rows)) if int(rows[i]["iterations_since_restore"]) == 1]
    assert len(restarts) == 1, f"expected one restart, got epochs {seen}"
    cut = restarts[0]
    resumed_after = seen[cut] - 1  # the checkpoint's epoch
    # Epochs after the checkpoint that the dead worker had reported show up twice; none when it
    # died right after a checkpoint (or before the driver logged more).
    assert seen[:cut] == list(range(1, seen[cut - 1] + 1)) and seen[cut - 1] >= killed_at
    assert resumed_after in checkpoints and resumed_after <= seen[cut - 1]
    assert seen[cut:] == list(range(resumed_after + 1, epochs + 1))
    # Ray's iteration counter follows the checkpoint too.
    assert [int(r["training_iteration"]) for r in rows] == seen
    return cut


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


# Ray agents poll their raylet and leave long after it died; nothing else of a node should.
LINGERING = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")


def _name(proc: psutil.Process) -> str:
    try:
        return proc.name()
    except psutil.NoSuchProcess:
        return ""


def end_leftovers(processes: list[psutil.Process], timeout: float = 20.0) -> list[str]:
    """Wait for a driver's Ray processes to exit, then SIGKILL what is left, by PID.

    Only the processes that are expected to linger are not waited for. Returns the names of the
    processes that had to be killed.
    """
    psutil.wait_procs([p for p in processes if _name(p) not in LINGERING], timeout=timeout)
    names = []
    for proc in processes:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                names.append(proc.name())
                proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(processes, timeout=10)
    return sorted(names)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tune_gae.cli", *args]


# --------------------------------------------------------------------------- a trial dies


def test_killed_trial_is_retried_from_its_checkpoint(ray_session: None, tmp_path: Path) -> None:
    """ASHA (rungs 25, 75; a lone trial is never stopped) and --checkpoint-every 10."""
    epochs, every, kill_after = 200, 10, 15
    settings = SearchSettings(
        space=str(write_space(tmp_path, epochs=epochs)), data=DataConfig(GRAPH), num_samples=1,
        max_epochs=epochs, grace_period=25, reduction_factor=3, checkpoint_every=every, max_failures=2,
        results_dir=str(tmp_path), name="kill", report_interval_s=0.0,
    )
    checkpoints = {*range(every, epochs + 1, every), 25, 75}
    search = tmp_path / "kill"
    killed: dict[str, Any] = {}

    def kill_a_trial() -> None:
        def running_trial() -> tuple[str, list[dict[str, str]]] | None:
            for name, folder in trial_dirs(search).items():
                rows = progress(folder)
                if rows and kill_after <= int(rows[-1]["epoch"]) < epochs // 2:
                    return name, rows
            return None

        name, rows = wait_for(running_trial, "a trial past its first checkpoint")
        pid = int(rows[-1]["pid"])
        proc = psutil.Process(pid)
        # A worker of the Ray runtime this process started, never anyone else's process.
        assert proc.name().startswith("ray::") and pid in {p.pid for p in descendants(os.getpid())}
        proc.send_signal(signal.SIGKILL)
        killed.update(name=name, epoch=int(rows[-1]["epoch"]), pid=pid)

    killer = threading.Thread(target=kill_a_trial, daemon=True)
    killer.start()
    outcome = run_search(settings)
    killer.join(timeout=5)

    assert killed, "the trial was never killed"
    rows = {r["trial"]: r for r in table(search)}
    assert len(rows) == 1 and all(r["state"] == "TERMINATED" for r in rows.values())
    assert all(int(r["epochs_run"]) == epochs for r in rows.values())
    assert saved_trial_states(search)[killed["name"]] == {"status": "TERMINATED", "num_failures": 1}
    history = progress(search / killed["name"])
    assert_resumed_from_checkpoint(history, killed_at=killed["epoch"], checkpoints=checkpoints, epochs=epochs)
    assert killed["pid"] not in {int(r["pid"]) for r in history[-5:]}  # a new worker finished it
    # A checkpoint every 10 epochs, at each ASHA rung and at the end (the last epoch).
    assert {int(r["epoch"]) for r in history if r["checkpoint_dir_name"]} == checkpoints

    # Checkpoints: when the search ends the winner keeps one (the others are pruned), holding the
    # final epoch and the best-validation weights the table reports.
    import torch

    for name, row in rows.items():
        kept = sorted(p.name for p in (search / name).glob("checkpoint_*"))
        assert len(kept) == 1, kept
        state = torch.load(Path(row["checkpoint"]) / "trainer.pt", weights_only=True)
        assert Path(row["checkpoint"]).name == kept[-1] and state["epoch"] == epochs
        assert state["best"]["epoch"] == int(row["best_epoch"])
        assert state["best"]["val_auc"] == pytest.approx(float(row["best_val_auc"]))
    assert outcome.best_trial in rows


# --------------------------------------------------------------------------- a trial diverges


def test_diverging_trials_stop_themselves_and_the_search_goes_on(ray_session: None, tmp_path: Path) -> None:
    """lr 1e30 makes the loss NaN/inf within a few epochs; those trials end as diverged."""
    epochs, huge = 20, 1.0e30
    settings = SearchSettings(
        space=str(write_space(tmp_path, epochs=epochs, lr="{choice: [0.01, 1.0e30]}")), data=DataConfig(GRAPH),
        num_samples=4, max_epochs=epochs, grace_period=epochs, scheduler="fifo", results_dir=str(tmp_path), report_interval_s=0.0,
        name="nan", seed=0,
    )
    outcome = run_search(settings)

    search = tmp_path / "nan"
    rows = table(search)
    diverged = [r for r in rows if float(r["lr"]) == huge]
    healthy = [r for r in rows if float(r["lr"]) != huge]
    assert len(rows) == 4 and diverged and healthy  # seed 0 samples each learning rate twice
    assert all(r["state"] == "TERMINATED" for r in rows)
    assert all(r["diverged"] == "True" and int(r["epochs_run"]) < epochs for r in diverged)
    # Their validation AUC before the NaN loss came from inf embeddings (it can read 1.0): not a
    # best, and no model to export.
    assert all(float(r["best_val_auc"]) == 0.0 and r["checkpoint"] == "" for r in diverged)
    assert all(r["diverged"] == "False" and int(r["epochs_run"]) == epochs for r in healthy)
    states = saved_trial_states(search)
    assert all(states[r["trial"]] == {"status": "TERMINATED", "num_failures": 0} for r in rows)  # never retried
    for row in diverged:
        history = progress(search / row["trial"])
        assert [h["diverged"] for h in history] == ["0"] * (len(history) - 1) + ["1"]
        assert math.isnan(float(history[-1]["loss"]))
    assert all(math.isfinite(float(r["best_val_auc"])) for r in rows)
    assert outcome.best_trial in {r["trial"] for r in healthy}
    assert math.isfinite(outcome.best["best_val_auc"]) and outcome.best["best_val_auc"] > 0.5


def test_a_search_out_of_time_budget_is_finished_not_interrupted(ray_session: None, tmp_path: Path) -> None:
    """Fewer trials than --num-samples is normal when the time budget ends the search."""
    settings = SearchSettings(
        space=str(write_space(tmp_path, epochs=50)), data=DataConfig(GRAPH), num_samples=100, max_epochs=50,
        scheduler="fifo", results_dir=str(tmp_path), report_interval_s=0.0, name="budget", time_budget_s=4.0,
    )
    outcome = run_search(settings)
    assert 0 < len(outcome.trials) < 100
    assert len(table(tmp_path / "budget")) == len(outcome.trials)
    assert "interrupted" not in json.loads((tmp_path / "budget" / "search.json").read_text())


# --------------------------------------------------------------------------- Ctrl-C, kill -9, resume


def test_search_stopped_by_ctrl_c_then_by_kill_is_resumed_to_the_end(tmp_path: Path) -> None:
    """A real driver process: Ctrl-C (SIGINT to its process group, as a terminal sends it), resume,
    SIGKILL of the resumed driver alone (its local Ray is left behind), resume again."""
    epochs, samples = 600, 6  # trials of ~2 s: Ctrl-C and SIGKILL land while some still run
    space = write_space(tmp_path, epochs=epochs)
    search = tmp_path / "s"
    flags = ["--no-export", "--json"]
    finished: dict[str, bytes] = {}  # trials the saved state calls finished: never run again

    def keep_finished() -> None:
        for name, status in saved_trial_statuses(search).items():
            if status == "TERMINATED":
                finished.setdefault(name, (search / name / "progress.csv").read_bytes())

    # 1. Ctrl-C once a trial has finished: Ray Tune saves the state, the command says how to resume.
    with (tmp_path / "search.log").open("w") as log:
        driver = subprocess.Popen(
            cli("search", str(space), "--dataset", GRAPH, "--num-samples", str(samples), "--max-epochs",
                str(epochs), "--scheduler", "fifo", "--checkpoint-every", "10", "--report-interval", "0", "--results-dir", str(tmp_path),
                "--name", "s", *flags),
            stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
        try:
            # Finished in progress.csv, then in Ray's saved state (a snapshot every 2 s): the last
            # epoch's row is written a moment before the trial is marked TERMINATED.
            wait_for(lambda: finished_trials(search, epochs) and saved_as_terminated(search), "a finished trial",
                     alive=lambda: driver.poll() is None)
            ray_processes = descendants(driver.pid)
            os.killpg(driver.pid, signal.SIGINT)
            stdout, _ = driver.communicate(timeout=DRIVER_TIMEOUT_S)
        finally:
            if driver.poll() is None:
                driver.kill()
    log_lines = (tmp_path / "search.log").read_text().strip().splitlines()
    assert driver.returncode == INTERRUPTED_EXIT_CODE, log_lines[-20:]
    done = sum(status == "TERMINATED" for status in saved_trial_statuses(search).values())
    assert log_lines[-1] == (f"Interrupted: search stopped with {done} of {samples} trials finished; its state is "
                             f"saved. Continue it with: tune-gae resume {search}")
    assert stdout == "" and not (search / "trials.csv").exists()
    assert "interrupted" in json.loads((search / "search.json").read_text())
    _, alive = psutil.wait_procs(ray_processes, timeout=15)
    assert alive == []  # a clean exit takes its local Ray along, agents included
    keep_finished()
    assert 1 <= len(finished) < samples

    # 2. Resume, then SIGKILL that driver (alone) once one more trial has finished.
    with (tmp_path / "resume.log").open("w") as log:
        driver = subprocess.Popen(cli("resume", str(search), *flags), stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            wait_for(lambda: len(finished_trials(search, epochs)) > len(finished), "another finished trial",
                     alive=lambda: driver.poll() is None)
            ray_processes = descendants(driver.pid)
            driver.send_signal(signal.SIGKILL)
            driver.wait(timeout=30)
        finally:
            if driver.poll() is None:
                driver.kill()
    # Ray's GCS, raylet and trial workers die with the driver (the workers within seconds); its
    # dashboard and runtime-env agents linger (they poll the raylet), so they are ended here.
    left = end_leftovers(ray_processes, timeout=30)
    assert set(left) <= set(LINGERING), left
    assert not (search / "trials.csv").exists()
    keep_finished()
    assert len(finished) < samples

    # 3. Resume again, in a fresh local Ray: the search ends with exactly `samples` trials.
    resumed = subprocess.run(cli("resume", str(search), *flags), capture_output=True, text=True,
                             timeout=DRIVER_TIMEOUT_S, start_new_session=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["num_trials"] == samples
    assert_complete(search, samples=samples, epochs=epochs, untouched=finished)
    assert "interrupted" in json.loads((search / "search.json").read_text())  # history is kept


def assert_complete(search: Path, *, samples: int, epochs: int, untouched: dict[str, bytes]) -> None:
    """Exactly ``samples`` distinct trials, all finished, in the table, on disk and in TensorBoard;
    trials that had finished before an interruption were not run again."""
    rows = table(search)
    names = [r["trial"] for r in rows]
    assert len(names) == samples == len(set(names))
    assert all(r["state"] == "TERMINATED" and int(r["epochs_run"]) == epochs for r in rows), [
        (r["trial"], r["state"], r["epochs_run"], r.get("stop_reason")) for r in rows]  # which trial, if it flakes
    assert set(trial_dirs(search)) == set(names) == set(saved_trial_statuses(search))
    assert {trial_of_run(p.name) for p in (search / "tensorboard").iterdir()} == set(names)
    for run in (search / "tensorboard").iterdir():  # HParams: one entry per trial, the final one
        assert len(list(run.glob("*tune-gae-hparams"))) == 1
        events = EventAccumulator(str(run), size_guidance={"scalars": 0})
        events.Reload()
        assert [(e.step, e.value) for e in events.Scalars("verdict/epochs_run")] == [(epochs, epochs)]
        assert [e.step for e in events.Scalars("val_auc")] == list(range(1, epochs + 1))  # no epoch twice
    # Optuna's sampler state came back: no configuration sampled twice (a fresh sampler with the
    # same seed would replay the first trials' learning rates).
    assert len({r["lr"] for r in rows}) == samples
    for name, content in untouched.items():
        assert (search / name / "progress.csv").read_bytes() == content, f"{name} ran again"
    for name in names:  # every epoch of every trial reported, none lost
        assert {int(r["epoch"]) for r in progress(search / name)} == set(range(1, epochs + 1))
    # The Optuna study (study.db) went through the same stops: one COMPLETE trial per row, with its
    # value; nothing left RUNNING; a trial a killed driver had asked for is FAIL ("driver lost").
    study = load_study(*SearchFolder.open(search).study())
    complete = {t.user_attrs["trial"]: t.value for t in study.trials if t.state == TrialState.COMPLETE}
    assert complete == {r["trial"]: pytest.approx(float(r["best_val_auc"])) for r in rows}
    assert all(t.state == TrialState.FAIL and t.user_attrs == {"stop_reason": "driver lost"}
               for t in study.trials if t.state != TrialState.COMPLETE)


# --------------------------------------------------------------------------- a node dies


@pytest.mark.cluster
def test_trials_of_a_lost_node_finish_on_the_surviving_one(tmp_path: Path) -> None:
    epochs, samples, every = 300, 3, 10
    space = write_space(tmp_path, epochs=epochs)
    search = tmp_path / "node"
    with LocalRayCluster(num_nodes=2, cpus_per_node=1) as cluster:
        head, worker = cluster.nodes
        env = {**os.environ, **cluster.env}
        with (tmp_path / "search.log").open("w") as log:
            driver = subprocess.Popen(
                cli("search", str(space), "--dataset", GRAPH, "--num-samples", str(samples), "--max-epochs",
                    # --max-concurrent 2 lets Tune place two trials at once (it otherwise keeps one
                    # pending, and short trials all run on the first node's reused actor).
                    str(epochs), "--scheduler", "fifo", "--checkpoint-every", str(every), "--report-interval", "0", "--max-concurrent", "2",
                    "--address",
                    cluster.address, "--results-dir", str(tmp_path), "--name", "node", "--no-export", "--json"),
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                def on_worker() -> tuple[str, int] | None:
                    for name, folder in trial_dirs(search).items():
                        rows = progress(folder)
                        if rows and rows[-1]["node_id"] == worker.node_id and 15 <= int(rows[-1]["epoch"]) < epochs - 100:
                            return name, int(rows[-1]["epoch"])
                    return None

                victim, killed_at = wait_for(on_worker, "a trial past a checkpoint on the worker node",
                                             alive=lambda: driver.poll() is None)
                assert cluster.kill_worker() == worker.node_id
                driver.wait(timeout=DRIVER_TIMEOUT_S)
            finally:
                if driver.poll() is None:
                    driver.kill()
        assert driver.returncode == 0, (tmp_path / "search.log").read_text()[-3000:]

    rows = table(search)
    assert len(rows) == samples and all(r["state"] == "TERMINATED" and int(r["epochs_run"]) == epochs for r in rows)
    history = progress(search / victim)
    restart = assert_resumed_from_checkpoint(history, killed_at=killed_at, epochs=epochs,
                                             checkpoints=set(range(every, epochs + 1, every)))
    assert history[restart - 1]["node_id"] == worker.node_id
    assert {r["node_id"] for r in history[restart:]} == {head.node_id}  # rescheduled on the surviving node
    assert saved_trial_states(search)[victim]["num_failures"] >= 1


# --------------------------------------------------------------------------- resume's clean-up


def test_resume_deletes_only_trial_folders_the_saved_state_does_not_know(tmp_path: Path) -> None:
    """A driver killed between snapshots leaves folders of trials the state never recorded."""
    from tune_gae.search.results import remove_unrecorded_trials

    for parent in (tmp_path, tmp_path / "tensorboard"):
        for name in ("trial_known", "trial_orphan"):
            (parent / name).mkdir(parents=True)
            (parent / name / "events").write_text("x")
    (tmp_path / "trial_notes.txt").write_text("a file, not a trial folder")
    (tmp_path / "checkpoint_000000").mkdir()
    said: list[str] = []

    remove_unrecorded_trials(tmp_path, set(), said.append)  # no state read: delete nothing
    assert (tmp_path / "trial_orphan").is_dir() and said == []

    remove_unrecorded_trials(tmp_path, {"trial_known"}, said.append)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint_000000", "tensorboard", "trial_known", "trial_notes.txt"]
    assert [p.name for p in (tmp_path / "tensorboard").iterdir()] == ["trial_known"]
    assert said == ["  removed trial_orphan: started after the last saved state, replaced by a new trial."]
