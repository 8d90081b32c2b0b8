"""MaskGAE's own code, run on MaskGAE's one split and on the 10 fresh splits tune-gae's tables use.

Issue #22 sets tune-gae's Cora/CiteSeer bars at MaskGAE's published AUCs (96.66 / 98.00), which
its ``train_linkpred.py`` computes on ONE split (``set_seed(2022)``, then PyG's
``RandomLinkSplit(num_val=0.05, num_test=0.1)``), 10 runs that train on from each other's weights,
test edges scored on the training + validation edges. tune-gae's tables use 10 fresh seeded splits
(``tune-gae evaluate --resplit``, split seeds 1-10) scored on the training edges. This script runs
MaskGAE's own model, loss, masking and training loop (imported unchanged from a checkout of
EdisonLeeeee/MaskGAE) both ways, so the bar and tune-gae's number can be read on one protocol:

- ``--protocol one-split``: MaskGAE's script as written (its README's command, ``--bn``);
- ``--protocol fresh``: the same model and settings, a fresh model per split, on tune-gae's
  split seeds 1..``--splits`` (``tune_gae.data.split.split_edges``, 85/5/10, uniform negatives),
  each run's test AUC scored on both test graphs;
- ``--protocol validation``: validation AUC only, on the split seeds that shaped tune-gae's spaces
  (``decoder_evidence.SPLIT_SEEDS``, test edges removed), to compare with tune-gae's models there.
  ``--mask Undirected`` swaps MaskGAE's masking for tune-gae's ``mask_kind: edge`` semantics (each
  undirected edge hidden in both directions with probability ``--p``, the hidden edges the
  positives, each once); MaskGAE masks directed edges and makes the rest undirected again, so an
  edge leaves the encoder's graph only when both directions are masked, and every masked direction
  is a positive.

Two shims, because this machine has neither of MaskGAE's compiled dependencies: a pure-torch
``random_walk`` with torch-cluster's signature and semantics for path masking (uniform next hop,
p = q = 1; a node without neighbours stays put and its step's edge id is -1), and a
``torch_sparse.SparseTensor`` whose ``from_edge_index`` hands the edge index back (MaskGAE's
encoder turns its undirected, self-loop-free edge index into a sparse adjacency for ``GCNConv``;
``GCNConv`` normalises and aggregates an edge index the same way).

    git clone https://github.com/EdisonLeeeee/MaskGAE DIR
    python benchmarks/maskgae_own_code.py CiteSeer --maskgae-dir DIR --protocol fresh

Prints a line per run and a summary; saves docs/results/<graph>-maskgae-own-<protocol>-<mask>.json.
``--compare NAME`` runs nothing: it sets a saved ``fresh`` run beside a tune-gae model's runs on the
same splits (``docs/results/NAME-test-graph.json``, from ``compare_test_graphs.py``), split by split,
after checking that both runs' split hashes are the same.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch_geometric.transforms as T
from torch import Tensor
from torch_geometric.data import Data

from tune_gae.config import DataConfig
from tune_gae.data.sources import load_graph
from tune_gae.data.split import split_edges

SAVED = Path(__file__).resolve().parent.parent / "docs" / "results"

# train_linkpred.py's defaults and the README's Cora/CiteSeer command (``--bn``).
SETTINGS: dict[str, Any] = {
    "encoder_channels": 128, "hidden_channels": 128, "decoder_channels": 64, "encoder_layers": 1,
    "decoder_layers": 2, "encoder_dropout": 0.8, "decoder_dropout": 0.2, "alpha": 0.003, "lr": 0.01,
    "weight_decay": 5e-5, "batch_size": 2 ** 16, "p": 0.7, "start": "edge", "epochs": 500,
    "eval_period": 10, "bn": True, "layer": "gcn", "encoder_activation": "elu", "seed": 2022,
}


def random_walk(rowptr: Tensor, col: Tensor, start: Tensor, walk_length: int,
                p: float = 1.0, q: float = 1.0) -> tuple[Tensor, Tensor]:
    """torch-cluster's ``random_walk`` for p = q = 1: ``(nodes [S, L + 1], edge ids [S, L])``."""
    if p != 1.0 or q != 1.0:
        raise ValueError("this stand-in walks uniformly (p = q = 1) only")
    node = start.clone()
    nodes, edges = [node], []
    for _ in range(walk_length):
        first = rowptr[node]
        deg = rowptr[node + 1] - first
        offset = torch.minimum((torch.rand(node.numel()) * deg).long(), (deg - 1).clamp(min=0))
        edge = torch.where(deg > 0, first + offset, torch.full_like(first, -1))
        node = torch.where(deg > 0, col[edge.clamp(min=0)], node)
        nodes.append(node)
        edges.append(edge)
    return torch.stack(nodes, 1), torch.stack(edges, 1)


