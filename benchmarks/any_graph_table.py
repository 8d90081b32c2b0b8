"""Rows of docs/results.md's "Graphs the defaults were not shaped on" table from finished searches
(``results/<name>``): the exported winner's validation and test AUC/AP, the baselines on the
same test edges, the margin over the best baseline. ``python benchmarks/any_graph_table.py NAME...``"""
from __future__ import annotations

import json
import sys
from pathlib import Path

NAMES = {"common_neighbours": "CN", "adamic_adar": "AA", "resource_allocation": "RA", "features_only": "features-only"}


def row(name: str, results: Path = Path("results")) -> str:
    folder = results / name
    record = json.loads((folder / "search.json").read_text())
    metrics = json.loads((folder / "best" / "metrics.json").read_text())
    config = json.loads((folder / "best" / "config.json").read_text())
    hyper = {**config.get("training", {}), **config.get("model", {})}
    encoding = hyper.get("node_encoding", "features")
    if "spectral" in str(encoding):
        encoding = f"{encoding} ({hyper.get('encoding_dims')})"
    winner = (f"{str(hyper.get('model', '?')).upper()}, {hyper.get('encoder')}, "
              f"{hyper.get('decoder', 'inner_product')} decoder, `{encoding}`, "
              f"latent {hyper.get('latent_channels')}, mask {hyper.get('mask_ratio', 0)}"
              + (f", norm {hyper['embedding_norm']:g}" if hyper.get("embedding_norm") else "")
              + (f", ensemble {hyper['ensemble']}" if hyper.get("ensemble", 1) > 1 else ""))
    baselines = metrics["baselines"]
    best = max(v["test_auc"] for v in baselines.values())
    shown = ", ".join(f"{NAMES[k]} {100 * v['test_auc']:.1f}" for k, v in baselines.items())
    import torch

    split = torch.load(folder / "best" / "split.pt", weights_only=True)
    nodes = record["num_nodes"]
    edges = split["train_edge_index"].size(1) // 2 + split["val_pos"].size(1) + split["test_pos"].size(1)
    features = "yes" if record.get("num_features") and "features" in str(encoding) else "no"
    return (f"| {name} | {nodes:,} / {edges:,} | {features} | "
            f"{len(json.loads((folder / 'trials.json').read_text()))} in {record['seconds']:.0f} s | {winner} | "
            f"{100 * metrics['val_auc']:.1f} | **{100 * metrics['test_auc']:.1f}** / {100 * metrics['test_ap']:.1f} | "
            f"{shown} | {100 * (metrics['test_auc'] - best):+.1f} |")


def main(names: list[str]) -> None:
    print("| graph | nodes / edges | features | trials | winner (by validation AUC) | val AUC | test AUC / AP | "
          "baselines, test AUC | margin |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        print(row(name))


if __name__ == "__main__":
    main(sys.argv[1:])
