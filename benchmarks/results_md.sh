#!/usr/bin/env bash
# The commands behind every number of ours in docs/results.md (issue #13), for one dataset.
#   benchmarks/results_md.sh Cora                 # then CiteSeer: the default space, 32 trials
#   benchmarks/results_md.sh Cora strong 48       # a shipped space by name, and its trial count
# Writes results/<name> (the search and its bundle) and docs/results/<name>-*.json, where <name>
# is <dataset>-32 for the default space and <dataset>-<space>-<trials> for another.
# About 4-25 minutes per dataset on 2 CPU cores (quiet or shared).
set -euo pipefail
dataset="${1:-Cora}"
space="${2:-default}"
trials="${3:-32}"
lower="$(echo "$dataset" | tr '[:upper:]' '[:lower:]')"
if [ "$space" = default ] && [ "$trials" = 32 ]; then name="$lower-32"; else name="$lower-$space-$trials"; fi
out="docs/results"
mkdir -p "$out"

# 1. The search: ASHA + Optuna on validation AUC, then re-selection of the top 3 trials over 3
#    fresh seeds (the defaults); the winner is exported to results/$name/best.
tune-gae search "$space" --dataset "$dataset" --num-samples "$trials" --name "$name" --overwrite --json \
  > "$out/$name-search.json"

# 2. The exported configuration re-trained from scratch on 10 fresh splits (split seeds 1-10),
#    each run's epoch chosen on validation, tested once: uniform, then hard negatives.
tune-gae evaluate "results/$name/best" --seeds 10 --resplit --fresh-only --json \
  > "$out/$name-uniform.json"
tune-gae evaluate "results/$name/best" --seeds 10 --resplit --fresh-only --negatives hard --json \
  > "$out/$name-hard.json"

# 3. Heuristics and the features-only model on the same 10 fresh splits, both kinds of negatives.
python benchmarks/link_results.py --dataset "$dataset" --splits 10 | tail -n 1 > "$out/$name-baselines.json"

# 4. What re-selection recorded (search value vs fresh-seed mean of the top trials).
python - "$name" > "$out/$name-reselection.json" <<'EOF'
import json, sys
record = json.load(open(f"results/{sys.argv[1]}/search.json"))
keep = ("reselection", "winner", "reselection_seconds", "seconds", "best_trial", "split_hash")
print(json.dumps({k: record.get(k) for k in keep}, indent=1))
EOF
