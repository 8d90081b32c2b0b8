"""Graphs in, one seeded link split out: sources, node features, the split.

The names below are imported on first use: ``tune_gae.data.edge_file`` (what a refused search
reads) stays free of torch and PyG.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tune_gae.data.sources import load_graph, safe_name, synthetic_graph
    from tune_gae.data.split import LinkSplit, load_split, split_edges

__all__ = ["LinkSplit", "load_graph", "load_split", "safe_name", "split_edges", "synthetic_graph"]
_LAZY = {"load_graph": "tune_gae.data.sources", "safe_name": "tune_gae.data.sources",
         "synthetic_graph": "tune_gae.data.sources", "LinkSplit": "tune_gae.data.split",
         "load_split": "tune_gae.data.split", "split_edges": "tune_gae.data.split"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tune_gae.data' has no attribute {name!r}")
