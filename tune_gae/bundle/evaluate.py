"""An honest estimate of an exported configuration: re-train it from scratch over several seeds.

The exported model is the maximum over many trials on one set of validation edges, so its
validation (and, a little, its test) numbers are optimistic. Re-training the same configuration
with fresh seeds, each run selected on validation and tested once (``tune_gae.train.trainer.train``),
gives the mean and spread a reader can compare with published numbers.
"""
from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from tune_gae.bundle.files import METRICS_FILE
from tune_gae.bundle.reader import (
    bundle_data_config,
    bundle_model_config,
    bundle_train_config,
    read_bundle_config,
)
from tune_gae.errors import TuneGAEError
from tune_gae.rules import TEST_GRAPHS, TEST_METRICS, VALIDATION_METRICS
from tune_gae.search.results import require_same_split
from tune_gae.train.baselines import baseline_metrics, best_baseline

# Test AUC / AP in percent, 85/5/10 edge split (docs/references.md: sources and protocols).
KIPF_WELLING = "Kipf & Welling 2016"
PAN_ARGA = "Pan et al. 2018"


PUBLISHED: dict[str, list[tuple[str, str, float, float]]] = {
    "Cora": [("GAE", KIPF_WELLING, 91.0, 92.0), ("VGAE", KIPF_WELLING, 91.4, 92.6), ("ARGA", PAN_ARGA, 92.4, 93.2)],
    "CiteSeer": [("GAE", KIPF_WELLING, 89.5, 89.9), ("VGAE", KIPF_WELLING, 90.8, 92.0), ("ARGA", PAN_ARGA, 91.9, 93.0)],
    "PubMed": [("GAE", KIPF_WELLING, 96.4, 96.5), ("VGAE", KIPF_WELLING, 94.4, 94.7), ("ARGA", PAN_ARGA, 96.8, 97.1)],
}


Echo = Callable[[str], None]
SAME_SPLIT = "same split"


