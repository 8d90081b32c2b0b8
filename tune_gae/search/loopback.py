"""A Ray started on this machine listens on 127.0.0.1 only (the one place that knows how).

Ray's GCS, raylet, workers and agents bind to the node's IP address, and to every interface
unless that address is exactly ``127.0.0.1``. Ray 2.60 chooses a routable address for a node
(``services.get_node_ip_address``), and turns ``127.0.0.1`` given as ``--node-ip-address`` /
``_node_ip_address`` into one too (``services.resolve_ip_for_localhost``), unless
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``: with that switch off a node is a machine of its own,
its address is the loopback one, and nothing of it listens beyond this machine. A driver joining
a node on 127.0.0.1 (``tune-gae up``'s) needs the switch too: Ray rewrites the address it joins
the same way, and would knock at the routable address where nothing listens.

Ray reads the switch once, when ``ray._private.ray_constants`` is imported. A ``ray start`` in a
fresh process gets it as an environment variable (``LOOPBACK_ENV``); a Ray started in this
process (``ray.init``) may come after Ray was imported (a notebook, the tests), so
``loopback_only`` sets the constant the import made, for the duration of the start. That
constant is a private Ray internal: ``tests/test_loopback.py`` fails the day Ray renames it or
stops choosing the loopback address through it.
"""
from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator

# The switch, as Ray's environment variable (read at import) and its module-level constant.
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
_CONSTANTS_MODULE = "ray._private.ray_constants"
_CONSTANT = "ENABLE_RAY_CLUSTER"

LOOPBACK_HOST = "127.0.0.1"


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    """A Ray node started in this process inside the block gets 127.0.0.1 as its address, so its
    GCS, raylet, workers and agents listen on loopback only. Restored on the way out."""
    constants = importlib.import_module(_CONSTANTS_MODULE)
    if not hasattr(constants, _CONSTANT):
        raise RuntimeError(
            f"{_CONSTANTS_MODULE}.{_CONSTANT} is gone from this Ray: tune_gae.search.loopback must learn "
            f"this Ray's way to keep a local node on {LOOPBACK_HOST}."
        )
    saved = getattr(constants, _CONSTANT)
    setattr(constants, _CONSTANT, False)
    try:
        yield
    finally:
        setattr(constants, _CONSTANT, saved)


def is_loopback(host: str) -> bool:
    """Whether a listening address is reachable from this machine only (IPv4, IPv6, mapped)."""
    import ipaddress

    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def joins_loopback(address: str) -> bool:
    """Whether a Ray address (``HOST:PORT``, ``ray://HOST:PORT``) names a node on 127.0.0.1."""
    host = address.removeprefix("ray://").rpartition(":")[0].strip("[]")
    return host == "localhost" or is_loopback(host)
