"""Which decoder, on VALIDATION edges only (issue #22): the default search's winning configurations
re-trained with each decoder variant, on split seeds 100-103 (neither a search's split 0 nor the
fresh test splits 1-10), test edges removed before training.

    python benchmarks/decoder_evidence.py Cora [--splits 2] [--seeds 2] [--variants NAME,...]
    python benchmarks/decoder_evidence.py Cora --recipe maskgae --splits 4 --seeds 1
    python benchmarks/decoder_evidence.py Cora --recipe maskgae-fidelity --splits 4 --seeds 1
    python benchmarks/decoder_evidence.py Cora --recipe strong-scale --splits 4 --seeds 1
    python benchmarks/decoder_evidence.py Cora --recipe strong-wider --splits 4 --seeds 1
    python benchmarks/decoder_evidence.py Cora --recipe strong-hops --splits 4 --seeds 1
    python benchmarks/decoder_evidence.py Cora --recipe ncn-protocol --splits 8 --seeds 1
    python benchmarks/decoder_evidence.py USAir --recipe featureless --edges-dir DIR --splits 8 --seeds 1

``--recipe maskgae``: MaskGAE's own settings (Li et al., KDD 2023; EdisonLeeeee/MaskGAE,
train_linkpred.py: the README's Cora/CiteSeer command) and variations of them, beside the default
search's winner; what search_spaces/strong.yaml was shaped on. ``--recipe maskgae-fidelity``:
strong.yaml's centre with what MaskGAE's code has beyond it (docs/results/<dataset>-maskgae-fidelity.json);
``--recipe strong-scale``: that centre with a seed ensemble and longer training (<dataset>-strong-scale.json);
``--recipe strong-wider``: the ensemble centre with more members, wider layers, more negatives
(<dataset>-strong-wider.json); ``--recipe strong-hops``: that centre with the embedding's layer
propagated over more hops (``propagation_hops``; <dataset>-strong-hops.json). ``--recipe ncn-protocol``:
NCN's protocol (70/10/20 splits, ranked by validation Hits@100; split seeds 100-107 with --splits 8)
around the Cora winner of ``benchmarks/ncn_table.sh strong`` (<dataset>-ncn-protocol.json).
``--recipe featureless``: SEAL's protocol (90/10 with validation out of the 90 %) on a graph without
features (USAir, Ecoli: DIR/<graph>/edges.csv from benchmarks/seal_graphs.py), around the DEFAULT
search's winner there (docs/results/seal-<graph>-v1.json): what the featureless entries of
search_spaces/default.yaml were shaped on (<dataset>-featureless.json).

Prints one line per variant (mean ± std of the validation AUCs, mean best epoch, ms per epoch) and
one JSON object last, which it also saves as docs/results/<dataset>-decoder-evidence.json
(<dataset>-maskgae-recipe.json, <dataset>-maskgae-fidelity.json with --recipe).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from tune_gae.config import RUN_KEYS, DataConfig, run_config_from_dict
from tune_gae.data.split import encode_for_run, load_split
from tune_gae.train.allocator import keep_freed_memory
from tune_gae.train.trainer import Trainer

SAVED = Path(__file__).resolve().parent.parent / "docs" / "results"
SPLIT_SEEDS = (100, 101, 102, 103, 104, 105, 106, 107)
# The default search's exported winners at commit 82f64a5 (docs/results.md, "Protocol").
BASES: dict[str, dict[str, Any]] = {
    "Cora": dict(model="gae", encoder="linear", latent_channels=256, normalize_features=False, lr=5.0e-3,
                 dropout=0.16, edge_dropout=0.24, neg_ratio=2, patience=10, epochs=223, embedding_norm=2.0,
                 mask_ratio=0.75),
    "CiteSeer": dict(model="gae", encoder="linear", latent_channels=256, normalize_features=False, lr=2.2e-2,
                     dropout=0.06, edge_dropout=0.21, neg_ratio=3, patience=20, epochs=249, embedding_norm=2.0,
                     mask_ratio=0.75),
}
# The default search's winners on SEAL's graphs at commits b3d3455 / 6c33e0a (docs/results/seal-<graph>-v1.json),
# both VGAE + gcn + ncn over embedding+spectral: what --recipe featureless varies.
BASES["USAir"] = dict(model="vgae", encoder="gcn", hidden_channels="256-128", latent_channels=128,
                      node_encoding="embedding+spectral", encoding_dims=8, decoder="ncn", decoder_layers=2,
                      decoder_width=128, decoder_norm="batch", decoder_dropout=0.096, cn_weighting="adamic_adar",
                      lr=5.58e-3, dropout=0.39, edge_dropout=0.114, embedding_norm=2.0, kl_weight=4.2e-3,
                      mask_ratio=0.0, neg_ratio=2, patience=20, epochs=331, weight_decay=1e-5)
BASES["Ecoli"] = dict(model="vgae", encoder="gcn", hidden_channels="256-128", latent_channels=128,
                      node_encoding="embedding+spectral", encoding_dims=8, decoder="ncn", decoder_layers=2,
                      decoder_width=256, decoder_norm="batch", decoder_dropout=0.132, cn_weighting="resource_allocation",
                      lr=6.94e-3, dropout=0.40, edge_dropout=0.089, embedding_norm=0.0, kl_weight=6.3e-3,
                      mask_ratio=0.5, neg_ratio=1, patience=20, epochs=182, weight_decay=1e-5)
MLP = dict(decoder="hadamard_mlp", decoder_layers=2, decoder_width=64)
NCN = dict(decoder="ncn", decoder_layers=2, decoder_width=64, cn_weighting="resource_allocation")
VARIANTS: dict[str, dict[str, Any]] = {
    "inner product (base)": {},
    "hadamard mlp 2x64": MLP,
    "hadamard mlp 2x256": {**MLP, "decoder_width": 256},
    "hadamard mlp 3x128": {**MLP, "decoder_layers": 3, "decoder_width": 128},
    "hadamard mlp 2x64, dropout 0.2": {**MLP, "decoder_dropout": 0.2},
    "hadamard mlp 2x64, no norm": {**MLP, "embedding_norm": 0.0},
    "hadamard mlp 2x64, patience 40": {**MLP, "patience": 40},
    "hadamard mlp 2x64, lr x0.5": {**MLP, "lr_scale": 0.5},
    "hadamard mlp 2x64, layer norm": {**MLP, "decoder_norm": "layer"},
    "hadamard mlp 2x64, batch norm": {**MLP, "decoder_norm": "batch"},
    "ncn 2x64 ra": NCN,
    "ncn 2x64 count": {**NCN, "cn_weighting": "count"},
    "ncn 2x64 ra, patience 40": {**NCN, "patience": 40},
}

# MaskGAE's train_linkpred.py with --bn (edge masking in place of its path masking: p = 0.7).
MASKGAE = dict(model="gae", encoder="linear", encoder_norm="batch", latent_channels=128, normalize_features=False,
               dropout=0.7, decoder="hadamard_mlp", decoder_layers=2, decoder_width=32, decoder_dropout=0.3,
               lr=0.01, weight_decay=5e-5, epochs=300, patience=100, mask_ratio=0.7, neg_ratio=1)
LONGER = dict(lr=0.02, decoder_layers=3, decoder_width=64, mask_ratio=0.5, epochs=500, patience=200)
RECIPE_VARIANTS: dict[str, dict[str, Any]] = {
    "default winner (inner product)": {"base": "default"},
    "maskgae settings": {},
    "maskgae: no batch norm": {"encoder_norm": "none"},
    "maskgae: mask 0.5": {"mask_ratio": 0.5},
    "maskgae: lr 0.02": {"lr": 0.02},
    "maskgae: decoder 3x64": {"decoder_layers": 3, "decoder_width": 64},
    "maskgae: 2-layer gcn 256": {"encoder": "gcn", "hidden_channels": [256]},
    "longer: lr 0.02 3x64 mask 0.5 500 epochs": LONGER,
    "longer: no batch norm": {**LONGER, "encoder_norm": "none"},
    "longer: no batch norm + embedding_norm 2": {**LONGER, "encoder_norm": "none", "embedding_norm": 2.0},
    "longer: 800 epochs patience 300": {**LONGER, "epochs": 800, "patience": 300},
}
# strong.yaml's centre (lr 0.02, 3x64 decoder, mask 0.5, 400 epochs, patience 300), then what MaskGAE's
# code has that it lacks (model.py, train_linkpred.py): an ELU on the batch-normalised embedding,
# gradients clipped to norm 1, the degree decoder's loss at alpha 2e-3, path masking; each alone and together.
STRONG = {**LONGER, "epochs": 400, "patience": 300}
MASKGAE_EXTRAS = dict(embedding_activation="elu", grad_clip=1.0, degree_loss=2e-3)
FIDELITY_VARIANTS: dict[str, dict[str, Any]] = {
    "strong.yaml centre": STRONG,
    "centre + elu embedding": {**STRONG, "embedding_activation": "elu"},
    "centre + grad clip 1": {**STRONG, "grad_clip": 1.0},
    "centre + degree loss 2e-3": {**STRONG, "degree_loss": 2e-3},
    "centre + all three": {**STRONG, **MASKGAE_EXTRAS},
    "maskgae settings + all three": MASKGAE_EXTRAS,
    # MaskGAE's default mask: 3-step walks from 70 % of the nodes (train_linkpred.py --mask Path, p 0.7)
    "centre + path mask 0.7": {**STRONG, "mask_kind": "path", "mask_ratio": 0.7},
    "centre + all three + path mask 0.7": {**STRONG, **MASKGAE_EXTRAS, "mask_kind": "path", "mask_ratio": 0.7},
}
# strong.yaml's centre scaled up: a seed ensemble of 3 encoders + decoders (scores averaged), training
# twice as long, and both (each costs 2-3x the centre per trial).
SCALE_VARIANTS: dict[str, dict[str, Any]] = {
    "strong.yaml centre": STRONG,
    "centre + ensemble 3": {**STRONG, "ensemble": 3},
    "centre + 800 epochs, patience 400": {**STRONG, "epochs": 800, "patience": 400},
    "centre + ensemble 3 + 800 epochs": {**STRONG, "ensemble": 3, "epochs": 800, "patience": 400},
}
# strong.yaml with its ensemble of 3 (its shipped centre since the strong-scale rows), then what it keeps
# fixed made larger: more members, a wider embedding, a wider decoder, more negatives per positive.
ENSEMBLE = {**STRONG, "ensemble": 3}
WIDER_VARIANTS: dict[str, dict[str, Any]] = {
    "centre + ensemble 3": ENSEMBLE,
    "ensemble 5": {**ENSEMBLE, "ensemble": 5},
    "ensemble 3 + latent 256": {**ENSEMBLE, "latent_channels": 256},
    "ensemble 3 + decoder 3x128": {**ENSEMBLE, "decoder_width": 128},
    "ensemble 3 + 3 negatives": {**ENSEMBLE, "neg_ratio": 3},
    "ensemble 3 + latent 512": {**ENSEMBLE, "latent_channels": 512},
    "ensemble 3 + latent 256 + 3 negatives": {**ENSEMBLE, "latent_channels": 256, "neg_ratio": 3},
}
# NCN's protocol (70/10/20, validation Hits@100): the Cora winner of `benchmarks/ncn_table.sh strong`
# (docs/results/ncn-Cora-strong-v2.json, found on the search's split 0), then larger or differently trained.
NCN_WINNER = {**ENSEMBLE, "decoder": "ncn", "cn_weighting": "resource_allocation", "decoder_dropout": 0.034,
              "lr": 0.0293, "dropout": 0.51, "mask_ratio": 0.75, "weight_decay": 0.0}
V3_NCN_WINNER = {**ENSEMBLE, "propagation_hops": 2, "decoder": "ncn", "cn_weighting": "adamic_adar",
                 "decoder_dropout": 0.242, "lr": 0.0300, "dropout": 0.545, "mask_ratio": 0.5, "weight_decay": 0.0}
NCN_PROTOCOL_VARIANTS: dict[str, dict[str, Any]] = {
    "ncn winner": NCN_WINNER,
    "winner + latent 256": {**NCN_WINNER, "latent_channels": 256},
    "winner + 3 negatives": {**NCN_WINNER, "neg_ratio": 3},
    "winner + lr 0.01": {**NCN_WINNER, "lr": 0.01},
    "winner + dropout 0.7": {**NCN_WINNER, "dropout": 0.7},
    "winner with hadamard_mlp": {**NCN_WINNER, "decoder": "hadamard_mlp"},
    "winner + hops 2": {**NCN_WINNER, "propagation_hops": 2},
    # v3's Cora winner (docs/results/ncn-Cora-strong-v3.json), and with the input dropout the v2 rows favour.
    "v3 winner": V3_NCN_WINNER,
    "v3 winner + dropout 0.7": {**V3_NCN_WINNER, "dropout": 0.7},
    # Where the input dropout's range should start and end (strong.yaml v4).
    "v3 winner + dropout 0.6": {**V3_NCN_WINNER, "dropout": 0.6},
    "v3 winner + dropout 0.8": {**V3_NCN_WINNER, "dropout": 0.8},
}
# strong.yaml's ensemble centre with the embedding's layer propagated over more hops (propagation_hops:
# mean_k(A_hat^k H W) + b, as Refined-GAE's LightGCN encoder on Cora), alone and with the 256-wide embedding.
HOPS_VARIANTS: dict[str, dict[str, Any]] = {
    "centre + ensemble 3": ENSEMBLE,
    "hops 2": {**ENSEMBLE, "propagation_hops": 2},
    "hops 2 + latent 256": {**ENSEMBLE, "propagation_hops": 2, "latent_channels": 256},
    "hops 3": {**ENSEMBLE, "propagation_hops": 3},
    "hops 4": {**ENSEMBLE, "propagation_hops": 4},
}
# strong.yaml v3's centre (ensemble 3, 2 hops) validating and keeping a moving average of its weights
# (weight_ema: the decay per epoch).
EMA_VARIANTS: dict[str, dict[str, Any]] = {
    "hops 2": {**ENSEMBLE, "propagation_hops": 2},
    "hops 2 + weight ema 0.9": {**ENSEMBLE, "propagation_hops": 2, "weight_ema": 0.9},
    "hops 2 + weight ema 0.97": {**ENSEMBLE, "propagation_hops": 2, "weight_ema": 0.97},
    "hops 2 + weight ema 0.99": {**ENSEMBLE, "propagation_hops": 2, "weight_ema": 0.99},
}
# strong.yaml v3's centre (ensemble 3, 2 hops) with MaskGAE's own edge masking (mask_kind directed: each
# direction masked on its own, an edge hidden only when both are, every masked direction a positive).
DIRECTED_VARIANTS: dict[str, dict[str, Any]] = {
    "hops 2": {**ENSEMBLE, "propagation_hops": 2},
    "hops 2 + directed mask 0.5": {**ENSEMBLE, "propagation_hops": 2, "mask_kind": "directed"},
    "hops 2 + directed mask 0.7": {**ENSEMBLE, "propagation_hops": 2, "mask_kind": "directed", "mask_ratio": 0.7},
}


def _alone(**changes: Any) -> dict[str, Any]:
    """strong.yaml's winner on the graph as one model (no seed ensemble), with ``changes``."""
    return {"base": "strong", "ensemble": 1, **changes}


