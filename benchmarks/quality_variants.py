"""Options tried for result quality (issue #14) that are NOT in tune-gae, on VALIDATION edges only.

A prototype of the linear GAE (one GCN propagation of the raw features to the latent space, the
inner-product decoder, masked-edge reconstruction, edge dropout, patience on validation AUC) in plain
torch, with switches for what the issue lists and tune-gae does not ship: K-hop (SGC) and
personalised-PageRank (APPNP) propagation, a feature skip connection, a pairwise (AUC) loss, a
cosine learning-rate schedule, more training negatives, learnable node embeddings added to the input
projection, a wider latent space, a hidden GCN layer; and, as reference points, the two options
that ship (``norm``: embedding_norm; ``members``: ensemble).

Each variant changes one thing of a base configuration (the default search's exported winners in
docs/results.md at commit 0528d24) and trains on split seeds 100-103 (not the search's split 0, not
the fresh test splits 1-10), 2 model seeds each; test edges are removed before training.

    python benchmarks/quality_variants.py Cora [--data-root DIR]     # then CiteSeer
    python benchmarks/quality_variants.py --table    # docs/results.md's table from the saved JSON

Prints one line per variant (mean ± std of 8 validation AUCs, mean best epoch, seconds), then JSON,
which it also saves as docs/results/<dataset>-quality-variants.json.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from tune_gae.config import DataConfig
from tune_gae.data.split import LinkSplit, load_split
from tune_gae.nn.pairs import score_pairs
from tune_gae.nn.sparse import GCNGraph, SparseOperator, _dense_to_csr
from tune_gae.train.metrics import score_metrics

SAVED = Path(__file__).resolve().parent.parent / "docs" / "results"
SPLIT_SEEDS = (100, 101, 102, 103)
MODEL_SEEDS = 2
BASES = {
    "Cora": {"lr": 0.00285, "dropout": 0.4, "edge_dropout": 0.09, "neg": 3, "mask": 0.25, "patience": 20},
    "CiteSeer": {"lr": 0.0046, "dropout": 0.54, "edge_dropout": 0.18, "neg": 1, "mask": 0.75, "patience": 10},
}
VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},
    "hops 2 (SGC)": {"hops": 2},
    "hops 3 (SGC)": {"hops": 3},
    "APPNP alpha 0.1, 10 hops": {"hops": 10, "alpha": 0.1},
    "APPNP alpha 0.2, 10 hops": {"hops": 10, "alpha": 0.2},
    "feature skip": {"skip": 1.0},
    "pairwise AUC loss": {"loss": "auc"},
    "cosine lr schedule": {"schedule": "cosine", "epochs": 200},
    "patience 40": {"patience": 40},
    "10 negatives per edge": {"neg": 10},
    "node embeddings (init 0.01)": {"embedding": 0.01},
    "latent 512": {"latent": 512},
    "hidden GCN layer 256": {"hidden": 256},
    "[ships] embedding_norm 3, lr 0.01": {"norm": 3.0, "lr": 0.01},
    "[ships] ensemble 3": {"members": 3},
}


def dropout(t: Tensor, p: float, generator: torch.Generator) -> Tensor:
    if p <= 0:
        return t
    return t * torch.empty_like(t).bernoulli_(1 - p, generator=generator) / (1 - p)


class Prototype(torch.nn.Module):
    """``members`` linear (or one-hidden-layer) GCN encoders with the switches above."""

    def __init__(self, in_channels: int, num_nodes: int, cfg: dict[str, Any]) -> None:
        super().__init__()
        self.cfg = cfg
        latent, hidden, members = cfg.get("latent", 256), cfg.get("hidden", 0), cfg.get("members", 1)
        self.out = torch.nn.ModuleList(torch.nn.Linear(hidden or in_channels, latent) for _ in range(members))
        self.hidden = torch.nn.ModuleList(torch.nn.Linear(in_channels, hidden) for _ in range(members)) if hidden else None
        self.skip = (torch.nn.ModuleList(torch.nn.Linear(in_channels, latent, bias=False) for _ in range(members))
                     if cfg.get("skip") else None)
        self.embedding = (torch.nn.Parameter(torch.randn(members, num_nodes, latent) * cfg["embedding"])
                          if cfg.get("embedding") else None)

    def forward(self, x: SparseOperator, adjacency: SparseOperator, generator: torch.Generator,
                train: bool) -> list[Tensor]:
        cfg, p = self.cfg, self.cfg.get("dropout", 0.0) if train else 0.0
        outputs = []
        for m, out in enumerate(self.out):
            xd = x.with_values(dropout(x.matrix.values(), p, generator)) if p else x
            if self.hidden is not None:
                h = (adjacency @ (xd @ self.hidden[m].weight.t()) + self.hidden[m].bias).relu()
                base = dropout(h, p, generator) @ out.weight.t()
            else:
                base = xd @ out.weight.t()
            if self.embedding is not None:
                base = base + self.embedding[m]
            z, alpha = base, cfg.get("alpha", 0.0)
            total = alpha * base if alpha else None
            for k in range(cfg.get("hops", 1)):
                z = adjacency @ z
                if alpha:
                    total = total + alpha * (1 - alpha) ** (k + 1) * z
            z = (total if alpha else z) + out.bias
            if self.skip is not None:
                z = z + cfg["skip"] * (xd @ self.skip[m].weight.t())
            if cfg.get("norm"):
                z = cfg["norm"] * torch.nn.functional.normalize(z, dim=1)
            outputs.append(z)
        return outputs


def loss_of(z: Tensor, pos: Tensor, neg: Tensor, cfg: dict[str, Any]) -> Tensor:
    pos_scores, neg_scores = score_pairs(z, pos), score_pairs(z, neg)
    if cfg.get("loss") == "auc":  # each positive against its own negatives, a smooth margin of 1
        return torch.nn.functional.softplus(1 - (pos_scores[None] - neg_scores.view(cfg["neg"], -1))).mean()
    return torch.nn.functional.softplus(-pos_scores).mean() + torch.nn.functional.softplus(neg_scores).mean()


def run(split: LinkSplit, cfg: dict[str, Any], seed: int) -> tuple[float, int]:
    """Best validation AUC and its epoch."""
    n = split.num_nodes
    x = SparseOperator(_dense_to_csr(split.x))
    edges = split.train_edge_index
    graph = GCNGraph(edges, n)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed + 7919)
    model = Prototype(split.x.size(1), n, cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    num_edges = edges.size(1) // 2
    best, best_epoch, epoch, epochs = -1.0, 0, 0, cfg.get("epochs", 300)
    while epoch < epochs and epoch - best_epoch < cfg["patience"]:
        if cfg.get("schedule") == "cosine":
            for group in optimizer.param_groups:
                group["lr"] = cfg["lr"] * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
        model.train()
        optimizer.zero_grad()
        masked = torch.rand(num_edges, generator=generator) < cfg["mask"]
        pos = edges[:, :num_edges][:, masked]
        keep = ~masked & (torch.rand(num_edges, generator=generator) >= cfg["edge_dropout"])
        outputs = model(x, graph.operator(keep.repeat(2).float()), generator, True)
        count = cfg["neg"] * pos.size(1)
        src = torch.randint(0, n, (count,), generator=generator)
        neg = torch.stack([src, (src + torch.randint(1, n, (count,), generator=generator)) % n])
        sum(loss_of(z, pos, neg, cfg) for z in outputs).backward()
        optimizer.step()
        epoch += 1
        model.eval()
        with torch.no_grad():
            z = torch.cat(model(x, graph.operator(), generator, False), dim=1)
            auc = score_metrics(score_pairs(z, split.val_pos), score_pairs(z, split.val_neg))["auc"]
        if auc > best:
            best, best_epoch = auc, epoch
    return best, best_epoch


def table() -> list[str]:
    """Both datasets' saved rows side by side: validation AUC and its change from the base row."""
    saved = {d: json.loads((SAVED / f"{d.lower()}-quality-variants.json").read_text()) for d in BASES}
    lines = ["| variant (one change from the base) | " + " | ".join(f"{d}: val AUC, % (change)" for d in saved) + " |",
             "|---|" + "---|" * len(saved)]
    rows = {d: {row["variant"]: row for row in record["rows"]} for d, record in saved.items()}
    for name in VARIANTS:
        cells = []
        for d in saved:
            row, base = rows[d][name], rows[d]["base"]
            change = "" if name == "base" else f" ({row['mean'] - base['mean']:+.2f})"
            cells.append(f"{row['mean']:.2f} ± {row['std']:.2f}{change}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", nargs="?", choices=sorted(BASES))
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--table", action="store_true", help="print the markdown table of the saved runs")
    args = parser.parse_args()
    if args.table or args.dataset is None:
        print("\n".join(table()))
        return
    torch.set_num_threads(1)
    splits = {s: load_split(DataConfig(args.dataset, root=args.data_root, split_seed=s)).without_test()
              for s in SPLIT_SEEDS}
    rows = []
    for name, change in VARIANTS.items():
        cfg = {**BASES[args.dataset], **change}
        started = time.perf_counter()
        runs = [run(splits[s], cfg, seed) for s in SPLIT_SEEDS for seed in range(MODEL_SEEDS)]
        values = [100 * v for v, _ in runs]
        rows.append({"variant": name, "change": change, "runs": len(runs), "mean": statistics.fmean(values),
                     "std": statistics.stdev(values), "best_epoch": statistics.fmean(e for _, e in runs),
                     "seconds": time.perf_counter() - started})
        print(f"{args.dataset} {name:34s} val AUC {rows[-1]['mean']:.2f} ± {rows[-1]['std']:.2f} "
              f"(best epoch {rows[-1]['best_epoch']:.0f}, {rows[-1]['seconds']:.0f} s)", flush=True)
    record = json.dumps({"dataset": args.dataset, "split_seeds": SPLIT_SEEDS, "model_seeds": MODEL_SEEDS,
                         "base": BASES[args.dataset], "rows": rows})
    (SAVED / f"{args.dataset.lower()}-quality-variants.json").write_text(record + "\n")
    print(record)

if __name__ == "__main__":
    main()
