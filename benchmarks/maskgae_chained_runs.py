"""MaskGAE's table as its code computes it, with a tune-gae winner in its place (issue #22).

MaskGAE's ``train_linkpred.py`` (EdisonLeeeee/MaskGAE, the README's command) differs from
``tune-gae evaluate --resplit`` in three ways besides the model:

1. one split for all 10 runs (``set_seed(2022)`` before ``RandomLinkSplit``);
2. the model is built once and never reset: run k starts from run k-1's best-validation weights
   (``model.load_state_dict(torch.load(args.save_path))`` ends each run; only the optimiser is new);
3. the test edges are scored on the training AND validation edges (PyG's test data).

This re-trains a search's winner (its hyperparameters from ``docs/results/<name>-search.json``)
that way on each of ``--splits`` split seeds (1, 2, ...: fresh splits, as in ``evaluate
--resplit``), 10 chained runs per split, each run selecting its epoch on validation, and records
every run's test AUC on both test graphs. Run 1 of each chain is an ordinary run from fresh weights.

    python benchmarks/maskgae_chained_runs.py Cora cora-strong-32 --data-root ~/.cache/tune-gae

Prints a line per run and a summary; saves docs/results/<name>-chained.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from typing import Any

from compare_test_graphs import SAVED, winner_hyperparameters

from tune_gae.config import DataConfig, run_config_from_dict
from tune_gae.data.sources import load_graph
from tune_gae.data.split import split_edges
from tune_gae.rules import TEST_GRAPHS
from tune_gae.train.trainer import Trainer, score_test_edges


def chain(split: Any, hyperparameters: dict[str, Any], runs: int) -> list[dict[str, Any]]:
    """``runs`` runs on one split, each starting from the previous run's best weights."""
    model_config, train_config = run_config_from_dict(hyperparameters, in_channels=split.num_features)
    weights = None
    out = []
    for run in range(runs):
        trainer = Trainer(split, model_config, replace(train_config, seed=run))
        if weights is not None:
            trainer.model.load_state_dict(weights)
            trainer.best_state = trainer._weights()
        began = time.perf_counter()
        while not trainer.done:
            trainer.step()
        weights = trainer.best_state
        model = trainer.best_model()
        row = {"run": run + 1, "val_auc": trainer.best["val_auc"], "best_epoch": int(trainer.best["epoch"]),
               "seconds": round(time.perf_counter() - began, 1),
               **{graph: score_test_edges(model, split, test_graph=graph)["test_auc"] for graph in TEST_GRAPHS}}
        out.append(row)
        print(f"  run {row['run']}: val AUC {100 * row['val_auc']:.2f} (epoch {row['best_epoch']}), test AUC "
              + ", ".join(f"{graph} {100 * row[graph]:.2f}" for graph in TEST_GRAPHS), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("name", help="the search's name: docs/results/<name>-search.json holds its winner")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    started = time.time()
    hyperparameters = winner_hyperparameters(args.name)
    graph = load_graph(DataConfig(dataset=args.dataset, root=args.data_root))
    chains = []
    for split_seed in range(1, args.splits + 1):
        split = split_edges(graph, val_ratio=0.05, test_ratio=0.10, seed=split_seed)
        encoded = split.with_encoding(hyperparameters.get("node_encoding"), hyperparameters.get("encoding_dims", 16))
        print(f"split {split_seed}:", flush=True)
        chains.append({"split_seed": split_seed, "split_hash": split.split_hash,
                       "runs": chain(encoded, hyperparameters, args.runs)})
    summary = {}
    for graph in TEST_GRAPHS:
        first = [c["runs"][0][graph] for c in chains]
        chained = [statistics.fmean(r[graph] for r in c["runs"]) for c in chains]
        summary[graph] = {"first_run_mean": statistics.fmean(first), "chain_mean": statistics.fmean(chained),
                          "first_run_per_split": first, "chain_mean_per_split": chained}
        print(f"{args.dataset}, test graph {graph}: run 1 {100 * summary[graph]['first_run_mean']:.2f}, "
              f"mean of the {args.runs} chained runs {100 * summary[graph]['chain_mean']:.2f} "
              f"(means over {args.splits} splits)")
    out = {"dataset": args.dataset, "search": args.name, "hyperparameters": hyperparameters, "runs": args.runs,
           "summary": summary, "chains": chains, "wall_seconds": round(time.time() - started, 1)}
    (SAVED / f"{args.name}-chained.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
