#!/usr/bin/env bash
# The "Graphs the defaults were not shaped on" table of docs/results.md (issue #12): the README's
# search with the default space on graphs nobody here tuned for, then the table.
#   benchmarks/any_graph_table.sh DIR          # DIR holds power/, yeast/, ca-grqc/, facebook/, airport/
#                                              # (edges.csv, airport/features.npy; see docs/results.md;
#                                              # benchmarks/any_graph_data.py writes ca-grqc/ and airport/)
#   benchmarks/any_graph_table.sh DIR strong   # another shipped space: names get a -strong suffix
# Writes results/<graph> and docs/results/anygraph-<graph>.json; prints the markdown table.
set -euo pipefail
dir="${1:?usage: benchmarks/any_graph_table.sh DIR [SPACE]}"
space="${2:-default}"
suffix=""
if [ "$space" != default ]; then suffix="-$space"; fi
out="docs/results"
mkdir -p "$out"
python -c "import networkx as nx; g = nx.powerlaw_cluster_graph(3000, 4, 0.5, seed=0); open('$dir/powerlaw-cluster.csv', 'w').write('source,target\n' + ''.join(f'{u},{v}\n' for u, v in g.edges()))"
run() {  # name, then the --dataset and --features arguments
  local name="$1$suffix"; shift
  tune-gae search "search_spaces/$space.yaml" "$@" --num-samples 24 --time-budget 600 --name "$name" --overwrite \
    --json > "$out/anygraph-$name.json"
}
run power --dataset "$dir/power/edges.csv"
run yeast --dataset "$dir/yeast/edges.csv"
run ca-grqc --dataset "$dir/ca-grqc/edges.csv"
run facebook --dataset "$dir/facebook/edges.csv"
run airport --dataset "$dir/airport/edges.csv" --features "$dir/airport/features.npy"
run sbm --dataset synthetic:nodes=2000,communities=5
run powerlaw --dataset "$dir/powerlaw-cluster.csv"
python benchmarks/any_graph_table.py power$suffix yeast$suffix ca-grqc$suffix facebook$suffix airport$suffix \
  sbm$suffix powerlaw$suffix
