# Sourced by benchmarks/seal_table.sh and benchmarks/ncn_table.sh: one paper's protocol on its graphs.
# run_protocol PROTOCOL SPACE DATASET GRAPH...: for each GRAPH, the README's search with shipped SPACE on
# DATASET ({} replaced by the graph) with the caller's PROTOCOL_FLAGS (split shares, metric), then the
# winner re-trained on SEEDS (default 10) fresh splits of the same shares (evaluate --resplit --fresh-only),
# then benchmarks/protocol_table.py PROTOCOL's table. SEARCH_ARGS (extra search flags) come last and win:
# SEARCH_ARGS="--num-samples 2 --max-epochs 10" SEEDS=2 is a quick check, not the benchmark.
# Writes results/PROTOCOL-<graph>[-SPACE], docs/results/PROTOCOL-<graph>[-SPACE].json and -evaluate.json.
run_protocol() {
  local protocol="$1" space="$2" dataset="$3" suffix="" out="docs/results" graph name names=()
  shift 3
  if [ "$space" != default ]; then suffix="-$space"; fi
  mkdir -p "$out"
  for graph in "$@"; do
    name="$protocol-$graph$suffix"
    # shellcheck disable=SC2086  # SEARCH_ARGS is a list of flags
    tune-gae search "search_spaces/$space.yaml" --dataset "${dataset//\{\}/$graph}" "${PROTOCOL_FLAGS[@]}" \
      --num-samples 24 --time-budget 600 --name "$name" --overwrite ${SEARCH_ARGS:-} --json > "$out/$name.json"
    tune-gae evaluate "results/$name/best" --seeds "${SEEDS:-10}" --resplit --fresh-only --json \
      > "$out/$name-evaluate.json"
    names+=("$name")
  done
  python benchmarks/protocol_table.py "$protocol" "${names[@]}"
}
