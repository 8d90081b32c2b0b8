"""How much memory one trial needs, estimated before any trial starts.

A search on a large graph must refuse up front when a trial cannot fit, not be killed by the
kernel halfway. The estimate counts what ``Trainer`` keeps for a configuration (graph operators,
training pairs, the negatives of one epoch, weights with their gradients, Adam's two moments and
the best-weights copy, activations of the forward and backward pass, and a learned decoder's:
its MLPs over every scored pair, and for ncn the training graph and the common-neighbour
operators of the pairs) and is checked against measured peaks in
``benchmarks/bench_large_graphs.py`` (see benchmarks/RESULTS.md; ``--decoder`` for each decoder).
"""
from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tune_gae.errors import TuneGAEError

if TYPE_CHECKING:
    from tune_gae.data.split import LinkSplit
    from tune_gae.search.space import SearchSpace

__all__ = [
    "available_memory_bytes",
    "check_trial_memory",
    "common_neighbour_entries",
    "estimate_trial_bytes",
    "format_bytes",
    "largest_trial_bytes",
]

PROCESS_BASE_BYTES = 600 * 2**20  # a trial process with torch, PyG and Ray imported
FLOAT = 4
INDEX = 8
# Bytes per stored adjacency entry: int64 keys (rows, cols, unique inverse), int32 CSR indices,
# float values for the pattern, the weighted operator and its transpose permutation.
ADJACENCY_ENTRY_BYTES = 5 * INDEX + 4 * FLOAT
# Bytes per training pair: the [2, P] tensor, a sorted copy, two orders, offsets and partners.
PAIR_BYTES = 8 * INDEX
# Copies of each weight: value, gradient, Adam's two moments, best-weights clone, checkpoint
# (and with weight_ema one more: the moving average, which shares the graph operators).
WEIGHT_COPIES = 6
# Live [N, width] float tensors per layer during a training step (input, output, gradients,
# the product before the bias, dropout mask) and the embedding's pair gathers.
ACTIVATION_COPIES = 6
SAFETY = 1.25
# A learned decoder's live [P, width] tensors per hidden layer and pair (linear output, norm,
# ReLU, dropout mask, and their gradients), and per pair the two gathered embeddings, their
# product and gradients (in latent-wide floats).
DECODER_ACTIVATION_COPIES = 6
PAIR_GATHER_COPIES = 4
# A learned decoder's [P, width] tensors that only a linear layer makes (ncn's branch outputs,
# its common-neighbour sum): the tensor and its gradient.
LINEAR_OUTPUT_COPIES = 2
# The ncn decoder's training graph (SciPy CSR, both directions, symmetrised from a COO copy):
# bytes per stored entry; and per expanded neighbour entry of a pair: the rows of both ends
# gathered (SciPy CSR, int32 index and float32 value) and their product's workspace. What stays
# is the common-neighbour operator, whose entries are far fewer (common neighbours only).
NCN_GRAPH_ENTRY_BYTES = 4 * (INDEX + FLOAT)
NCN_EXPANDED_ENTRY_BYTES = 2 * (4 + FLOAT)
# Live [N, latent] tensors per extra propagation hop of the embedding's layer (propagation_hops):
# the hop's output, the running sum, and their gradients.
HOP_ACTIVATION_COPIES = 4


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
    decoder: str = "inner_product",
    decoder_layers: int = 2,
    decoder_width: int = 64,
    members: int = 1,
    neighbour_entries: int = 0,
    propagation_hops: int = 1,
    positives_per_edge: float = 1.0,
    averaged_weights: bool = False,
) -> int:
    """Peak bytes one trial is expected to hold (a safety margin included).

    ``num_train_edges``: undirected training edges (each once); ``input_nonzeros``: stored
    entries of the input matrix (N for a learnable embedding, N x width for dense features).
    ``latent_width`` and ``hidden_widths`` are a seed ensemble's (``members`` wide) together. A
    learned decoder scores every training pair and negative each epoch (each ensemble member
    its own copy); ``neighbour_entries`` (ncn): the expanded neighbours of one epoch's pairs
    (``common_neighbour_entries``); ``propagation_hops``: the embedding layer's hops;
    ``positives_per_edge``: one epoch's positives per training edge (at most 1, but up to
    2 x mask_ratio with ``mask_kind: directed``, whose positives are masked directions);
    ``averaged_weights``: ``weight_ema`` keeps a moving average of the weights beside them.
    """
    widths = [input_width, *hidden_widths, latent_width * (2 if variational else 1)]
    weights = sum(a * b + b for a, b in itertools.pairwise(widths))
    adjacency_entries = 2 * num_train_edges + num_nodes
    pairs = int(num_train_edges * max(positives_per_edge, 1.0) * (1 + neg_ratio))
    activations = num_nodes * sum(widths[1:]) * FLOAT * ACTIVATION_COPIES
    activations += num_nodes * widths[-1] * FLOAT * HOP_ACTIVATION_COPIES * (propagation_hops - 1)
    total = (
        adjacency_entries * ADJACENCY_ENTRY_BYTES
        + pairs * PAIR_BYTES
        + input_nonzeros * (FLOAT + INDEX)
        + weights * FLOAT * (WEIGHT_COPIES + averaged_weights)
        + activations
        + _decoder_bytes(decoder, pairs, latent_width // max(members, 1), decoder_layers, decoder_width, members,
                         num_nodes, num_train_edges, neighbour_entries)
    )
    return int(PROCESS_BASE_BYTES + SAFETY * total)


