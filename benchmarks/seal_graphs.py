"""SEAL's eight benchmark graphs (Zhang & Chen, NeurIPS 2018, Table 1) as ``DIR/<graph>/edges.csv``.

SEAL's repository ships them as MATLAB files holding one sparse adjacency matrix ``net``; they are
not copied into this repository. Get them with::

    git clone https://github.com/muhanzhang/SEAL        # the graphs are in SEAL/Python/data/*.mat
    python benchmarks/seal_graphs.py SEAL/Python/data DIR

(``SEAL/MATLAB/data`` holds the same files.) Each graph becomes ``DIR/<graph>/edges.csv``: a
``source,target`` header, then each undirected edge once (low id first), self loops dropped, node
ids the matrix's row numbers. The script prints each graph's node and edge counts beside those of
SEAL's paper; ``tune-gae search ... --dataset DIR/USAir/edges.csv`` then reads the graph (its name
is the folder's). Used by ``benchmarks/seal_table.sh``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

# .mat file stem -> (label in SEAL's Table 1, nodes, edges in SEAL's paper).
GRAPHS: dict[str, tuple[str, int, int]] = {
    "USAir": ("USAir", 332, 2126),
    "NS": ("NS", 1589, 2742),
    "PB": ("PB", 1222, 16714),
    "Yeast": ("Yeast", 2375, 11693),
    "Celegans": ("C.ele", 297, 2148),
    "Power": ("Power", 4941, 6594),
    "Router": ("Router", 5022, 6258),
    "Ecoli": ("E.coli", 1805, 14660),
}


def undirected_edges(path: Path) -> tuple[int, np.ndarray]:
    """Node count and ``[E, 2]`` undirected edges (low id first, no self loop, each once) of a
    SEAL ``.mat`` file's ``net`` matrix (an edge in either direction counts)."""
    from scipy.io import loadmat
    from scipy.sparse import coo_matrix

    net = loadmat(str(path))["net"]
    if net.shape[0] != net.shape[1]:
        raise ValueError(f"{path}: 'net' must be square but is {net.shape}.")
    coo = coo_matrix(net)
    keep = coo.data != 0
    u, v = coo.row[keep], coo.col[keep]
    low, high = np.minimum(u, v), np.maximum(u, v)
    pairs = np.unique(np.stack([low, high], axis=1)[low != high], axis=0)
    return int(net.shape[0]), pairs


def convert(source: Path, out: Path) -> list[dict[str, object]]:
    """Write ``out/<graph>/edges.csv`` for each of the eight graphs found in ``source``."""
    rows = []
    missing = [stem for stem in GRAPHS if not (source / f"{stem}.mat").is_file()]
    if missing:
        raise SystemExit(f"{source} lacks {', '.join(f'{m}.mat' for m in missing)}: point it at SEAL's "
                         f"Python/data folder (git clone https://github.com/muhanzhang/SEAL).")
    for stem, (label, paper_nodes, paper_edges) in GRAPHS.items():
        nodes, pairs = undirected_edges(source / f"{stem}.mat")
        folder = out / stem
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "edges.csv").open("w") as handle:
            handle.write("source,target\n")
            handle.writelines(f"{u},{v}\n" for u, v in pairs)
        touched = np.unique(pairs)
        rows.append({"graph": stem, "label": label, "nodes": nodes, "edges": len(pairs),
                     "paper_nodes": paper_nodes, "paper_edges": paper_edges,
                     "isolated": nodes - touched.size,
                     # edges.csv gives a graph of max id + 1 nodes: trailing isolated nodes are not in it.
                     "nodes_in_csv": int(touched.max()) + 1})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="SEAL's Python/data folder (holding USAir.mat ...)")
    parser.add_argument("out", type=Path, help="folder to write <graph>/edges.csv into")
    args = parser.parse_args(argv)
    rows = convert(args.source, args.out)
    print("| graph | nodes | edges | paper nodes / edges | isolated nodes | nodes in edges.csv |")
    print("|---|---|---|---|---|---|")
    mismatched = False
    for r in rows:
        same = (r["nodes"], r["edges"]) == (r["paper_nodes"], r["paper_edges"])
        mismatched |= not same
        print(f"| {r['label']} | {r['nodes']:,} | {r['edges']:,} | {r['paper_nodes']:,} / {r['paper_edges']:,}"
              f"{'' if same else ' (differs)'} | {r['isolated']} | {r['nodes_in_csv']:,} |")
    if mismatched:
        print("some counts differ from SEAL's paper (see the table)", file=sys.stderr)


if __name__ == "__main__":
    main()
