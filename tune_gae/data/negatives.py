"""HeaRT-style hard negatives for evaluation positives (Li et al., NeurIPS 2023).

For every evaluation positive ``(u, v)`` both endpoints are corrupted: ``u`` keeps its place and
gets candidate partners ``x`` (pairs ``(u, x)``), and likewise ``v`` (pairs ``(x, v)``). A side's
candidates are, in order:

1. the ``hard`` nodes with the highest **resource allocation** score to the kept endpoint over
   the TRAINING graph only (``RA(a, x) = sum over common neighbours w of 1 / deg(w)``; ties and
   nodes with no common neighbour are ordered at random), then
2. ``random`` nodes drawn uniformly from the rest.

Never a candidate: the kept endpoint itself, the positive's other endpoint, or any node that
shares an edge with the kept endpoint in the FULL graph (negatives are true non-edges, as the
uniform ones are). Every draw comes from the split's ``torch.Generator``: same graph and seed,
same negatives. HeaRT (``create_hard_negatives.py``) differs: 500 per positive all ranked by a
merge of RA, personalised PageRank and feature cosine similarity, filled at random only when too
few nodes score above zero; RA alone keeps this cheap and structure-only, and the random share
keeps easy negatives in the mix.

Memory stays bounded: endpoints are scored in chunks (a sparse two-hop product per chunk, never a
dense ``nodes x nodes`` matrix), and the pairs kept per evaluation set are capped by
``HARD_NEGATIVE_PAIRS_MAX`` (fewer negatives per positive on very large graphs).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from tune_gae.errors import TuneGAEError

# Per corrupted endpoint: 200 ranked + 50 random, i.e. 500 negatives per positive as in HeaRT.
HARD_PER_ENDPOINT = 200
RANDOM_PER_ENDPOINT = 50
# At most this many negative pairs per evaluation set (2**22 pairs = 64 MiB of int64 indices).
HARD_NEGATIVE_PAIRS_MAX = 1 << 22
ENDPOINT_CHUNK = 1024  # endpoints scored per sparse product
MAX_DRAW_ROUNDS = 100


def per_endpoint_counts(num_positives: int) -> tuple[int, int]:
    """``(hard, random)`` candidates per corrupted endpoint, within the pair budget."""
    full = HARD_PER_ENDPOINT + RANDOM_PER_ENDPOINT
    per_endpoint = min(full, max(1, HARD_NEGATIVE_PAIRS_MAX // (2 * max(num_positives, 1))))
    hard = (per_endpoint * HARD_PER_ENDPOINT) // full
    return hard, per_endpoint - hard


def hard_negatives(
    positives: Tensor,
    train_pos: Tensor,
    all_pairs: Tensor,
    num_nodes: int,
    generator: torch.Generator,
) -> Tensor:
    """Negatives ``[2, P, K]`` for positives ``[2, P]``: row ``i`` holds positive ``i``'s own.

    ``train_pos`` (each training edge once) is the only graph the ranking sees; ``all_pairs``
    (each edge of the full graph once) only filters true edges out.
    """
    num_pos = positives.size(1)
    hard, random = per_endpoint_counts(num_pos)
    per_side = hard + random
    full_degree = torch.bincount(all_pairs.flatten(), minlength=num_nodes)
    if int(full_degree.max()) + 2 + per_side > num_nodes:
        raise TuneGAEError(
            f"graph too small or dense for hard negatives: a node needs {per_side} non-neighbours "
            f"but the graph has {num_nodes} nodes and a node of degree {int(full_degree.max())}; "
            "use --negatives uniform."
        )
    # The two corrupted sides: kept endpoint a (candidates x), and the positive's other node b.
    kept = torch.cat([positives[0], positives[1]])
    other = torch.cat([positives[1], positives[0]])
    # Every edge of the full graph in both directions, as sorted keys a * n + x.
    edge_keys = torch.sort(torch.cat([
        all_pairs[0] * num_nodes + all_pairs[1], all_pairs[1] * num_nodes + all_pairs[0]
    ])).values
    candidates = _candidates(kept, other, train_pos, edge_keys, num_nodes, hard, random, generator)
    source_side, target_side = candidates[:num_pos], candidates[num_pos:]
    # (u, x) for the source side, then (x, v) for the target side.
    sources = positives[0].unsqueeze(1).expand(-1, per_side)
    targets = positives[1].unsqueeze(1).expand(-1, per_side)
    first = torch.cat([sources, target_side], dim=1)
    second = torch.cat([source_side, targets], dim=1)
    return torch.stack([first, second])


def training_adjacency(train_pos: Tensor, num_nodes: int) -> sp.csr_matrix:
    """The symmetric 0/1 CSR adjacency of the training edges (``[2, E]``, each edge once):
    what hard negatives and the classic baselines read, and nothing held out."""
    rows = torch.cat([train_pos[0], train_pos[1]]).cpu().numpy()
    cols = torch.cat([train_pos[1], train_pos[0]]).cpu().numpy()
    ones = np.ones(rows.size, dtype=np.float64)
    matrix = sp.csr_matrix((ones, (rows, cols)), shape=(num_nodes, num_nodes))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0  # a duplicated edge is still one neighbour
    return matrix


def _candidates(
    kept: Tensor,
    other: Tensor,
    train_pos: Tensor,
    edge_keys: Tensor,
    num_nodes: int,
    hard: int,
    random: int,
    generator: torch.Generator,
) -> Tensor:
    """``[len(kept), hard + random]`` candidate partners, chunk by chunk (bounded memory)."""
    train = training_adjacency(train_pos, num_nodes)
    degree = np.asarray(train.sum(axis=1)).ravel()
    inverse_degree = sp.diags(np.divide(1.0, degree, out=np.zeros_like(degree), where=degree > 0))
    # RA(a, x) = (A D^-1 A)[a, x] on the training graph.
    spread = (inverse_degree @ train).tocsr()
    chunks = []
    for start in range(0, kept.numel(), ENDPOINT_CHUNK):
        rows = slice(start, start + ENDPOINT_CHUNK)
        chunks.append(_chunk_candidates(
            kept[rows], other[rows], train, spread, edge_keys, num_nodes, hard, random, generator
        ))
    return torch.cat(chunks) if chunks else torch.empty(0, hard + random, dtype=torch.long)


def _chunk_candidates(
    kept: Tensor,
    other: Tensor,
    train: sp.csr_matrix,
    spread: sp.csr_matrix,
    edge_keys: Tensor,
    num_nodes: int,
    hard: int,
    random: int,
    generator: torch.Generator,
) -> Tensor:
    count = kept.numel()
    scores = (train[kept.numpy()] @ spread).tocsr()
    scores.sort_indices()
    scores = scores.tocoo()
    row = torch.from_numpy(scores.row.astype(np.int64))
    node = torch.from_numpy(scores.col.astype(np.int64))
    value = torch.from_numpy(scores.data.astype(np.float64))
    allowed = _allowed(row, node, kept, other, edge_keys, num_nodes)
    row, node, value = row[allowed], node[allowed], value[allowed]
    # Order within each row: highest RA first, ties at random (three stable sorts: noise, score, row).
    order = torch.argsort(torch.rand(row.numel(), generator=generator, dtype=torch.float64))
    order = order[torch.sort(value[order], descending=True, stable=True).indices]
    order = order[torch.sort(row[order], stable=True).indices]
    row, node = row[order], node[order]
    starts = torch.zeros(count + 1, dtype=torch.long)
    starts[1:] = torch.cumsum(torch.bincount(row, minlength=count), 0)
    position = torch.arange(row.numel()) - starts[row]
    top = position < hard
    chosen = torch.full((count, hard + random), -1, dtype=torch.long)
    chosen[row[top], position[top]] = node[top]
    _fill_at_random(chosen, kept, other, edge_keys, num_nodes, generator)
    return chosen


def _allowed(
    row: Tensor, node: Tensor, kept: Tensor, other: Tensor, edge_keys: Tensor, num_nodes: int
) -> Tensor:
    """Candidates that are neither an endpoint of the positive nor a neighbour in the full graph."""
    anchor = kept[row]
    edge = torch.isin(anchor * num_nodes + node, edge_keys)
    return (node != anchor) & (node != other[row]) & ~edge


def _fill_at_random(
    chosen: Tensor,
    kept: Tensor,
    other: Tensor,
    edge_keys: Tensor,
    num_nodes: int,
    generator: torch.Generator,
) -> None:
    """Fill every ``-1`` slot of ``chosen`` with a uniform node allowed for its row, no repeats."""
    width = chosen.size(1)
    for _ in range(MAX_DRAW_ROUNDS):
        empty = chosen < 0
        if not empty.any():
            return
        slot_row, slot_col = empty.nonzero(as_tuple=True)
        draw = torch.randint(0, num_nodes, (slot_row.numel(),), generator=generator)
        ok = _allowed(slot_row, draw, kept, other, edge_keys, num_nodes)
        # No repeat within a row: not already chosen, and the first of equal draws only.
        filled = chosen >= 0
        taken_keys = filled.nonzero(as_tuple=True)[0] * num_nodes + chosen[filled]
        key = slot_row * num_nodes + draw
        taken = torch.isin(key, taken_keys)
        unique, inverse = torch.unique(key, return_inverse=True)
        first = torch.full((unique.numel(),), key.numel(), dtype=torch.long)
        first.scatter_reduce_(0, inverse, torch.arange(key.numel()), reduce="amin")
        is_first = first[inverse] == torch.arange(key.numel())
        keep = ok & ~taken & is_first
        chosen[slot_row[keep], slot_col[keep]] = draw[keep]
    raise TuneGAEError(
        f"could not draw {width} distinct non-neighbours per endpoint for hard negatives in "
        f"{MAX_DRAW_ROUNDS} rounds: the graph is too dense; use --negatives uniform."
    )
