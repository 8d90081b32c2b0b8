"""Which epoch to keep, on VALIDATION edges only: does the best-validation epoch over-fit a small
validation set, and would a smoothed validation curve pick better weights?

A search's winning configuration is re-trained on split seeds 100-107 (test edges removed, as in
benchmarks/decoder_evidence.py). Its validation edges (and negatives) are cut in two random halves
A and B; every epoch scores both. Each rule picks an epoch from half A's curve alone, and is judged
by half B's AUC at that epoch; then the halves swap roles. Rules: the best epoch (what the trainer
keeps), the best of a trailing mean over W epochs (the weights of the window's last epoch), the
best of a centred mean over W epochs (the centre's weights), the last epoch; and half B's own best
(an unreachable ceiling).

    python benchmarks/epoch_selection.py USAir --edges-dir /tmp/seal --winner-of SEARCH_DIR [--splits 8]
    python benchmarks/epoch_selection.py USAir --edges-dir /tmp/seal --winner-of SEARCH_DIR --set weight_ema=0.9

Prints one line per rule (mean held-out AUC over splits x 2 halves, and how often it beats the best
epoch) and saves docs/results/<graph>-epoch-selection.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

import tune_gae.train.trainer as trainer_module
from tune_gae.config import DataConfig, run_config_from_dict
from tune_gae.data.split import encode_for_run, load_split
from tune_gae.train.allocator import keep_freed_memory
from tune_gae.train.metrics import score_metrics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decoder_evidence import SAVED, SPLIT_SEEDS, winner_config  # noqa: E402

WINDOWS = (3, 5, 9, 15)


def half_curves(split: Any, hyper: dict[str, Any], seed: int) -> tuple[list[float], list[float], list[float]]:
    """Train once; per epoch the AUC on validation half A, half B, and on all of it."""
    split, hyper = encode_for_run(split, {**hyper, "seed": seed})
    model_config, train_config = run_config_from_dict(hyper, in_channels=split.num_features)
    generator = torch.Generator().manual_seed(1000 + seed)
    curves: tuple[list[float], list[float], list[float]] = ([], [], [])
    original = trainer_module.link_metrics

    def recording(decoder: torch.nn.Module, z: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, float]:
        """The trainer's link_metrics (uniform negatives: ``neg`` is [2, N]), also scoring each half."""
        was_training = decoder.training
        decoder.eval()
        with torch.no_grad():
            pos_scores, neg_scores = decoder.logits_of(z, [pos, neg])
        decoder.train(was_training)
        curves[0].append(score_metrics(pos_scores[pos_half], neg_scores[neg_half])["auc"])
        curves[1].append(score_metrics(pos_scores[~pos_half], neg_scores[~neg_half])["auc"])
        metrics = score_metrics(pos_scores, neg_scores)
        curves[2].append(metrics["auc"])
        return metrics

    pos_half = torch.randperm(split.val_pos.size(1), generator=generator) % 2 == 0
    neg_half = torch.randperm(split.val_neg.size(1), generator=generator) % 2 == 0
    trainer_module.link_metrics = recording
    try:
        trainer = trainer_module.Trainer(split, model_config, train_config)
        while not trainer.done:
            trainer.step()
    finally:
        trainer_module.link_metrics = original
    return curves


def trailing(curve: list[float], window: int) -> list[float]:
    return [statistics.fmean(curve[max(0, i - window + 1): i + 1]) for i in range(len(curve))]


def centred(curve: list[float], window: int) -> list[float]:
    half = window // 2
    return [statistics.fmean(curve[max(0, i - half): i + half + 1]) for i in range(len(curve))]


def argmax(values: list[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))


def picks(curve: list[float]) -> dict[str, int]:
    """Each rule's chosen epoch index from one half's curve."""
    chosen = {"best epoch": argmax(curve), "last epoch": len(curve) - 1}
    for window in WINDOWS:
        chosen[f"trailing mean {window}"] = argmax(trailing(curve, window))
        chosen[f"centred mean {window}"] = argmax(centred(curve, window))
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("graph")
    parser.add_argument("--edges-dir", required=True)
    parser.add_argument("--winner-of", required=True, metavar="SEARCH_DIR")
    parser.add_argument("--splits", type=int, default=8)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one of the winner's hyperparameters (a number), e.g. weight_ema=0.9; "
                             "saved as <graph>-epoch-selection-KEY-VALUE.json")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    overrides = {key: float(value) for key, value in (item.split("=", 1) for item in args.set)}
    hyper = {**winner_config(Path(args.winner_of)), **overrides}
    held_out: dict[str, list[float]] = {}
    runs = []
    for split_seed in SPLIT_SEEDS[: args.splits]:
        split = load_split(DataConfig(f"{args.edges_dir}/{args.graph}/edges.csv", split_seed=split_seed,
                                      val_ratio=0.05, test_ratio=0.10)).without_test()
        a, b, full = half_curves(split, hyper, seed=0)
        runs.append({"split_seed": split_seed, "epochs": len(full), "half_a": a, "half_b": b, "all": full})
        for select, judge in ((a, b), (b, a)):
            for rule, epoch in {**picks(select), "held-out half's own best": argmax(judge)}.items():
                held_out.setdefault(rule, []).append(judge[epoch])
        print(f"split {split_seed}: {len(full)} epochs, best epoch on all {argmax(full) + 1}", flush=True)
    base = held_out["best epoch"]
    rows = [{"rule": rule, "mean": statistics.fmean(values),
             "beats_best_epoch": sum(v > b for v, b in zip(values, base)),
             "below_best_epoch": sum(v < b for v, b in zip(values, base)), "values": values}
            for rule, values in held_out.items()]
    for row in rows:
        print(f"{row['rule']:<26} held-out AUC {100 * row['mean']:.2f}  above / below the best epoch "
              f"{row['beats_best_epoch']} / {row['below_best_epoch']} of {len(base)}")
    out = {"graph": args.graph, "search": Path(args.winner_of).name, "config": hyper,
           "split_seeds": list(SPLIT_SEEDS[: args.splits]), "rows": rows, "runs": runs}
    SAVED.mkdir(parents=True, exist_ok=True)
    suffix = "".join(f"-{key}-{value:g}" for key, value in overrides.items())
    (SAVED / f"{args.graph.lower()}-epoch-selection{suffix}.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
