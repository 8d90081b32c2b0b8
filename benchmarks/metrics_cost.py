"""What computing every link metric each epoch costs (issue #13), on Cora, one thread like a trial.

For uniform (263 shared validation negatives) and hard negatives (500 per validation positive):

- ``old``: the per-epoch validation work before Hits@K/MRR (scores + AUC/AP only);
- ``all``: what ``Trainer.step`` now computes (scores + AUC, AP, MRR, Hits@10/20/50/100);
- ``epoch``: a whole ``Trainer.step`` (train + validate) of the paper's GCN 32/16 GAE.

Medians over repeats, milliseconds. Run: ``python benchmarks/metrics_cost.py [--data-root DIR]``.
"""
from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_standalone, save_standalone, standalone_args  # noqa: E402

from tune_gae.config import DataConfig, ModelConfig, TrainConfig
from tune_gae.data.split import load_split
from tune_gae.nn.decoders import InnerProduct
from tune_gae.nn.pairs import score_pairs
from tune_gae.train.metrics import auc_ap
from tune_gae.train.trainer import Trainer, link_metrics

REPEATS = 60
RESULTS_FILE = Path(__file__).resolve().parent / "metrics_cost.json"  # shown in RESULTS.md by run.py


def median_ms(work: Callable[[], object], repeats: int = REPEATS) -> float:
    work()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def measure(negatives: str, data_root: str | None) -> dict[str, float]:
    split = load_split(DataConfig("Cora", root=data_root, negatives=negatives))
    trainer = Trainer(split, ModelConfig(in_channels=split.num_features), TrainConfig(epochs=10_000))
    for _ in range(20):
        trainer.step()
    z = trainer.best_embedding()
    pos, neg = split.val_pos, split.val_neg

    def old() -> object:
        return auc_ap(score_pairs(z, pos), score_pairs(z, neg.reshape(2, -1)))

    return {
        "negatives_per_set": int(neg[0].numel()),
        "old_ms": median_ms(old),
        "all_ms": median_ms(lambda: link_metrics(InnerProduct(), z, pos, neg)),
        "epoch_ms": median_ms(trainer.step),
    }


def main() -> None:
    args = standalone_args(__doc__)
    results = {kind: measure(kind, args.data_root) for kind in ("uniform", "hard")}
    for kind, row in results.items():
        print(f"{kind:8} {row['negatives_per_set']:>7} negatives: AUC/AP only {row['old_ms']:.2f} ms, "
              f"every metric {row['all_ms']:.2f} ms, whole epoch (GCN 32/16) {row['epoch_ms']:.2f} ms")
    save_standalone(RESULTS_FILE, results)


def markdown() -> list[str]:
    """Its section of RESULTS.md, from the last saved run (none when it never ran)."""
    record = load_standalone(RESULTS_FILE)
    if record is None:
        return []
    rows = record["results"]
    uniform = rows["uniform"]
    lines = [
        "## Cost of every link metric per epoch (issue #13)",
        "",
        f"`{record['command']}` ({record['date']}; saved in `benchmarks/metrics_cost.json`). Median of "
        f"{REPEATS} repeats, one thread, Cora, validation edges.",
        "",
        "| negatives | negative pairs scored | AUC/AP only | every metric (AUC, AP, MRR, Hits@10/20/50/100) | whole `Trainer.step` |",
        "|---|---|---|---|---|",
    ]
    for kind, row in rows.items():
        lines.append(f"| {kind} | {row['negatives_per_set']:,} | {row['old_ms']:.2f} ms | {row['all_ms']:.2f} ms | "
                     f"{row['epoch_ms']:.2f} ms |")
    extra = uniform["all_ms"] - uniform["old_ms"]
    return [*lines, "", f"With uniform negatives MRR and Hits@K add {extra:.2f} ms per epoch, "
            f"{100 * extra / uniform['epoch_ms']:.1f} % of the whole epoch.", ""]


if __name__ == "__main__":
    main()
