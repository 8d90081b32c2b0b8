"""Two graphs of ``benchmarks/any_graph_table.sh`` rebuilt from their public files: ``ca-grqc``, ``airport``.

Neither file is copied into this repository. Get them, then convert::

    # SNAP's ca-GrQc edge list (https://snap.stanford.edu/data/ca-GrQc.html, CA-GrQc.txt[.gz]);
    # HGCN's airport graph: git clone https://github.com/HazyResearch/hgcn  (data/airport/airport.p)
    python benchmarks/any_graph_data.py --ca-grqc CA-GrQc.txt --airport hgcn/data/airport/airport.p DIR

- ``DIR/ca-grqc/edges.csv``: SNAP's lines (both directions of each co-authorship), ``#`` comment
  lines skipped (as is a first line of two counts, "nodes lines", which some copies carry instead),
  self loops dropped, each undirected edge once, node ids relabelled 0..N-1 in increasing order of
  SNAP's ids: 5,242 nodes, 14,484 edges.
- ``DIR/airport/edges.csv`` and ``features.npy``: the pickled networkx graph of OpenFlights routes
  HGCN built (Chami et al. 2019), nodes relabelled 0..N-1 in increasing order of its ids, its one
  self loop dropped: 3,188 nodes, 18,630 edges; ``features.npy`` holds each node's first 4 ``feat``
  values (HGCN's ``load_data_airport`` takes column 4 as the label and leaves it out of the features).

Both relabellings give the splits (``split_hash`` 0a964d95cc1101f0 and d4420b3c0a196642) of the
earlier searches in ``docs/results/anygraph-*.json``. Each folder gets a ``SOURCE.md``.
Unpickling ``airport.p`` runs pickle on a downloaded file: use HGCN's own.
"""
from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np

EXPECTED = {"ca-grqc": (5242, 14484), "airport": (3188, 18630)}  # nodes, edges (docs/results.md)
AIRPORT_FEATURES = 4  # HGCN's label_idx: the columns before it are the features


def relabelled(pairs: list[tuple[int, int]], nodes: list[int]) -> np.ndarray:
    """``[E, 2]`` undirected edges over ids 0..N-1 (``nodes`` sorted), low id first, each once, no self loop."""
    index = {node: i for i, node in enumerate(sorted(nodes))}
    edges = np.array([(index[u], index[v]) for u, v in pairs if u != v], dtype=np.int64).reshape(-1, 2)
    return np.unique(np.sort(edges, axis=1), axis=0)


def read_snap(path: Path) -> tuple[list[int], np.ndarray]:
    """SNAP's ca-GrQc edge list as (node ids, undirected edges over 0..N-1)."""
    rows = [tuple(int(f) for f in line.split()[:2]) for line in path.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    if len(rows) > 1 and rows[0] == (len({node for row in rows[1:] for node in row}), len(rows) - 1):
        rows = rows[1:]  # a copy whose first line counts nodes and lines, not an edge
    nodes = sorted({node for row in rows for node in row})
    return nodes, relabelled(rows, nodes)


def read_airport(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """HGCN's ``airport.p`` as (undirected edges over 0..N-1, ``[N, 4]`` features)."""
    with path.open("rb") as handle:
        graph = pickle.load(handle)  # a networkx Graph; needs networkx installed
    nodes = sorted(graph.nodes())
    features = np.array([graph.nodes[node]["feat"][:AIRPORT_FEATURES] for node in nodes], dtype=np.float64)
    return relabelled(list(graph.edges()), nodes), features


def write(folder: Path, edges: np.ndarray, source: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "edges.csv").open("w") as handle:
        handle.write("source,target\n")
        handle.writelines(f"{u},{v}\n" for u, v in edges)
    (folder / "SOURCE.md").write_text(source)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ca-grqc", type=Path, help="SNAP's CA-GrQc.txt")
    parser.add_argument("--airport", type=Path, help="HGCN's data/airport/airport.p")
    parser.add_argument("out", type=Path, help="folder to write ca-grqc/ and airport/ into")
    args = parser.parse_args(argv)
    if args.ca_grqc is None and args.airport is None:
        parser.error("give --ca-grqc and/or --airport")
    built: dict[str, tuple[int, int]] = {}
    if args.ca_grqc is not None:
        nodes, edges = read_snap(args.ca_grqc)
        write(args.out / "ca-grqc", edges,
              f"SNAP ca-GrQc ({args.ca_grqc.name}), converted by benchmarks/any_graph_data.py: self loops "
              f"dropped, ids relabelled 0..N-1 in increasing order.\n")
        built["ca-grqc"] = (len(nodes), len(edges))
    if args.airport is not None:
        edges, features = read_airport(args.airport)
        write(args.out / "airport", edges,
              f"HGCN (github.com/HazyResearch/hgcn) data/airport/airport.p, converted by "
              f"benchmarks/any_graph_data.py: ids relabelled 0..N-1 in increasing order, self loop "
              f"dropped, features = the first {AIRPORT_FEATURES} 'feat' values.\n")
        np.save(args.out / "airport" / "features.npy", features)
        built["airport"] = (len(features), len(edges))
    for name, (nodes, edges) in built.items():
        want = EXPECTED[name]
        note = "" if (nodes, edges) == want else f" (docs/results.md has {want[0]:,} / {want[1]:,})"
        print(f"{name}: {nodes:,} nodes, {edges:,} edges{note}")


if __name__ == "__main__":
    main()
