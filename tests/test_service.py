"""The search service end to end: a real ``tune-gae up`` on this machine, searches on it, a
submitted search stopped and resumed, ``down`` leaving nothing behind (``tune_gae.service``).

The service's folder (record, token) is this module's own (``TUNE_GAE_SERVICE_DIR``), and every
process looked at descends from the ``ray start`` it recorded: other Ray runtimes on the machine
are neither seen nor touched.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from test_loopback import listening_sockets

from tune_gae.search.loopback import is_loopback

SMOKE = ["smoke", "--dataset", "Cora", "--max-epochs", "30", "--scheduler", "fifo", "--reselect-top", "0",
         "--no-export"]


def cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tune_gae.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False, start_new_session=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def record(env: dict[str, str]) -> dict:
    return json.loads((Path(env["TUNE_GAE_SERVICE_DIR"]) / "service.json").read_text())


def service_tree(env: dict[str, str]) -> list[psutil.Process]:
    root = psutil.Process(record(env)["pid"])
    return [root, *root.children(recursive=True)]


@pytest.fixture(scope="module")
def service_env(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Iterator[dict[str, str]]:
    """The environment of commands that use this module's service (started by the first test)."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
    env.update(TUNE_GAE_SERVICE_DIR=str(tmp_path_factory.mktemp("service")), TUNE_GAE_DATA=str(data_root))
    yield env
    cli(env, "down", timeout=120)  # idempotent: the last test already stopped it


def test_without_a_service_the_service_commands_say_how_to_start_one(tmp_path: Path) -> None:
    env = {**os.environ, "TUNE_GAE_SERVICE_DIR": str(tmp_path)}
    for command in (["status"], ["jobs"], ["logs", "raysubmit_x"], ["stop", "raysubmit_x"]):
        result = cli(env, *command, timeout=120)
        assert result.returncode == 2, (command, result.stderr)
        assert "no tune-gae service runs on this machine: start one with `tune-gae up`" in result.stderr
    assert cli(env, "down", timeout=60).stdout.strip() == "No tune-gae service was running."


