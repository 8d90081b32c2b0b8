"""Warm start against cold start on Cora (issue 23, for docs/results.md).

For each seed s: a 32-trial search with seed s + 100 (another split and sampler), then two
16-trial searches with seed s: one ``--warm-start`` from it, one cold. Reported per search: the
best validation AUC, and how many of its trials (in the order Optuna asked for them; trials a
same-split warm start added as evaluated do not count) ran until one reached the target AUC.

    python benchmarks/warm_start_compare.py                      # Cora, default space, seeds 0 1 2
    python benchmarks/warm_start_compare.py --space smoke --earlier 4 --trials 2 --seeds 0 \\
        --max-epochs 10 --target 0.8                              # a check that it runs

Prints a markdown table and JSON (``--out`` also saves the JSON).
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from commands import run_timed, tune_gae_command
from common import DEFAULT_DATA_ROOT, log, save_standalone, table


def search(workdir: Path, name: str, args: argparse.Namespace, seed: int, trials: int, *extra: str) -> Path:
    command = run_timed(tune_gae_command(
        "search", args.space, "--dataset", args.dataset, "--num-samples", str(trials), "--seed", str(seed),
        "--max-epochs", str(args.max_epochs), "--reselect-top", "0", "--no-export", "--data-root", args.data_root,
        "--results-dir", str(workdir), "--name", name, "--overwrite", *extra))
    if command.returncode != 0:
        raise RuntimeError(f"{name} failed ({command.returncode}):\n{command.tail()}")
    log(f"{name}: {command.wall_s:.0f} s")
    return workdir / name


def outcome(folder: Path, target: float) -> dict[str, Any]:
    """Best value, and trials asked until one reached ``target`` (None: none did)."""
    from tune_gae.search.results import SearchFolder
    from tune_gae.search.study import load_study

    study = load_study(*SearchFolder.open(folder).study())
    own = [t for t in study.trials if "#" not in str(t.user_attrs.get("warm_start", ""))]
    values = [t.value for t in own if t.value is not None]
    reached = next((i for i, t in enumerate(own, 1) if t.value is not None and t.value >= target), None)
    return {"best_val_auc": round(max(values), 4) if values else None, "trials_to_target": reached,
            "trials": len(own)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="Cora")
    parser.add_argument("--space", default="default")
    parser.add_argument("--earlier", type=int, default=32, help="trials of the search warm-started from")
    parser.add_argument("--trials", type=int, default=16, help="trials of the warm and the cold search")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-epochs", type=int, default=400)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--data-root", default=DEFAULT_DATA_ROOT)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    workdir = Path(tempfile.mkdtemp(prefix="tune-gae-warm-"))
    try:
        for seed in args.seeds:
            earlier = search(workdir, f"earlier-{seed}", args, seed + 100, args.earlier)
            warm = search(workdir, f"warm-{seed}", args, seed, args.trials, "--warm-start", str(earlier))
            cold = search(workdir, f"cold-{seed}", args, seed, args.trials)
            record = json.loads((warm / "search.json").read_text())
            rows.append({"seed": seed, "warm": outcome(warm, args.target), "cold": outcome(cold, args.target),
                         "same_split": record["split_hash"] == json.loads((earlier / "search.json").read_text())[
                             "split_hash"]})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    def mean(kind: str, key: str) -> str:
        values = [row[kind][key] for row in rows if row[kind][key] is not None]
        missed = sum(row[kind][key] is None for row in rows)
        text = f"{statistics.mean(values):.4g}" if values else "-"
        return text + (f" ({missed} never)" if missed else "")

    lines = table(("seed", "warm best val AUC", "cold best val AUC", f"warm trials to {args.target}",
                   f"cold trials to {args.target}"),
                  [(row["seed"], row["warm"]["best_val_auc"], row["cold"]["best_val_auc"],
                    row["warm"]["trials_to_target"] or "never", row["cold"]["trials_to_target"] or "never")
                   for row in rows] + [("mean", mean("warm", "best_val_auc"), mean("cold", "best_val_auc"),
                                        mean("warm", "trials_to_target"), mean("cold", "trials_to_target"))])
    print("\n".join(lines))
    result = {"dataset": args.dataset, "space": args.space, "earlier_trials": args.earlier, "trials": args.trials,
              "max_epochs": args.max_epochs, "target": args.target, "rows": rows}
    if args.out:
        save_standalone(args.out, result)
    else:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
