#!/usr/bin/env bash
# SEAL's protocol on SEAL's eight graphs (issue #22, point 4; docs/references.md): 10 % of the edges for
# testing, the 5 % validation taken out of the other 90 %, AUC; per graph a search, then the winner on 10
# fresh splits with CN/AA/RA on each, then the table beside SEAL's published Table 1.
#   python benchmarks/seal_graphs.py SEAL/Python/data DIR   # once: DIR/<graph>/edges.csv
#   benchmarks/seal_table.sh DIR            # the default space
#   benchmarks/seal_table.sh DIR strong     # another shipped space: names get a -strong suffix
# GRAPHS="USAir" SEEDS=2 SEARCH_ARGS="--num-samples 2 --max-epochs 10": a quick check (benchmarks/protocol_runs.sh).
set -euo pipefail
dir="${1:?usage: benchmarks/seal_table.sh DIR [SPACE]}"
PROTOCOL_FLAGS=(--test-ratio 0.1 --val-ratio 0.05)
# shellcheck source=benchmarks/protocol_runs.sh
source "$(dirname "$0")/protocol_runs.sh"
# shellcheck disable=SC2086  # GRAPHS is a list of names
run_protocol seal "${2:-default}" "$dir/{}/edges.csv" ${GRAPHS:-USAir NS PB Yeast Celegans Power Router Ecoli}
