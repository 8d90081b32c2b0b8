"""``tune-gae up`` / ``down``: a Ray head on this machine that searches join instead of starting one.

``up`` runs ``ray start --head --block`` as a detached process of its own session: Ray's GCS,
raylet, dashboard (with the Jobs API) and agents on 127.0.0.1 only (``loopback.LOOPBACK_ENV``),
token authentication on with a token file of the service's own, and worker processes that import
the trainable (tune_gae, torch, PyG) as they start (Ray's ``preload_python_modules``), a few of
them started at once and kept idle for the next search (``warm``). What it started is written to
``service.json`` in the service folder; ``down`` stops exactly that: a
SIGTERM to the recorded ``ray start`` (Ray then stops its node), then whatever process still names
the service's own Ray temp folder. It never runs ``ray stop``, which ends every Ray on the machine.

What stays warm: Ray's daemons (a local search otherwise starts and stops them every time) and
``warm_workers`` idle worker processes that no search has used yet (``warm``): a search's trial
actors take them instead of starting processes that import torch and PyG. Ray stops a worker with
the search that used it, so each search tops the pool up again as it exits.
"""
from __future__ import annotations

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
from dataclasses import asdict, dataclass
from pathlib import Path

from tune_gae.errors import TuneGAEError
from tune_gae.search.loopback import LOOPBACK_ENV, LOOPBACK_HOST
from tune_gae.service.client import JOB_ENV, job_client
from tune_gae.service.warm import WARM_RAY_ENV, top_up

# Where the service's record and token live; the environment variable moves it (tests do).
SERVICE_DIR_ENV = "TUNE_GAE_SERVICE_DIR"
DEFAULT_SERVICE_DIR = Path("~/.cache/tune-gae/service")
RECORD_FILE = "service.json"
TOKEN_FILE = "auth_token"
LOG_FILE = "ray-start.log"
DEFAULT_DASHBOARD_PORT = 8265  # Ray's own default: `--address http://127.0.0.1:8265` reaches the Jobs API
STARTED_MARKER = "Ray runtime started."
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 30.0
# What the service's worker processes import as they start (before a trial is placed on them).
WARM_MODULES = ("tune_gae.search.trainable",)
# Warm workers by default: one per CPU (a trial per CPU), at most this many (each holds ~0.5 GB).
MAX_DEFAULT_WARM_WORKERS = 8


@dataclass(frozen=True)
class Service:
    """A running service as ``up`` recorded it."""

    pid: int  # the `ray start --block` process; Ray's own processes are its descendants
    create_time: float  # with pid: the process, not a later one given the same number
    gcs_address: str  # what a driver's ray.init(address=...) joins
    dashboard_url: str  # Ray's dashboard and Jobs API, on 127.0.0.1
    temp_dir: str  # Ray's temp folder for this service only; every one of its processes names it
    token_path: str
    started: str
    raylet_port: int = 0  # the raylet's gRPC port on 127.0.0.1 (0: a record from before warm workers)
    warm_workers: int = 0  # idle workers the service keeps for the next search

    def client_env(self) -> dict[str, str]:
        """What a driver (a search, `submit`) needs in its environment to join this service."""
        return {"RAY_ADDRESS": self.gcs_address, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": self.token_path}

    def alive(self) -> bool:
        import psutil

        try:
            return abs(psutil.Process(self.pid).create_time() - self.create_time) < 1.0
        except psutil.NoSuchProcess:
            return False


def service_dir() -> Path:
    """The folder holding the service's record, token and start log."""
    return Path(os.environ.get(SERVICE_DIR_ENV) or DEFAULT_SERVICE_DIR).expanduser().resolve()


def running_service() -> Service | None:
    """The service `up` started here, if its `ray start` still runs; None otherwise."""
    record = service_dir() / RECORD_FILE
    if not record.is_file():
        return None
    try:
        service = Service(**json.loads(record.read_text()))
    except (ValueError, TypeError):
        return None
    return service if service.alive() else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK_HOST, 0))
        return int(probe.getsockname()[1])


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((LOOPBACK_HOST, port))
        except OSError:
            return True
    return False


def _ray_executable() -> str:
    beside_python = Path(sys.executable).with_name("ray")
    found = str(beside_python) if beside_python.exists() else shutil.which("ray")
    if found is None:
        raise TuneGAEError("the `ray` command was not found beside this Python or on PATH: reinstall tune-gae.")
    return found


def default_warm_workers(num_cpus: int | None) -> int:
    """One warm worker per CPU the service offers, at most ``MAX_DEFAULT_WARM_WORKERS``."""
    return max(0, min(num_cpus if num_cpus is not None else os.cpu_count() or 1, MAX_DEFAULT_WARM_WORKERS))