class EdgeIndexAdjacency:
    """Stands in for ``torch_sparse.SparseTensor`` where MaskGAE builds one from an edge index."""

    @staticmethod
    def from_edge_index(edge_index: Tensor, sparse_sizes: tuple[int, int] | None = None) -> Tensor:
        return edge_index


class UndirectedEdgeMask(torch.nn.Module):
    """tune-gae's edge masking in MaskGAE's mask interface: ``(remaining [2, 2E'], masked [2, M])``."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, edge_index: Tensor) -> tuple[Tensor, Tensor]:
        pos = edge_index[:, edge_index[0] < edge_index[1]]
        hidden = torch.rand(pos.size(1)) < self.p
        kept = pos[:, ~hidden]
        return torch.cat([kept, kept.flip(0)], dim=1), pos[:, hidden]


def import_maskgae(checkout: Path) -> types.ModuleType:
    """MaskGAE's package from a checkout, with the two shims above."""
    if not (checkout / "maskgae" / "model.py").is_file():
        raise SystemExit(f"error: {checkout} holds no maskgae/model.py: pass a checkout of "
                         "EdisonLeeeee/MaskGAE with --maskgae-dir")
    if "torch_sparse" not in sys.modules:
        try:
            import torch_sparse  # noqa: F401
        except ImportError:
            sys.modules["torch_sparse"] = types.SimpleNamespace(SparseTensor=EdgeIndexAdjacency)  # type: ignore[assignment]
    sys.path.insert(0, str(checkout))
    import maskgae.mask
    import maskgae.model
    if maskgae.mask.random_walk is None:
        maskgae.mask.random_walk = random_walk
    return maskgae


def set_seed(seed: int) -> None:
    """MaskGAE's ``utils.set_seed`` (CPU part)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(maskgae: types.ModuleType, num_features: int, num_nodes: int, mask: str) -> torch.nn.Module:
    """train_linkpred.py's model, as its command line builds it."""
    s = SETTINGS
    model_module = maskgae.model
    if mask == "Undirected":
        masker = UndirectedEdgeMask(p=s["p"])
    elif mask == "Path":
        masker = maskgae.mask.MaskPath(p=s["p"], num_nodes=num_nodes, start=s["start"],
                                       walk_length=s["encoder_layers"] + 1)
    else:
        masker = maskgae.mask.MaskEdge(p=s["p"])
    encoder = model_module.GNNEncoder(num_features, s["encoder_channels"], s["hidden_channels"],
                                      num_layers=s["encoder_layers"], dropout=s["encoder_dropout"],
                                      bn=s["bn"], layer=s["layer"], activation=s["encoder_activation"])
    edge_decoder = model_module.EdgeDecoder(s["hidden_channels"], s["decoder_channels"],
                                            num_layers=s["decoder_layers"], dropout=s["decoder_dropout"])
    degree_decoder = model_module.DegreeDecoder(s["hidden_channels"], s["decoder_channels"],
                                                num_layers=s["decoder_layers"], dropout=s["decoder_dropout"])
    return model_module.MaskGAE(encoder, edge_decoder, degree_decoder, masker)


def train_run(model: torch.nn.Module, train: Data, valid: Data, tests: dict[str, Data]) -> dict[str, Any]:
    """train_linkpred.py's ``train_linkpred``: train, keep the best validation AUC's weights, test."""
    s = SETTINGS
    optimizer = torch.optim.Adam(model.parameters(), lr=s["lr"], weight_decay=s["weight_decay"])
    best_valid, best_epoch, best_state = 0.0, 0, None
    for epoch in range(1, s["epochs"] + 1):
        model.train_step(train, optimizer, alpha=s["alpha"], batch_size=s["batch_size"])
        if epoch % s["eval_period"] == 0:
            valid_auc, _ = model.test_step(valid, valid.pos_edge_label_index, valid.neg_edge_label_index,
                                           batch_size=s["batch_size"])
            if valid_auc > best_valid:
                best_valid, best_epoch = valid_auc, epoch
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    row: dict[str, Any] = {"val_auc": float(best_valid), "best_epoch": best_epoch}
    for graph, data in tests.items():
        auc, ap = model.test_step(data, data.pos_edge_label_index, data.neg_edge_label_index,
                                  batch_size=s["batch_size"])
        row[f"test_auc[{graph}]"], row[f"test_ap[{graph}]"] = float(auc), float(ap)
    return row


