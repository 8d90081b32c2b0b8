"""One seeded link split per search: train/validation/test edges plus sampled non-edges,
computed ONCE in the driver and identified by a content hash.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

from tune_gae.config import DataConfig
from tune_gae.data.features import SPECTRAL_DIMS, describe_encoding, encoding_parts, node_inputs
from tune_gae.data.negatives import hard_negatives
from tune_gae.data.sources import load_graph, unique_pairs
from tune_gae.errors import TuneGAEError
from tune_gae.rules import NEGATIVE_KINDS, TEST_GRAPHS

# Validation edges rank trials, test edges judge the winner: with a handful of either, every
# trial ties at AUC 1.0 and the epoch-1 model gets exported. Below this many, a split is refused.
MIN_EVAL_EDGES = 20
FEATURELESS_ENCODING = "embedding"  # what a graph without features reads when nothing is chosen

# --------------------------------------------------------------------------- splitting


@dataclass(frozen=True)
class LinkSplit:
    """One seeded link split of an undirected graph.

    Positive pair tensors hold each edge once (``[2, E]``, low id first). ``train_edge_index``
    (both directions) is the only graph models pass messages over; it holds no validation or
    test positive. ``test_pos``/``test_neg`` are ``None`` in the copy that trials receive.
    Negatives are ``[2, N]`` uniform non-edges shared by every positive, or (``--negatives
    hard``) ``[2, P, K]``: positive ``i``'s own ``K`` hard negatives in ``[:, i]``.
    """

    x: Tensor
    train_pos: Tensor
    val_pos: Tensor
    val_neg: Tensor
    test_pos: Tensor | None
    test_neg: Tensor | None
    name: str
    split_hash: str
    # False: the graph came without node features (x is [N, 0] until with_encoding builds inputs).
    features_given: bool = True
    encoding: str | None = None  # the node encoding x holds; None: the graph's own features
    notes: tuple[str, ...] = ()  # facts a user should see (nodes without edges, components)

    @property
    def num_nodes(self) -> int:
        return self.x.size(0)

    @property
    def default_encoding(self) -> str:
        """``features`` for a graph with features, else a learnable embedding per node."""
        return "features" if self.features_given else FEATURELESS_ENCODING

    def with_encoding(self, encoding: str | None = None, dims: int = SPECTRAL_DIMS) -> LinkSplit:
        """This split with ``x`` replaced by the encoder's inputs for ``encoding``.

        Structural parts are built from ``train_pos`` only (no validation or test edge).
        ``features`` alone returns the split unchanged.
        """
        encoding = "+".join(encoding_parts(encoding or self.default_encoding, has_features=self.features_given))
        if self.encoding is not None:
            raise ValueError(f"this split already holds the {self.encoding!r} encoding.")
        if encoding == "features":
            return replace(self, encoding=encoding)
        x = node_inputs(
            encoding,
            features=self.x if self.features_given else None,
            train_pos=self.train_pos,
            num_nodes=self.num_nodes,
            spectral_dims=dims,
        )
        return replace(self, x=x, encoding=encoding)

    def describe_inputs(self, dims: int = SPECTRAL_DIMS) -> str:
        """One line: what the encoder reads (after ``with_encoding``)."""
        if self.encoding in (None, "features"):
            return f"node encoding features: the graph's {self.x.size(1)} node features"
        return describe_encoding(self.encoding, self.x.size(1), spectral_dims=dims)

    @property
    def num_features(self) -> int:
        return self.x.size(1)

    @property
    def train_edge_index(self) -> Tensor:
        return self.known_edge_index("train")

    def known_pos(self, graph: str = "train") -> Tensor:
        """The links a model may read when scoring test edges (``TEST_GRAPHS``), each once:
        ``train_pos``, or (``train+val``) the validation positives added. Never a test edge."""
        if graph == "train":
            return self.train_pos
        if graph == "train+val":
            return torch.cat([self.train_pos, self.val_pos], dim=1)
        raise ValueError(f"unknown test graph {graph!r}: use one of {', '.join(TEST_GRAPHS)}.")

    def known_edge_index(self, graph: str = "train") -> Tensor:
        """``known_pos(graph)`` in both directions (what message passing reads)."""
        pos = self.known_pos(graph)
        return torch.cat([pos, pos.flip(0)], dim=1)

    @property
    def negatives(self) -> str:
        """``uniform`` (shared ``[2, N]`` negatives) or ``hard`` (per positive, ``[2, P, K]``)."""
        return "hard" if self.val_neg.dim() == 3 else "uniform"

    def without_test(self) -> LinkSplit:
        """The copy a search's trials get: no test edge at all."""
        return replace(self, test_pos=None, test_neg=None)

    def edge_tensors(self) -> dict[str, Tensor]:
        """The split as named tensors (what the export bundle's ``split.pt`` holds): ``[2, E]``
        pairs, hard negatives ``[2, P, K]``."""
        tensors = {
            "train_edge_index": self.train_edge_index,
            "val_pos": self.val_pos,
            "val_neg": self.val_neg,
        }
        if self.test_pos is not None and self.test_neg is not None:
            tensors.update(test_pos=self.test_pos, test_neg=self.test_neg)
        return tensors


