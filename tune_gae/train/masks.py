"""Which training edges masked-edge reconstruction hides in one epoch (``TrainConfig.mask_kind``).

``edge``: each undirected training edge on its own, with probability ``mask_ratio``.
``path``: MaskGAE's path masking (Li et al., KDD 2023; EdisonLeeeee/MaskGAE, ``maskgae/mask.py``,
``mask_path``): random walks of ``PATH_WALK_LENGTH`` steps start from a ``mask_ratio`` share of the
nodes (one walk each, sampled without replacement), and every edge a walk traverses is masked, so
the hidden edges form paths rather than scattered single edges. MaskGAE walks with
``torch_cluster``'s ``random_walk`` (p = q = 1: each step to a uniform neighbour); a walk at a node
without neighbours stays there and masks nothing. Here a traversed edge is hidden in both directions
(MaskGAE masks the traversed direction only, then makes the remaining graph undirected again).
``directed``: MaskGAE's own edge masking (``maskgae/mask.py``, ``MaskEdge``): each DIRECTION of each
training edge is masked on its own with probability ``mask_ratio``, the rest made undirected again,
so an edge leaves the encoder's graph only when both its directions are masked (probability
``mask_ratio``²), and every masked direction is a positive to reconstruct (an edge masked in both
directions counts twice). Most edges are positives each epoch, and some of them stay visible.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["PATH_WALK_LENGTH", "directed_mask", "edge_mask", "path_mask", "random_walks"]

PATH_WALK_LENGTH = 3  # MaskGAE's walk_length (train_linkpred.py); walks_per_node 1


def edge_mask(num_edges: int, ratio: float, device: torch.device, generator: torch.Generator | None) -> Tensor:
    """Each of ``num_edges`` undirected edges masked on its own with probability ``ratio``."""
    return torch.rand(num_edges, device=device, generator=generator) < ratio


def directed_mask(num_edges: int, ratio: float, device: torch.device,
                  generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """MaskGAE's ``MaskEdge`` over ``[pos, pos flipped]``: ``(hidden [E], masked [2E])``, the edges
    hidden from message passing (both directions masked) and the masked directions (the positives)."""
    masked = torch.rand(2 * num_edges, device=device, generator=generator) < ratio
    return masked[:num_edges] & masked[num_edges:], masked


def random_walks(message_edges: Tensor, num_nodes: int, starts: Tensor, length: int,
                 generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """Uniform random walks over ``message_edges`` ``[2, 2E]`` (``[pos, pos flipped]``) from ``starts``.

    Returns the nodes visited ``[W, length + 1]`` and the undirected edge each step took ``[W, length]``
    (an index into ``pos``; -1 where the walk stood at a node without neighbours). Needs an edge.
    """
    src, dst = message_edges
    num_edges = src.numel() // 2
    order = torch.argsort(src, stable=True)  # the directed edges grouped by source: a CSR
    degree = torch.bincount(src, minlength=num_nodes)
    rowptr = torch.zeros(num_nodes + 1, dtype=torch.long, device=src.device)
    rowptr[1:] = torch.cumsum(degree, 0)
    last = max(order.numel() - 1, 0)
    nodes, steps = [starts], []
    current = starts
    for _ in range(length):
        deg = degree[current]
        offset = (torch.rand(current.numel(), device=src.device, generator=generator) * deg).long()
        offset = torch.minimum(offset, (deg - 1).clamp(min=0))  # rand() * deg < deg, but in float32
        directed = order[(rowptr[current] + offset).clamp(max=last)]  # (a node without edges: ignored)
        moves = deg > 0
        steps.append(torch.where(moves, directed % num_edges, torch.full_like(current, -1)))
        current = torch.where(moves, dst[directed], current)
        nodes.append(current)
    return torch.stack(nodes, dim=1), torch.stack(steps, dim=1)


def path_mask(message_edges: Tensor, num_nodes: int, ratio: float, generator: torch.Generator | None) -> Tensor:
    """The undirected edges (``[E]`` booleans over ``pos``) that walks from a ``ratio`` share of nodes traverse."""
    num_edges = message_edges.size(1) // 2
    masked = torch.zeros(num_edges, dtype=torch.bool, device=message_edges.device)
    if not num_edges:
        return masked
    count = round(num_nodes * ratio)
    starts = torch.randperm(num_nodes, device=message_edges.device, generator=generator)[:count]
    _, steps = random_walks(message_edges, num_nodes, starts, PATH_WALK_LENGTH, generator)
    masked[steps[steps >= 0]] = True
    return masked
