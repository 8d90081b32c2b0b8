"""Deprecated import path: use ``tune_gae.train.trainer`` (kept so code written for tune-gae 0.1 runs)."""
from __future__ import annotations

import warnings

from tune_gae.train.trainer import Trainer, score_test_edges, train  # noqa: F401

warnings.warn(
    "tune_gae.training is deprecated: import from tune_gae.train.trainer instead.", DeprecationWarning, stacklevel=2
)
