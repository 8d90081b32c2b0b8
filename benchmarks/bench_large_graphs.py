"""Featureless graphs of 1e5, 1e6 and 1e7 edges: ms per epoch and peak memory with learnable embeddings.

Each size runs in a fresh subprocess (its peak RSS is its own): a seeded synthetic graph without
features (``synthetic:nodes=N,degree=20``: a stochastic block model; features dropped), the
default 85/5/10 split, a learnable embedding per node (``node_inputs("embedding", ...)``: a
sparse identity into the first layer), then ``Trainer`` epochs (train + validation). Reported:
setup seconds (graph, split, inputs, trainer), mean ms per epoch after the first, peak RSS, and
the pre-trial estimate of ``tune_gae.search.memory.estimate_trial_bytes`` beside it.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_large_graphs.py                       # 1e5 and 1e6 edges
    .venv/bin/python benchmarks/bench_large_graphs.py --sizes 1e5,1e6,1e7   # the 1e7 case too
    .venv/bin/python benchmarks/bench_large_graphs.py --decoder ncn         # another decoder (rows per decoder)
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MEAN_DEGREE = 20
EPOCHS = {100_000: 10, 1_000_000: 5, 10_000_000: 3}
MODEL = {"encoder": "gcn", "hidden_channels": (64,), "latent_channels": 32}
RESULTS_FILE = Path(__file__).resolve().parent / "large_graphs.json"


def featureless_split(edges: int) -> Any:
    """A seeded featureless synthetic graph of about ``edges`` edges (mean degree ``MEAN_DEGREE``),
    split 85/5/10, its inputs a learnable embedding per node (also used by bench_gpu.py)."""
    from dataclasses import replace

    from tune_gae.data import split_edges, synthetic_graph
    from tune_gae.data.features import node_inputs

    nodes = 2 * edges // MEAN_DEGREE
    graph = synthetic_graph(f"synthetic:nodes={nodes},degree={MEAN_DEGREE},features=1")
    split = split_edges(graph, val_ratio=0.05, test_ratio=0.10, seed=0)
    return replace(split, x=node_inputs("embedding", features=None, train_pos=split.train_pos, num_nodes=nodes))


def run_one(edges: int, epochs: int, threads: int, decoder: str = "inner_product") -> dict[str, Any]:
    """One size, in this process: build, split, train ``epochs`` epochs, measure."""
    import torch

    from tune_gae.allocator import keep_freed_memory
    from tune_gae.config import ModelConfig, TrainConfig
    from tune_gae.search.memory import common_neighbour_entries, estimate_trial_bytes
    from tune_gae.training import Trainer

    keep_freed_memory()
    torch.set_num_threads(threads)
    started = time.perf_counter()
    split = featureless_split(edges)
    x, nodes = split.x, split.num_nodes
    model_config = ModelConfig(in_channels=x.size(1), normalize_features=False, decoder=decoder, **MODEL)
    trainer = Trainer(split, model_config, TrainConfig(lr=0.01, epochs=epochs), device="cpu")
    setup = time.perf_counter() - started
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        row = trainer.step()
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    estimate = estimate_trial_bytes(
        num_nodes=nodes,
        num_train_edges=int(split.train_pos.size(1)),
        input_width=x.size(1),
        input_nonzeros=int(x._nnz()),
        hidden_widths=MODEL["hidden_channels"],
        latent_width=MODEL["latent_channels"],
        decoder=decoder,
        decoder_layers=model_config.decoder_layers,
        decoder_width=model_config.decoder_width,
        neighbour_entries=common_neighbour_entries(split.train_pos, nodes, 1) if decoder == "ncn" else 0,
    )
    steady = times[1:] or times
    return {
        "size": edges,
        "decoder": decoder,
        "edges": int(split.train_pos.size(1) + split.val_pos.size(1) + split.test_pos.size(1)),
        "nodes": nodes,
        "train_edges": int(split.train_pos.size(1)),
        "epochs": epochs,
        "threads": threads,
        "setup_s": round(setup, 2),
        "first_epoch_ms": round(1000 * times[0], 1),
        "ms_per_epoch": round(1000 * sum(steady) / len(steady), 1),
        "peak_rss_gib": round(peak / 2**30, 2),
        "estimate_gib": round(estimate / 2**30, 2),
        "val_auc_last": round(float(row["val_auc"]), 4),
    }


def markdown() -> list[str]:
    """Its section of RESULTS.md (issue #12), from ``large_graphs.json`` (none when it never ran)."""
    if not RESULTS_FILE.is_file():
        return []
    record = json.loads(RESULTS_FILE.read_text())
    rows = [r for r in record["rows"] if "error" not in r]
    lines = [
        "## Featureless large graphs: learnable embeddings from 1e5 to 1e7 edges",
        "",
        f"`{record['command']}` ({record['date']}; saved in `benchmarks/large_graphs.json`). Each size in a fresh "
        f"process: a seeded featureless synthetic graph (mean degree {MEAN_DEGREE}), the 85/5/10 split, a learnable "
        "embedding per node (a sparse identity block into the first layer), GCN 64 -> latent 32, GAE, lr 0.01, "
        f"{rows[0]['threads'] if rows else '?'} threads; an epoch is a training step plus validation. Peak = max RSS "
        "of the process; estimate = what `tune_gae.search.memory.estimate_trial_bytes` predicts before a search "
        "starts (the search refuses, exit 2, when trials would not fit).",
        "",
        "| edges | decoder | nodes | ms / epoch (after the first) | first epoch ms | setup s | peak RSS GiB "
        "| pre-trial estimate GiB |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[f"| {r['edges']:,} | {r.get('decoder', 'inner_product')} | {r['nodes']:,} | {r['ms_per_epoch']:,} | "
          f"{r['first_epoch_ms']:,} | {r['setup_s']} | {r['peak_rss_gib']} | {r['estimate_gib']} |" for r in rows],
        *[f"| {r['edges']:,} | {r.get('decoder', 'inner_product')} | failed: {r['error']} | | | | | |"
          for r in record["rows"] if "error" in r],
        "",
    ]
    if rows:
        largest = max(rows, key=lambda r: r["edges"])
        over = [100 * (r["estimate_gib"] / r["peak_rss_gib"] - 1) for r in rows]
        lines += [f"Largest: {largest['edges']:,} edges in {largest['peak_rss_gib']} GiB peak (target: within 24 GiB). "
                  f"The estimate is {min(over):+.0f} % to {max(over):+.0f} % of the measured peaks.", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e5,1e6", help="edge counts, comma-separated (1e5,1e6,1e7)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--decoder", default="inner_product", help="inner_product, hadamard_mlp or ncn (defaults)")
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)  # child mode: one size
    parser.add_argument("--epochs", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(int(args.one), args.epochs, args.threads, args.decoder)))
        return
    rows = []
    for size in (int(float(s)) for s in args.sizes.split(",")):
        epochs = EPOCHS.get(size, 3)
        child = subprocess.run(
            [sys.executable, __file__, "--one", str(size), "--epochs", str(epochs), "--threads", str(args.threads),
             "--decoder", args.decoder],
            capture_output=True, text=True, check=False,
        )
        if child.returncode != 0:
            rows.append({"size": size, "decoder": args.decoder, "edges": size, "error": child.stderr.strip().splitlines()[-1:], "returncode": child.returncode})
        else:
            rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    record = {
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "model": {k: list(v) if isinstance(v, tuple) else v for k, v in MODEL.items()},
        "command": " ".join(["python", "benchmarks/bench_large_graphs.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "rows": rows,
    }
    old = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.is_file() else {"rows": []}
    def key(row: dict[str, Any]) -> tuple[int, str]:  # rows from before --decoder are the inner product's
        return row["size"], row.get("decoder", "inner_product")

    merged = {key(r): r for r in old.get("rows", [])} | {key(r): r for r in rows}
    record["rows"] = [merged[k] for k in sorted(merged)]
    RESULTS_FILE.write_text(json.dumps(record, indent=2) + "\n")
    print("| edges | nodes | ms / epoch | first epoch ms | setup s | peak RSS GiB | estimate GiB |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in record["rows"]:
        if "error" in r:
            print(f"| {r['edges']:,} | failed: {r['error']} |")
            continue
        print(f"| {r['edges']:,} | {r['nodes']:,} | {r['ms_per_epoch']:,} | {r['first_epoch_ms']:,} | "
              f"{r['setup_s']} | {r['peak_rss_gib']} | {r['estimate_gib']} |")


if __name__ == "__main__":
    main()
