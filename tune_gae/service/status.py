"""``tune-gae status``: the service's nodes, CPUs/GPUs, worker processes and running searches."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tune_gae.errors import TuneGAEError


@dataclass(frozen=True)
class ServiceStatus:
    """What the head reports, through Ray's state API and Jobs API."""

    dashboard_url: str
    gcs_address: str
    nodes: list[dict[str, Any]] = field(default_factory=list)  # ip, alive, CPU, GPU
    workers: int = 0  # live worker processes (trial workers, idle or busy)
    running: list[str] = field(default_factory=list)  # running jobs: "id: entrypoint"
    idle: int = 0  # of them running nothing: the warm workers, between searches
    warm_target: int = 0  # how many warm workers the service keeps


def service_status() -> ServiceStatus:
    """The running service's state; ``TuneGAEError`` when none runs."""
    from ray.util.state.api import StateApiClient
    from ray.util.state.common import ListApiOptions, StateResource

    from tune_gae.service.client import auth_headers, exactly_this_address
    from tune_gae.service.head import running_service
    from tune_gae.service.jobs import list_jobs
    from tune_gae.service.warm import idle_workers

    service = running_service()
    if service is None:
        raise TuneGAEError("no tune-gae service runs on this machine: start one with `tune-gae up`.")
    with exactly_this_address():
        state = StateApiClient(service.dashboard_url,
                               headers={"Content-Type": "application/json", **auth_headers(service)})
    nodes = [{"ip": n.node_ip, "alive": n.state == "ALIVE", "CPU": n.resources_total.get("CPU", 0.0),
              "GPU": n.resources_total.get("GPU", 0.0)}
             for n in state.list(StateResource.NODES, ListApiOptions(detail=True), raise_on_missing_output=False)]
    workers = state.list(StateResource.WORKERS, ListApiOptions(filters=[("worker_type", "=", "WORKER"),
                                                                        ("is_alive", "=", "True")]),
                         raise_on_missing_output=False)
    running = [f"{job.job_id}: {job.entrypoint}" for job in list_jobs() if job.status == "RUNNING"]
    return ServiceStatus(service.dashboard_url, service.gcs_address, nodes, len(workers), running,
                         idle=len(idle_workers(service)), warm_target=service.warm_workers)
