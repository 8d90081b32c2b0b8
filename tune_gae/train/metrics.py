"""ROC AUC and average precision in torch, equal to scikit-learn's (ties included).

Both come from one descending sort of the scores, on the scores' device, so evaluating every
epoch costs little.
"""
from __future__ import annotations

import torch
from torch import Tensor


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
