"""Ranking metrics for link prediction in torch: Hits@K and MRR, plus the metric names.

Two shapes of negatives, one definition:

- **shared** (``--negatives uniform``): a 1-D tensor of negative scores that EVERY positive is
  ranked against (the OGB ``Hits@K`` setting; MRR as in HeaRT's "existing setting" for
  Cora/CiteSeer/PubMed, where each positive's negative set is the whole shared set).
- **per positive** (``--negatives hard``): a ``[P, K]`` tensor, row ``i`` holding the scores of
  positive ``i``'s own negatives (the HeaRT / ogbl-citation2 setting).

For positive ``i`` with score ``s_i`` and negatives ``N_i``:

- ``hits@K``: ``s_i`` is strictly above the K-th highest score of ``N_i`` (OGB's definition),
  i.e. fewer than ``K`` negatives score ``>= s_i``; with fewer than ``K`` negatives every
  positive counts (as OGB's evaluator does).
- ``mrr``: the mean over positives of ``1 / rank_i`` with
  ``rank_i = 1 + (#{n > s_i} + #{n >= s_i}) / 2`` (ties count half, as OGB's evaluator does).

Everything stays on the scores' device; one sort (shared) or one comparison (per positive).
"""
from __future__ import annotations

import torch
from torch import Tensor

from tune_gae.metrics import auc_ap

HITS_AT: tuple[int, ...] = (10, 20, 50, 100)
# Every metric a split's evaluation edges give, in the order tables show them.
LINK_METRICS: tuple[str, ...] = ("auc", "ap", "mrr", *(f"hits@{k}" for k in HITS_AT))
# What a search may select and early-stop on (Optuna and ASHA): all of them, on validation.
VALIDATION_METRICS: tuple[str, ...] = tuple(f"val_{name}" for name in LINK_METRICS)
TEST_METRICS: tuple[str, ...] = tuple(f"test_{name}" for name in LINK_METRICS)


def negatives_at_or_above(pos_scores: Tensor, neg_scores: Tensor) -> tuple[Tensor, Tensor]:
    """Per positive: how many of its negatives score strictly above it, and ``>=`` it.

    ``neg_scores`` is 1-D (shared by every positive) or ``[P, K]`` (row ``i`` for positive ``i``).
    """
    if neg_scores.dim() == 1:
        ordered = torch.sort(neg_scores).values
        count = ordered.numel()
        above = count - torch.searchsorted(ordered, pos_scores, right=True)
        at_or_above = count - torch.searchsorted(ordered, pos_scores, right=False)
        return above, at_or_above
    if neg_scores.dim() != 2 or neg_scores.size(0) != pos_scores.numel():
        raise ValueError(
            f"per-positive negatives must be [P, K] with P = {pos_scores.numel()} but got "
            f"{tuple(neg_scores.shape)}."
        )
    column = pos_scores.unsqueeze(1)
    return (neg_scores > column).sum(dim=1), (neg_scores >= column).sum(dim=1)


def ranking_metrics(pos_scores: Tensor, neg_scores: Tensor) -> dict[str, float]:
    """``{"mrr": ..., "hits@10": ..., ...}`` of positives against shared or per-positive negatives."""
    if pos_scores.numel() == 0:
        raise ValueError("ranking metrics need at least one positive.")
    above, at_or_above = negatives_at_or_above(pos_scores, neg_scores)
    rank = 1.0 + (above + at_or_above).double() / 2.0
    metrics = {"mrr": float((1.0 / rank).mean())}
    for k in HITS_AT:
        metrics[f"hits@{k}"] = float((at_or_above < k).double().mean())
    return metrics


def score_metrics(pos_scores: Tensor, neg_scores: Tensor) -> dict[str, float]:
    """Every link metric (``LINK_METRICS``) from positive and negative scores.

    AUC and AP treat all negatives as one pool (per-positive negatives flattened); MRR and
    Hits@K rank each positive against its own (or the shared) negatives.
    """
    metrics = auc_ap(pos_scores, neg_scores.flatten())
    metrics.update(ranking_metrics(pos_scores, neg_scores))
    return {name: metrics[name] for name in LINK_METRICS}


def hits_at(pos_scores: Tensor, neg_scores: Tensor, k: int) -> float:
    """Share of positives scored strictly above the K-th highest of their negatives."""
    _, at_or_above = negatives_at_or_above(pos_scores, neg_scores)
    return float((at_or_above < k).double().mean())


def mean_reciprocal_rank(pos_scores: Tensor, neg_scores: Tensor) -> float:
    """Mean of ``1 / rank`` of each positive among its negatives, ties counted half."""
    return ranking_metrics(pos_scores, neg_scores)["mrr"]


def metric_names(prefix: str) -> tuple[str, ...]:
    """``("val_auc", "val_ap", "val_mrr", "val_hits@10", ...)`` for ``prefix="val"``."""
    return tuple(f"{prefix}_{name}" for name in LINK_METRICS)