def _decoder_bytes(decoder: str, pairs: int, latent: int, layers: int, width: int, members: int, num_nodes: int,
                   num_train_edges: int, neighbour_entries: int) -> int:
    """A learned decoder's share: MLPs over one epoch's pairs (per member), ncn's graph and operators."""
    if decoder == "inner_product":
        return 0
    gathers = pairs * latent * PAIR_GATHER_COPIES
    if decoder == "hadamard_mlp":
        hidden = pairs * width * (layers - 1) * DECODER_ACTIVATION_COPIES
        weights = latent * width + width * width * max(layers - 2, 0) + 2 * width
        return members * FLOAT * (gathers + hidden + weights * WEIGHT_COPIES)
    # ncn: two branches of layers - 1 linear layers (their hidden layers with norm, ReLU and
    # dropout; their outputs linear), the output MLP's hidden layer, the common-neighbour sum.
    branch_layers = max(1, layers - 1)
    full = 2 * width * (branch_layers - 1) + width
    linear = 2 * width + latent
    hidden = pairs * (full * DECODER_ACTIVATION_COPIES + linear * LINEAR_OUTPUT_COPIES)
    weights = 2 * (latent * width + width * width * (branch_layers - 1)) + (width + 3) * width + width
    graph = (2 * num_train_edges + num_nodes) * NCN_GRAPH_ENTRY_BYTES
    return members * FLOAT * (gathers + hidden + weights * WEIGHT_COPIES) + graph \
        + neighbour_entries * NCN_EXPANDED_ENTRY_BYTES


def common_neighbour_entries(train_pos: Any, num_nodes: int, neg_ratio: int) -> int:
    """Neighbours gathered to intersect one epoch's pairs (``CommonNeighbours``: both ends' rows):
    over the training edges the sum of squared degrees, over uniform negatives twice the mean
    degree each."""
    import torch

    degree = torch.bincount(train_pos.flatten(), minlength=num_nodes).double()
    positives = float((degree * degree).sum())
    edges = int(train_pos.size(1))
    return int(positives + neg_ratio * edges * 2 * (2 * edges / max(num_nodes, 1)))