# What the default search's featureless winners gain from training longer (patience), a stronger input
# dropout (the embedding table memorises), a batch-normalised encoder (strong.yaml's), and together.
FEATURELESS_VARIANTS: dict[str, dict[str, Any]] = {
    "default winner": {"base": "default"},
    "patience 40": {"base": "default", "patience": 40},
    "patience 80": {"base": "default", "patience": 80},
    "dropout 0.6": {"base": "default", "dropout": 0.6},
    "dropout 0.7": {"base": "default", "dropout": 0.7},
    "encoder batch norm": {"base": "default", "encoder_norm": "batch"},
    "dropout 0.6 + patience 80": {"base": "default", "dropout": 0.6, "patience": 80},
    "batch norm + dropout 0.6 + patience 80": {"base": "default", "encoder_norm": "batch", "dropout": 0.6,
                                               "patience": 80},
    "ensemble 3": {"base": "default", "ensemble": 3},
    "ensemble 3 + dropout 0.7": {"base": "default", "ensemble": 3, "dropout": 0.7},
    # strong.yaml v4's winner on the graph (docs/results/seal-<graph>-strong-v4.json), with and without its ensemble
    "strong.yaml winner": {"base": "strong"},
    "strong.yaml winner without ensemble": _alone(),
    # which of that lone winner's settings the default space cannot reach matter
    "alone + patience 40": _alone(patience=40),
    "alone + dropout 0.6": _alone(dropout=0.6),
    "alone + no encoder norm": _alone(encoder_norm="none"),
    "alone + patience 40 + dropout 0.6": _alone(patience=40, dropout=0.6),
    "alone + patience 100": _alone(patience=100),
    "alone + patience 200": _alone(patience=200),
    "alone + patience 200 + dropout 0.6": _alone(patience=200, dropout=0.6),
    # which of its settings that the default space CAN reach matter (a 24-trial search rarely lands on all)
    "alone + vgae": _alone(model="vgae", kl_weight=0.01),
    "alone + no masking": _alone(mask_ratio=0.0),
    "alone + lr 0.003": _alone(lr=0.003),
    "alone + decoder 2x128": _alone(decoder_layers=2, decoder_width=128),
    "alone + latent 64": _alone(latent_channels=64),
    "alone + dropout 0.3": _alone(dropout=0.3),
    "alone + degree+spectral": _alone(node_encoding="degree+spectral", encoding_dims=32),
    "alone + embedding+degree": _alone(node_encoding="embedding+degree"),
    "alone + embedding+spectral": _alone(node_encoding="embedding+spectral", encoding_dims=32),
    "alone + epochs 200": _alone(epochs=200),
    "alone + neg ratio 3": _alone(neg_ratio=3),
    # ... and the settings of the default search's E.coli export (docs/results/seal-Ecoli-v2.json) that differ
    "alone + edge dropout 0.24": _alone(edge_dropout=0.24),
    "alone + embedding norm 2": _alone(embedding_norm=2.0),
    "alone + decoder batch norm": _alone(decoder_norm="batch"),
    "alone + weight decay 1e-5": _alone(weight_decay=1.0e-5),
}
# strong.yaml v4's exported winners on SEAL's graphs (split seed 0; docs/results/seal-<graph>-strong-v4.json).
_STRONG_SEAL = dict(model="gae", encoder="linear", encoder_norm="batch", latent_channels=128, decoder="ncn",
                    decoder_layers=3, decoder_width=64, decoder_norm="none", edge_dropout=0.0, embedding_norm=0.0,
                    ensemble=3, epochs=400, patience=300, neg_ratio=1, mask_ratio=0.5, weight_decay=0.0)