def split_edges(
    data: Data, *, val_ratio: float, test_ratio: float, seed: int, negatives: str = "uniform"
) -> LinkSplit:
    """Split edges into train/val/test positives plus equal numbers of fixed negatives.

    Everything is drawn from one ``torch.Generator`` seeded with ``seed``: same graph and seed,
    same split, same hash. Negatives are non-edges of the FULL graph, distinct, and the
    validation and test negatives do not overlap. ``negatives="hard"`` keeps the same positives
    and replaces the negatives by each positive's own hard ones (``tune_gae.data.negatives``,
    drawn from the same generator after the uniform ones); the hash then covers the kind too.
    """
    if negatives not in NEGATIVE_KINDS:
        raise TuneGAEError(f"--negatives must be one of {', '.join(NEGATIVE_KINDS)} but got {negatives!r}.")
    num_nodes = int(data.num_nodes)
    pairs = unique_pairs(data.edge_index, num_nodes)
    num_edges = pairs.size(1)
    num_val = int(val_ratio * num_edges)
    num_test = int(test_ratio * num_edges)
    if min(num_val, num_test) < MIN_EVAL_EDGES or num_edges - num_val - num_test <= 0:
        needed = math.ceil(MIN_EVAL_EDGES / min(val_ratio, test_ratio))
        raise TuneGAEError(
            f"graph {getattr(data, 'name', '')!r} has {num_edges} edges: a {val_ratio:.0%}/{test_ratio:.0%} "
            f"validation/test split leaves {num_val} validation and {num_test} test edges, fewer than the "
            f"{MIN_EVAL_EDGES} each needs to rank trials and test the winner: use a graph with at least "
            f"{needed} edges (or larger val_ratio/test_ratio in DataConfig)."
        )
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(num_edges, generator=gen)
    val_pos = pairs[:, perm[:num_val]]
    test_pos = pairs[:, perm[num_val : num_val + num_test]]
    train_pos = pairs[:, perm[num_val + num_test :]]
    uniform = _sample_non_edges(pairs, num_nodes, num_val + num_test, gen)
    val_neg, test_neg = uniform[:, :num_val], uniform[:, num_val:]
    kind: tuple[str, ...] = ()
    if negatives == "hard":
        val_neg = hard_negatives(val_pos, train_pos, pairs, num_nodes, gen)
        test_neg = hard_negatives(test_pos, train_pos, pairs, num_nodes, gen)
        kind = (negatives,)  # uniform splits keep the hashes they always had
    name = str(getattr(data, "name", "graph"))
    split_hash = _hash_split(data.x, train_pos, val_pos, val_neg, test_pos, test_neg, kinds=kind)
    notes = (*getattr(data, "notes", ()), *_structure_notes(pairs, train_pos, num_nodes))
    return LinkSplit(
        data.x, train_pos, val_pos, val_neg, test_pos, test_neg, name, split_hash,
        features_given=data.x.size(1) > 0, notes=tuple(notes),
    )


