"""A local search's Ray listens on 127.0.0.1 only (``tune_gae.search.loopback``).

The search runs as a fresh ``tune-gae`` process; its Ray processes (GCS, raylet, agents, trial
workers) are that process's descendants, so only THIS search's listening sockets are looked at,
whatever other Ray runtimes share the machine.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tune_gae.search.loopback import is_loopback, joins_loopback


def listening_sockets(root: psutil.Process) -> dict[tuple[str, int], str]:
    """(address, port) -> process name, for every TCP socket ``root`` or a descendant listens on."""
    try:
        tree = {p.pid: p for p in [root, *root.children(recursive=True)]}
    except psutil.NoSuchProcess:
        return {}
    found = {}
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.pid in tree:
            try:
                name = tree[conn.pid].name()
            except psutil.NoSuchProcess:
                continue
            found[(conn.laddr.ip, conn.laddr.port)] = name
    return found


def watch_listening(process: subprocess.Popen[str], timeout: float) -> dict[tuple[str, int], str]:
    """Every listening socket of ``process``'s tree seen while it runs (polled until it exits)."""
    root, seen = psutil.Process(process.pid), {}
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        seen.update(listening_sockets(root))
        time.sleep(0.3)
    return seen


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("::ffff:127.0.0.1", True), ("::1", True), ("127.0.0.2", True),
    ("0.0.0.0", False), ("::", False), ("192.0.2.2", False), ("::ffff:10.0.0.1", False), ("x", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(("address", "loopback"), [
    ("127.0.0.1:6379", True), ("localhost:6379", True), ("ray://127.0.0.1:10001", True), ("[::1]:6379", True),
    ("192.0.2.2:6379", False), ("head.example.org:6379", False), ("local", False), ("auto", False),
])
def test_joins_loopback(address: str, loopback: bool) -> None:
    assert joins_loopback(address) is loopback


def test_the_switch_gives_a_node_the_loopback_address_after_ray_was_imported() -> None:
    """Fails the day Ray renames its switch or stops choosing a node's address through it."""
    probe = (
        "import ray\n"  # imported first, as in a notebook: the environment variable comes too late
        "from ray._private import services, ray_constants\n"
        "from tune_gae.search.loopback import loopback_only\n"
        "before = ray_constants.ENABLE_RAY_CLUSTER\n"
        "with loopback_only():\n"
        "    print(services.get_node_ip_address(), services.resolve_ip_for_localhost('127.0.0.1'))\n"
        "print(ray_constants.ENABLE_RAY_CLUSTER == before)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["127.0.0.1", "127.0.0.1", "True"]


@pytest.mark.slow
def test_a_local_search_listens_on_loopback_only(data_root: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    command = [sys.executable, "-m", "tune_gae.cli", "search", "smoke", "--dataset", "Cora",
               "--data-root", str(data_root), "--num-samples", "4", "--max-epochs", "30", "--scheduler", "fifo",
               "--reselect-top", "0", "--no-export", "--results-dir", str(tmp_path), "--name", "loopback"]
    search = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        seen = watch_listening(search, timeout=300)
        out, err = search.communicate(timeout=60)
    finally:
        if search.poll() is None:
            search.kill()
    assert search.returncode == 0, err[-3000:]
    names = set(seen.values())
    # The search was watched while its Ray ran: the daemons and at least one trial worker listened.
    assert {"gcs_server", "raylet"} <= names, seen
    assert any(name.startswith("ray::") and "Agent" not in name for name in names), seen
    exposed = {f"{name} {host}:{port}" for (host, port), name in seen.items() if not is_loopback(host)}
    assert not exposed, f"listening beyond this machine: {sorted(exposed)}"
