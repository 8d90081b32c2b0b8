"""What the result-quality options cost per epoch (issue #14): ``embedding_norm``, a seed
``ensemble``, ``propagation_hops``, ``mask_kind: directed`` and ``weight_ema`` (issue #22) against
the same model without them, on Cora and CiteSeer, one thread like a trial.

The model: the linear encoder (the default search's usual winner), latent 256, raw features,
dropout 0.4, edge dropout 0.1, mask ratio 0.5, 2 negatives per edge. A whole ``Trainer.step``
(train + validate); median over repeats, milliseconds.

Run: ``python benchmarks/option_cost.py [--data-root DIR]`` (saves ``benchmarks/option_cost.json``,
which ``benchmarks/run.py`` shows in RESULTS.md).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_standalone, ratio_rows, save_standalone, standalone_args, step_ms  # noqa: E402

from tune_gae.config import DataConfig, run_config_from_dict
from tune_gae.data.split import load_split
from tune_gae.train.trainer import Trainer

REPEATS = 40
RESULTS_FILE = Path(__file__).resolve().parent / "option_cost.json"
MODEL = {"encoder": "linear", "latent_channels": 256, "normalize_features": False, "dropout": 0.4,
         "edge_dropout": 0.1, "mask_ratio": 0.5, "neg_ratio": 2, "lr": 0.005, "epochs": 100_000}
VARIANTS = {"plain": {}, "embedding_norm 2": {"embedding_norm": 2.0}, "ensemble 3": {"ensemble": 3},
            "both": {"embedding_norm": 2.0, "ensemble": 3}, "propagation_hops 2": {"propagation_hops": 2},
            "mask_kind directed": {"mask_kind": "directed"}, "weight_ema 0.9": {"weight_ema": 0.9}}


def epoch_ms(dataset: str, extra: dict[str, Any], data_root: str | None) -> float:
    split = load_split(DataConfig(dataset, root=data_root)).without_test()
    model_config, train_config = run_config_from_dict({**MODEL, **extra}, in_channels=split.num_features)
    return step_ms(Trainer(split, model_config, train_config), warmup=5, repeats=REPEATS)


def main() -> None:
    args = standalone_args(__doc__)
    results = {}
    for dataset in ("Cora", "CiteSeer"):
        results[dataset] = {name: epoch_ms(dataset, extra, args.data_root) for name, extra in VARIANTS.items()}
        print(dataset, ", ".join(f"{name} {ms:.2f} ms" for name, ms in results[dataset].items()), flush=True)
    save_standalone(RESULTS_FILE, results)


def markdown() -> list[str]:
    """Its section of RESULTS.md, from the last saved run (none when it never ran)."""
    record = load_standalone(RESULTS_FILE)
    if record is None:
        return []
    names = list(VARIANTS)
    lines = [
        "## Cost per epoch of the result-quality options (issue #14)",
        "",
        f"`{record['command']}` ({record['date']}; saved in `benchmarks/option_cost.json`). Median of "
        f"{REPEATS} whole `Trainer.step`s (train + validate), one thread, the linear encoder with latent 256, "
        "raw features, dropout, edge dropout and masking on.",
        "",
        "| graph | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    lines += ratio_rows(record["results"], names, "plain")
    return [*lines, "", "`embedding_norm` (in `default.yaml`) adds a row normalisation; `ensemble 3` "
            "(`strong.yaml`) trains three encoders per epoch; `propagation_hops 2` (`strong.yaml` v3, graphs "
            "with features) propagates the embedding one hop more; `mask_kind directed` (MaskGAE's edge "
            "masking, at this model's mask ratio 0.5) reconstructs every masked direction; `weight_ema 0.9` "
            "updates a moving average of the weights each epoch and validates it.", ""]


if __name__ == "__main__":
    main()