def labelled(x: Tensor, edge_index: Tensor, pos: Tensor, neg: Tensor) -> Data:
    return Data(x=x, edge_index=edge_index, pos_edge_label_index=pos, neg_edge_label_index=neg,
                num_nodes=x.size(0))


def own_protocol(maskgae: types.ModuleType, graph: Data, mask: str, runs: int) -> list[dict[str, Any]]:
    """MaskGAE's script: seed 2022, one RandomLinkSplit, one model trained on across ``runs``."""
    set_seed(SETTINGS["seed"])
    data = T.ToUndirected()(Data(x=graph.x, edge_index=graph.edge_index, num_nodes=graph.num_nodes))
    train, valid, test = T.RandomLinkSplit(num_val=0.05, num_test=0.1, is_undirected=True, split_labels=True,
                                           add_negative_train_samples=False)(data)
    on_train = labelled(test.x, train.edge_index, test.pos_edge_label_index, test.neg_edge_label_index)
    model = build_model(maskgae, graph.num_features, graph.num_nodes, mask)
    rows = []
    for run in range(1, runs + 1):
        row = {"run": run, **train_run(model, train, valid, {"train+val": test, "train": on_train})}
        rows.append(row)
        report(row, f"run {run}")
    return rows


def fresh_protocol(maskgae: types.ModuleType, graph: Data, mask: str, splits: int) -> list[dict[str, Any]]:
    """A fresh MaskGAE per tune-gae split seed 1..``splits``, test edges scored on both graphs."""
    rows = []
    for split_seed in range(1, splits + 1):
        split = split_edges(graph, val_ratio=0.05, test_ratio=0.10, seed=split_seed)
        train_index = split.known_edge_index("train")
        train = Data(x=split.x, edge_index=train_index, num_nodes=split.num_nodes)
        valid = labelled(split.x, train_index, split.val_pos, split.val_neg)
        tests = {graph_name: labelled(split.x, split.known_edge_index(graph_name), split.test_pos, split.test_neg)
                 for graph_name in ("train", "train+val")}
        set_seed(SETTINGS["seed"] + split_seed)
        model = build_model(maskgae, split.num_features, split.num_nodes, mask)
        row = {"split_seed": split_seed, "split_hash": split.split_hash, **train_run(model, train, valid, tests)}
        rows.append(row)
        report(row, f"split {split_seed}")
    return rows


def validation_protocol(maskgae: types.ModuleType, dataset: str, data_root: str | None, mask: str,
                        splits: int) -> list[dict[str, Any]]:
    """Validation AUC on tune-gae's shaping splits (test edges removed), a fresh model per split."""
    from decoder_evidence import SPLIT_SEEDS

    from tune_gae.data.split import load_split
    rows = []
    for split_seed in SPLIT_SEEDS[:splits]:
        split = load_split(DataConfig(dataset, root=data_root, split_seed=split_seed, val_ratio=0.05,
                                      test_ratio=0.10)).without_test()
        train_index = split.known_edge_index("train")
        train = Data(x=split.x, edge_index=train_index, num_nodes=split.num_nodes)
        valid = labelled(split.x, train_index, split.val_pos, split.val_neg)
        set_seed(SETTINGS["seed"] + split_seed)
        model = build_model(maskgae, split.num_features, split.num_nodes, mask)
        row = {"split_seed": split_seed, "split_hash": split.split_hash, **train_run(model, train, valid, {})}
        rows.append(row)
        print(f"  split {split_seed}: val AUC {100 * row['val_auc']:.2f} (epoch {row['best_epoch']})", flush=True)
    return rows


