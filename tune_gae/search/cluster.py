"""Joining or starting Ray, and checking that the cluster can host one trial before any starts."""
from __future__ import annotations

import contextlib
import glob
import logging
import os
import sys
from collections.abc import Iterator

from tune_gae.errors import TuneGAEError
from tune_gae.search.settings import SearchSettings

# Device files whose absence means a local Ray would offer no GPU (NVIDIA, AMD ROCm).
GPU_DEVICE_GLOBS = ("/dev/nvidia[0-9]*", "/dev/kfd")


def _node_resources() -> list[dict[str, float]]:
    import ray

    return [node["Resources"] for node in ray.nodes() if node.get("Alive")]


def check_resources(
    settings: SearchSettings, nodes: list[dict[str, float | None]], *, where: str = "the Ray cluster"
) -> None:
    """Fail now, not after trials sit PENDING forever, when no node can host one trial.

    A resource given as ``None`` is unknown and not checked (``local_resources`` on a machine
    with GPU device files leaves the count to Ray).
    """
    cpus, gpus = settings.cpus_per_trial, settings.gpus_per_trial

    def has(node: dict[str, float | None], key: str, amount: float) -> bool:
        value = node.get(key, 0.0)
        return value is None or value >= amount

    if any(has(n, "CPU", cpus) and has(n, "GPU", gpus) for n in nodes):
        return
    best_cpu = max((n.get("CPU") or 0.0 for n in nodes), default=0.0)
    best_gpu = max((n.get("GPU") or 0.0 for n in nodes), default=0.0)
    if gpus > 0 and not any(has(n, "GPU", gpus) for n in nodes):
        have = "no GPU" if best_gpu == 0 else f"at most {best_gpu:g} GPU per node"
        raise TuneGAEError(
            f"--gpus-per-trial {gpus:g} cannot be met: {where} has {have}. "
            f"Use --gpus-per-trial 0 (CPU) or --address a cluster with GPU nodes."
        )
    node = "this machine" if where == "this machine" else "the largest Ray node"
    raise TuneGAEError(
        f"--cpus-per-trial {cpus:g} cannot be met: {node} has {best_cpu:g} CPUs. "
        f"Lower --cpus-per-trial or --address a larger cluster."
    )


def local_resources() -> dict[str, float | None]:
    """What a local Ray started here would offer, known without importing torch or Ray.

    GPUs: 0 when the machine has no GPU device file (Ray would find none either), else unknown
    (Ray counts them once it starts, and the search checks again then).
    """
    has_gpu_devices = any(glob.glob(pattern) for pattern in GPU_DEVICE_GLOBS)
    return {"CPU": float(os.cpu_count() or 1), "GPU": None if has_gpu_devices else 0.0}


# Seconds to wait for a Ray address to accept a connection before calling it dead.
RAY_PROBE_TIMEOUT_S = 3.0
LOCAL_RAY = "local"


def ray_address(address: str | None) -> str:
    """The address ``ray.init`` gets: ``"local"`` (start a Ray here) unless one was asked for.

    ``RAY_ADDRESS`` counts as asking, as everywhere in Ray. Ray's own default (``None``) joins
    the cluster the last ``ray start`` on this machine recorded, even one that died long ago,
    and then retries forever: without an address a search starts its own Ray instead. ``auto``
    is resolved the way Ray does it; an address that does not answer fails now, naming it.
    """
    source = "--address" if address else "RAY_ADDRESS"
    address = address or os.environ.get("RAY_ADDRESS") or LOCAL_RAY
    if not joins_cluster(address):
        return LOCAL_RAY
    resolved = address
    if address == "auto":
        from ray._private.services import canonicalize_bootstrap_address

        try:
            resolved = canonicalize_bootstrap_address("auto") or LOCAL_RAY
        except (ConnectionError, ValueError) as exc:
            raise TuneGAEError(
                f"{source} auto found no Ray cluster on this machine ({str(exc).splitlines()[0][:120]}): "
                f"start one with `ray start --head`, or leave out --address to run on a local Ray."
            ) from None
    _check_answers(resolved, asked=source if resolved == address else f"{source} {address}")
    return resolved


def joins_cluster(address: str | None) -> bool:
    """Whether a search given ``address`` (``None``: ``$RAY_ADDRESS``) joins a running Ray."""
    return (address or os.environ.get("RAY_ADDRESS") or LOCAL_RAY) != LOCAL_RAY