def published_results(dataset: str) -> list[dict[str, Any]]:
    """Published test AUC/AP (percent) for a Planetoid dataset; empty for other graphs."""
    for name, rows in PUBLISHED.items():
        if name.lower() == dataset.lower():
            return [{"model": m, "source": s, "test_auc": auc, "test_ap": ap} for m, s, auc, ap in rows]
    return []


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sample standard deviation (0 for one run) of the runs' test and validation metrics."""
    out: dict[str, Any] = {"runs": runs}
    for key in (*TEST_METRICS, *VALIDATION_METRICS):
        values = [run[key] for run in runs]
        out[f"{key}_mean"] = statistics.fmean(values)
        out[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    if all("baselines" in run for run in runs):
        # Each baseline's mean over the runs' splits (the same split counts once per run).
        out["baselines"] = {
            name: {f"{key}_mean": statistics.fmean(run["baselines"][name][key] for run in runs)
                   for key in ("test_auc", "test_ap")}
            for name in runs[0]["baselines"]
        }
    return out


def evaluate_bundle(
    bundle: str | Path,
    seeds: int = 5,
    resplit: bool = False,
    *,
    data_root: str | None = None,
    device: str = "cpu",
    negatives: str | None = None,
    fresh_only: bool = False,
    val_ratio: float | None = None,
    test_ratio: float | None = None,
    test_graph: str = "train",
    echo: Echo | None = None,
) -> dict[str, Any]:
    """Re-train the bundle's configuration from scratch with model seeds ``0..seeds-1``.

    Each run trains for the exported trial's epochs, keeps its best validation epoch and is tested
    once. Runs use the bundle's split (checked by hash); with ``resplit`` the same seeds also run on
    fresh splits (split seeds ``s+1..s+seeds`` after the bundle's seed ``s``). Returns means, sample
    standard deviations, every run, the exported model's own numbers and the published ones.
    ``negatives`` evaluates against another kind of negatives than the bundle's (same positives);
    ``fresh_only`` (with ``resplit``) skips the runs on the bundle's own split. ``val_ratio`` and
    ``test_ratio`` (with ``resplit``) give the fresh splits other shares than the bundle's own
    (a paper's protocol); the runs on the bundle's own split keep its shares. ``test_graph``
    (``rules.TEST_GRAPHS``, every run): the links the model and the heuristics read when the test
    edges are scored; ``train+val`` adds the validation edges, as PyG's RandomLinkSplit and MaskGAE do.
    """
    import json

    from tune_gae.data.sources import load_graph
    from tune_gae.data.split import split_edges
    from tune_gae.train.trainer import pick_device, train

    if seeds < 1:
        raise TuneGAEError(f"--seeds must be at least 1 but got {seeds}.")
    if test_graph not in TEST_GRAPHS:
        raise TuneGAEError(f"unknown --test-graph {test_graph!r}: use one of {', '.join(TEST_GRAPHS)}.")
    config = read_bundle_config(bundle)
    model_config = bundle_model_config(config)
    train_config = bundle_train_config(config)
    data_config = bundle_data_config(config, data_root=data_root)
    try:
        torch_device = pick_device(device)
    except RuntimeError as exc:
        raise TuneGAEError(f"bad --device {device!r} ({exc}): use auto, cpu or cuda.") from None

    if fresh_only and not resplit:
        raise TuneGAEError("--fresh-only needs --resplit: without it there is nothing to run.")
    if (val_ratio is not None or test_ratio is not None) and not resplit:
        raise TuneGAEError("--val-ratio and --test-ratio set the fresh splits' shares: add --resplit "
                           "(the bundle's own split keeps the shares it was made with).")
    fresh_config = replace(data_config, val_ratio=val_ratio if val_ratio is not None else data_config.val_ratio,
                           test_ratio=test_ratio if test_ratio is not None else data_config.test_ratio)
    kind = negatives or data_config.negatives
    graph = load_graph(data_config)
    metric = str(config.get("trial", {}).get("selected_by") or "val_auc")

    def split_for(seed: int, negatives_kind: str = kind, ratios: Any = fresh_config):  # noqa: ANN202
        return split_edges(graph, val_ratio=ratios.val_ratio, test_ratio=ratios.test_ratio, seed=seed,
                           negatives=negatives_kind)

    own = split_for(data_config.split_seed, data_config.negatives, data_config)
    require_same_split(own.split_hash, config["split"]["hash"], since="export",
                       fix="point --data-root at the dataset the bundle was trained on.")
    if kind != data_config.negatives and not fresh_only:
        own = split_for(data_config.split_seed, kind, data_config)  # the same positives, the other negatives

    baselines_by_split: dict[str, dict[str, dict[str, float]]] = {}

    def baselines_for(split: Any) -> dict[str, dict[str, float]]:
        """Classic baselines on this split's test edges (once per split)."""
        if split.split_hash not in baselines_by_split:
            features = split.x if split.features_given else None
            baselines_by_split[split.split_hash] = baseline_metrics(split, features=features, test_graph=test_graph)
        return baselines_by_split[split.split_hash]

    def run_all(label: str, split_seeds: list[int]) -> dict[str, Any]:
        runs = []
        for seed, split_seed in zip(range(seeds), split_seeds):
            split = own if split_seed == data_config.split_seed and label == SAME_SPLIT else split_for(split_seed)
            encoded = split.with_encoding(model_config.node_encoding, model_config.encoding_dims)
            result, _ = train(encoded, model_config, replace(train_config, seed=seed), device=torch_device,
                              metric=metric, test_graph=test_graph)
            run = {"seed": seed, "split_seed": split_seed, "split_hash": split.split_hash, **result.metrics,
                   "best_epoch": result.best_epoch, "seconds": round(result.seconds, 2),
                   "baselines": baselines_for(split)}
            runs.append(run)
            if echo is not None:
                echo(f"  {label} seed {seed} (split {split_seed}): test AUC {run['test_auc']:.4f} "
                     f"AP {run['test_ap']:.4f} MRR {run['test_mrr']:.4f} Hits@20 {run['test_hits@20']:.4f}, "
                     f"best epoch {run['best_epoch']}/{train_config.epochs}; "
                     f"best baseline {best_baseline(run['baselines'])[1]:.4f}")
        return _summary(runs)

    same = None if fresh_only else run_all(SAME_SPLIT, [data_config.split_seed] * seeds)
    fresh = None
    if resplit:
        fresh = run_all("fresh split", [data_config.split_seed + 1 + i for i in range(seeds)])
    metrics_path = Path(bundle).expanduser().resolve() / METRICS_FILE
    exported = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    return {
        "dataset": config.get("dataset"),
        "model": model_config.model,
        "decoder": model_config.decoder,
        "decoder_summary": model_config.decoder_summary(),  # its options too, where they apply
        "trial": config.get("trial", {}).get("id"),
        "seeds": seeds,
        "epochs": train_config.epochs,
        "split_hash": own.split_hash,
        "fresh_split_ratios": {"val_ratio": fresh_config.val_ratio, "test_ratio": fresh_config.test_ratio},
        "negatives": kind,
        "test_graph": test_graph,
        "selected_by": metric,
        "same_split": same,
        "fresh_splits": fresh,
        # The exported model's own numbers, when they were measured the same way: the same kind of
        # negatives, on the training graph (an export scores its test edges there).
        "exported": ({k: exported.get(k) for k in (*VALIDATION_METRICS, *TEST_METRICS)}
                     if exported.get("negatives", "uniform") == kind and test_graph == "train" else {}),
        "published": published_results(str(config.get("dataset") or "")),
    }
