"""The service's warm workers: idle Ray worker processes that already imported torch, PyG and tune_gae.

Ray binds a worker process to the first search (Ray job) that uses it and stops it when that
search ends, so the workers a search starts never serve the next one. What Ray does offer is a
worker started for no job yet: its raylet's ``PrestartWorkers`` call starts idle workers for any
job, kept alive for a given time, and they import the service's preloaded modules
(``preload_python_modules``) as they start. ``up`` asks for ``warm_workers`` of them; a search that
ran on the service tops the pool up again as it exits, while its user reads the results.

Two of Ray's defaults would undo that, and ``up`` sets both (``head.start_service``):
- Ray kills idle workers beyond the CPUs free at that moment; a search's placement groups take
  every CPU just before its trial actors ask for workers. The keep-alive exempts warm workers.
- Ray starts one worker per CPU for the first driver that connects (``prestart_worker_first_driver``):
  those imported torch beside the search's driver and were never used.

``PrestartWorkers`` is not public API (Ray 2.60's ``NodeManagerService``); the call raises when
Ray drops or changes it, and ``tests/test_service.py`` fails the day it stops making warm workers.
A search never depends on them: without warm workers its trials start workers of their own.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

    from tune_gae.service.head import Service

# Long enough to outlive any pause between searches; `down` stops them whatever is left of it.
KEEP_ALIVE_S = 30 * 24 * 3600
RPC_TIMEOUT_S = 10.0
# Ray's process title of a worker that runs nothing.
IDLE_TITLE = "ray::IDLE"
# Ray's own settings for the service's raylet (see the module's docstring).
WARM_RAY_ENV = {"RAY_prestart_worker_first_driver": "0"}


def idle_workers(service: Service) -> list[psutil.Process]:
    """The service's worker processes that run nothing now (the warm ones, between searches)."""
    import psutil

    try:
        tree = psutil.Process(service.pid).children(recursive=True)
    except psutil.Error:
        return []
    idle = []
    for proc in tree:
        try:
            if (proc.cmdline() or [""])[0].startswith(IDLE_TITLE):
                idle.append(proc)
        except psutil.Error:
            continue
    return idle


def top_up(service: Service) -> int:
    """Ask the service's raylet for workers until ``service.warm_workers`` are idle; how many were asked."""
    missing = service.warm_workers - len(idle_workers(service))
    if missing > 0 and service.raylet_port:
        prestart_workers(service, missing)
    return max(missing, 0)


def prestart_workers(service: Service, count: int) -> None:
    """Ray's ``PrestartWorkers``: ``count`` Python workers for no job yet, kept alive ``KEEP_ALIVE_S``."""
    import grpc
    from ray.core.generated import common_pb2, node_manager_pb2, node_manager_pb2_grpc, runtime_environment_pb2

    from tune_gae.service.client import auth_headers

    request = node_manager_pb2.PrestartWorkersRequest(
        language=common_pb2.PYTHON,
        runtime_env_info=runtime_environment_pb2.RuntimeEnvInfo(serialized_runtime_env="{}"),
        keep_alive_duration_secs=KEEP_ALIVE_S, num_workers=count)
    metadata = tuple((key.lower(), value) for key, value in auth_headers(service).items())
    with grpc.insecure_channel(f"{service.gcs_address.rsplit(':', 1)[0]}:{service.raylet_port}") as channel:
        node_manager_pb2_grpc.NodeManagerServiceStub(channel).PrestartWorkers(
            request, metadata=metadata, timeout=RPC_TIMEOUT_S)

