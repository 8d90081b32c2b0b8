"""`tune-gae submit` to a real two-node cluster on this machine (tests/ray_cluster.py), through its
head's Jobs API as a user reaches a cluster's through an SSH tunnel (``--address http://...``)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from ray_cluster import LocalRayCluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

# Ray's own processes on a node; anything else named ray::... there is a trial actor.
RAY_SYSTEM = ("ray::IDLE", "ray::JobSupervisor", "ray::DashboardAgent", "ray::RuntimeEnvAgent")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def cluster_with_jobs() -> Iterator[tuple[LocalRayCluster, str]]:
    port = free_port()
    with LocalRayCluster(num_nodes=2, cpus_per_node=1, dashboard_port=port) as cluster:
        yield cluster, f"http://127.0.0.1:{port}"


def trial_processes(node: object) -> set[int]:
    found = set()
    for proc in node.snapshot():  # type: ignore[attr-defined]
        try:
            name = proc.name()
            if proc.is_running() and name.startswith("ray::") and not name.startswith(RAY_SYSTEM):
                found.add(proc.pid)
        except psutil.NoSuchProcess:
            continue
    return found


def test_a_submitted_search_runs_on_both_nodes_after_the_submitting_shell_exits(
        cluster_with_jobs: tuple[LocalRayCluster, str], data_root: Path, tmp_path: Path) -> None:
    cluster, url = cluster_with_jobs
    env = {**cluster.env, "TUNE_GAE_SERVICE_DIR": str(tmp_path / "no-service")}
    tune_gae = f"{sys.executable} -m tune_gae.cli"
    # A shell that submits and exits: the search must not depend on it.
    shell = subprocess.run(
        ["bash", "-c", f"{tune_gae} submit default --address {url} --dataset Cora --data-root {data_root} "
                       f"--num-samples 4 --max-epochs 100 --scheduler fifo --reselect-top 0 --no-export "
                       f"--cpus-per-trial 1 --results-dir {tmp_path} --name two-nodes; exit 0"],
        env=env, capture_output=True, text=True, timeout=180, check=False)
    assert shell.stdout.startswith("Submitted raysubmit_"), shell.stderr[-3000:]
    job = shell.stdout.split()[1]
    follow = subprocess.Popen([sys.executable, "-m", "tune_gae.cli", "logs", job, "--follow", "--address", url],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[set[int]] = [set() for _ in cluster.nodes]
    deadline = time.monotonic() + 400
    while follow.poll() is None and time.monotonic() < deadline:
        for index, node in enumerate(cluster.nodes):
            seen[index] |= trial_processes(node)
        time.sleep(0.5)
    if follow.poll() is None:
        follow.kill()
    out, err = follow.communicate(timeout=60)
    assert "4 trials in" in out, (out[-3000:], err[-2000:])
    assert all(seen), f"trial actors per node: {seen}"  # both nodes hosted trials
    jobs = subprocess.run([sys.executable, "-m", "tune_gae.cli", "jobs", "--address", url], env=env,
                          capture_output=True, text=True, timeout=120, check=False).stdout
    assert any(line.startswith(job) and "SUCCEEDED" in line for line in jobs.splitlines()), jobs
    assert (tmp_path / "two-nodes" / "trials.csv").is_file()
    assert os.path.isdir(tmp_path / "two-nodes" / "tensorboard")
