"""Link-prediction metrics in torch: ROC AUC and average precision (equal to scikit-learn's,
ties included), Hits@K and MRR (OGB's definitions).

AUC and AP come from one descending sort of the scores, on the scores' device, so evaluating
every epoch costs little. Metric names are declared in ``tune_gae.rules``.

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

Hits@K and MRR stay on the scores' device: one sort (shared) or one comparison (per positive).
AUC and AP pool all negatives (per-positive ones flattened).
"""
from __future__ import annotations

import torch
from torch import Tensor

from tune_gae.rules import HITS_AT, LINK_METRICS


def _curve(pos_scores: Tensor, neg_scores: Tensor) -> tuple[Tensor, Tensor]:
    """True and false positives counted at each distinct threshold, highest score first."""
    scores = torch.cat([pos_scores, neg_scores]).double()
    labels = torch.cat(
        [torch.ones_like(pos_scores, dtype=torch.float64), torch.zeros_like(neg_scores, dtype=torch.float64)]
    )
    scores, order = torch.sort(scores, descending=True, stable=True)
    tps = torch.cumsum(labels[order], 0)
    # The last index of each run of equal scores is a threshold.
    last = torch.ones_like(scores, dtype=torch.bool)
    last[:-1] = scores[1:] != scores[:-1]
    tps = tps[last]
    fps = torch.nonzero(last).flatten().double() + 1.0 - tps
    return tps, fps


def _roc_auc(tps: Tensor, fps: Tensor, num_pos: int, num_neg: int) -> float:
    # Trapezoids under the ROC curve: a tie group counts its negatives half (Mann-Whitney U).
    pos_step = torch.diff(tps, prepend=tps.new_zeros(1))
    neg_step = torch.diff(fps, prepend=fps.new_zeros(1))
    return float((pos_step * (num_neg - fps + neg_step / 2.0)).sum() / (num_pos * num_neg))


def _average_precision(tps: Tensor, fps: Tensor, num_pos: int) -> float:
    # Sum over thresholds of (recall step) x precision, as sklearn defines AP.
    precision = tps / (tps + fps)
    recall_step = torch.diff(tps, prepend=tps.new_zeros(1)) / num_pos
    return float((recall_step * precision).sum())


def roc_auc(pos_scores: Tensor, neg_scores: Tensor) -> float:
    """Probability that a positive outranks a negative, ties counted half (Mann-Whitney U)."""
    tps, fps = _curve(pos_scores, neg_scores)
    return _roc_auc(tps, fps, pos_scores.numel(), neg_scores.numel())


def average_precision(pos_scores: Tensor, neg_scores: Tensor) -> float:
    """Sum over distinct thresholds of (recall step) x precision, as sklearn defines AP."""
    tps, fps = _curve(pos_scores, neg_scores)
    return _average_precision(tps, fps, pos_scores.numel())


def auc_ap(pos_scores: Tensor, neg_scores: Tensor) -> dict[str, float]:
    """``{"auc": ..., "ap": ...}`` from a single sort."""
    tps, fps = _curve(pos_scores, neg_scores)
    num_pos, num_neg = pos_scores.numel(), neg_scores.numel()
    return {"auc": _roc_auc(tps, fps, num_pos, num_neg), "ap": _average_precision(tps, fps, num_pos)}


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
