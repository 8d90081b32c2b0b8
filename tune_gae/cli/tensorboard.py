"""``tune-gae tensorboard``: serve a search's TensorBoard logs on localhost."""
from __future__ import annotations

from pathlib import Path

import click

from tune_gae.cli.main import main
from tune_gae.cli.options import user_errors
from tune_gae.cli.serve import check_port_free, serve_until_stopped


@main.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Use 0.0.0.0 only on a trusted network.")
@click.option("--port", type=click.IntRange(1, 65535), default=6006, show_default=True)
@user_errors
def tensorboard(path: str, host: str, port: int) -> None:
    """Serve TensorBoard over a search or run folder (every trial, HParams included).

    Runs until Ctrl-C, SIGTERM or SIGHUP, which stop the server too (exit 128 + the signal).
    """
    import sys

    from tune_gae.search.results import TENSORBOARD_DIR, is_search_dir

    check_port_free(host, port)
    folder = Path(path).resolve()
    if is_search_dir(folder) and (folder / TENSORBOARD_DIR).is_dir():
        folder = folder / TENSORBOARD_DIR  # runs named trial_<id>-..., not tensorboard/trial_<id>-...
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(folder),
               "--host", host, "--port", str(port)]
    serve_until_stopped(command, f"TensorBoard on http://{host}:{port}/ (Ctrl-C to stop)")
