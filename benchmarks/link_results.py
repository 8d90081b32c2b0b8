"""Baseline rows of docs/results.md: classic heuristics and a features-only model, every metric,
over the same fresh splits that ``tune-gae evaluate --resplit --fresh-only`` re-trains on.

For each split seed (1..N after the bundle's seed 0) and each kind of negatives (uniform, hard):

- common neighbours, Adamic-Adar, resource allocation on the TRAINING graph
  (``tune_gae.baselines.heuristic_scores``), no training, no selection;
- the features-only model: ``tune_gae.baselines``' recipe (an MLP of the raw features, 64 hidden,
  32 out, inner-product decoder, Adam 0.005, at most 200 epochs, patience 20), its epoch chosen on
  validation AUC, scored once on the test edges.

Prints mean ± sample std of every test metric (``tune_gae.rules.TEST_METRICS``) and one JSON
object. Run: ``python benchmarks/link_results.py --dataset Cora --splits 10 [--data-root DIR]``.
"""
from __future__ import annotations

import argparse
import json
import statistics

import torch

from tune_gae.config import DataConfig
from tune_gae.data.sources import load_graph
from tune_gae.data.split import LinkSplit, split_edges
from tune_gae.nn.decoders import InnerProduct
from tune_gae.nn.pairs import score_pairs
from tune_gae.rules import LINK_METRICS, NEGATIVE_KINDS
from tune_gae.train.metrics import score_metrics
from tune_gae.train.trainer import link_metrics, sample_negatives

try:  # the baselines module moves into tune_gae/train/ with issue #12
    from tune_gae.train.baselines import FeaturesOnlySettings, heuristic_scores, training_adjacency
except ImportError:
    from tune_gae.baselines import FeaturesOnlySettings, heuristic_scores, training_adjacency

HEURISTICS = {"common_neighbours": "common neighbours", "adamic_adar": "Adamic-Adar",
              "resource_allocation": "resource allocation"}


def heuristic_rows(split: LinkSplit) -> dict[str, dict[str, float]]:
    """Every test metric of each heuristic (negatives flattened for scoring, reshaped to rank)."""
    adjacency = training_adjacency(split.train_pos, split.num_nodes)
    pos = heuristic_scores(adjacency, split.test_pos)
    neg = heuristic_scores(adjacency, split.test_neg.reshape(2, -1))
    shape = split.test_neg.shape[1:]
    return {name: score_metrics(pos[name], neg[name].view(shape)) for name in HEURISTICS}


def features_only(split: LinkSplit, settings: FeaturesOnlySettings = FeaturesOnlySettings()) -> dict[str, float]:
    """The features-only MLP, selected on validation AUC, every test metric."""
    torch.manual_seed(settings.seed)
    x = split.x.to_dense() if split.x.layout != torch.strided else split.x
    mlp = torch.nn.Sequential(torch.nn.Linear(x.size(1), settings.hidden), torch.nn.ReLU(),
                              torch.nn.Linear(settings.hidden, settings.latent))
    optimizer = torch.optim.Adam(mlp.parameters(), lr=settings.lr)
    best_auc, best_z, best_epoch = -1.0, None, 0
    for epoch in range(1, settings.epochs + 1):
        mlp.train()
        optimizer.zero_grad(set_to_none=True)
        z = mlp(x)
        negatives = sample_negatives(x.size(0), split.train_pos.size(1), x.device)
        logits = torch.cat([score_pairs(z, split.train_pos), score_pairs(z, negatives)])
        labels = torch.cat([torch.ones(split.train_pos.size(1)), torch.zeros(negatives.size(1))])
        torch.nn.functional.binary_cross_entropy_with_logits(logits, labels).backward()
        optimizer.step()
        with torch.no_grad():
            z = mlp.eval()(x)
            val_auc = link_metrics(InnerProduct(), z, split.val_pos, split.val_neg)["auc"]
        if val_auc > best_auc:
            best_auc, best_z, best_epoch = val_auc, z, epoch
        elif epoch - best_epoch >= settings.patience:
            break
    assert best_z is not None
    return link_metrics(InnerProduct(), best_z, split.test_pos, split.test_neg)


def summary(runs: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    return {name: (statistics.fmean(r[name] for r in runs), statistics.stdev(r[name] for r in runs))
            for name in LINK_METRICS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="Cora")
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = DataConfig(args.dataset, root=args.data_root)
    graph = load_graph(config)
    out: dict[str, dict[str, dict[str, tuple[float, float]]]] = {}
    for kind in NEGATIVE_KINDS:
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in [*HEURISTICS, "features_only"]}
        for seed in range(1, args.splits + 1):
            split = split_edges(graph, val_ratio=config.val_ratio, test_ratio=config.test_ratio, seed=seed,
                                negatives=kind)
            for name, metrics in heuristic_rows(split).items():
                runs[name].append(metrics)
            runs["features_only"].append(features_only(split))
        out[kind] = {name: summary(values) for name, values in runs.items()}
        for name, stats in out[kind].items():
            shown = "  ".join(f"{m} {100 * mean:.1f}±{100 * std:.1f}" for m, (mean, std) in stats.items())
            print(f"{args.dataset} {kind:7} {HEURISTICS.get(name, 'features-only MLP'):20} {shown}")
    print(json.dumps({"dataset": args.dataset, "splits": list(range(1, args.splits + 1)), "results": out}))


if __name__ == "__main__":
    main()