def test_up_refuses_a_taken_dashboard_port_before_starting_anything(tmp_path: Path) -> None:
    env = {**os.environ, "TUNE_GAE_SERVICE_DIR": str(tmp_path / "service")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli(env, "up", "--dashboard-port", str(port), timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"Error: port {port} on 127.0.0.1 is taken (another Ray dashboard?): "
                                      f"pass --dashboard-port with a free port.")
    assert not (tmp_path / "service" / "service.json").exists()


@pytest.mark.slow
def test_up_starts_a_head_on_loopback_only_with_token_auth(service_env: dict[str, str]) -> None:
    port = free_port()
    up = cli(service_env, "up", "--num-cpus", "2", "--dashboard-port", str(port), timeout=240)
    assert up.returncode == 0, up.stderr[-3000:]
    assert up.stdout.startswith("Started: the tune-gae service at 127.0.0.1:")
    assert "\nWarm workers: 2, importing torch, PyG and tune_gae now" in up.stdout
    again = cli(service_env, "up", timeout=120)
    assert again.stdout.startswith("Already running: the tune-gae service at 127.0.0.1:"), again.stderr
    sockets = listening_sockets(psutil.Process(record(service_env)["pid"]))
    names = set(sockets.values())
    assert {"gcs_server", "raylet"} <= names and ("127.0.0.1", port) in sockets, sockets
    assert all(is_loopback(host) for host, _ in sockets), sockets
    # The Jobs API refuses a request without the token...
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/jobs/", timeout=30)
    assert refused.value.code in (401, 403)
    # ... and answers `status`, which has it (Ray's clients would take $RAY_ADDRESS over the service's).
    status = cli({**service_env, "RAY_ADDRESS": "127.0.0.1:1"}, "status", timeout=120)
    assert status.returncode == 0, status.stderr[-2000:]
    assert "node 127.0.0.1: alive, 2 CPU, 0 GPU" in status.stdout
    assert "searches running: 0" in status.stdout
    assert "(kept warm between searches: 2)" in status.stdout


@pytest.mark.slow
def test_up_keeps_two_warm_workers_with_torch_imported(service_env: dict[str, str]) -> None:
    for worker in wait_for_warm_workers(service_env, 2):  # each imports torch as it starts
        wait_for(lambda worker=worker: torch_loaded(worker), 60, f"torch loaded in warm worker {worker.pid}")
    status = cli(service_env, "status", timeout=120)
    assert "idle with torch and PyG imported: 2 (kept warm between searches: 2)" in status.stdout, status.stdout


@pytest.mark.slow
def test_search_runs_on_the_service_and_says_so_first(service_env: dict[str, str], tmp_path: Path) -> None:
    before = daemons(service_env)
    warm = {worker.pid for worker in wait_for_warm_workers(service_env, 2)}
    result = cli(service_env, "search", *SMOKE, "--num-samples", "2", "--results-dir", str(tmp_path),
                 "--name", "warm")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[0].startswith(f"On the tune-gae service at {record(service_env)['gcs_address']}")
    assert "\n2 trials in " in result.stdout
    assert daemons(service_env) == before  # it joined the service's GCS and raylet, and left them running
    # Its trials ran in the warm workers...
    assert trial_pids(tmp_path / "warm") <= warm, (trial_pids(tmp_path / "warm"), warm)
    # ... which Ray stopped with the search; the search started the next search's before it exited.
    refilled = {worker.pid for worker in wait_for_warm_workers(service_env, 2)}
    assert not refilled & warm, (refilled, warm)
    jobs = cli(service_env, "jobs", timeout=120).stdout
    assert any("SUCCEEDED" in line and "driver" in line and "--name warm" in line for line in jobs.splitlines()), jobs


def warm_workers(env: dict[str, str]) -> list[psutil.Process]:
    """The service's idle worker processes (Ray titles them ``ray::IDLE``)."""
    found = []
    for proc in service_tree(env):
        try:
            if (proc.cmdline() or [""])[0].startswith("ray::IDLE"):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def wait_for_warm_workers(env: dict[str, str], count: int) -> list[psutil.Process]:
    wait_for(lambda: len(warm_workers(env)) == count, 120, f"{count} warm workers")
    return warm_workers(env)


def trial_pids(folder: Path) -> set[int]:
    """The processes a search's trials ran in (Ray Tune writes each result's process id); never empty."""
    pids = {json.loads(line)["pid"] for result_file in folder.glob("trial_*/result.json")
            for line in result_file.read_text().splitlines()}
    assert pids, f"no trial results in {folder}"
    return pids


def torch_loaded(proc: psutil.Process) -> bool:
    """Whether torch's library is mapped into ``proc``."""
    return any("libtorch_cpu" in m.path for m in proc.memory_maps())


def daemons(env: dict[str, str]) -> set[int]:
    return {p.pid for p in service_tree(env) if p.name() in ("gcs_server", "raylet")}


def job_state(env: dict[str, str], job: str) -> str:
    line = next(line for line in cli(env, "jobs", timeout=120).stdout.splitlines() if line.startswith(job))
    return line.split()[1]


def wait_for(condition, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(1.0)


@pytest.mark.slow
def test_submit_runs_detached_stop_saves_it_and_resume_finishes_it(service_env: dict[str, str],
                                                                   tmp_path: Path) -> None:
    bad = cli(service_env, "submit", *SMOKE, "--num-samples", "many", timeout=120)
    assert bad.returncode == 2 and "--num-samples must be a number but got 'many'" in bad.stderr
    assert bad.stderr.startswith("Usage: tune-gae submit ")
    warm = {worker.pid for worker in wait_for_warm_workers(service_env, 2)}
    # Default-space trials (up to 200 epochs, one at a time) run long enough to be stopped mid-search.
    submitted = cli(service_env, "submit", "default", *SMOKE[1:], "--max-epochs", "200", "--num-samples", "4",
                    "--max-concurrent", "1", "--results-dir", str(tmp_path), "--name", "detached", timeout=120)
    assert submitted.returncode == 0, submitted.stderr[-2000:]  # the submitting process has exited
    job = submitted.stdout.split()[1]
    assert job.startswith("raysubmit_")
    assert len([line for line in cli(service_env, "jobs", timeout=120).stdout.splitlines() if "submission" in line]) == 1

    def logs() -> str:
        return cli(service_env, "logs", job, timeout=120).stdout

    wait_for(lambda: "done after" in logs(), 240, "the submitted search's first finished trial")
    stopped = cli(service_env, "stop", job, timeout=120)
    assert stopped.returncode == 0 and stopped.stdout.startswith(f"Stopping {job}"), stopped.stderr
    wait_for(lambda: job_state(service_env, job) == "STOPPED", 120, "the job to stop")
    folder = tmp_path / "detached"
    assert trial_pids(folder) <= warm, (trial_pids(folder), warm)  # the job carries no runtime env
    assert f"Continue it with: tune-gae resume {folder}" in logs()
    record_before = json.loads((folder / "search.json").read_text())
    assert record_before["segments"][0]["ended_by"] == "SIGTERM"
    resumed = cli(service_env, "resume", str(folder), "--no-export", "--json")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout.splitlines()[-1])["num_trials"] == 4
    assert json.loads((folder / "search.json").read_text()).get("finished")


@pytest.mark.slow
def test_logs_of_an_unknown_job_name_it(service_env: dict[str, str]) -> None:
    result = cli(service_env, "logs", "raysubmit_nope", timeout=120)
    assert result.returncode == 2
    assert "no job 'raysubmit_nope' on this head: `tune-gae jobs` lists them." in result.stderr


@pytest.mark.slow
def test_down_stops_every_process_of_the_service_and_only_those(service_env: dict[str, str]) -> None:
    temp_dir = record(service_env)["temp_dir"]
    tree = service_tree(service_env)
    assert len(tree) > 3
    down = cli(service_env, "down", timeout=120)
    assert down.stdout.strip() == "Stopped the tune-gae service.", down.stderr
    alive = [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, alive
    assert not any(temp_dir in " ".join(p.info["cmdline"] or ()) for p in psutil.process_iter(["cmdline"]))
    assert not Path(temp_dir).exists()
    assert cli(service_env, "status", timeout=120).returncode == 2
