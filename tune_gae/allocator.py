"""Deprecated import path: use ``tune_gae.train.allocator`` (kept so code written for tune-gae 0.1 runs)."""
from __future__ import annotations

import warnings

from tune_gae.train.allocator import keep_freed_memory  # noqa: F401

warnings.warn(
    "tune_gae.allocator is deprecated: import from tune_gae.train.allocator instead.", DeprecationWarning, stacklevel=2
)