def format_bytes(count: float) -> str:
    """``1.5 GiB``-style sizes for messages."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return f"{count:.1f} GiB"


def _largest(distribution: Any, default: Any) -> Any:
    """The largest value a space entry can take (its default when the space does not set it)."""
    from tune_gae.search.space import Choice, Constant, FloatRange, IntRange

    if isinstance(distribution, Constant):
        return distribution.value
    if isinstance(distribution, Choice):
        numeric = [o for o in distribution.options if isinstance(o, (int, float)) and not isinstance(o, bool)]
        return max(numeric) if numeric else distribution.options
    if isinstance(distribution, (IntRange, FloatRange)):
        return distribution.high
    return default


def largest_trial_bytes(space: SearchSpace, split: LinkSplit) -> int:
    """The memory estimate of the biggest trial ``space`` can sample on ``split``."""
    import torch

    from tune_gae.config import ModelConfig, TrainConfig
    from tune_gae.data.features import DEGREE_BUCKETS
    from tune_gae.search.space import HIDDEN, Choice, HiddenLayers, decode_widths, graph_kind

    graph = graph_kind(split.features_given)
    entries = {p.name: p for p in space.for_graph(graph).parameters}

    def applies(name: str) -> bool:
        entry = entries.get(name)
        return entry is not None and all(
            ref != "graph" or graph in accepted for ref, accepted in entry.requires
        )

    def largest(name: str, default: Any) -> Any:
        return _largest(entries[name].distribution, default) if applies(name) else default

    latent = int(largest("latent_channels", ModelConfig.latent_channels))
    hidden: list[int] = list(ModelConfig.hidden_channels)
    if applies(HIDDEN):
        widths = entries[HIDDEN].distribution
        if isinstance(widths, HiddenLayers):
            hidden = [int(_largest(widths.width, 0))] * int(_largest(widths.layers, 0))
        elif isinstance(widths, Choice):
            hidden = max((list(decode_widths(o)) for o in widths.options), key=lambda w: max(w, default=0) * len(w))
        else:
            hidden = list(decode_widths(_largest(widths, ())))
    encodings = [split.default_encoding]
    if applies("node_encoding"):
        options = _largest(entries["node_encoding"].distribution, split.default_encoding)
        encodings = list(options) if isinstance(options, tuple) else [options]
    dims = int(largest("encoding_dims", ModelConfig.encoding_dims))
    n = split.num_nodes
    feature_nonzeros = int(torch.count_nonzero(split.x)) if split.features_given else 0
    part_size = {
        "features": (split.x.size(1), feature_nonzeros),
        "embedding": (n, n),
        "degree": (DEGREE_BUCKETS, n),
        "spectral": (dims, n * dims),
    }
    # A seed ensemble's members share the input: as one model whose layers are that many times wider.
    members = int(largest("ensemble", ModelConfig.ensemble))
    hidden, latent = [w * members for w in hidden], latent * members
    variational = "vgae" in str(_largest(entries["model"].distribution, "gae")) if "model" in entries else False
    neg_ratio = int(largest("neg_ratio", TrainConfig.neg_ratio))
    decoders = [ModelConfig.decoder]
    if "decoder" in entries:
        options = _largest(entries["decoder"].distribution, ModelConfig.decoder)
        decoders = list(options) if isinstance(options, tuple) else [options]
    decoder_layers = int(largest("decoder_layers", ModelConfig.decoder_layers))
    decoder_width = int(largest("decoder_width", ModelConfig.decoder_width))
    hops = int(largest("propagation_hops", ModelConfig.propagation_hops))
    neighbours = (common_neighbour_entries(split.train_pos, n, neg_ratio) if "ncn" in decoders else 0)
    kinds = _largest(entries["mask_kind"].distribution, TrainConfig.mask_kind) if applies("mask_kind") else ""
    directed = "directed" in (kinds if isinstance(kinds, tuple) else (kinds,))
    positives_per_edge = 2 * float(largest("mask_ratio", TrainConfig.mask_ratio)) if directed else 1.0
    averaged_weights = float(largest("weight_ema", TrainConfig.weight_ema)) > 0
    estimates = []
    for encoding, decoder in itertools.product(encodings, decoders):
        parts = str(encoding).split("+")
        estimates.append(estimate_trial_bytes(
            num_nodes=n,
            num_train_edges=int(split.train_pos.size(1)),
            input_width=sum(part_size[p][0] for p in parts),
            input_nonzeros=sum(part_size[p][1] for p in parts),
            hidden_widths=hidden,
            latent_width=latent,
            variational=variational,
            neg_ratio=neg_ratio,
            decoder=str(decoder),
            decoder_layers=decoder_layers,
            decoder_width=decoder_width,
            members=members,
            neighbour_entries=neighbours if decoder == "ncn" else 0,
            propagation_hops=hops,
            positives_per_edge=positives_per_edge,
            averaged_weights=averaged_weights,
        ))
    return max(estimates)


def available_memory_bytes() -> int:
    """Memory this machine can still give (``MemAvailable``; free pages where that is unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_trial_memory(per_trial: int, slots: int, available: int, *, where: str = "this machine") -> None:
    """Refuse before any trial starts when the biggest trial, or ``slots`` of them, cannot fit."""
    if per_trial > available:
        raise TuneGAEError(
            f"the largest trial of this space needs about {format_bytes(per_trial)} but {where} has "
            f"{format_bytes(available)} available: use a space with narrower layers/latent sizes "
            f"(the embedding table is nodes x first width), or a machine with more memory."
        )
    if per_trial * slots > available:
        fits = max(1, available // per_trial)
        raise TuneGAEError(
            f"{slots} trials at once need about {format_bytes(per_trial * slots)} ({format_bytes(per_trial)} each) "
            f"but {where} has {format_bytes(available)} available: pass --max-concurrent {fits}."
        )
