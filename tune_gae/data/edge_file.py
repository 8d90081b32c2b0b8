"""What ``--dataset FILE`` reads, parsed in plain Python: a bad file is refused before torch loads.

An edge-list file is text, one edge a line:

- separator: a tab when the first 4 KiB hold one, else a comma when they hold one, else any run
  of spaces (so ``.csv``, ``.tsv`` and ``.txt`` edge lists all read);
- the first two fields of a line are the two node ids; further fields (weights, timestamps) are
  ignored;
- blank lines, and lines whose first field starts with ``#``, are skipped;
- the file's FIRST line is taken as a header when its first two fields are not both integers,
  whatever they say (``src,dst``, or ``scr,dts`` with a typo); any later such line is an error;
- node ids are integers from 0; the graph has ``largest id + 1`` nodes (an id that no line names is
  a node without edges), or one per row of ``--features``;
- edges are undirected: ``u,v`` and ``v,u`` are one edge, a repeated edge counts once, and self
  loops (``u,u``) are dropped.

The graph is named after the file (``my-net.csv`` -> ``my-net``), and so is a search's folder by
default; a generic file name keeps its folder in front (``USAir/edges.csv`` -> ``USAir-edges``).
"""
from __future__ import annotations

import csv
from pathlib import Path

from tune_gae.config import SYNTHETIC_PREFIX, looks_like_path
from tune_gae.errors import TuneGAEError

SNIFF_CHARS = 4096  # what the separator is chosen from
GENERIC_STEMS = ("edges", "edge_list", "edgelist", "graph", "links")  # names that say little alone


def edge_list_name(path: Path) -> str:
    """The graph's name: the file's, with its folder's in front when the file's says little."""
    if path.stem.lower() in GENERIC_STEMS and path.parent.name:
        return f"{path.parent.name}-{path.stem}"
    return path.stem


def read_id_pairs(path: Path, *, num_nodes: int | None = None, graph: str = "the graph") -> list[tuple[int, int]]:
    """Integer node-id pairs from a CSV/TSV/whitespace file of two columns; a header row, blank
    lines and ``#`` comments are allowed. Every problem is one line naming ``path:line``; with
    ``num_nodes``, ids outside ``0..num_nodes-1`` are refused (``graph`` names whose ids they are)."""
    pairs: list[tuple[int, int]] = []
    with path.open(newline="") as handle:
        sample = handle.read(SNIFF_CHARS)
        handle.seek(0)
        delimiter = "\t" if "\t" in sample else ("," if "," in sample else None)
        rows = csv.reader(handle, delimiter=delimiter) if delimiter else (line.split() for line in handle)
        for line_no, row in enumerate(rows, start=1):
            cells = [c.strip() for c in row if c.strip()]
            if not cells or cells[0].startswith("#"):
                continue
            if len(cells) < 2:
                raise TuneGAEError(f"{path}:{line_no}: expected two node ids per line but got {','.join(cells)!r}.")
            try:
                u, v = int(cells[0]), int(cells[1])
            except ValueError:
                if line_no == 1 and not pairs:
                    continue  # header row
                raise TuneGAEError(
                    f"{path}:{line_no}: node ids must be integers but got {cells[0]!r}, {cells[1]!r}."
                ) from None
            if num_nodes is not None:
                for node in (u, v):
                    if not 0 <= node < num_nodes:
                        raise TuneGAEError(
                            f"{path}:{line_no}: node {node} is out of range: {graph} has nodes 0..{num_nodes - 1}."
                        )
            elif u < 0 or v < 0:
                raise TuneGAEError(f"{path}:{line_no}: node ids cannot be negative but got {u}, {v}.")
            pairs.append((u, v))
    return pairs


def read_edge_file(path: Path) -> list[tuple[int, int]]:
    """The node-id pairs of an edge-list file, or a one-line error: missing, malformed, no edges."""
    if not path.is_file():
        raise TuneGAEError(f"edge file {path} does not exist: check the path given to --dataset.")
    pairs = read_id_pairs(path)
    if not pairs:
        raise TuneGAEError(f"edge file {path} holds no edges: add lines of 'source,target' node ids.")
    if all(u == v for u, v in pairs):
        raise TuneGAEError(f"edge file {path} holds only self loops: a link split needs real edges.")
    return pairs


def check_dataset_file(dataset: str, features: str | None) -> None:
    """For an edge-list ``dataset``: the file parses and ``features`` exists (no torch needed)."""
    source = dataset.strip()
    if source.lower().startswith(SYNTHETIC_PREFIX) or not looks_like_path(source):
        return
    read_edge_file(Path(source))
    if features is not None:
        check_feature_file(Path(features))


def check_feature_file(path: Path) -> None:
    if not path.is_file():
        raise TuneGAEError(f"feature file {path} does not exist: check the path given to --features.")
