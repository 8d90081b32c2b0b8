"""Searches as Ray Jobs (Ray's Jobs API): submit, list, follow, stop; and what a service runs.

A submitted search is ``tune-gae search ...`` run by Ray's job supervisor on the head: it goes on
when the submitting terminal closes. ``stop`` is Ray's ``stop_job``: the search gets SIGTERM, saves
Ray Tune's state and stays resumable (``tune-gae resume``); Ray waits ``client.STOP_WAIT_S`` before it
would kill it.
"""
from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tune_gae.errors import TuneGAEError
from tune_gae.service.client import JOB_ENV, job_client

if TYPE_CHECKING:
    from tune_gae.service.head import Service

# Environment variables a submitted search takes along from the submitting shell.
FORWARDED_ENV = ("TUNE_GAE_DATA",)


def connect(address: str | None) -> tuple[Any, Service | None]:
    """The Jobs API of ``address``, else of the service ``up`` started here."""
    from tune_gae.service.head import running_service

    service = running_service() if address is None else None
    if address is None and service is None:
        raise TuneGAEError("no tune-gae service runs on this machine: start one with `tune-gae up`, or pass "
                           "--address http://HOST:8265 (a cluster head's Jobs API, e.g. through an SSH tunnel).")
    url = address or service.dashboard_url  # type: ignore[union-attr]
    try:
        return job_client(url, service), service
    except (ConnectionError, RuntimeError, OSError) as exc:
        raise TuneGAEError(f"the Ray Jobs API at {url} does not answer ({str(exc).splitlines()[0][:160]}): "
                           f"check --address and that the head runs (`tune-gae status`).") from None


def search_entrypoint(search_args: list[str], service: Service | None) -> str:
    """The command the job runs: this Python's tune-gae on the local service (with the submitting
    shell's ``FORWARDED_ENV``: the same machine, the same data folder), ``tune-gae`` on a cluster."""
    if service is None:
        return shlex.join(["tune-gae", "search", *search_args])
    forwarded = [f"{key}={os.environ[key]}" for key in FORWARDED_ENV if os.environ.get(key)]
    return shlex.join([*(["env", *forwarded] if forwarded else []), sys.executable, "-m", "tune_gae.cli", "search",
                       *search_args])


def submit_search(search_args: list[str], address: str | None = None) -> tuple[str, str]:
    """Submit ``tune-gae search SEARCH_ARGS`` as a Ray Job; ``(submission id, Jobs API url)``.

    On the local service the job carries no runtime env: Ray's worker pool hands a job's actors
    only workers started with the same runtime env, and the service's warm workers have none
    (its Ray has ``JOB_ENV`` in its own environment instead). On a cluster it carries ``JOB_ENV``.
    """
    client, service = connect(address)
    entrypoint = search_entrypoint(search_args, service)
    if service is not None:
        job_id = client.submit_job(entrypoint=entrypoint)
    else:
        job_id = client.submit_job(entrypoint=entrypoint, runtime_env={"env_vars": dict(JOB_ENV)})
    return job_id, client.get_address()


@dataclass(frozen=True)
class JobRow:
    """One job, as `tune-gae jobs` shows it."""

    job_id: str
    status: str
    kind: str
    entrypoint: str


def list_jobs(address: str | None = None) -> list[JobRow]:
    """Every job the head knows (submitted searches and drivers that joined), newest first."""
    client, _ = connect(address)
    jobs = sorted(client.list_jobs(), key=lambda job: job.start_time or 0, reverse=True)
    return [JobRow(job.submission_id or job.job_id or "?", _text(job.status), _text(job.type).lower(),
                   job.entrypoint or "") for job in jobs]


def _text(value: Any) -> str:
    """An enum's value (Ray's JobStatus, JobType), else the value as text."""
    return str(getattr(value, "value", value))


def job_logs(job_id: str, address: str | None = None, *, follow: bool = False) -> Iterator[str]:
    """The job's output so far; with ``follow``, chunks as they come until the job ends."""
    client, _ = connect(address)
    _check_job(client, job_id)
    if not follow:
        yield client.get_job_logs(job_id)
        return
    import asyncio
    import logging

    logging.getLogger("ray.dashboard.modules.job.sdk").setLevel(logging.WARNING)  # "WebSocket closed ..."
    # tail_job_logs is async: run it chunk by chunk, so each reaches the terminal as it comes.
    loop = asyncio.new_event_loop()
    try:
        stream = client.tail_job_logs(job_id)
        while True:
            try:
                yield loop.run_until_complete(stream.__anext__())
            except StopAsyncIteration:
                return
    finally:
        loop.close()


def stop_job(job_id: str, address: str | None = None) -> bool:
    """SIGTERM to the job's search (state saved, resumable); False when it had already ended."""
    client, _ = connect(address)
    _check_job(client, job_id)
    return bool(client.stop_job(job_id))


def _check_job(client: Any, job_id: str) -> Any:
    try:
        return client.get_job_status(job_id)
    except RuntimeError:
        raise TuneGAEError(f"no job {job_id!r} on this head: `tune-gae jobs` lists them.") from None
