"""One seeded link split per search: train/validation/test edges plus sampled non-edges,
computed ONCE in the driver and identified by a content hash.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import torch
from torch import Tensor
from torch_geometric.data import Data

from tune_gae.config import DataConfig
from tune_gae.data.sources import load_graph, unique_pairs
from tune_gae.errors import TuneGAEError

# --------------------------------------------------------------------------- splitting


@dataclass(frozen=True)
class LinkSplit:
    """One seeded link split of an undirected graph.

    Positive pair tensors hold each edge once (``[2, E]``, low id first). ``train_edge_index``
    (both directions) is the only graph models pass messages over; it holds no validation or
    test positive. ``test_pos``/``test_neg`` are ``None`` in the copy that trials receive.
    """

    x: Tensor
    train_pos: Tensor
    val_pos: Tensor
    val_neg: Tensor
    test_pos: Tensor | None
    test_neg: Tensor | None
    name: str
    split_hash: str
    feature_note: str | None = None  # how features were made for a graph that has none (said to the user)

    @property
    def num_nodes(self) -> int:
        return self.x.size(0)

    @property
    def num_features(self) -> int:
        return self.x.size(1)

    @property
    def train_edge_index(self) -> Tensor:
        return torch.cat([self.train_pos, self.train_pos.flip(0)], dim=1)

    def without_test(self) -> LinkSplit:
        """The copy a search's trials get: no test edge at all."""
        return replace(self, test_pos=None, test_neg=None)

    def edge_tensors(self) -> dict[str, Tensor]:
        """The split as named ``[2, E]`` tensors (what the export bundle's ``split.pt`` holds)."""
        tensors = {
            "train_edge_index": self.train_edge_index,
            "val_pos": self.val_pos,
            "val_neg": self.val_neg,
        }
        if self.test_pos is not None and self.test_neg is not None:
            tensors.update(test_pos=self.test_pos, test_neg=self.test_neg)
        return tensors


def split_edges(data: Data, *, val_ratio: float, test_ratio: float, seed: int) -> LinkSplit:
    """Split edges into train/val/test positives plus equal numbers of fixed negatives.

    Everything is drawn from one ``torch.Generator`` seeded with ``seed``: same graph and seed,
    same split, same hash. Negatives are non-edges of the FULL graph, distinct, and the
    validation and test negatives do not overlap.
    """
    num_nodes = int(data.num_nodes)
    pairs = unique_pairs(data.edge_index, num_nodes)
    num_edges = pairs.size(1)
    num_val = int(val_ratio * num_edges)
    num_test = int(test_ratio * num_edges)
    if num_edges < 3 or num_val == 0 or num_test == 0 or num_edges - num_val - num_test <= 0:
        raise TuneGAEError(
            f"graph {getattr(data, 'name', '')!r} has {num_edges} edges, too few for a "
            f"{val_ratio:.0%}/{test_ratio:.0%} validation/test split: use a larger graph or larger ratios."
        )
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(num_edges, generator=gen)
    val_pos = pairs[:, perm[:num_val]]
    test_pos = pairs[:, perm[num_val : num_val + num_test]]
    train_pos = pairs[:, perm[num_val + num_test :]]
    negatives = _sample_non_edges(pairs, num_nodes, num_val + num_test, gen)
    val_neg, test_neg = negatives[:, :num_val], negatives[:, num_val:]
    name = str(getattr(data, "name", "graph"))
    split_hash = _hash_split(data.x, train_pos, val_pos, val_neg, test_pos, test_neg)
    note = getattr(data, "feature_note", None)
    return LinkSplit(data.x, train_pos, val_pos, val_neg, test_pos, test_neg, name, split_hash, note)


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


def _hash_split(x: Tensor, *tensors: Tensor) -> str:
    digest = hashlib.sha256()
    digest.update(str(tuple(x.shape)).encode())
    for tensor in tensors:
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def load_split(config: DataConfig) -> LinkSplit:
    """Load the graph and split it: the one call a search's driver makes."""
    data = load_graph(config)
    return split_edges(
        data, val_ratio=config.val_ratio, test_ratio=config.test_ratio, seed=config.split_seed
    )
