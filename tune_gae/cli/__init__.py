"""The ``tune-gae`` command line: thin commands over the Python API.

Each command parses flags, calls one library function and prints. ``TuneGAEError`` becomes a
one-line ``Error: ...`` and exit code 2 in one place (``options.user_errors``).
"""
from __future__ import annotations

from tune_gae.cli import bundle, dashboard, report, search, service, spaces, tensorboard, train  # noqa: F401  (registers commands)
from tune_gae.cli.main import main

__all__ = ["main"]
