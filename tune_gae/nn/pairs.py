"""Scoring node pairs with the inner-product decoder, and the reconstruction loss over them.

For many pairs and wide embeddings, ``PairSet`` sorts pairs by node once and computes the
gradient of the scores as CSR sums instead of autograd's scatter-add.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.nn.models.autoencoder import EPS

# PairSet beats autograd's scatter-add from this many pairs on, whatever the embedding width, or,
# for embeddings at least WIDE_EMBEDDING wide, from this many pairs x width (measured on CPU:
# 4,488 pairs x 256: 4.1 ms instead of 8.7 ms for the loss and its gradient; x 16: slower).
SORTED_PAIRS_MIN = 20_000
WIDE_EMBEDDING = 64
SORTED_PAIR_ENTRIES_MIN = 250_000
PAIR_CHUNK = 1 << 15  # pairs per gather: temporaries stay in cache and off the page-fault path


def score_pairs(z: Tensor, pairs: Tensor) -> Tensor:
    """Inner-product logits of node pairs ``[2, P]``."""
    # index_select, not z[idx]: its backward is an index_add, much cheaper than index_put.
    return (z.index_select(0, pairs[0]) * z.index_select(0, pairs[1])).sum(dim=-1)


class PairSet:
    """Node pairs ``[2, P]`` sorted for fast inner-product scores on large graphs.

    The backward pass of ``z[u] . z[v]`` scatters gradients into ``z``: a scatter-add per side,
    slow past ~1e4 pairs. Here the pairs are sorted by ``u`` once (and a second order by ``v``
    kept), so the gradient is two ``embedding_bag`` sums over sorted segments: 3-5x faster at
    1e5-1e6 pairs. Scores come back in the sorted order (the loss is a mean: order-free).
    """

    def __init__(self, pairs: Tensor, num_nodes: int) -> None:
        order = torch.argsort(_sort_key(pairs[0], num_nodes))
        u, v = pairs[0].index_select(0, order), pairs[1].index_select(0, order)
        self.pairs = torch.stack([u, v])
        self.num_nodes = num_nodes
        self._u_offsets = _offsets(u, num_nodes)
        self._v_order = torch.argsort(_sort_key(v, num_nodes))
        self._v_offsets = _offsets(v, num_nodes)
        self._v_partners = u.index_select(0, self._v_order)

    @property
    def count(self) -> int:
        return self.pairs.size(1)

    def scores(self, z: Tensor) -> Tensor:
        return _PairScores.apply(z, self)

    def gradient(self, z: Tensor, grad: Tensor) -> Tensor:
        """d(sum_k grad_k * z[u_k] . z[v_k]) / dz."""
        bag = torch.nn.functional.embedding_bag
        at_u = bag(self.pairs[1], z, self._u_offsets, mode="sum", per_sample_weights=grad,
                   include_last_offset=True)
        at_v = bag(self._v_partners, z, self._v_offsets, mode="sum",
                   per_sample_weights=grad.index_select(0, self._v_order),
                   include_last_offset=True)
        return at_u + at_v


class _PairScores(torch.autograd.Function):
    """``z[u] . z[v]`` for a PairSet's pairs, gathered in chunks; gradient via ``PairSet.gradient``."""

    @staticmethod
    def forward(ctx: Any, z: Tensor, pair_set: PairSet) -> Tensor:
        ctx.save_for_backward(z)
        ctx.pair_set = pair_set
        u, v = pair_set.pairs[0], pair_set.pairs[1]
        out = z.new_empty(u.numel())
        for start in range(0, u.numel(), PAIR_CHUNK):
            end = start + PAIR_CHUNK
            torch.sum(z.index_select(0, u[start:end]) * z.index_select(0, v[start:end]), dim=-1, out=out[start:end])
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, None]:
        (z,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None
        return ctx.pair_set.gradient(z, grad.contiguous()), None


def _sort_key(index: Tensor, num_nodes: int) -> Tensor:
    return index.to(torch.int32) if num_nodes < 2**31 else index


def _offsets(index: Tensor, num_nodes: int) -> Tensor:
    offsets = index.new_zeros(num_nodes + 1)
    offsets[1:] = torch.cumsum(torch.bincount(index, minlength=num_nodes), 0)
    return offsets


def prepare_pairs(pairs: Tensor, num_nodes: int, width: int) -> Tensor | PairSet:
    """``pairs`` as a PairSet when, for embeddings ``width`` wide, sorting them pays off."""
    count = pairs.size(1)
    wide = width >= WIDE_EMBEDDING and count * width >= SORTED_PAIR_ENTRIES_MIN
    return PairSet(pairs, num_nodes) if count >= SORTED_PAIRS_MIN or wide else pairs


def logit_loss(pos_logits: Tensor, neg_logits: Tensor) -> Tensor:
    """``GAE.recon_loss``'s binary cross-entropy over a decoder's logits: positives towards 1, negatives 0."""
    pos_loss = -torch.log(torch.sigmoid(pos_logits) + EPS).mean()
    neg_loss = -torch.log(1 - torch.sigmoid(neg_logits) + EPS).mean()
    return pos_loss + neg_loss


def recon_loss(z: Tensor, pos: Tensor | PairSet, neg: Tensor | PairSet) -> Tensor:
    """``GAE.recon_loss(z, pos, neg)``: binary cross-entropy of the pairs' inner products."""
    if isinstance(pos, Tensor) and isinstance(neg, Tensor):  # small: one gather for both
        probs = torch.sigmoid(score_pairs(z, torch.cat([pos, neg], dim=1)))
        pos_probs, neg_probs = probs[: pos.size(1)], probs[pos.size(1) :]
    else:
        pos_probs, neg_probs = (
            torch.sigmoid(p.scores(z) if isinstance(p, PairSet) else score_pairs(z, p)) for p in (pos, neg)
        )
    pos_loss = -torch.log(pos_probs + EPS).mean()
    neg_loss = -torch.log(1 - neg_probs + EPS).mean()
    return pos_loss + neg_loss
