"""``tune-gae tensorboard``: serve a search's TensorBoard logs on localhost."""
from __future__ import annotations

from pathlib import Path

import click

from tune_gae.cli.main import main


@main.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Use 0.0.0.0 only on a trusted network.")
@click.option("--port", type=int, default=6006, show_default=True)
def tensorboard(path: str, host: str, port: int) -> None:
    """Serve TensorBoard over a search or run folder (every trial, HParams included)."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(Path(path).resolve()),
               "--host", host, "--port", str(port)]
    click.echo(f"TensorBoard on http://{host}:{port}/ (Ctrl-C to stop)")
    raise SystemExit(subprocess.call(command))


