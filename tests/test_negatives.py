"""Hard negatives: true non-edges, ranked by resource allocation over the training graph only."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
import torch

from tune_gae.config import DataConfig
from tune_gae.data import load_graph, split_edges
from tune_gae.data.negatives import (
    HARD_PER_ENDPOINT,
    RANDOM_PER_ENDPOINT,
    hard_negatives,
    per_endpoint_counts,
)
from tune_gae.data.sources import unique_pairs
from tune_gae.errors import TuneGAEError


@pytest.fixture(scope="module")
def cora(data_root: Path) -> tuple:
    data = load_graph(DataConfig("Cora", root=str(data_root)))
    split = split_edges(data, val_ratio=0.05, test_ratio=0.1, seed=3)
    pairs = unique_pairs(data.edge_index, data.num_nodes)
    negatives = hard_negatives(split.val_pos, split.train_pos, pairs, data.num_nodes, torch.Generator().manual_seed(3))
    return data, split, pairs, negatives


def neighbours(pairs: torch.Tensor) -> dict[int, set[int]]:
    table: dict[int, set[int]] = defaultdict(set)
    for a, b in pairs.t().tolist():
        table[a].add(b)
        table[b].add(a)
    return table


def resource_allocation(graph: dict[int, set[int]], a: int, x: int) -> float:
    return sum(1.0 / len(graph[w]) for w in graph[a] & graph[x])


def test_shape_and_corrupted_sides(cora: tuple) -> None:
    _, split, _, negatives = cora
    side = HARD_PER_ENDPOINT + RANDOM_PER_ENDPOINT
    assert negatives.shape == (2, split.val_pos.size(1), 2 * side)
    # First half keeps u (pairs (u, x)), second half keeps v (pairs (x, v)).
    assert torch.equal(negatives[0, :, :side], split.val_pos[0].unsqueeze(1).expand(-1, side))
    assert torch.equal(negatives[1, :, side:], split.val_pos[1].unsqueeze(1).expand(-1, side))


def test_negatives_are_distinct_true_non_edges(cora: tuple) -> None:
    _, split, pairs, negatives = cora
    full = neighbours(pairs)
    side = HARD_PER_ENDPOINT + RANDOM_PER_ENDPOINT
    for i, (u, v) in enumerate(split.val_pos.t().tolist()):
        for kept, partners in ((u, negatives[1, i, :side]), (v, negatives[0, i, side:])):
            partners = partners.tolist()
            assert len(set(partners)) == side
            assert not set(partners) & (full[kept] | {u, v})


def test_hard_part_is_top_resource_allocation_over_training_graph(cora: tuple) -> None:
    data, split, pairs, negatives = cora
    train, full = neighbours(split.train_pos), neighbours(pairs)
    n = data.num_nodes
    # Ranked on the full graph instead (a leak of validation edges), these scores would differ.
    for i, (u, v) in enumerate(split.val_pos.t().tolist()[:12]):
        allowed = [x for x in range(n) if x not in full[u] and x not in (u, v)]
        best = sorted((resource_allocation(train, u, x) for x in allowed), reverse=True)[:HARD_PER_ENDPOINT]
        got = sorted((resource_allocation(train, u, x) for x in negatives[1, i, :HARD_PER_ENDPOINT].tolist()), reverse=True)
        assert got == pytest.approx(best)


def test_seeded(cora: tuple) -> None:
    data, split, pairs, negatives = cora
    again = hard_negatives(split.val_pos, split.train_pos, pairs, data.num_nodes, torch.Generator().manual_seed(3))
    other = hard_negatives(split.val_pos, split.train_pos, pairs, data.num_nodes, torch.Generator().manual_seed(4))
    assert torch.equal(again, negatives)
    assert not torch.equal(other, negatives)


def test_budget_caps_pairs_per_set() -> None:
    assert per_endpoint_counts(263) == (HARD_PER_ENDPOINT, RANDOM_PER_ENDPOINT)
    hard, random = per_endpoint_counts(1_000_000)
    assert 2 * (hard + random) * 1_000_000 <= 1 << 22 and hard + random >= 1


def test_too_small_graph_is_refused() -> None:
    pairs = torch.tensor([[0, 1, 2], [1, 2, 3]])
    with pytest.raises(TuneGAEError, match="too small or dense for hard negatives.*--negatives uniform"):
        hard_negatives(pairs[:, :1], pairs[:, 1:], pairs, 30, torch.Generator().manual_seed(0))


def test_hard_split_keeps_positives_and_is_recorded_in_the_hash(cora: tuple) -> None:
    data, uniform, _, _ = cora
    hard = split_edges(data, val_ratio=0.05, test_ratio=0.1, seed=3, negatives="hard")
    assert uniform.negatives == "uniform" and hard.negatives == "hard"
    assert torch.equal(hard.val_pos, uniform.val_pos) and torch.equal(hard.test_pos, uniform.test_pos)
    assert hard.val_neg.shape[:2] == (2, uniform.val_pos.size(1))
    assert hard.test_neg.shape[:2] == (2, uniform.test_pos.size(1))
    assert hard.split_hash != uniform.split_hash
    again = split_edges(data, val_ratio=0.05, test_ratio=0.1, seed=3, negatives="hard")
    assert again.split_hash == hard.split_hash and torch.equal(again.test_neg, hard.test_neg)


def test_unknown_negatives_kind_is_refused() -> None:
    with pytest.raises(TuneGAEError, match="negatives must be one of uniform, hard but got 'hrad'"):
        DataConfig("Cora", negatives="hrad")
