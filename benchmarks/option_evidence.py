"""Per-option evidence on VALIDATION edges only (issue #14): what one hyperparameter adds to the
best configurations a search found.

Takes the ``--top`` trials of a finished search (by best validation metric), re-trains each with
every value of ``--option`` and ``--seeds`` fresh model seeds on the SEARCH'S OWN split without
its test edges (``tune_gae.search.reselect.retrain``: the same training a re-selection run does),
and prints the mean validation metric per value. No test edge is loaded or scored.

    python benchmarks/option_evidence.py results/cora-ev --option mask_ratio --values 0,0.25,0.5,0.75

Prints a table and one JSON object (the last line).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from tune_gae.data.split import load_split
from tune_gae.search.reselect import SEED_OFFSET, retrain
from tune_gae.search.results import SearchFolder
from tune_gae.search.space import resolve_trial_config


def top_configs(folder: SearchFolder, metric: str, top: int) -> list[tuple[str, dict[str, Any]]]:
    """The ``top`` finished trials by best validation ``metric``: (name, resolved hyperparameters)."""
    rows = [r for r in folder.trials() if r.get("state") == "TERMINATED" and r.get(f"best_{metric}") is not None]
    rows.sort(key=lambda r: -float(r[f"best_{metric}"]))
    chosen = []
    for row in rows[:top]:
        params = json.loads((folder.path / row["trial"] / "params.json").read_text())
        chosen.append((row["trial"], resolve_trial_config(params)))
    return chosen


def parse_value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("search", help="a finished search folder (results/<name>)")
    parser.add_argument("--option", required=True, help="a hyperparameter name, e.g. mask_ratio")
    parser.add_argument("--values", required=True, help="comma-separated values, e.g. 0,0.25,0.5")
    parser.add_argument("--top", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    folder = SearchFolder.open(args.search)
    settings = folder.settings()
    split = load_split(settings.data)
    folder.check_split(split.split_hash, fix="run this on the data the search used.")
    split = split.without_test()  # validation only: the test edges never reach this script
    metric = settings.metric
    values = [parse_value(v) for v in args.values.split(",")]
    seeds = [settings.seed + 2 * SEED_OFFSET + i for i in range(args.seeds)]  # not re-selection's seeds
    configs = top_configs(folder, metric, args.top)
    started = time.monotonic()
    runs = []
    for trial, config in configs:
        for value in values:
            for seed in seeds:
                began = time.perf_counter()
                state = retrain(split, {**config, args.option: value, "seed": seed}, metric, args.threads)
                runs.append({"trial": trial, "value": value, "seed": seed, "val": state["best"].get(metric),
                             "epoch": state["epoch"], "seconds": time.perf_counter() - began})
                print(f"{trial} {args.option}={value} seed {seed}: {metric} {runs[-1]['val']}", flush=True)
    summary = []
    for value in values:
        vals = [r["val"] or 0.0 for r in runs if r["value"] == value]
        per_config = {t: statistics.fmean(r["val"] or 0.0 for r in runs if r["value"] == value and r["trial"] == t)
                      for t, _ in configs}
        timed = [r for r in runs if r["value"] == value]
        ms_per_epoch = 1000 * sum(r["seconds"] for r in timed) / max(1, sum(r["epoch"] for r in timed))
        summary.append({"value": value, "runs": len(vals), "mean": statistics.fmean(vals),
                        "std": statistics.stdev(vals) if len(vals) > 1 else 0.0, "per_config": per_config,
                        "ms_per_epoch": round(ms_per_epoch, 2)})
    print(f"\n{args.option} on {split.name} (split {split.split_hash}), top {len(configs)} trials of "
          f"{folder.path.name} x {len(seeds)} seeds, validation {metric} (%):")
    for row in summary:
        configs_text = ", ".join(f"{100 * v:.2f}" for v in row["per_config"].values())
        print(f"  {row['value']!s:>6}: {100 * row['mean']:.2f} ± {100 * row['std']:.2f} over {row['runs']} runs "
              f"(per configuration: {configs_text}); {row['ms_per_epoch']:.2f} ms per epoch")
    print(json.dumps({"search": folder.path.name, "dataset": split.name, "split_hash": split.split_hash,
                      "metric": metric, "option": args.option, "configs": dict(configs), "seeds": seeds,
                      "summary": summary, "runs": runs, "seconds": round(time.monotonic() - started, 1)}))


if __name__ == "__main__":
    main()