STRONG_WINNERS: dict[str, dict[str, Any]] = {
    "USAir": {**_STRONG_SEAL, "cn_weighting": "adamic_adar", "decoder_dropout": 0.192, "dropout": 0.783,
              "lr": 0.01066, "node_encoding": "embedding"},
    "Ecoli": {**_STRONG_SEAL, "cn_weighting": "resource_allocation", "decoder_dropout": 0.170, "dropout": 0.637,
              "lr": 0.01374, "node_encoding": "embedding+spectral", "encoding_dims": 32},
}
RECIPES = {"maskgae": RECIPE_VARIANTS, "maskgae-fidelity": FIDELITY_VARIANTS, "strong-scale": SCALE_VARIANTS,
           "strong-wider": WIDER_VARIANTS, "ncn-protocol": NCN_PROTOCOL_VARIANTS, "strong-hops": HOPS_VARIANTS,
           "strong-directed": DIRECTED_VARIANTS, "strong-ema": EMA_VARIANTS, "featureless": FEATURELESS_VARIANTS}
# Recipes measured under another protocol than the 85/5/10 AUC one: split ratios and the selection metric.
PROTOCOLS: dict[str, dict[str, Any]] = {"ncn-protocol": dict(val_ratio=0.1, test_ratio=0.2, metric="val_hits@100")}
AUC_PROTOCOL: dict[str, Any] = dict(val_ratio=0.05, test_ratio=0.10, metric="val_auc")


