"""The same trained models scored on two test graphs (issue #22, MaskGAE's protocol).

MaskGAE's ``train_linkpred.py`` splits with PyG's ``RandomLinkSplit``, whose test data passes
messages over the training AND the validation edges, and scores its test edges there; tune-gae
scores them on the training edges only (``--test-graph train``, the graph every trial trained and
was selected on). This re-trains a search's winner (its hyperparameters from
``docs/results/<name>-search.json``) on fresh splits, exactly as ``tune-gae evaluate --resplit
--fresh-only`` does (model seed i on split seed i+1), selects each run's epoch on validation, and
scores the selected weights' test edges once on each graph, heuristics too.

    python benchmarks/compare_test_graphs.py Cora cora-strong-32 --data-root ~/.cache/tune-gae
    python benchmarks/compare_test_graphs.py CiteSeer citeseer-strong-32 --data-root ~/.cache/tune-gae
    python benchmarks/compare_test_graphs.py Cora cora-strong-32 --bundle results/cora-strong-32/best

Its ``train`` column is what ``tune-gae evaluate BUNDLE --seeds 10 --resplit --fresh-only`` reports (the
same runs); the winner comes from the bundle, or else from docs/results/<name>-search.json.

Prints one line per split and a summary, and saves docs/results/<name>-test-graph.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from tune_gae.bundle.reader import read_bundle_config
from tune_gae.config import RUN_KEYS, DataConfig, run_config_from_dict
from tune_gae.data.sources import load_graph
from tune_gae.data.split import split_edges
from tune_gae.rules import TEST_GRAPHS
from tune_gae.train.baselines import baseline_metrics, best_baseline
from tune_gae.train.trainer import score_test_edges, train

SAVED = Path(__file__).resolve().parent.parent / "docs" / "results"
REPORTED = ("test_auc", "test_ap", "test_hits@100")


def winner_hyperparameters(name: str, bundle: str | None = None) -> dict[str, Any]:
    """The exported trial's hyperparameters: the bundle's ``config.json`` when given, else
    ``<name>-winner.json`` where re-selection exported another trial than the search's best, else
    the search's JSON summary's ``exported`` row (or, in older summaries, its best trial)."""
    if bundle is not None:
        config = read_bundle_config(bundle)
        return {key: value for key, value in {**config["model"], **config["training"]}.items() if key in RUN_KEYS}
    winner = SAVED / f"{name}-winner.json"
    if winner.exists():
        return dict(json.loads(winner.read_text())["hyperparameters"])
    search = json.loads((SAVED / f"{name}-search.json").read_text())
    if search.get("exported"):  # newer summaries hold the exported trial's row
        return {key: value for key, value in search["exported"].items() if key in RUN_KEYS}
    if search["best"]["trial"] != search["winner"]:
        raise SystemExit(f"{name}: the export is {search['winner']}, not the best trial {search['best']['trial']}, "
                         f"and docs/results/{name}-winner.json (its hyperparameters) is missing.")
    return {key: value for key, value in search["best"].items() if key in RUN_KEYS}


def compare(dataset: str, name: str, *, data_root: str | None, splits: int, bundle: str | None = None) -> dict[str, Any]:
    hyperparameters = winner_hyperparameters(name, bundle)
    graph = load_graph(DataConfig(dataset=dataset, root=data_root))
    runs = []
    for seed in range(splits):
        split = split_edges(graph, val_ratio=0.05, test_ratio=0.10, seed=seed + 1)
        encoded = split.with_encoding(hyperparameters.get("node_encoding"), hyperparameters.get("encoding_dims", 16))
        model_config, train_config = run_config_from_dict(hyperparameters, in_channels=encoded.num_features)
        result, model = train(encoded, model_config, replace(train_config, seed=seed))
        run: dict[str, Any] = {"seed": seed, "split_seed": seed + 1, "split_hash": split.split_hash,
                               "val_auc": result.val_auc, "best_epoch": result.best_epoch,
                               "seconds": round(result.seconds, 2)}
        for test_graph in TEST_GRAPHS:
            scored = score_test_edges(model, encoded, test_graph=test_graph)
            features = split.x if split.features_given else None
            baselines = baseline_metrics(split, features=features, test_graph=test_graph)
            run[test_graph] = {**{key: scored[key] for key in REPORTED},
                               "best_heuristic": best_baseline({k: v for k, v in baselines.items()
                                                                if k != "features_only"})}
        runs.append(run)
        print(f"split {seed + 1}: val AUC {100 * run['val_auc']:.2f}, best epoch {run['best_epoch']}; test AUC "
              + ", ".join(f"{graph} {100 * run[graph]['test_auc']:.2f}" for graph in TEST_GRAPHS)
              + f" ({run['seconds']:.0f} s)", flush=True)
    summary = {
        graph: {f"{key}_{stat}": fn([run[graph][key] for run in runs])
                for key in REPORTED for stat, fn in (("mean", statistics.fmean), ("std", statistics.stdev))}
        for graph in TEST_GRAPHS
    }
    return {"dataset": dataset, "search": name, "hyperparameters": hyperparameters, "splits": splits,
            "split_ratios": {"val_ratio": 0.05, "test_ratio": 0.10}, "summary": summary, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("name", help="the search's name: docs/results/<name>-search.json holds its winner")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--bundle", default=None, help="the search's exported bundle (results/<name>/best)")
    args = parser.parse_args()
    started = time.time()
    out = compare(args.dataset, args.name, data_root=args.data_root, splits=args.splits, bundle=args.bundle)
    out["wall_seconds"] = round(time.time() - started, 1)
    for graph, row in out["summary"].items():
        print(f"{args.dataset} test graph {graph}: AUC {100 * row['test_auc_mean']:.2f} ± {100 * row['test_auc_std']:.2f}, "
              f"AP {100 * row['test_ap_mean']:.2f} ± {100 * row['test_ap_std']:.2f}, "
              f"Hits@100 {100 * row['test_hits@100_mean']:.2f}")
    (SAVED / f"{args.name}-test-graph.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
