"""The ``tune-gae`` click group; each command module registers itself on it."""
from __future__ import annotations

import click

from tune_gae.logs import show_library_logs
from tune_gae.train.allocator import keep_freed_memory


@click.group()
@click.version_option(package_name="tune-gae")
@click.option("--verbose", "-v", is_flag=True, help="Also show the libraries' own logs (Ray, Optuna, PyG).")
def main(verbose: bool) -> None:
    """Hyperparameter search for graph auto-encoders (GAE/VGAE) on Ray Tune + Optuna."""
    show_library_logs(verbose)
    keep_freed_memory()  # train/evaluate/embed run epochs or big forward passes in this process


