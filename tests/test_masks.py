"""Masked-edge reconstruction's masks: MaskGAE's path masking walks the training graph."""
from __future__ import annotations

import pytest
import torch

from tune_gae.config import DataConfig
from tune_gae.data.split import load_split
from tune_gae.train.masks import PATH_WALK_LENGTH, path_mask, random_walks


@pytest.fixture(scope="module")
def synthetic():
    return load_split(DataConfig("synthetic:nodes=300,communities=3,seed=3"))


def _neighbours(pos: torch.Tensor, num_nodes: int) -> list[set[int]]:
    out: list[set[int]] = [set() for _ in range(num_nodes)]
    for u, v in pos.t().tolist():
        out[u].add(v)
        out[v].add(u)
    return out


def test_walks_step_along_edges_and_the_mask_is_exactly_the_edges_they_took(synthetic) -> None:
    pos, n = synthetic.train_pos, synthetic.num_nodes
    neighbours = _neighbours(pos, n)
    index = {frozenset(e): i for i, e in enumerate(pos.t().tolist())}
    generator = torch.Generator().manual_seed(0)
    starts = torch.randperm(n, generator=generator)[:100]
    nodes, steps = random_walks(synthetic.train_edge_index, n, starts, PATH_WALK_LENGTH, generator)
    assert nodes.shape == (100, PATH_WALK_LENGTH + 1) and torch.equal(nodes[:, 0], starts)
    for walk, taken in zip(nodes.tolist(), steps.tolist()):
        for a, b, edge in zip(walk[:-1], walk[1:], taken):
            if neighbours[a]:
                assert b in neighbours[a] and edge == index[frozenset((a, b))]
            else:
                assert (b, edge) == (a, -1)  # no neighbour: the walk stays and takes no edge
    # path_mask: a mask_ratio share of the nodes start one walk each; the mask is the edges walked.
    generator = torch.Generator().manual_seed(7)
    masked = path_mask(synthetic.train_edge_index, n, 0.7, generator)
    replay = torch.Generator().manual_seed(7)
    starts = torch.randperm(n, generator=replay)[: round(0.7 * n)]
    _, steps = random_walks(synthetic.train_edge_index, n, starts, PATH_WALK_LENGTH, replay)
    walked = {e for e in steps.flatten().tolist() if e >= 0}
    assert set(torch.nonzero(masked).flatten().tolist()) == walked
    assert 0 < len(walked) <= PATH_WALK_LENGTH * round(0.7 * n)


def test_a_step_picks_each_neighbour_alike() -> None:
    """p = q = 1 (torch_cluster's random_walk as MaskGAE calls it): a uniform neighbour each step."""
    leaves = 5
    pos = torch.stack([torch.zeros(leaves, dtype=torch.long), torch.arange(1, leaves + 1)])  # a star
    edges = torch.cat([pos, pos.flip(0)], dim=1)
    starts = torch.zeros(20_000, dtype=torch.long)
    nodes, _ = random_walks(edges, leaves + 1, starts, 1, torch.Generator().manual_seed(1))
    counts = torch.bincount(nodes[:, 1], minlength=leaves + 1)[1:].float()
    assert counts.sum() == 20_000
    assert (counts / 20_000 - 1 / leaves).abs().max() < 0.015  # 4.5 standard errors



def test_directed_mask_is_maskgaes_mask_edge(synthetic) -> None:
    """mask_kind directed: MaskGAE's MaskEdge masks directions, then makes what remains undirected
    (PyG's to_undirected), so an edge is hidden only when both directions were masked."""
    from torch_geometric.utils import to_undirected

    from tune_gae.train.masks import directed_mask

    edges = synthetic.train_edge_index  # [pos, pos flipped]
    num_edges = edges.size(1) // 2
    hidden, masked = directed_mask(num_edges, 0.7, torch.device("cpu"), torch.Generator().manual_seed(5))
    assert masked.shape == (2 * num_edges,) and hidden.shape == (num_edges,)
    remaining = to_undirected(edges[:, ~masked], num_nodes=synthetic.num_nodes)  # MaskGAE's graph
    kept = {tuple(e) for e in remaining.t().tolist()}
    pos = synthetic.train_pos.t().tolist()
    assert [tuple(e) not in kept for e in pos] == hidden.tolist()
    # Hidden: both directions masked (0.7 ** 2); a positive: each masked direction (0.7 of 2E).
    assert abs(hidden.float().mean().item() - 0.49) < 4.5 * (0.49 * 0.51 / num_edges) ** 0.5
    assert abs(masked.float().mean().item() - 0.7) < 4.5 * (0.7 * 0.3 / (2 * num_edges)) ** 0.5
