"""The HTTP side of the service: a client for Ray's Jobs API with the service's token.

Kept apart from ``head`` (which starts the service and waits for this API) and ``jobs`` (which
submits and follows searches through it), so that both import it and neither imports the other.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tune_gae.service.head import Service

TOKEN_ENV = "RAY_AUTH_TOKEN_PATH"
# Seconds Ray's job supervisor waits after SIGTERM before SIGKILL: a submitted search saves its
# state first. A job's runtime env carries it to a cluster; the local service's Ray has it from `up`.
STOP_WAIT_S = 60
JOB_ENV = {"RAY_JOB_STOP_WAIT_TIME_S": str(STOP_WAIT_S)}


def _token(service: Service | None) -> str | None:
    """The service's token, else the one Ray's own variables or ``~/.ray/auth_token`` hold."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"]
    path = Path(service.token_path if service else os.environ.get(TOKEN_ENV) or "~/.ray/auth_token").expanduser()
    return path.read_text().strip() if path.is_file() else None


def auth_headers(service: Service | None) -> dict[str, str]:
    """The HTTP header Ray's dashboard wants with token auth on (none without a token)."""
    token = _token(service)
    return {"Authorization": f"Bearer {token}"} if token else {}


# Ray's HTTP clients take these over the address they are given.
_ADDRESS_OVERRIDES = ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS")


@contextlib.contextmanager
def exactly_this_address() -> Iterator[None]:
    """Make a Ray HTTP client for the address given, not for ``$RAY_ADDRESS`` (restored after)."""
    saved = {key: os.environ.pop(key) for key in _ADDRESS_OVERRIDES if key in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def job_client(address: str, service: Service | None = None) -> Any:
    """Ray's ``JobSubmissionClient`` for ``address`` (``http://HOST:PORT``), with the token."""
    from ray.job_submission import JobSubmissionClient

    with exactly_this_address():
        return JobSubmissionClient(address, headers=auth_headers(service) or None)