def _check_answers(address: str, *, asked: str) -> None:
    """Fail in seconds when nothing listens at ``host:port`` (Ray itself would retry for minutes)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # not host:port: left to Ray, which names the problem
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=RAY_PROBE_TIMEOUT_S):
            return
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__).lower()
    raise TuneGAEError(
        f"no Ray cluster answers at {address} (from {asked}): {reason}. Start it (`ray start --head` on that "
        f"machine) or leave out --address (and unset RAY_ADDRESS) to run on a local Ray."
    )


def check_cuda(settings: SearchSettings) -> None:
    """``--gpus-per-trial`` on this machine needs a torch that can use a GPU here: refuse now,
    before any trial starts (trials would otherwise train on the CPU, quietly).

    Only for a local Ray: on a cluster (``--address``, ``RAY_ADDRESS``) the trials run the nodes'
    torch, and a trial that finds no CUDA there fails (``train_trial``) rather than fall back to
    the CPU.
    """
    if settings.gpus_per_trial <= 0 or joins_cluster(settings.address):
        return
    import torch

    gpus = f"--gpus-per-trial {settings.gpus_per_trial:g}"
    if torch.version.cuda is None and torch.version.hip is None:
        raise TuneGAEError(
            f"{gpus} needs CUDA but this torch ({torch.__version__}) was built without it: install a CUDA "
            f"build of torch (https://pytorch.org/get-started/locally/) or use --gpus-per-trial 0."
        )
    if not torch.cuda.is_available():
        raise TuneGAEError(
            f"{gpus}: torch {torch.__version__} sees no GPU on this machine (driver not loaded, or "
            f"CUDA_VISIBLE_DEVICES hides them): check `nvidia-smi`, or use --gpus-per-trial 0."
        )


def connect_ray(address: str | None) -> bool:
    """Start a local Ray (dashboard off, on 127.0.0.1 only) or join ``address``; True when this
    call connected.

    The caller's own SIGTERM/SIGHUP handlers survive ``ray.init`` (which installs its own, and
    a C-level one that prints a crash dump).
    """
    import ray

    from tune_gae.logs import library_log_level
    from tune_gae.search.loopback import joins_loopback, loopback_only
    from tune_gae.search.signals import python_handlers, restore_handlers

    if ray.is_initialized():
        return False
    target = ray_address(address)
    handlers = python_handlers()
    # A Ray started here, or one on 127.0.0.1 (`tune-gae up`), stays on loopback (else Ray would
    # rewrite 127.0.0.1 to this machine's routable address). Entered outside the try: a Ray
    # without the loopback switch fails loudly, not as a bad address.
    local = target == LOCAL_RAY or joins_loopback(target)
    with loopback_only() if local else contextlib.nullcontext():
        try:
            with _without_auth_notice():
                ray.init(
                    address=target,
                    include_dashboard=False,
                    logging_level=library_log_level(),
                    log_to_driver=False,
                    configure_logging=True,
                )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = address or "a local Ray runtime"
            raise TuneGAEError(
                f"could not connect to {where} ({str(exc).splitlines()[0][:160]}): check --address "
                f"(e.g. 127.0.0.1:6379 or 'auto' on a cluster node) and that the cluster is up."
            ) from None
        finally:
            restore_handlers(handlers)
    return True


# Ray logs this warning on every local start (token authentication is its default): a notice
# about Ray's own default, not about the search, shown with --verbose only. Ray's logger name for
# it; tests/test_cluster.py::test_run_search_prints_no_foreign_lines fails if it moves.
AUTH_NOTICE_LOGGER = "ray._private.authentication.authentication_token_setup"
AUTH_NOTICE = "Token authentication is enabled for this Ray cluster"


class _AuthNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(AUTH_NOTICE)


@contextlib.contextmanager
def _without_auth_notice() -> Iterator[None]:
    """Ray's "Token authentication is enabled ... Set RAY_AUTH_MODE=disabled to opt out" left out
    (unless --verbose); token authentication itself stays on."""
    from tune_gae.logs import library_chatter_shown

    if library_chatter_shown():
        yield
        return
    logger, notice = logging.getLogger(AUTH_NOTICE_LOGGER), _AuthNotice()
    logger.addFilter(notice)
    try:
        yield
    finally:
        logger.removeFilter(notice)


def disconnect_ray() -> None:
    """Leave Ray (and stop it, when this process started it); nothing when Ray was never used."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


def trial_slots(settings: SearchSettings, nodes: list[dict[str, float]]) -> int:
    """How many trials the cluster runs at once (at least 1), capped by ``--max-concurrent``."""
    slots = 0
    for node in nodes:
        fits = node.get("CPU", 0.0) // settings.cpus_per_trial
        if settings.gpus_per_trial:
            fits = min(fits, node.get("GPU", 0.0) // settings.gpus_per_trial)
        slots += int(fits)
    if settings.max_concurrent:
        slots = min(slots, settings.max_concurrent)
    return max(1, slots)


# NVIDIA's Multi-Process Service: its control pipe's folder (the daemon's default, or the env's).
MPS_PIPE_DEFAULT = "/tmp/nvidia-mps"


def gpu_sharing_note(settings: SearchSettings) -> str | None:
    """A line for the search banner when trials share a GPU without NVIDIA MPS on this machine:
    separate processes are then time-sliced, and packing pays little (benchmarks/RESULTS.md, GPU:
    16 Cora trials per H200 ran 2.2x one trial's throughput time-sliced, 15.7x under MPS)."""
    if not 0 < settings.gpus_per_trial < 1:
        return None
    pipe = os.environ.get("CUDA_MPS_PIPE_DIRECTORY", MPS_PIPE_DEFAULT)
    if os.path.exists(os.path.join(pipe, "control")):
        return f"GPU sharing: {round(1 / settings.gpus_per_trial)} trials per GPU through NVIDIA MPS ({pipe})."
    return (f"GPU sharing: --gpus-per-trial {settings.gpus_per_trial:g} packs trials as separate processes, which a GPU "
            f"time-slices unless NVIDIA MPS runs on each GPU node: start `nvidia-cuda-mps-control -d` there "
            f"before Ray (see benchmarks/RESULTS.md, GPU).")
