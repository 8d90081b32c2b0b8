"""Classic baselines: scores equal networkx's on the training graph, and nothing held out leaks."""
from __future__ import annotations

import math

import networkx as nx
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from tune_gae.data.sources import synthetic_graph
from tune_gae.data.split import split_edges
from tune_gae.train.baselines import (
    FEATURES_ONLY,
    HEURISTICS,
    baseline_line,
    baseline_metrics,
    best_baseline,
    heuristic_metrics,
    heuristic_scores,
    training_adjacency,
)
from tune_gae.train.metrics import auc_ap


def _karate_split() -> tuple[nx.Graph, torch.Tensor, torch.Tensor]:
    """Karate club: the first 60 edges are 'training', the rest held out; all node pairs scored."""
    graph = nx.karate_club_graph()
    edges = sorted((min(u, v), max(u, v)) for u, v in graph.edges())
    train = torch.tensor(edges[:60]).t()
    n = graph.number_of_nodes()
    pairs = torch.tensor([(u, v) for u in range(n) for v in range(u + 1, n)]).t()
    return graph, train, pairs


def test_heuristics_equal_networkx_on_the_training_graph() -> None:
    graph, train, pairs = _karate_split()
    train_graph = nx.Graph()
    train_graph.add_nodes_from(graph.nodes())
    train_graph.add_edges_from(train.t().tolist())
    scores = heuristic_scores(training_adjacency(train, graph.number_of_nodes()), pairs)
    ebunch = [tuple(p) for p in pairs.t().tolist()]
    common = [len(list(nx.common_neighbors(train_graph, u, v))) for u, v in ebunch]
    adamic = [s for _, _, s in nx.adamic_adar_index(train_graph, ebunch)]
    resource = [s for _, _, s in nx.resource_allocation_index(train_graph, ebunch)]
    assert scores["common_neighbours"].tolist() == [float(c) for c in common]
    assert torch.allclose(scores["adamic_adar"], torch.tensor(adamic, dtype=torch.float64))
    assert torch.allclose(scores["resource_allocation"], torch.tensor(resource, dtype=torch.float64))
    assert sum(common) > 0  # the comparison covers non-zero scores


def test_heuristics_never_see_held_out_edges() -> None:
    # Triangle 0-1-2 with 0-1 held out: 0 and 1 still share neighbour 2 (score 1), but a pair
    # whose only link is the held-out edge itself scores 0.
    train = torch.tensor([[0, 1, 3], [2, 2, 4]])
    scores = heuristic_scores(training_adjacency(train, 5), torch.tensor([[0, 3], [1, 0]]))
    assert scores["common_neighbours"].tolist() == [1.0, 0.0]
    assert scores["resource_allocation"].tolist() == [0.5, 0.0]


def test_heuristic_metrics_equal_auc_of_networkx_scores() -> None:
    graph, train, _ = _karate_split()
    held_out = torch.tensor(sorted((min(u, v), max(u, v)) for u, v in graph.edges())[60:]).t()
    neg = torch.tensor([[0, 1, 4, 9, 15, 20, 24, 26, 16, 11, 12, 14, 17, 18],
                        [33, 33, 30, 28, 20, 25, 28, 27, 33, 19, 14, 15, 18, 19]])
    train_graph = nx.Graph(train.t().tolist())
    train_graph.add_nodes_from(range(34))
    reference = {
        "adamic_adar": nx.adamic_adar_index,
        "resource_allocation": nx.resource_allocation_index,
    }
    metrics = heuristic_metrics(train, 34, held_out, neg)
    for name, index in reference.items():
        pos = torch.tensor([s for *_, s in index(train_graph, held_out.t().tolist())])
        negs = torch.tensor([s for *_, s in index(train_graph, neg.t().tolist())])
        expected = auc_ap(pos, negs)
        assert metrics[name]["test_auc"] == pytest.approx(expected["auc"])
        assert metrics[name]["test_ap"] == pytest.approx(expected["ap"])


