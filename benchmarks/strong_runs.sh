#!/usr/bin/env bash
# strong.yaml under the field's protocols (issue #22; docs/results.md, "strong.yaml"), one run after
# another: Cora and CiteSeer at 85/5/10 (a 32-trial search, its winner re-trained on 10 fresh
# splits, scored on both test graphs: docs/results/<name>-test-graph.json), NCN's protocol on both
# (benchmarks/ncn_table.sh), and SEAL's on the graphs the default space missed
# (benchmarks/seal_table.sh; SEAL_DIR holds the graphs benchmarks/seal_graphs.py wrote).
#
#     SEAL_DIR=/path/to/seal benchmarks/strong_runs.sh
#     SEAL_GRAPHS= benchmarks/strong_runs.sh    # Cora and CiteSeer only (strong.yaml's features-only changes)
set -euo pipefail
out=docs/results
mkdir -p "$out"
for dataset in Cora CiteSeer; do
  name="$(echo "$dataset" | tr '[:upper:]' '[:lower:]')-strong-32"
  tune-gae search strong --dataset "$dataset" --num-samples 32 --name "$name" --overwrite --json \
    > "$out/$name-search.json"
  # the winner on 10 fresh splits (what `tune-gae evaluate results/$name/best --seeds 10 --resplit
  # --fresh-only` runs), each run's test edges scored on the training graph and on train + val
  python "$(dirname "$0")/compare_test_graphs.py" "$dataset" "$name" --bundle "results/$name/best"
done
bash "$(dirname "$0")/ncn_table.sh" strong
seal_graphs="${SEAL_GRAPHS-USAir Ecoli}"
if [ -n "$seal_graphs" ]; then
  GRAPHS="$seal_graphs" bash "$(dirname "$0")/seal_table.sh" "${SEAL_DIR:?set SEAL_DIR}" strong
fi
