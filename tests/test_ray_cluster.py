"""tests/ray_cluster.py: a real two-node Ray cluster on this machine, with token auth.

Drivers run in subprocesses (as `tune-gae search --address ...` would), never in the pytest
process, so Ray's process-wide state (auth mode, global worker) stays out of other tests.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from ray_cluster import LocalRayCluster, RayNode

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

DRIVER_TIMEOUT_S = 180

# Prints what the driver sees: alive nodes, total CPUs, and where pinned tasks ran.
SPREAD_DRIVER = """
import json, sys
import ray
from ray.util.placement_group import placement_group
from ray.util.scheduling_strategies import (
    NodeAffinitySchedulingStrategy, PlacementGroupSchedulingStrategy)

ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)

@ray.remote(num_cpus=1)
def node_id():
    return ray.get_runtime_context().get_node_id()

alive = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
pinned = [node_id.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)).remote()
          for n in alive]
pinned = ray.get(pinned, timeout=120)
group = placement_group([{"CPU": 1}, {"CPU": 1}], strategy="STRICT_SPREAD")
ray.get(group.ready(), timeout=120)
spread = ray.get([
    node_id.options(scheduling_strategy=PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=i)).remote()
    for i in range(2)], timeout=120)
print(json.dumps({"alive": alive, "cpus": ray.cluster_resources().get("CPU"), "pinned": pinned, "spread": spread}))
"""

CONNECT_DRIVER = """
import ray
ray.init(logging_level="ERROR", log_to_driver=False)
print("connected", ray.cluster_resources().get("CPU"))
"""


def run_driver(script: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True,
                          text=True, timeout=DRIVER_TIMEOUT_S)


def is_alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_driver_sees_two_nodes_and_runs_a_task_on_each(two_node_cluster: LocalRayCluster) -> None:
    driver = run_driver(SPREAD_DRIVER, two_node_cluster.env, two_node_cluster.address)
    assert driver.returncode == 0, driver.stderr[-3000:]
    seen = json.loads(driver.stdout.strip().splitlines()[-1])

    node_ids = {node.node_id for node in two_node_cluster.nodes}
    assert len(node_ids) == 2
    assert set(seen["alive"]) == node_ids
    assert seen["cpus"] == 2.0
    assert seen["pinned"] == seen["alive"]
    assert set(seen["spread"]) == node_ids


def test_address_auto_resolves_through_rays_own_lookup(two_node_cluster: LocalRayCluster,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """``--address auto`` uses ``ray._private.services.canonicalize_bootstrap_address`` (a private
    Ray function, in tune_gae.search.cluster only): this fails the day Ray moves or changes it."""
    from tune_gae.search.cluster import ray_address

    monkeypatch.setenv("RAY_ADDRESS", two_node_cluster.address)
    resolved = ray_address("auto")
    assert resolved.rsplit(":", 1)[1] == two_node_cluster.address.rsplit(":", 1)[1]


@pytest.mark.parametrize("token", [None, "not-the-cluster-token"], ids=["no token", "wrong token"])
def test_driver_without_the_token_is_refused(two_node_cluster: LocalRayCluster, tmp_path: Path,
                                             token: str | None) -> None:
    env = {k: v for k, v in two_node_cluster.env.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH")}
    env["HOME"] = str(tmp_path)  # no ~/.ray/auth_token to fall back on
    env["RAY_gcs_server_port_wait_time_s"] = "2"  # give up after 2 tries instead of 20
    if token is not None:
        (tmp_path / "token").write_text(token)
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(tmp_path / "token"))

    driver = run_driver(CONNECT_DRIVER, env)

    assert driver.returncode != 0
    assert "connected" not in driver.stdout
    assert "Authentication token is missing or incorrect" in driver.stderr


def test_start_registers_all_nodes_and_stop_ends_every_process(record_property: pytest.RecordProperty) -> None:
    environ_before = dict(os.environ)
    cluster = LocalRayCluster(num_nodes=2, cpus_per_node=1)
    with cluster:
        temp_dir = cluster.temp_dir
        assert temp_dir is not None and len(str(temp_dir)) < 20
        assert [node.is_head for node in cluster.nodes] == [True, False]
        assert len({node.node_id for node in cluster.nodes}) == 2
        assert cluster.token_path.stat().st_mode & 0o777 == 0o600
        started = cluster.started_processes()
        assert {"gcs_server", "raylet"} <= {proc.name() for proc in started}
        assert len([proc for proc in started if proc.name() == "raylet"]) == 2

    assert cluster.start_seconds is not None and cluster.stop_seconds is not None
    record_property("start_seconds", round(cluster.start_seconds, 1))
    record_property("stop_seconds", round(cluster.stop_seconds, 1))
    print(f"\ntwo-node cluster: start {cluster.start_seconds:.1f} s, stop {cluster.stop_seconds:.1f} s")
    assert [proc.pid for proc in started if is_alive(proc)] == []
    assert [proc.pid for proc in cluster.started_processes() if is_alive(proc)] == []
    assert not temp_dir.exists()
    assert dict(os.environ) == environ_before  # auth settings went to the nodes, not to pytest
    cluster.stop()  # idempotent


def test_a_worker_that_fails_to_start_restarts_the_whole_cluster_once(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    launch = LocalRayCluster._launch
    failed: list[RayNode] = []

    def launch_failing_first_worker(self: LocalRayCluster, index: int, *, is_head: bool) -> RayNode:
        node = launch(self, index, is_head=is_head)
        if not is_head and not failed:
            failed.append(node)
            node.process.kill()
        return node

    monkeypatch.setattr(LocalRayCluster, "_launch", launch_failing_first_worker)
    cluster = LocalRayCluster(num_nodes=2, cpus_per_node=1)
    with cluster:
        assert len(cluster.nodes) == 2 and failed[0] not in cluster.nodes
        assert cluster.wait_for_alive_nodes(2) == sorted(node.node_id for node in cluster.nodes)
    assert "start attempt 1 failed, retrying: ray start for node 1 exited with -9" in capsys.readouterr().err
    assert [proc.pid for proc in failed[0].seen.values() if is_alive(proc)] == []


def test_kill_worker_takes_its_node_out_of_the_cluster() -> None:
    with LocalRayCluster(num_nodes=2, cpus_per_node=1) as cluster:
        head, worker = cluster.nodes
        worker_processes = worker.snapshot()

        killed = cluster.kill_worker()

        assert killed == worker.node_id
        assert cluster.wait_for_alive_nodes(1, timeout_s=120) == [head.node_id]
        assert worker.process.wait(timeout=30) != 0
        assert [proc.pid for proc in worker_processes if is_alive(proc)] == []
