"""What each decoder costs per epoch (issue #22): inner product, Hadamard MLP and NCN, on Cora and on
a featureless synthetic graph of 1e6 edges, one thread like a trial.

Cora: the linear encoder with latent 256, raw features, dropout, edge dropout and masking on (the
default search's usual winner). The 1e6-edge graph: ``bench_large_graphs.featureless_split`` (a
learnable embedding per node), a GCN encoder 64 -> 32. Learned decoders: 2 layers, 64 wide; ncn
weights common neighbours by resource allocation. A whole ``Trainer.step`` (train + validate);
median over repeats, milliseconds.

Run: ``python benchmarks/decoder_cost.py [--data-root DIR]`` (saves ``benchmarks/decoder_cost.json``,
which ``benchmarks/run.py`` shows in RESULTS.md).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_large_graphs import featureless_split  # noqa: E402
from common import load_standalone, ratio_rows, save_standalone, standalone_args, step_ms  # noqa: E402

from tune_gae.config import DataConfig, run_config_from_dict
from tune_gae.data.split import load_split
from tune_gae.train.allocator import keep_freed_memory
from tune_gae.train.trainer import Trainer

RESULTS_FILE = Path(__file__).resolve().parent / "decoder_cost.json"
GRAPHS: dict[str, dict[str, Any]] = {
    "Cora": {"repeats": 30, "model": {"encoder": "linear", "latent_channels": 256, "normalize_features": False,
                                       "dropout": 0.4, "edge_dropout": 0.1, "mask_ratio": 0.5, "neg_ratio": 2}},
    "featureless, 1e6 edges": {"repeats": 3, "model": {"encoder": "gcn", "hidden_channels": (64,),
                                                        "latent_channels": 32}},
}
DECODERS: dict[str, dict[str, Any]] = {
    "inner_product": {"decoder": "inner_product"},
    "hadamard_mlp": {"decoder": "hadamard_mlp", "decoder_layers": 2, "decoder_width": 64},
    "ncn": {"decoder": "ncn", "decoder_layers": 2, "decoder_width": 64, "cn_weighting": "resource_allocation"},
}


def epoch_ms(split: Any, model: dict[str, Any], decoder: dict[str, Any], repeats: int) -> float:
    model_config, train_config = run_config_from_dict({**model, **decoder, "lr": 0.005, "epochs": 100_000},
                                                      in_channels=split.num_features)
    # One warm-up step: caches, the first common-neighbour sets.
    return step_ms(Trainer(split, model_config, train_config), warmup=1, repeats=repeats)


def main() -> None:
    import torch

    args = standalone_args(__doc__)
    keep_freed_memory()
    torch.set_num_threads(1)
    results = {}
    for graph, spec in GRAPHS.items():
        if graph == "Cora":
            split = load_split(DataConfig("Cora", root=args.data_root)).without_test()
        else:
            split = featureless_split(1_000_000).without_test()
        results[graph] = {name: epoch_ms(split, spec["model"], decoder, spec["repeats"])
                          for name, decoder in DECODERS.items()}
        print(graph, ", ".join(f"{name} {ms:.1f} ms" for name, ms in results[graph].items()), flush=True)
    save_standalone(RESULTS_FILE, results)


def markdown() -> list[str]:
    """Its section of RESULTS.md, from the last saved run (none when it never ran)."""
    record = load_standalone(RESULTS_FILE)
    if record is None:
        return []
    names = list(DECODERS)
    lines = [
        "## Cost per epoch of each decoder (issue #22)",
        "",
        f"`{record['command']}` ({record['date']}; saved in `benchmarks/decoder_cost.json`). Median of whole "
        "`Trainer.step`s (train + validate), one thread. Cora: the linear encoder, latent 256, raw features, "
        "dropout, edge dropout and masking on; the featureless graph: a learnable embedding per node, GCN 64 -> 32. "
        "Learned decoders: 2 layers, 64 wide.",
        "",
        "| graph | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    lines += ratio_rows(record["results"], names, "inner_product")
    return [*lines, "", "ncn intersects the training graph's neighbour lists for each epoch's sampled negatives "
            "(the fixed pair sets once per run).", ""]


if __name__ == "__main__":
    main()