def test_baseline_metrics_on_a_split_with_features() -> None:
    data = synthetic_graph("synthetic:nodes=600,communities=4,degree=10")
    split = split_edges(data, val_ratio=0.1, test_ratio=0.1, seed=0)
    out = baseline_metrics(split, features=split.x)
    assert set(out) == {*HEURISTICS, FEATURES_ONLY}
    for metrics in out.values():
        assert set(metrics) == {"test_auc", "test_ap"}
        assert 0.0 <= metrics["test_auc"] <= 1.0 and 0.0 <= metrics["test_ap"] <= 1.0
    # Community-correlated words predict links: the features-only model is far above chance.
    assert out[FEATURES_ONLY]["test_auc"] > 0.75
    # Same split, same seed: the same number (the recipe is seeded, the global RNG untouched).
    state = torch.get_rng_state()
    assert baseline_metrics(split, features=split.x)[FEATURES_ONLY] == out[FEATURES_ONLY]
    assert torch.equal(torch.get_rng_state(), state)
    without = baseline_metrics(split)
    assert set(without) == set(HEURISTICS)
    assert without["adamic_adar"] == out["adamic_adar"]


def test_heuristics_on_train_plus_val_equal_networkx_on_that_graph() -> None:
    data = synthetic_graph("synthetic:nodes=300,communities=3,degree=8")
    split = split_edges(data, val_ratio=0.15, test_ratio=0.1, seed=2)
    graph = nx.Graph()
    graph.add_nodes_from(range(split.num_nodes))
    graph.add_edges_from(split.train_pos.t().tolist() + split.val_pos.t().tolist())
    out = baseline_metrics(split, features=split.x, test_graph="train+val")
    pairs = torch.cat([split.test_pos, split.test_neg], dim=1)
    labels = torch.cat([torch.ones(split.test_pos.size(1)), torch.zeros(split.test_neg.size(1))])
    resource = torch.tensor([s for _, _, s in nx.resource_allocation_index(graph, [tuple(p) for p in pairs.t().tolist()])])
    assert out["resource_allocation"]["test_auc"] == pytest.approx(roc_auc_score(labels, resource))
    assert out["resource_allocation"]["test_ap"] == pytest.approx(average_precision_score(labels, resource))
    train_only = baseline_metrics(split, features=split.x)
    assert out["resource_allocation"] != train_only["resource_allocation"]  # the validation edges counted
    assert out[FEATURES_ONLY] == train_only[FEATURES_ONLY]  # it reads no graph: trained as before
    with pytest.raises(ValueError, match="validation edges are scored on the training graph only"):
        baseline_metrics(split, prefix="val", test_graph="train+val")


def test_validation_prefix_and_trial_copy() -> None:
    data = synthetic_graph("synthetic:nodes=300,communities=3")
    split = split_edges(data, val_ratio=0.1, test_ratio=0.1, seed=1)
    assert set(baseline_metrics(split, prefix="val")["common_neighbours"]) == {"val_auc", "val_ap"}
    with pytest.raises(ValueError, match="no test edges"):
        baseline_metrics(split.without_test())


def test_best_baseline_and_summary_line() -> None:
    baselines = {"common_neighbours": {"test_auc": 0.9}, "adamic_adar": {"test_auc": 0.95},
                 "resource_allocation": {"test_auc": 0.95}}
    assert best_baseline(baselines) == ("adamic_adar", 0.95)
    line = baseline_line(0.97, baselines)
    assert line == "tuned model test AUC 0.9700 vs best baseline (Adamic-Adar) 0.9500: +0.0200"
    assert baseline_line(0.93, baselines, decoder="ncn") == (
        "tuned model (ncn decoder) test AUC 0.9300 vs best baseline (Adamic-Adar) 0.9500: -0.0200")
    assert not math.isnan(best_baseline(baselines)[1])
