import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from tune_gae.train.metrics import auc_ap


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
