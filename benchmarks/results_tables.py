"""The tables of docs/results.md, printed from the JSON files ``benchmarks/results_md.sh`` wrote.

Run: ``python benchmarks/results_tables.py cora-32`` (reads docs/results/cora-32-*.json); more names
(``cora-32 cora-strong-48``) add their tuned rows to the same tables (baselines: the first name's;
every name's fresh splits are split seeds 1-10). Percent, mean ± sample standard deviation over
the fresh splits.
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


def tuned_label(name: str, model: str) -> str:
    """``cora-32`` -> the default space's row; ``cora-strong-48`` -> strong.yaml, 48 trials."""
    parts = name.split("-")
    space, trials = ("default", parts[-1]) if len(parts) == 2 else (parts[1], parts[2])
    return f"tuned {model.upper()} ({space}.yaml, {trials} trials: the winner, re-trained)"


def table(names: list[str], kind: str) -> list[str]:
    baselines = json.loads((FOLDER / f"{names[0]}-baselines.json").read_text())["results"][kind]
    header = "| model | " + " | ".join(LABELS.get(m, m.replace("hits@", "Hits@")) for m in LINK_METRICS) + " |"
    lines = [header, "|---" * (len(LINK_METRICS) + 1) + "|"]
    seeds: list[list[int]] = []
    for name in names:
        evaluated = json.loads((FOLDER / f"{name}-{kind}.json").read_text())
        fresh = evaluated["fresh_splits"]
        lines.append(f"| {tuned_label(name, evaluated['model'])} | "
                     + " | ".join(cell(fresh[f"test_{m}_mean"], fresh[f"test_{m}_std"]) for m in LINK_METRICS) + " |")
        seeds.append([run["split_seed"] for run in fresh["runs"]])
    if any(other != seeds[0] for other in seeds):
        raise SystemExit(f"the searches were evaluated on different splits: {seeds}")
    for key, label in BASELINES.items():
        stats = baselines[key]
        lines.append(f"| {label} | " + " | ".join(cell(*stats[m]) for m in LINK_METRICS) + " |")
    lines.append("")
    lines.append(f"{len(seeds[0])} fresh splits (split seeds {seeds[0][0]}-{seeds[0][-1]}), {kind} negatives, test edges.")
    return lines


def reselection_table(name: str) -> list[str]:
    record = json.loads((FOLDER / f"{name}-reselection.json").read_text())
    lines = ["| candidate | search value | fresh-seed values | mean ± std |", "|---|---|---|---|"]
    for entry in record["reselection"]:
        values = ", ".join(f"{100 * v:.2f}" for v in entry["values"])
        lines.append(f"| {entry['trial']} | {100 * entry['search_value']:.2f} | {values} | "
                     f"{100 * entry['mean']:.2f} ± {100 * entry['std']:.2f} |")
    return [*lines, "", f"winner {record['winner']['trial']}; search {record['seconds']} s, re-selection "
            f"{record['reselection_seconds']} s"]


def main() -> None:
    names = sys.argv[1:]
    for kind in ("uniform", "hard"):
        print(f"### {' + '.join(names)}: {kind} negatives\n")
        print("\n".join(table(names, kind)))
        print()
    for name in names:
        print(f"### {name}: re-selection\n")
        print("\n".join(reselection_table(name)))
        print()

if __name__ == "__main__":
    main()
