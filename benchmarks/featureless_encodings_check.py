"""Validation-only check of node encodings for a featureless graph: the shipped encodings
(learnable embedding, with Laplacian eigenvectors) against fixed random Gaussian features, and
resource allocation's validation AUC beside them. Used for docs/results.md ("Tried and not
adopted"); no test edge is loaded.

    python benchmarks/featureless_encodings_check.py powerlaw-cluster.csv
"""
from __future__ import annotations

import sys
from dataclasses import replace

import torch

from tune_gae.config import DataConfig, run_config_from_dict
from tune_gae.data.split import encode_for_run, load_split
from tune_gae.train.baselines import heuristic_scores, training_adjacency
from tune_gae.train.metrics import score_metrics
from tune_gae.train.trainer import Trainer

BASE = {"model": "gae", "latent_channels": 128, "lr": 0.01, "epochs": 300, "patience": 40, "seed": 0,
        "hidden_channels": [128]}


def best_val_auc(split, hyper) -> float:  # noqa: ANN001 - a script
    model_config, train_config = run_config_from_dict(hyper, in_channels=split.num_features)
    trainer = Trainer(split, model_config, train_config)
    while not trainer.done:
        trainer.step()
    return trainer.best["val_auc"]


def main(path: str) -> None:
    split = load_split(DataConfig(path)).without_test()
    adjacency = training_adjacency(split.train_pos, split.num_nodes)
    ra = score_metrics(heuristic_scores(adjacency, split.val_pos)["resource_allocation"],
                       heuristic_scores(adjacency, split.val_neg)["resource_allocation"])["auc"]
    print(f"resource allocation: validation AUC {ra:.4f}")
    for encoding in ("embedding", "embedding+spectral"):
        for encoder in ("linear", "gcn"):
            encoded, hyper = encode_for_run(split, {**BASE, "node_encoding": encoding, "encoder": encoder})
            print(f"{encoding}, {encoder}: validation AUC {best_val_auc(encoded, hyper):.4f}", flush=True)
    for dims in (64, 256):
        random = torch.randn(split.num_nodes, dims, generator=torch.Generator().manual_seed(0)) / dims ** 0.5
        for encoder in ("linear", "gcn"):
            hyper = {**BASE, "encoder": encoder, "normalize_features": False}
            print(f"random {dims}, {encoder}: validation AUC {best_val_auc(replace(split, x=random), hyper):.4f}",
                  flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
