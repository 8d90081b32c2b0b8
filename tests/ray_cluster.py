"""A real multi-node Ray cluster on this machine, for tests that need more than one node.

Each node is one ``ray start --block`` process owned by this helper: its Ray processes (GCS,
raylet, agents, workers) are its descendants, so :meth:`LocalRayCluster.stop` can end exactly
what it started, by PID, without ``ray stop`` (which kills every Ray process on the machine).

Isolation from other Ray instances on the machine:

- a private temp dir ``/tmp/rtc-XXXXXXXX`` (short: Ray's unix socket paths live under it);
- free ports for everything Ray would otherwise put on a fixed port (GCS 6379, Ray client
  10001, dashboard agent 52365); the rest Ray picks at random;
- token authentication (``RAY_AUTH_MODE=token``) with a per-cluster token file passed through
  ``RAY_AUTH_TOKEN_PATH``, so ``~/.ray/auth_token``, which other clusters may use, is neither
  read nor written.

Ray 2.60 replaces ``--node-ip-address=127.0.0.1`` by the machine's routable address
(``services.resolve_ip_for_localhost``) and then listens on all interfaces, unless
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (``tune_gae.search.loopback``, which a local search and
``tune-gae up`` use). This helper keeps Ray's default, as a real cluster's nodes must reach each
other; the token is what keeps other hosts out.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import psutil

__all__ = ["LocalRayCluster", "RayNode"]

STARTED_MARKER = "Ray runtime started."
NODE_START_TIMEOUT_S = 120.0
NODE_STOP_TIMEOUT_S = 20.0
# Whole-cluster start attempts (see LocalRayCluster.start).
START_ATTEMPTS = 2
# Smallest store Ray accepts is 75 MiB; the default (30 % of RAM per node) is far too much here.
DEFAULT_OBJECT_STORE_MB = 150
# Characters of a node's log (or a probe's stderr) shown when something fails.
LOG_TAIL_CHARS = 3000
_PR_SET_PDEATHSIG = 1

# Run in a subprocess with the cluster's env: waits for `want` alive nodes, prints their ids.
_PROBE = """
import json, sys, time
import ray
ray.init(logging_level="ERROR", log_to_driver=False)
want, deadline = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
while True:
    alive = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"])
    if len(alive) == want or time.monotonic() > deadline:
        break
    time.sleep(0.2)
print(json.dumps(alive))
"""


@dataclass
class RayNode:
    """One ``ray start --block`` process and what is known about the node it runs."""

    index: int
    is_head: bool
    process: subprocess.Popen[bytes]
    log_path: Path
    node_id: str | None = None
    # Every process of this node seen so far (the ray start process and its descendants).
    seen: dict[int, psutil.Process] = field(default_factory=dict)

    def snapshot(self) -> list[psutil.Process]:
        """Record the node's current process tree and return every process seen so far."""
        try:
            root = psutil.Process(self.process.pid)
            for proc in [root, *root.children(recursive=True)]:
                self.seen.setdefault(proc.pid, proc)
        except psutil.NoSuchProcess:
            pass
        return list(self.seen.values())

    def raylet(self) -> psutil.Process | None:
        """The node's raylet process, or None once it is gone."""
        for proc in self.snapshot():
            try:
                if proc.is_running() and proc.name() == "raylet":
                    return proc
            except psutil.NoSuchProcess:
                continue
        return None


