"""Deprecated import path: use ``tune_gae.bundle.reader`` / ``.writer`` (kept so code written for tune-gae 0.1 runs)."""
from __future__ import annotations

import warnings

from tune_gae.bundle.reader import load_bundle_split, load_embeddings, load_model, read_bundle_config  # noqa: F401
from tune_gae.bundle.writer import export_best  # noqa: F401

warnings.warn(
    "tune_gae.export is deprecated: import from tune_gae.bundle.reader or tune_gae.bundle.writer instead.", DeprecationWarning, stacklevel=2
)