def report(row: dict[str, Any], label: str) -> None:
    print(f"  {label}: val AUC {100 * row['val_auc']:.2f} (epoch {row['best_epoch']}), test AUC on train "
          f"{100 * row['test_auc[train]']:.2f}, on train+val {100 * row['test_auc[train+val]']:.2f}", flush=True)


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out = {}
    for key in ("val_auc", "test_auc[train]", "test_auc[train+val]", "test_ap[train]", "test_ap[train+val]"):
        values = [r[key] for r in rows if key in r]
        if not values:
            continue
        out[key] = {"mean": statistics.fmean(values),
                    "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                    "pstd": statistics.pstdev(values)}
    return out


def compare(dataset: str, mask: str, name: str) -> None:
    """MaskGAE's saved fresh-split runs beside a tune-gae model's, split by split (test AUC %)."""
    ours = json.loads((SAVED / f"{name}-test-graph.json").read_text())
    theirs = json.loads((SAVED / f"{dataset.lower()}-maskgae-own-fresh-{mask.lower()}.json").read_text())
    by_seed = {row["split_seed"]: row for row in theirs["rows"]}
    print(f"{dataset}: MaskGAE's own code (mask {mask}) and {name}, test AUC % per split")
    print("split | MaskGAE, training edges | ours | MaskGAE, train+val | ours")
    diffs: dict[str, list[float]] = {"train": [], "train+val": []}
    for run in ours["runs"]:
        mine = by_seed[run["split_seed"]]
        if mine["split_hash"] != run.get("split_hash", mine["split_hash"]):
            raise SystemExit(f"error: split {run['split_seed']} differs between the two files")
        cells = []
        for graph in diffs:
            a, b = 100 * mine[f"test_auc[{graph}]"], 100 * run[graph]["test_auc"]
            diffs[graph].append(b - a)
            cells += [f"{a:.2f}", f"{b:.2f}"]
        print(f"{run['split_seed']} | " + " | ".join(cells))
    for graph, values in diffs.items():
        wins = sum(v > 0 for v in values)
        print(f"{graph}: ours minus MaskGAE's {statistics.fmean(values):+.2f} (ours higher on {wins} of {len(values)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", help="Cora or CiteSeer")
    parser.add_argument("--maskgae-dir", type=Path, default=None, help="a checkout of EdisonLeeeee/MaskGAE")
    parser.add_argument("--protocol", choices=["one-split", "fresh", "validation"], default="fresh")
    parser.add_argument("--mask", choices=["Path", "Edge", "Undirected"], default="Path",
                        help="train_linkpred.py's --mask, or Undirected: tune-gae's edge masking")
    parser.add_argument("--p", type=float, default=SETTINGS["p"], help="train_linkpred.py's --p (mask ratio)")
    parser.add_argument("--splits", type=int, default=10, help="fresh: split seeds 1..N")
    parser.add_argument("--runs", type=int, default=10, help="one-split: chained runs on the one split")
    parser.add_argument("--epochs", type=int, default=SETTINGS["epochs"])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument("--compare", metavar="NAME", default=None,
                        help="run nothing: set the saved fresh run beside docs/results/NAME-test-graph.json")
    args = parser.parse_args()
    if args.compare:
        compare(args.dataset, args.mask, args.compare)
        return
    if args.maskgae_dir is None:
        parser.error("--maskgae-dir is required to run MaskGAE's code")
    SETTINGS["epochs"], SETTINGS["p"] = args.epochs, args.p
    maskgae = import_maskgae(args.maskgae_dir.expanduser().resolve())
    started = time.time()
    graph = load_graph(DataConfig(dataset=args.dataset, root=args.data_root))
    print(f"MaskGAE's own code, {args.dataset}, mask {args.mask}, protocol {args.protocol}:", flush=True)
    if args.protocol == "one-split":
        rows = own_protocol(maskgae, graph, args.mask, args.runs)
    elif args.protocol == "validation":
        rows = validation_protocol(maskgae, args.dataset, args.data_root, args.mask, args.splits)
    else:
        rows = fresh_protocol(maskgae, graph, args.mask, args.splits)
    summary = summarise(rows)
    for key, value in summary.items():
        print(f"{key}: {100 * value['mean']:.2f} ± {100 * value['std']:.2f} (sample std; population "
              f"{100 * value['pstd']:.2f})")
    out = {"dataset": args.dataset, "protocol": args.protocol, "mask": args.mask, "settings": SETTINGS,
           "torch": torch.__version__, "summary": summary, "rows": rows,
           "wall_seconds": round(time.time() - started, 1)}
    if not args.no_save:
        ratio = "" if args.p == 0.7 else f"-p{args.p:g}"
        name = f"{args.dataset.lower()}-maskgae-own-{args.protocol}-{args.mask.lower()}{ratio}.json"
        (SAVED / name).write_text(json.dumps(out, indent=1) + "\n")
        print(f"saved docs/results/{name}")


if __name__ == "__main__":
    main()
