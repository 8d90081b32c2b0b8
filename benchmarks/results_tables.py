"""The tables of docs/results.md, printed from the JSON files ``benchmarks/results_md.sh`` wrote.

Run: ``python benchmarks/results_tables.py cora-32`` (reads docs/results/cora-32-*.json).
Percent, mean ± sample standard deviation over the fresh splits.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from tune_gae.rules import LINK_METRICS

FOLDER = Path("docs/results")
LABELS = {"auc": "AUC", "ap": "AP", "mrr": "MRR"}
BASELINES = {"features_only": "features-only MLP (no message passing)", "common_neighbours": "common neighbours",
             "adamic_adar": "Adamic-Adar", "resource_allocation": "resource allocation"}


def cell(mean: float, std: float) -> str:
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def table(name: str, kind: str) -> list[str]:
    evaluated = json.loads((FOLDER / f"{name}-{kind}.json").read_text())
    baselines = json.loads((FOLDER / f"{name}-baselines.json").read_text())["results"][kind]
    fresh = evaluated["fresh_splits"]
    header = "| model | " + " | ".join(LABELS.get(m, m.replace("hits@", "Hits@")) for m in LINK_METRICS) + " |"
    lines = [header, "|---" * (len(LINK_METRICS) + 1) + "|"]
    lines.append(f"| tuned {evaluated['model'].upper()} (this search's winner, re-trained) | "
                 + " | ".join(cell(fresh[f"test_{m}_mean"], fresh[f"test_{m}_std"]) for m in LINK_METRICS) + " |")
    for key, label in BASELINES.items():
        stats = baselines[key]
        lines.append(f"| {label} | " + " | ".join(cell(*stats[m]) for m in LINK_METRICS) + " |")
    seeds = [run["split_seed"] for run in fresh["runs"]]
    lines.append("")
    lines.append(f"{len(seeds)} fresh splits (split seeds {seeds[0]}-{seeds[-1]}), {kind} negatives, test edges.")
    return lines


def main() -> None:
    name = sys.argv[1]
    for kind in ("uniform", "hard"):
        print(f"### {name}: {kind} negatives\n")
        print("\n".join(table(name, kind)))
        print()
    record = json.loads((FOLDER / f"{name}-reselection.json").read_text())
    print("| candidate | search value | fresh-seed values | mean ± std |")
    print("|---|---|---|---|")
    for entry in record["reselection"]:
        values = ", ".join(f"{100 * v:.2f}" for v in entry["values"])
        print(f"| {entry['trial']} | {100 * entry['search_value']:.2f} | {values} | "
              f"{100 * entry['mean']:.2f} ± {100 * entry['std']:.2f} |")
    print(f"\nwinner {record['winner']['trial']}; search {record['seconds']} s, re-selection "
          f"{record['reselection_seconds']} s")


if __name__ == "__main__":
    main()
