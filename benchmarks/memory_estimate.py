"""The memory check's estimate of a trial against the trial's measured peak, per decoder.

Each configuration is trained for 2 epochs as a fresh ``tune-gae train`` under GNU time
(``/usr/bin/time -f %M``: the process's peak resident memory), beside what
``tune_gae.search.memory.estimate_trial_bytes`` says for it (its 1.25 safety margin included).
The memory check refuses a search when its largest trial's estimate, times the trials run at
once, exceeds the memory available; an estimate below the peak would let a search run out of
memory, one far above it refuses searches that fit.

    python benchmarks/memory_estimate.py <dir>/facebook/edges.csv --out benchmarks/memory_estimate.json
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

GIB = 2**30
BIG = {"model": "vgae", "hidden": [256, 256], "latent": 256, "neg_ratio": 3, "encoding": "embedding+spectral",
       "dims": 32, "dropout": 0.5, "layers": 3, "width": 256, "decoder_norm": "batch", "decoder_dropout": 0.3}
SMALL = {"model": "gae", "hidden": [64], "latent": 64, "neg_ratio": 1, "encoding": "embedding", "dims": 8,
         "dropout": 0.0, "layers": 2, "width": 64, "decoder_norm": "none", "decoder_dropout": 0.0}
CONFIGS = [("inner_product", BIG), ("hadamard_mlp", BIG), ("ncn", BIG),
           ("inner_product", SMALL), ("hadamard_mlp", SMALL), ("ncn", SMALL)]


def measured_peak(edges: Path, decoder: str, c: dict[str, Any], workdir: Path) -> int:
    """Peak resident bytes of a fresh 2-epoch ``tune-gae train`` of this configuration."""
    command = ["/usr/bin/time", "-f", "%M", sys.executable, "-m", "tune_gae.cli", "train", "--dataset", str(edges),
               "--epochs", "2", "--results-dir", str(workdir), "--name", f"{decoder}-{c['latent']}",
               "--model", c["model"], "--hidden", ",".join(map(str, c["hidden"])), "--latent", str(c["latent"]),
               "--neg-ratio", str(c["neg_ratio"]), "--node-encoding", c["encoding"], "--encoding-dims", str(c["dims"]),
               "--dropout", str(c["dropout"]), "--decoder", decoder, "--decoder-layers", str(c["layers"]),
               "--decoder-width", str(c["width"]), "--decoder-norm", c["decoder_norm"],
               "--decoder-dropout", str(c["decoder_dropout"])]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return int(done.stderr.strip().splitlines()[-1]) * 1024


def estimated(split: Any, decoder: str, c: dict[str, Any]) -> int:
    from tune_gae.search.memory import common_neighbour_entries, estimate_trial_bytes

    n, edges = split.num_nodes, int(split.train_pos.size(1))
    parts = c["encoding"].split("+")
    width = {"embedding": (n, n), "spectral": (c["dims"], n * c["dims"])}
    return estimate_trial_bytes(
        num_nodes=n, num_train_edges=edges, input_width=sum(width[p][0] for p in parts),
        input_nonzeros=sum(width[p][1] for p in parts), hidden_widths=c["hidden"], latent_width=c["latent"],
        variational=c["model"] == "vgae", neg_ratio=c["neg_ratio"], decoder=decoder, decoder_layers=c["layers"],
        decoder_width=c["width"],
        neighbour_entries=common_neighbour_entries(split.train_pos, n, c["neg_ratio"]) if decoder == "ncn" else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("edges", type=Path, help="an edge list (e.g. SEAL's facebook as edges.csv)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    from tune_gae.config import DataConfig
    from tune_gae.data.split import load_split

    split = load_split(DataConfig(dataset=str(args.edges)))
    rows = []
    with tempfile.TemporaryDirectory(prefix="memory-estimate-") as scratch:
        for decoder, config in CONFIGS:
            peak, estimate = measured_peak(args.edges, decoder, config, Path(scratch)), estimated(split, decoder, config)
            rows.append({"decoder": decoder, "config": "largest" if config is BIG else "small",
                         "measured_gib": round(peak / GIB, 2), "estimate_gib": round(estimate / GIB, 2),
                         "estimate_over_measured": round(estimate / peak, 2)})
            print(json.dumps(rows[-1]), flush=True)
    result = {"graph": str(args.edges), "nodes": split.num_nodes, "train_edges": int(split.train_pos.size(1)),
              "configs": {"largest": BIG, "small": SMALL}, "rows": rows}
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