def _free_port() -> int:
    """A TCP port free on all interfaces right now (Ray binds its servers to all of them)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the test process dies, so nodes never outlive it."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _ray_executable() -> str:
    beside_python = Path(sys.executable).with_name("ray")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("ray")
    if found is None:
        raise RuntimeError("the `ray` command was not found beside the interpreter or on PATH")
    return found


class LocalRayCluster:
    """A head plus ``num_nodes - 1`` worker nodes, each a real ``ray start`` on this machine.

    Use as a context manager (``with LocalRayCluster() as cluster:``) or call :meth:`start` and
    :meth:`stop`. Drivers run in subprocesses with ``env=cluster.env``; ``cluster.address``
    is the GCS address for ``ray.init(address=...)`` or ``--address``.
    """

    def __init__(
        self,
        num_nodes: int = 2,
        cpus_per_node: int = 1,
        *,
        object_store_mb: int = DEFAULT_OBJECT_STORE_MB,
        start_timeout_s: float = NODE_START_TIMEOUT_S,
        dashboard_port: int | None = None,
    ) -> None:
        if num_nodes < 1:
            raise ValueError(f"num_nodes must be at least 1 but got {num_nodes}.")
        if cpus_per_node < 0:
            raise ValueError(f"cpus_per_node cannot be negative but got {cpus_per_node}.")
        self.num_nodes = num_nodes
        self.cpus_per_node = cpus_per_node
        self.object_store_mb = object_store_mb
        self.start_timeout_s = start_timeout_s
        # With a port: the head runs Ray's dashboard and Jobs API on 127.0.0.1:PORT (`tune-gae submit`).
        self.dashboard_port = dashboard_port
        self.nodes: list[RayNode] = []
        self.temp_dir: Path | None = None
        self._address: str | None = None
        self.start_seconds: float | None = None
        self.stop_seconds: float | None = None

    # ----------------------------------------------------------------------------- public API

    @property
    def address(self) -> str:
        """GCS address ``host:port`` of the running cluster."""
        if self._address is None:
            raise RuntimeError("the cluster is not started")
        return self._address

    @property
    def env(self) -> dict[str, str]:
        """Full environment for a driver subprocess: token auth on, RAY_ADDRESS set.

        ``ray.init()``, ``ray.init(address="auto")`` and ``--address auto`` all connect here,
        because RAY_ADDRESS takes precedence over the address a driver passes.
        """
        return {**self._node_env(), "RAY_ADDRESS": self.address}

    @property
    def token_path(self) -> Path:
        """File holding this cluster's auth token (mode 0600)."""
        if self.temp_dir is None:
            raise RuntimeError("the cluster is not started")
        return self.temp_dir / "auth_token"

    @property
    def workers(self) -> list[RayNode]:
        return [node for node in self.nodes if not node.is_head]

    def start(self) -> LocalRayCluster:
        """Start the head, then the workers, and return once every node is registered and alive.

        A node that fails to start (on a loaded 2-core CI machine a worker once timed out
        reaching a head that had started) ends that attempt: everything it started is stopped
        and the cluster starts afresh, with new ports, up to ``START_ATTEMPTS`` times. Each
        failed attempt is reported on stderr, so a retry never passes unseen.
        """
        if self.nodes:
            raise RuntimeError("the cluster is already started")
        began = time.monotonic()
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self._start_once()
                break
            except RuntimeError as error:
                if attempt == START_ATTEMPTS:
                    raise
                print(f"LocalRayCluster: start attempt {attempt} failed, retrying: {error}", file=sys.stderr)
                self.nodes = []
        self.start_seconds = time.monotonic() - began
        return self

    def _start_once(self) -> None:
        """One attempt of :meth:`start`; on any failure it stops what it started and re-raises."""
        self.temp_dir = Path(tempfile.mkdtemp(prefix="rtc-", dir="/tmp"))
        self.token_path.write_text(secrets.token_hex(32))
        self.token_path.chmod(0o600)
        atexit.register(self.stop)
        try:
            head = self._launch(0, is_head=True)
            self._wait_started(head)
            self._address = (self.temp_dir / "ray_current_cluster").read_text().strip()
            workers = [self._launch(i, is_head=False) for i in range(1, self.num_nodes)]
            for node in workers:
                self._wait_started(node)
            node_ids = self.wait_for_alive_nodes(self.num_nodes, timeout_s=self.start_timeout_s)
            self._match_node_ids(node_ids)
        except BaseException:
            self.stop()
            raise

    def wait_for_alive_nodes(self, count: int, *, timeout_s: float = 60.0) -> list[str]:
        """Block until the GCS reports exactly ``count`` alive nodes; return their node ids."""
        try:
            completed = subprocess.run(
                [sys.executable, "-c", _PROBE, str(count), str(timeout_s)],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout_s + 60,
                check=True,
            )
        except subprocess.CalledProcessError as error:
            raise RuntimeError(f"probe driver failed:\n{error.stderr[-LOG_TAIL_CHARS:]}") from error
        alive: list[str] = json.loads(completed.stdout.strip().splitlines()[-1])
        if len(alive) != count:
            raise TimeoutError(f"expected {count} alive nodes after {timeout_s} s but got {len(alive)}.")
        return alive

    def kill_worker(self, index: int | None = None) -> str:
        """SIGKILL the raylet of a worker node (the last live one by default); return its node id.

        The node's ``ray start --block`` then tears down the rest of that node, as a crashed
        machine would disappear; the GCS marks it dead after its health checks fail.
        """
        candidates = self.workers if index is None else [n for n in self.nodes if n.index == index]
        for node in reversed(candidates):
            if node.is_head:
                raise ValueError(f"node {index} is the head; kill_worker only kills workers.")
            raylet = node.raylet()
            if raylet is None:
                continue
            raylet.send_signal(signal.SIGKILL)
            raylet.wait(timeout=NODE_STOP_TIMEOUT_S)
            assert node.node_id is not None
            return node.node_id
        raise RuntimeError("no live worker node to kill")

    def started_processes(self) -> list[psutil.Process]:
        """Every process this cluster has started so far (refreshes the record first)."""
        return [proc for node in self.nodes for proc in node.snapshot()]

    def stop(self) -> None:
        """End every process this cluster started (workers first), then remove its temp dir.

        Idempotent. SIGTERM to each ``ray start --block`` lets Ray stop its node's processes;
        whatever is still alive afterwards is SIGKILLed by PID.
        """
        atexit.unregister(self.stop)
        if self.temp_dir is None:
            return
        began = time.monotonic()
        for node in sorted(self.nodes, key=lambda n: n.is_head):
            processes = node.snapshot()
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
            _, alive = psutil.wait_procs(processes, timeout=NODE_STOP_TIMEOUT_S)
            for proc in alive:
                _kill(proc)
            node.process.wait(timeout=NODE_STOP_TIMEOUT_S)
        for proc in self._strays():
            _kill(proc)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        self.temp_dir = None
        self._address = None
        self.stop_seconds = time.monotonic() - began

    def __enter__(self) -> LocalRayCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # ---------------------------------------------------------------------------- internals

    def _node_env(self) -> dict[str, str]:
        env = dict(os.environ)
        # RAY_AUTH_TOKEN outranks RAY_AUTH_TOKEN_PATH; RAY_ADDRESS outranks --address.
        for name in ("RAY_AUTH_TOKEN", "RAY_ADDRESS"):
            env.pop(name, None)
        env.update(
            RAY_AUTH_MODE="token",
            RAY_AUTH_TOKEN_PATH=str(self.token_path),
            RAY_USAGE_STATS_ENABLED="0",
            # On SIGTERM Ray waits up to 30 s for a node to drain; a test cluster has nothing to drain.
            RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",
            # Jobs run this environment's commands (`tune-gae`), as on a node that installed it.
            PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        )
        return env

    def _launch(self, index: int, *, is_head: bool) -> RayNode:
        assert self.temp_dir is not None
        command = [
            _ray_executable(),
            "start",
            "--block",
            f"--num-cpus={self.cpus_per_node}",
            "--num-gpus=0",
            f"--object-store-memory={self.object_store_mb * 1024 * 1024}",
            f"--temp-dir={self.temp_dir}",
            f"--dashboard-agent-listen-port={_free_port()}",
            "--min-worker-port=0",
            "--max-worker-port=0",
            "--disable-usage-stats",
        ]
        if is_head:
            command += [
                "--head",
                f"--port={_free_port()}",
                f"--ray-client-server-port={_free_port()}",
            ]
            command += (["--include-dashboard=false"] if self.dashboard_port is None else
                        ["--include-dashboard=true", "--dashboard-host=127.0.0.1",
                         f"--dashboard-port={self.dashboard_port}"])
        else:
            command += [f"--address={self.address}", "--include-log-monitor=false"]
        log_path = self.temp_dir / f"node-{index}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                env=self._node_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        node = RayNode(index=index, is_head=is_head, process=process, log_path=log_path)
        self.nodes.append(node)
        return node

    def _wait_started(self, node: RayNode) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while STARTED_MARKER not in node.log_path.read_text(errors="replace"):
            if node.process.poll() is not None or time.monotonic() > deadline:
                tail = node.log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:]
                state = f"exited with {node.process.returncode}" if node.process.poll() is not None else "timed out"
                head_tail = "" if node.is_head else (
                    "\nthe head's log ends:\n" + self.nodes[0].log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:])
                raise RuntimeError(f"ray start for node {node.index} {state}:\n{tail}{head_tail}")
            time.sleep(0.2)
        node.snapshot()

    def _match_node_ids(self, alive: list[str]) -> None:
        """Learn each node's id from its raylet's ``--node_id`` flag."""
        for node in self.nodes:
            raylet = node.raylet()
            if raylet is None:
                raise RuntimeError(f"node {node.index} has no raylet")
            flags = [arg for arg in raylet.cmdline() if arg.startswith("--node_id=")]
            node.node_id = flags[0].split("=", 1)[1] if flags else None
        unknown = {n.node_id for n in self.nodes} - set(alive)
        if unknown:
            raise RuntimeError(f"raylet node ids {unknown} are not among the alive nodes {alive}")

    def _strays(self) -> list[psutil.Process]:
        """Processes whose command line names this cluster's temp dir (started after a snapshot)."""
        marker = str(self.temp_dir)
        strays = []
        for proc in psutil.process_iter(["cmdline"]):
            if any(marker in arg for arg in proc.info["cmdline"] or ()):
                strays.append(proc)
        return strays


def _kill(proc: psutil.Process) -> None:
    try:
        proc.kill()
        proc.wait(timeout=NODE_STOP_TIMEOUT_S)
    except psutil.NoSuchProcess:
        pass
