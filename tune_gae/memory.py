"""How much memory one trial needs, estimated before any trial starts.

A search on a large graph must refuse up front when a trial cannot fit, not be killed by the
kernel halfway. The estimate counts what ``Trainer`` keeps for a configuration (graph operators,
training pairs, the negatives of one epoch, weights with their gradients, Adam's two moments and
the best-weights copy, activations of the forward and backward pass) and is checked against
measured peaks in ``benchmarks/bench_large_graphs.py`` (see benchmarks/RESULTS.md).
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence

__all__ = ["PROCESS_BASE_BYTES", "estimate_trial_bytes", "format_bytes"]

PROCESS_BASE_BYTES = 600 * 2**20  # a trial process with torch, PyG and Ray imported
FLOAT = 4
INDEX = 8
# Bytes per stored adjacency entry: int64 keys (rows, cols, unique inverse), int32 CSR indices,
# float values for the pattern, the weighted operator and its transpose permutation.
ADJACENCY_ENTRY_BYTES = 5 * INDEX + 4 * FLOAT
# Bytes per training pair: the [2, P] tensor, a sorted copy, two orders, offsets and partners.
PAIR_BYTES = 8 * INDEX
# Copies of each weight: value, gradient, Adam's two moments, best-weights clone, checkpoint.
WEIGHT_COPIES = 6
# Live [N, width] float tensors per layer during a training step (input, output, gradients,
# the product before the bias, dropout mask) and the embedding's pair gathers.
ACTIVATION_COPIES = 6
SAFETY = 1.25


def estimate_trial_bytes(
    *,
    num_nodes: int,
    num_train_edges: int,
    input_width: int,
    input_nonzeros: int,
    hidden_widths: Sequence[int],
    latent_width: int,
    variational: bool = False,
    neg_ratio: int = 1,
) -> int:
    """Peak bytes one trial is expected to hold (a safety margin included).

    ``num_train_edges``: undirected training edges (each once); ``input_nonzeros``: stored
    entries of the input matrix (N for a learnable embedding, N x width for dense features).
    """
    widths = [input_width, *hidden_widths, latent_width * (2 if variational else 1)]
    weights = sum(a * b + b for a, b in itertools.pairwise(widths))
    adjacency_entries = 2 * num_train_edges + num_nodes
    pairs = num_train_edges * (1 + neg_ratio)
    activations = num_nodes * sum(widths[1:]) * FLOAT * ACTIVATION_COPIES
    total = (
        adjacency_entries * ADJACENCY_ENTRY_BYTES
        + pairs * PAIR_BYTES
        + input_nonzeros * (FLOAT + INDEX)
        + weights * FLOAT * WEIGHT_COPIES
        + activations
    )
    return int(PROCESS_BASE_BYTES + SAFETY * total)


def format_bytes(count: float) -> str:
    """``1.5 GiB``-style sizes for messages."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return f"{count:.1f} GiB"
