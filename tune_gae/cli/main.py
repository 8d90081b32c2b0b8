"""The ``tune-gae`` click group; each command module registers itself on it."""
from __future__ import annotations

import click

from tune_gae.train.allocator import keep_freed_memory


@click.group()
@click.version_option(package_name="tune-gae")
def main() -> None:
    """Hyperparameter search for graph auto-encoders (GAE/VGAE) on Ray Tune + Optuna."""
    keep_freed_memory()  # train/evaluate/embed run epochs or big forward passes in this process


