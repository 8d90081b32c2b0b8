"""SIGTERM and SIGHUP stop a search like Ctrl-C; `tune-gae tensorboard` stops its server on them.

What systemd, Kubernetes, Slurm and `timeout` send is SIGTERM to the driver alone; a closed
terminal sends SIGHUP. Either must leave a resumable search, print the resume command, exit
128+signal without Ray's crash dump, and take the local Ray this command started along.
"""
from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from test_faults import (
    DRIVER_TIMEOUT_S,
    GRAPH,
    assert_complete,
    cli,
    descendants,
    finished_trials,
    saved_as_terminated,
    saved_trial_statuses,
    wait_for,
    write_space,
)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_to_the_driver_saves_the_search_and_resume_finishes_it(
    tmp_path: Path, stop: signal.Signals
) -> None:
    epochs, samples = 800, 4  # one trial at a time, of a few seconds: the signal lands while one runs
    space = write_space(tmp_path, epochs=epochs)
    search = tmp_path / "s"
    with (tmp_path / "search.log").open("w") as log:
        driver = subprocess.Popen(
            cli("search", str(space), "--dataset", GRAPH, "--num-samples", str(samples), "--max-epochs",
                str(epochs), "--scheduler", "fifo", "--checkpoint-every", "10", "--report-interval", "0",
                "--max-concurrent", "1", "--results-dir", str(tmp_path), "--name", "s", "--no-export"),
            stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
        try:
            wait_for(lambda: finished_trials(search, epochs) and saved_as_terminated(search), "a finished trial",
                     alive=lambda: driver.poll() is None)
            started_here = descendants(driver.pid)
            assert any(p.name().startswith(("raylet", "gcs_server")) for p in started_here)
            driver.send_signal(stop)  # to the driver alone, as `kill PID` does
            stdout, _ = driver.communicate(timeout=DRIVER_TIMEOUT_S)
        finally:
            if driver.poll() is None:
                driver.kill()
    log = (tmp_path / "search.log").read_text()
    assert driver.returncode == 128 + stop, log[-3000:]
    done = sum(status == "TERMINATED" for status in saved_trial_statuses(search).values())
    # The only line: no crash dump, no library chatter (Ray's token and stop-signal warnings,
    # Optuna's study banner), only the resume command.
    assert log.strip().splitlines() == [
        f"Interrupted ({stop.name}): search stopped with {done} of {samples} trials finished; its state is "
        f"saved. Continue it with: tune-gae resume {search}"]
    assert 1 <= done < samples
    # stdout: tune-gae's own lines only (its header and encoding line, then the live view)
    assert stdout.startswith("Search s: ")
    own = ("Search s: ", "Node encoding: ", "  trial_", "[")
    assert all(line.startswith(own) for line in stdout.splitlines()), stdout
    _, alive = psutil.wait_procs(started_here, timeout=60)  # a loaded machine: give shutdown time
    assert [p.name() for p in alive if p.is_running()] == []  # nothing this command started is left
    record = json.loads((search / "search.json").read_text())
    assert [segment["ended_by"] for segment in record["segments"]] == [stop.name]

    # `report` reads an interrupted search from what Ray saved.
    report = subprocess.run(cli("report", str(search), "--json"), capture_output=True, check=False, text=True,
                            timeout=120)
    assert report.returncode == 0, report.stderr[-3000:]
    ended = [row for row in json.loads(report.stdout) if row["state"] == "TERMINATED"]
    assert len(ended) == done
    assert all(row["stop_reason"] == "epochs" and row["epochs_run"] == epochs for row in ended)
    best_before = max(row["best_val_auc"] for row in ended)
    if stop is not signal.SIGTERM:
        return  # the state both signals save is the same; resuming it once (SIGTERM) covers both

    finished = {name: (search / name / "progress.csv").read_bytes()
                for name, status in saved_trial_statuses(search).items() if status == "TERMINATED"}
    resumed = subprocess.run(cli("resume", str(search), "--no-export"), capture_output=True, check=False,
                             text=True, timeout=DRIVER_TIMEOUT_S, start_new_session=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_complete(search, samples=samples, epochs=epochs, untouched=finished)
    # The live view counts every trial that ends, and its best covers those finished before.
    ends = [line for line in resumed.stdout.splitlines() if " done after " in line]
    assert [int(re.search(r"\] (\d+)/", line).group(1)) for line in ends] == list(range(done + 1, samples + 1))
    assert all(float(re.search(r"best val_auc ([0-9.]+)", line).group(1)) >= best_before for line in ends)
    record = json.loads((search / "search.json").read_text())
    assert [segment["ended_by"] for segment in record["segments"]] == [stop.name, "finished"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serving(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_tensorboard_stops_its_server_on_a_stop_signal(tmp_path: Path, stop: signal.Signals) -> None:
    port = _free_port()
    command = subprocess.Popen(cli("tensorboard", str(tmp_path), "--port", str(port)), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_for(lambda: _serving(port), f"TensorBoard on port {port}", timeout=120,
                 alive=lambda: command.poll() is None)
        server = descendants(command.pid)
        assert server, "TensorBoard runs as a child process of the command"
        command.send_signal(stop)
        output, _ = command.communicate(timeout=30)
    finally:
        if command.poll() is None:
            command.kill()
    assert command.returncode == 128 + stop, output
    _, alive = psutil.wait_procs(server, timeout=10)
    assert alive == [] and not _serving(port)
    # tune-gae's one line; none of TensorBoard's own (TensorFlow not found, its NOTE, a second
    # URL, "caught SIGTERM"), which show with --verbose only
    assert output.splitlines() == [f"TensorBoard on http://127.0.0.1:{port}/ (Ctrl-C to stop)"]


def test_tensorboard_refuses_a_taken_port_before_printing_a_url(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        began = time.monotonic()
        result = subprocess.run(cli("tensorboard", str(tmp_path), "--port", str(port)), capture_output=True, check=False,
                                text=True, timeout=60)
    assert result.returncode == 2
    assert "http://" not in result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"Error: port {port} on 127.0.0.1 is already in use: pass another --port (e.g. --port {port + 1}) "
        f"or stop what serves on it."
    ]
    assert time.monotonic() - began < 10



def test_a_stop_signal_during_reselection_keeps_finished_runs_and_resume_completes_it(tmp_path: Path) -> None:
    """Re-selection trains in the driver's threads: SIGTERM there stops the runs at their next
    epoch, saves none half-trained, exits 143 with the resume command; resume trains only the
    runs that were not saved and records the re-selection."""
    epochs, samples, top, seeds = 1500, 2, 2, 3  # six fresh runs of about a second each
    space = write_space(tmp_path, epochs=epochs)
    search = tmp_path / "r"
    driver = subprocess.Popen(
        cli("search", str(space), "--dataset", GRAPH, "--num-samples", str(samples), "--max-epochs", str(epochs),
            "--scheduler", "fifo", "--reselect-top", str(top), "--reselect-seeds", str(seeds),
            "--results-dir", str(tmp_path), "--name", "r", "--no-export"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        seen = []
        for line in driver.stdout:  # the phase has begun once the driver says so
            seen.append(line)
            if line.startswith("Re-selection: "):
                driver.send_signal(signal.SIGTERM)
                break
        assert seen and seen[-1].startswith("Re-selection: "), "".join(seen)[-3000:]
        assert "in this process, 2 at a time" in seen[-1]
        _, stderr = driver.communicate(timeout=DRIVER_TIMEOUT_S)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert f"tune-gae resume {search}" in stderr
    saved_before = sorted(p.name for p in (search / "reselection").glob("*.pt"))
    assert len(saved_before) < top * seeds  # stopped inside the phase, not after it
    assert not list((search / "reselection").glob(".*.part"))  # nothing half-written
    assert "reselection" not in json.loads((search / "search.json").read_text())

    resumed = subprocess.run(cli("resume", str(search), "--no-export"), capture_output=True, check=False,
                             text=True, timeout=DRIVER_TIMEOUT_S, start_new_session=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"({len(saved_before)} of {top * seeds} runs already done)" in resumed.stdout
    record = json.loads((search / "search.json").read_text())
    # The summary gives the trials' time and re-selection's own (the resumed segment's).
    assert f"{samples} trials in {record['seconds']:.0f} s, then re-selection in " \
           f"{record['reselection_seconds']:.0f} s." in resumed.stdout
    entries = record["reselection"]
    assert len(entries) == top and all(len(entry["values"]) == seeds for entry in entries)
    assert record["winner"]["trial"] == entries[0]["trial"]
    assert entries[0]["mean"] == max(entry["mean"] for entry in entries)
