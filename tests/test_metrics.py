"""AUC/AP against scikit-learn; Hits@K and MRR against a plain numpy transcription of OGB's
link-prediction evaluator (``ogb.linkproppred.Evaluator``)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from tune_gae.rules import HITS_AT, LINK_METRICS, VALIDATION_METRICS
from tune_gae.train.metrics import auc_ap, hits_at, mean_reciprocal_rank, ranking_metrics, score_metrics


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("ties", [False, True])
def test_auc_ap_equal_sklearn(seed: int, ties: bool) -> None:
    gen = torch.Generator().manual_seed(seed)
    if ties:  # few distinct values: many ties within and across classes
        pos = torch.randint(0, 6, (57,), generator=gen).float()
        neg = torch.randint(0, 5, (43,), generator=gen).float()
    else:
        pos = torch.randn(300, generator=gen) + 0.7
        neg = torch.randn(280, generator=gen)
    labels = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    scores = torch.cat([pos, neg]).numpy()
    got = auc_ap(pos, neg)
    assert got["auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-6)
    assert got["ap"] == pytest.approx(average_precision_score(labels, scores), abs=1e-6)


def test_perfect_and_inverted_ranking() -> None:
    pos, neg = torch.tensor([3.0, 4.0]), torch.tensor([1.0, 2.0])
    assert auc_ap(pos, neg) == {"auc": 1.0, "ap": 1.0}
    assert auc_ap(neg, pos)["auc"] == 0.0
    assert auc_ap(torch.ones(4), torch.ones(4))["auc"] == 0.5


def ogb_hits(pos: np.ndarray, neg: np.ndarray, k: int) -> float:
    """ogb.linkproppred.Evaluator._eval_hits: positives strictly above the K-th best negative."""
    if len(neg) < k:
        return 1.0
    kth = np.sort(neg)[::-1][k - 1]
    return float(np.mean(pos > kth))


def ogb_mrr(pos: np.ndarray, neg: np.ndarray) -> float:
    """ogb.linkproppred.Evaluator._eval_mrr, one row of negatives per positive."""
    reciprocal = []
    for score, row in zip(pos, neg):
        optimistic = sum(1 for n in row if n > score)
        pessimistic = sum(1 for n in row if n >= score)
        reciprocal.append(1.0 / (0.5 * (optimistic + pessimistic) + 1))
    return float(np.mean(reciprocal))


def per_row_hits(pos: np.ndarray, neg: np.ndarray, k: int) -> float:
    """OGB's hits definition applied to each positive's own negatives."""
    return float(np.mean([ogb_hits(np.array([s]), row, k) for s, row in zip(pos, neg)]))


def draw(seed: int, ties: bool, num_pos: int, neg_shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    if ties:  # a few distinct values: ties within and across classes
        return (torch.randint(0, 8, (num_pos,), generator=gen).float(),
                torch.randint(0, 7, neg_shape, generator=gen).float())
    return torch.randn(num_pos, generator=gen) + 1.5, torch.randn(neg_shape, generator=gen)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("ties", [False, True])
def test_shared_negatives_equal_ogb(seed: int, ties: bool) -> None:
    pos, neg = draw(seed, ties, 120, (300,))
    got = ranking_metrics(pos, neg)
    p, n = pos.numpy(), neg.numpy()
    for k in HITS_AT:
        assert got[f"hits@{k}"] == pytest.approx(ogb_hits(p, n, k), abs=1e-12)
        assert hits_at(pos, neg, k) == got[f"hits@{k}"]
    # Shared negatives: every positive's row is the whole shared set.
    assert got["mrr"] == pytest.approx(ogb_mrr(p, np.tile(n, (len(p), 1))), abs=1e-12)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("ties", [False, True])
def test_per_positive_negatives_equal_ogb(seed: int, ties: bool) -> None:
    pos, neg = draw(seed, ties, 60, (60, 150))
    got = ranking_metrics(pos, neg)
    p, n = pos.numpy(), neg.numpy()
    assert got["mrr"] == pytest.approx(ogb_mrr(p, n), abs=1e-12)
    assert mean_reciprocal_rank(pos, neg) == got["mrr"]
    for k in HITS_AT:
        assert got[f"hits@{k}"] == pytest.approx(per_row_hits(p, n, k), abs=1e-12)


def test_fewer_negatives_than_k_count_every_positive() -> None:
    pos, neg = torch.tensor([0.0, 5.0]), torch.arange(30.0)
    assert ranking_metrics(pos, neg)["hits@50"] == 1.0
    assert ranking_metrics(pos, neg)["hits@10"] == 0.0  # 0.0 and 5.0 sit below the 10th best (20.0)


def test_known_ranks() -> None:
    # positive 0 beats everything (rank 1); positive 1 ties one negative and trails one (rank 2.5).
    pos = torch.tensor([10.0, 2.0])
    neg = torch.tensor([[1.0, 0.0, -1.0], [3.0, 2.0, 1.0]])
    assert ranking_metrics(pos, neg)["mrr"] == pytest.approx((1.0 + 1.0 / 2.5) / 2)


def test_score_metrics_has_every_name_and_pools_auc() -> None:
    pos, neg = draw(3, False, 40, (40, 25))
    got = score_metrics(pos, neg)
    assert tuple(got) == LINK_METRICS
    labels = np.r_[np.ones(40), np.zeros(40 * 25)]
    scores = np.r_[pos.numpy(), neg.flatten().numpy()]
    assert got["auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-6)
    assert got["ap"] == pytest.approx(average_precision_score(labels, scores), abs=1e-6)
    assert VALIDATION_METRICS[:3] == ("val_auc", "val_ap", "val_mrr") and "val_hits@20" in VALIDATION_METRICS


def test_mismatched_per_positive_shape_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\[P, K\] with P = 3"):
        ranking_metrics(torch.zeros(3), torch.zeros(4, 5))
