"""``tune-gae tensorboard``: serve a search's TensorBoard logs on localhost."""
from __future__ import annotations

import collections
import signal
import socket
import threading
from pathlib import Path
from types import FrameType
from typing import IO

import click

from tune_gae.cli.main import main
from tune_gae.cli.options import user_errors
from tune_gae.errors import TuneGAEError
from tune_gae.logs import library_chatter_shown

# Signals that stop the server and the command (exit 128 + the signal).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
SERVER_STOP_TIMEOUT_S = 10.0
SERVER_OUTPUT_LINES = 20  # TensorBoard's last lines, shown when it fails


@main.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Use 0.0.0.0 only on a trusted network.")
@click.option("--port", type=click.IntRange(1, 65535), default=6006, show_default=True)
@user_errors
def tensorboard(path: str, host: str, port: int) -> None:
    """Serve TensorBoard over a search or run folder (every trial, HParams included).

    Runs until Ctrl-C, SIGTERM or SIGHUP, which stop the server too (exit 128 + the signal).
    """
    import subprocess
    import sys

    from tune_gae.search.results import TENSORBOARD_DIR, is_search_dir

    check_port_free(host, port)
    folder = Path(path).resolve()
    if is_search_dir(folder) and (folder / TENSORBOARD_DIR).is_dir():
        folder = folder / TENSORBOARD_DIR  # runs named trial_<id>-..., not tensorboard/trial_<id>-...
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(folder),
               "--host", host, "--port", str(port)]
    stopped_by: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped_by.append(signum)
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, stop) for s in STOP_SIGNALS}
    verbose = library_chatter_shown()
    try:
        # TensorBoard's own lines ("TensorFlow installation not found", its fast-loading NOTE, a
        # second URL, "caught SIGTERM") only with --verbose; kept to show if the server fails.
        server = subprocess.Popen(command, stdout=None if verbose else subprocess.PIPE,
                                  stderr=None if verbose else subprocess.STDOUT, text=True)
        output, reader = _keep_tail(server.stdout)
        click.echo(f"TensorBoard on http://{host}:{port}/ (Ctrl-C to stop)")
        code = server.wait()
        reader.join(timeout=SERVER_STOP_TIMEOUT_S)
        if code != 0 and output:
            click.echo(f"TensorBoard stopped with exit code {code}:\n" + "".join(output).rstrip(), err=True)
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


def _keep_tail(stream: IO[str] | None) -> tuple[collections.deque[str], threading.Thread]:
    """The last ``SERVER_OUTPUT_LINES`` lines of ``stream`` (none without one), read by a thread."""
    tail: collections.deque[str] = collections.deque(maxlen=SERVER_OUTPUT_LINES)
    reader = threading.Thread(target=lambda: tail.extend(stream or ()), name="tensorboard-output", daemon=True)
    reader.start()
    return tail, reader


def check_port_free(host: str, port: int) -> None:
    """Refuse a taken port before TensorBoard starts (it would print a URL, then fail with 255)."""
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
