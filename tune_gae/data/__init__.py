"""Graphs in, one seeded link split out: sources, node features, the split."""
from __future__ import annotations

from tune_gae.data.sources import load_graph, safe_name, synthetic_graph
from tune_gae.data.split import LinkSplit, load_split, split_edges

__all__ = ["LinkSplit", "load_graph", "load_split", "safe_name", "split_edges", "synthetic_graph"]