def start_service(*, num_cpus: int | None = None, num_gpus: int | None = None,
                  dashboard_port: int = DEFAULT_DASHBOARD_PORT, warm_workers: int | None = None,
                  ) -> tuple[Service, bool]:
    """Start the service (or find the one running): ``(service, started_now)``.

    Returns once Ray's Jobs API answers; the warm workers are then still importing (``warm.top_up``
    asked for them). A failed start stops what it started and raises ``TuneGAEError`` with the
    tail of Ray's log.
    """
    running = running_service()
    if running is not None:
        return running, False
    _stop_leftovers()
    if _port_taken(dashboard_port):
        raise TuneGAEError(f"port {dashboard_port} on {LOOPBACK_HOST} is taken (another Ray dashboard?): "
                           f"pass --dashboard-port with a free port.")
    folder = service_dir()
    folder.mkdir(parents=True, exist_ok=True)
    token_path = folder / TOKEN_FILE
    token_path.write_text(secrets.token_hex(32))
    token_path.chmod(0o600)
    # Short: Ray's unix socket paths live under it (at most 107 bytes).
    temp_dir = tempfile.mkdtemp(prefix="tgs-", dir="/tmp")
    gcs_port, raylet_port = _free_port(), _free_port()
    command = [
        _ray_executable(), "start", "--head", "--block", f"--port={gcs_port}",
        f"--temp-dir={temp_dir}", "--include-dashboard=true", f"--dashboard-host={LOOPBACK_HOST}",
        f"--dashboard-port={dashboard_port}", f"--ray-client-server-port={_free_port()}",
        f"--dashboard-agent-listen-port={_free_port()}", f"--node-manager-port={raylet_port}",
        "--min-worker-port=0", "--max-worker-port=0",
        "--disable-usage-stats",
    ]
    if num_cpus is not None:
        command.append(f"--num-cpus={num_cpus}")
    if num_gpus is not None:
        command.append(f"--num-gpus={num_gpus}")
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
    env.update(LOOPBACK_ENV, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_path),
               RAY_USAGE_STATS_ENABLED="0", RAY_preload_python_modules=",".join(WARM_MODULES),
               # On SIGTERM Ray waits up to 30 s for its node to drain; `down` means now.
               RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0", **WARM_RAY_ENV, **JOB_ENV)
    log_path = folder / LOG_FILE
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # outlives the terminal that ran `up`
    import psutil

    service = Service(pid=process.pid, create_time=psutil.Process(process.pid).create_time(),
                      gcs_address=f"{LOOPBACK_HOST}:{gcs_port}",
                      dashboard_url=f"http://{LOOPBACK_HOST}:{dashboard_port}", temp_dir=temp_dir,
                      token_path=str(token_path), started=time.strftime("%Y-%m-%d %H:%M:%S"),
                      raylet_port=raylet_port,
                      warm_workers=default_warm_workers(num_cpus) if warm_workers is None else warm_workers)
    (folder / RECORD_FILE).write_text(json.dumps(asdict(service), indent=2))
    try:
        _wait_ready(service, process, log_path)
    except BaseException:
        stop_service()
        raise
    _start_warm_workers(service)
    return service, True


def _start_warm_workers(service: Service) -> None:
    """The first warm workers; a Ray that refuses them leaves a working service and says so."""
    import grpc

    try:
        top_up(service)
    except grpc.RpcError as exc:
        raise TuneGAEError(f"the service runs, but Ray refused its warm workers ({exc.code().name}: "
                           f"{(exc.details() or '')[:160]}): searches on it start workers of their own; "
                           f"`tune-gae down` stops it.") from None


def _wait_ready(service: Service, process: subprocess.Popen[bytes], log_path: Path) -> None:
    """Until ``ray start`` says it started and the Jobs API answers (with the token)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            state = f"exited with {process.returncode}" if process.poll() is not None else "timed out"
            tail = log_path.read_text(errors="replace")[-1500:]
            raise TuneGAEError(f"`ray start` {state} before the service was ready ({log_path}):\n{tail}")
        if STARTED_MARKER in log_path.read_text(errors="replace") and _jobs_api_answers(service):
            return
        time.sleep(0.5)


def _jobs_api_answers(service: Service) -> bool:
    try:
        job_client(service.dashboard_url, service)
    except (ConnectionError, RuntimeError, OSError):
        return False
    return True


def stop_service() -> bool:
    """Stop what ``up`` recorded (never another Ray); False when nothing was recorded."""
    folder = service_dir()
    record = folder / RECORD_FILE
    if not record.is_file():
        return False
    try:
        service = Service(**json.loads(record.read_text()))
    except (ValueError, TypeError):
        record.unlink()
        return False
    if service.alive():
        os.kill(service.pid, signal.SIGTERM)  # `ray start --block` stops its node's processes
        _wait_gone([service.pid], STOP_TIMEOUT_S)
    _kill(service_processes(service.temp_dir))
    shutil.rmtree(service.temp_dir, ignore_errors=True)
    record.unlink(missing_ok=True)
    return True


def _stop_leftovers() -> None:
    """A record whose `ray start` died: stop the processes it left, then forget it."""
    if (service_dir() / RECORD_FILE).is_file():
        stop_service()


def service_processes(temp_dir: str) -> list:
    """This user's processes whose command line names the service's own Ray temp folder."""
    import psutil

    found, me = [], os.getuid()
    for proc in psutil.process_iter(["cmdline", "uids"]):
        try:
            if proc.info["uids"] and proc.info["uids"].real == me and any(
                    temp_dir in arg for arg in proc.info["cmdline"] or ()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _wait_gone(pids: list[int], timeout: float) -> None:
    import psutil

    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    _kill(alive)


def _kill(procs: list) -> None:
    import psutil

    for proc in procs:
        try:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)
        except psutil.Error:
            continue


def top_up_after_search() -> None:
    """After a search that ran on the service (joined or submitted): Ray stopped its workers with
    it, so start the next search's. The search's results do not depend on it: a service that went
    away meanwhile is not an error."""
    import grpc

    service = running_service()
    if service is None or os.environ.get("RAY_ADDRESS") != service.gcs_address:
        return
    try:
        top_up(service)
    except grpc.RpcError:
        return


def join_running_service(address: str | None) -> Service | None:
    """Point this process's Ray at the running service (``RAY_ADDRESS`` and its token) when no
    address is asked for (``address``, ``$RAY_ADDRESS``); the service joined, or None."""
    if address or os.environ.get("RAY_ADDRESS"):
        return None
    service = running_service()
    if service is not None:
        os.environ.update(service.client_env())
    return service