def run_variant(split: Any, base: dict[str, Any], variant: dict[str, Any], seed: int,
                metric: str = "val_auc") -> dict[str, float]:
    hyper = {**base, **{k: v for k, v in variant.items() if k != "lr_scale"}, "seed": seed}
    hyper["lr"] = hyper["lr"] * variant.get("lr_scale", 1.0)
    split, hyper = encode_for_run(split, hyper)  # a featureless graph's node encoding (training edges only)
    model_config, train_config = run_config_from_dict(hyper, in_channels=split.num_features)
    trainer = Trainer(split, model_config, train_config, metric=metric)
    began = time.perf_counter()
    while not trainer.done:
        trainer.step()
    return {"val_auc": trainer.best["val_auc"], metric: trainer.best[metric], "epoch": trainer.best["epoch"], "epochs": trainer.epoch,
            "seconds": time.perf_counter() - began}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", choices=sorted(BASES))
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--edges-dir", default=None, help="for USAir/Ecoli: the folder of benchmarks/seal_graphs.py")
    parser.add_argument("--splits", type=int, default=2)
    parser.add_argument("--split-seeds", default=None,
                        help="comma-separated split seeds instead of the first --splits of 100-107 (e.g. to leave "
                             "out the split a --winner-of search selected on)")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--variants", default=None, help="comma-separated variant names (default: all)")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="model seeds FIRST..FIRST+SEEDS-1 (above 0: saved as <stem>-seed<FIRST>.json)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--winner-of", action="append", default=[], metavar="SEARCH_DIR",
                        help="also re-train the configuration this search's re-selection chose (search.json's "
                             "'winner' and 'reselection') as a variant named 'winner of <folder name>'; repeatable")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default=None,
                        help="MaskGAE's settings and variations of them instead of the decoder variants "
                             "(maskgae-fidelity: strong.yaml's centre with MaskGAE's ELU, clipping, degree loss)")
    args = parser.parse_args()
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    variants = RECIPES[args.recipe] if args.recipe else VARIANTS
    variants = {**variants, **{f"winner of {Path(d).name}": {"base": "config", **winner_config(Path(d))}
                               for d in args.winner_of}}
    names = (args.variants.split(",") if args.variants else [] if args.winner_of else list(variants))
    names += [f"winner of {Path(d).name}" for d in args.winner_of]
    protocol = PROTOCOLS.get(args.recipe or "", AUC_PROTOCOL)
    metric = protocol["metric"]
    split_seeds = [int(x) for x in args.split_seeds.split(",")] if args.split_seeds else list(SPLIT_SEEDS[: args.splits])
    dataset = f"{args.edges_dir}/{args.dataset}/edges.csv" if args.edges_dir else args.dataset
    splits = [load_split(DataConfig(dataset, root=args.data_root, split_seed=s, val_ratio=protocol["val_ratio"],
                                    test_ratio=protocol["test_ratio"])).without_test()
              for s in split_seeds]
    rows = []
    for name in names:
        variant = dict(variants[name])
        which = variant.pop("base", None)
        base = ({} if which == "config" else STRONG_WINNERS[args.dataset] if which == "strong"
                else BASES[args.dataset] if which == "default" or not args.recipe else MASKGAE)
        runs = [run_variant(split, base, variant, seed, metric) for split in splits
                for seed in range(args.first_seed, args.first_seed + args.seeds)]
        values = [r[metric] for r in runs]
        row = {"variant": name, "settings": {**base, **variant}, "mean": statistics.fmean(values),
               "std": statistics.stdev(values) if len(values) > 1 else 0.0,
               "best_epoch": statistics.fmean(r["epoch"] for r in runs),
               "ms_per_epoch": 1000 * sum(r["seconds"] for r in runs) / sum(r["epochs"] for r in runs),
               "values": values, **({"val_aucs": [r["val_auc"] for r in runs]} if metric != "val_auc" else {})}
        rows.append(row)
        print(f"{name:<34} {metric} {100 * row['mean']:.2f} ± {100 * row['std']:.2f}  best epoch "
              f"{row['best_epoch']:.0f}  {row['ms_per_epoch']:.1f} ms/epoch", flush=True)
    out = {"dataset": args.dataset, "split_seeds": split_seeds, "model_seeds": args.seeds,
           **({"first_seed": args.first_seed} if args.first_seed else {}),
           **({"protocol": protocol} if protocol is not AUC_PROTOCOL else {}),
           "base": MASKGAE if args.recipe and args.recipe != "featureless" else BASES[args.dataset], "rows": rows}
    SAVED.mkdir(parents=True, exist_ok=True)
    stem = (f"{args.dataset.lower()}-decoder-evidence" if not args.recipe
            else f"{args.dataset.lower()}-{args.recipe}" + ("-recipe" if args.recipe == "maskgae" else ""))
    stem += "-winners" if args.winner_of else ""
    path = SAVED / (f"{stem}-seed{args.first_seed}.json" if args.first_seed else f"{stem}.json")
    out["rows"] = _merged_rows(path, out, list(variants))
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out))


def winner_config(search: Path) -> dict[str, Any]:
    """The hyperparameters of the trial a search selected (after re-selection), as a run config."""
    record = json.loads((search / "search.json").read_text())
    row = next(r for r in record["reselection"] if r["trial"] == record["winner"]["trial"])
    return {key: value for key, value in row["config"].items() if key in RUN_KEYS and key != "seed"}


def _merged_rows(path: Path, out: dict[str, Any], order: list[str]) -> list[dict[str, Any]]:
    """This run's rows, with the other variants' rows of an earlier run on the same splits and seeds
    kept (a --variants run adds to the file rather than replacing it), in the variants' order."""
    rows = {row["variant"]: row for row in out["rows"]}
    if path.exists():
        earlier = json.loads(path.read_text())
        if all(earlier.get(k) == out[k] for k in ("dataset", "split_seeds", "model_seeds", "base")):
            rows = {**{row["variant"]: row for row in earlier["rows"]}, **rows}
    return sorted(rows.values(), key=lambda row: order.index(row["variant"]) if row["variant"] in order else len(order))


if __name__ == "__main__":
    main()