def encode_for_run(split: LinkSplit, hyperparameters: Mapping[str, Any]) -> tuple[LinkSplit, dict[str, Any]]:
    """The split with the run's node encoding built (training edges only), and the
    hyperparameters with ``node_encoding`` filled in (the graph's default when not chosen)."""
    hyper = dict(hyperparameters)
    hyper.setdefault("node_encoding", split.default_encoding)
    dims = int(hyper.get("encoding_dims", SPECTRAL_DIMS))
    return split.with_encoding(str(hyper["node_encoding"]), dims), hyper


def _structure_notes(pairs: Tensor, train_pos: Tensor, num_nodes: int) -> list[str]:
    """Isolated nodes and disconnected parts, said once: they change what a model can learn."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    notes = []
    isolated = num_nodes - int(torch.unique(pairs).numel())
    if isolated:
        notes.append(f"{isolated} of {num_nodes} nodes have no edge at all (they keep their own features or embedding).")
    untrained = num_nodes - isolated - int(torch.unique(train_pos).numel())
    if untrained:
        notes.append(
            f"{untrained} of {num_nodes} nodes have no training edge (the split held out all their edges for "
            f"validation/test): the model knows them by their own features or encoding alone, and their "
            f"links count in the metrics. Usual in a sparse graph; nothing to do."
        )
    u, v = pairs[0].numpy(), pairs[1].numpy()
    graph = coo_matrix((torch.ones(u.size).numpy(), (u, v)), shape=(num_nodes, num_nodes))
    components, labels = connected_components(graph, directed=False)
    components -= isolated  # an isolated node is its own component; counted above
    if components > 1:
        import numpy as np

        largest = int(np.bincount(labels).max())
        notes.append(f"The graph has {components} connected parts (the largest holds {largest} of {num_nodes} nodes).")
    return notes


def _sample_non_edges(pairs: Tensor, num_nodes: int, count: int, gen: torch.Generator) -> Tensor:
    """``count`` distinct (low, high) node pairs that are not edges, in random order."""
    max_pairs = num_nodes * (num_nodes - 1) // 2
    if count > max_pairs - pairs.size(1):
        raise TuneGAEError("graph is too dense to sample enough non-edges for validation/test.")
    edge_keys = pairs[0] * num_nodes + pairs[1]
    chosen = torch.empty(0, dtype=torch.long)
    while chosen.numel() < count:
        want = 2 * (count - chosen.numel()) + 16
        u = torch.randint(0, num_nodes, (want,), generator=gen)
        v = torch.randint(0, num_nodes, (want,), generator=gen)
        low, high = torch.minimum(u, v), torch.maximum(u, v)
        keys = (low * num_nodes + high)[low != high]
        keys = keys[~torch.isin(keys, edge_keys) & ~torch.isin(keys, chosen)]
        # Keep first occurrences only, in sampling order (so the result is seed-determined).
        uniq, inverse = torch.unique(keys, return_inverse=True)
        first = torch.full((uniq.numel(),), keys.numel(), dtype=torch.long)
        first.scatter_reduce_(0, inverse, torch.arange(keys.numel()), reduce="amin")
        chosen = torch.cat([chosen, keys[first.sort().values]])
    chosen = chosen[:count]
    return torch.stack([chosen // num_nodes, chosen % num_nodes])


def _hash_split(x: Tensor, *tensors: Tensor, kinds: tuple[str, ...] = ()) -> str:
    digest = hashlib.sha256()
    digest.update(str(tuple(x.shape)).encode())
    for kind in kinds:
        digest.update(f"negatives={kind}".encode())
    for tensor in tensors:
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def load_split(config: DataConfig) -> LinkSplit:
    """Load the graph and split it: the one call a search's driver makes."""
    data = load_graph(config)
    return split_edges(
        data, val_ratio=config.val_ratio, test_ratio=config.test_ratio, seed=config.split_seed,
        negatives=config.negatives,
    )
