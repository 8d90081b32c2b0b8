"""What ``tune-gae tensorboard`` and ``dashboard`` share: a local web server run as a child
process until Ctrl-C, SIGTERM or SIGHUP, and the check that its port is free."""
from __future__ import annotations

import signal
import socket
import subprocess
from types import FrameType

import click

from tune_gae.errors import TuneGAEError

# Signals that stop the server and the command (exit 128 + the signal).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
SERVER_STOP_TIMEOUT_S = 10.0


def serve_until_stopped(command: list[str], banner: str) -> None:
    """Run the server ``command``, print ``banner``; on a stop signal end the server too and exit
    with 128 + the signal (the server's own exit code when it ends by itself)."""
    stopped_by: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped_by.append(signum)
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, stop) for s in STOP_SIGNALS}
    try:
        server = subprocess.Popen(command)
        click.echo(banner)
        code = server.wait()
    except KeyboardInterrupt:
        server.terminate()
        try:
            server.wait(timeout=SERVER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        code = 128 + (stopped_by[0] if stopped_by else signal.SIGINT)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    raise SystemExit(code)


def check_port_free(host: str, port: int) -> None:
    """Refuse a taken port before the server starts (it would print a URL, then fail)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise TuneGAEError(f"--host {host} cannot be resolved ({exc.strerror}): pass an address such as 127.0.0.1.") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as TensorBoard's server binds
        try:
            probe.bind(address)
        except OSError:
            raise TuneGAEError(
                f"port {port} on {host} is already in use: pass another --port (e.g. --port {port + 1}) "
                f"or stop what serves on it."
            ) from None
