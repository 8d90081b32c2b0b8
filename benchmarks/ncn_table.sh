#!/usr/bin/env bash
# NCN's protocol on Cora and CiteSeer (issue #22, point 4; docs/references.md): 70/10/20 splits, one uniform
# negative per test positive, trials ranked by validation Hits@100; per graph a search, then the winner on
# 10 fresh splits, then the table of test Hits@100 beside NCN's, with CN/AA/RA Hits@100 on the same splits.
#   benchmarks/ncn_table.sh            # the default space; Planetoid data from $TUNE_GAE_DATA
#   benchmarks/ncn_table.sh strong     # another shipped space: names get a -strong suffix
# GRAPHS="Cora" SEEDS=2 SEARCH_ARGS="--num-samples 2 --max-epochs 10": a quick check (benchmarks/protocol_runs.sh).
set -euo pipefail
PROTOCOL_FLAGS=(--val-ratio 0.1 --test-ratio 0.2 --metric val_hits@100)
# shellcheck source=benchmarks/protocol_runs.sh
source "$(dirname "$0")/protocol_runs.sh"
# shellcheck disable=SC2086  # GRAPHS is a list of names
run_protocol ncn "${1:-default}" "{}" ${GRAPHS:-Cora CiteSeer}
