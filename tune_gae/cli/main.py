"""The ``tune-gae`` click group; each command module registers itself on it."""
from __future__ import annotations

import os
import sys
from typing import Any

import click

from tune_gae.logs import show_library_logs
from tune_gae.train.allocator import keep_freed_memory


class Commands(click.Group):
    """The group. A command whose reader went away (``tune-gae report ... | head``) ends quietly
    with exit code 0, as command-line tools do, instead of click's exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _discard_stdout()
            ctx.exit(0)


def _discard_stdout() -> None:
    """Point stdout at /dev/null: what is still buffered for the closed pipe goes nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no file descriptor (a test runner's stream): nothing to redirect
        pass


# Commands whose process is a search's driver for thousands of trials: it hands freed memory back
# (search.driver_memory); the re-selection keeps it once it trains in the driver (search.reselect).
SEARCH_DRIVERS = frozenset({"search", "resume"})


@click.group(cls=Commands)
@click.version_option(package_name="tune-gae")
@click.option("--verbose", "-v", is_flag=True, help="Also show the libraries' own logs (Ray, Optuna, PyG).")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Hyperparameter search for graph auto-encoders (GAE/VGAE) on Ray Tune + Optuna."""
    show_library_logs(verbose)
    if ctx.invoked_subcommand not in SEARCH_DRIVERS:
        keep_freed_memory()  # train/evaluate/embed run epochs or big forward passes in this process
