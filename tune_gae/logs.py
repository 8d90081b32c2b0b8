"""Quiet by default: the terminal shows tune-gae's own lines; ``--verbose`` shows the libraries' logs.

One switch, the level of the ``tune_gae.libraries`` logger, decides what Ray (``ray.init``'s
logging level), Optuna (its verbosity) and PyG (its ``Processing...``/``Done!``) may print.
Unset, as in a notebook, it follows the root logger (WARNING): libraries' warnings show, their
chatter does not.
"""
from __future__ import annotations

import logging

LIBRARIES_LOGGER = "tune_gae.libraries"


def show_library_logs(verbose: bool) -> None:
    """The CLI's ``--verbose``: everything the libraries log (INFO), else their errors only."""
    logging.getLogger(LIBRARIES_LOGGER).setLevel(logging.INFO if verbose else logging.ERROR)


def library_log_level() -> int:
    """The level the libraries log at (``logging.INFO``, ``WARNING`` or ``ERROR``)."""
    return logging.getLogger(LIBRARIES_LOGGER).getEffectiveLevel()


def library_chatter_shown() -> bool:
    """Whether progress chatter (PyG's ``Processing...``, Optuna's study banner) may print."""
    return library_log_level() <= logging.INFO
