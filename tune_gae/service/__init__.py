"""A search service that stays up: a Ray head on 127.0.0.1 (``up``/``down``) and searches as Ray Jobs.

From a notebook: ``start_service()``; ``join_running_service(None)`` (sets ``RAY_ADDRESS`` and the
token for this process), then ``run_search(settings)`` runs on it; or ``submit_search(["smoke", ...])``.
"""
from __future__ import annotations

from tune_gae.service.head import Service, join_running_service, running_service, start_service, stop_service
from tune_gae.service.jobs import job_logs, list_jobs, stop_job, submit_search
from tune_gae.service.status import ServiceStatus, service_status

__all__ = [
    "Service",
    "ServiceStatus",
    "job_logs",
    "join_running_service",
    "list_jobs",
    "running_service",
    "service_status",
    "start_service",
    "stop_job",
    "stop_service",
    "submit_search",
]
