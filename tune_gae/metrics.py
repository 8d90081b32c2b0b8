"""ROC AUC and average precision in torch, equal to scikit-learn's (ties included).

Computed on the scores' device with one sort, so evaluating every epoch costs little.
"""
from __future__ import annotations

import torch
from torch import Tensor


def roc_auc(pos_scores: Tensor, neg_scores: Tensor) -> float:
    """Probability that a positive outranks a negative, ties counted half (Mann-Whitney U)."""
    scores = torch.cat([pos_scores, neg_scores]).double()
    _, inverse, counts = torch.unique(scores, sorted=True, return_inverse=True, return_counts=True)
    # Average 1-based rank of each distinct value.
    ends = torch.cumsum(counts, 0).double()
    avg_rank = ends - (counts.double() - 1.0) / 2.0
    num_pos, num_neg = pos_scores.numel(), neg_scores.numel()
    pos_rank_sum = avg_rank[inverse[:num_pos]].sum()
    return float((pos_rank_sum - num_pos * (num_pos + 1) / 2.0) / (num_pos * num_neg))


def average_precision(pos_scores: Tensor, neg_scores: Tensor) -> float:
    """Sum over distinct thresholds of (recall step) x precision, as sklearn defines AP."""
    scores = torch.cat([pos_scores, neg_scores]).double()
    labels = torch.cat([torch.ones_like(pos_scores), torch.zeros_like(neg_scores)]).double()
    order = torch.argsort(scores, descending=True, stable=True)
    scores, labels = scores[order], labels[order]
    tps = torch.cumsum(labels, 0)
    # The last index of each run of equal scores is a threshold.
    last = torch.ones_like(scores, dtype=torch.bool)
    last[:-1] = scores[1:] != scores[:-1]
    tps = tps[last]
    seen = torch.nonzero(last).flatten().double() + 1.0
    precision = tps / seen
    recall = tps / pos_scores.numel()
    recall_step = torch.diff(recall, prepend=recall.new_zeros(1))
    return float((recall_step * precision).sum())


def auc_ap(pos_scores: Tensor, neg_scores: Tensor) -> dict[str, float]:
    return {"auc": roc_auc(pos_scores, neg_scores), "ap": average_precision(pos_scores, neg_scores)}
