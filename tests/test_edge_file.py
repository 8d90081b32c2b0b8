"""What ``--dataset FILE`` reads (the rules the README states), and a bad file refused before torch loads."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tune_gae.config import DataConfig
from tune_gae.data.edge_file import read_edge_file
from tune_gae.data.sources import load_graph
from tune_gae.errors import TuneGAEError


@pytest.mark.parametrize("text", [
    "0\t1\n1\t2\n2\t0\n",          # tabs
    "0,1\n1,2\n2,0\n",             # commas
    "0 1\n1   2\n2 0\n",           # runs of spaces
    "src,dst\n0,1\n1,2\n2,0\n",    # a header
    "scr,dts\n0,1\n1,2\n2,0\n",    # a header with a typo is a header too
    "# a comment\n\n0,1,0.5\n1,2,3\n2,0,1.5\n",  # comments, blank lines, weights (ignored)
])
def test_the_separators_headers_comments_and_weights_the_readme_states(tmp_path: Path, text: str) -> None:
    edges = tmp_path / "g.csv"
    edges.write_text(text)
    assert read_edge_file(edges) == [(0, 1), (1, 2), (2, 0)]


def test_a_header_is_only_ever_the_first_line(tmp_path: Path) -> None:
    edges = tmp_path / "g.csv"
    edges.write_text("# comment\nsrc,dst\n0,1\n")
    with pytest.raises(TuneGAEError, match=r"g\.csv:2: node ids must be integers but got 'src', 'dst'\."):
        read_edge_file(edges)


def test_edges_are_undirected_without_duplicates_or_self_loops(tmp_path: Path) -> None:
    edges = tmp_path / "data" / "graph.csv"
    edges.parent.mkdir()
    edges.write_text("0,1\n1,0\n0,1\n2,2\n1,2\n5,1\n")  # 0-1 three times, a self loop, node ids 3, 4 unnamed
    data = load_graph(DataConfig(str(edges)))
    assert data.num_nodes == 6  # largest id + 1: 3 and 4 are nodes without edges
    assert sorted(map(tuple, data.edge_index.t().tolist())) == [(0, 1), (1, 0), (1, 2), (1, 5), (2, 1), (5, 1)]
    assert data.name == "data-graph"  # a generic file name keeps its folder's in front


def test_a_graph_is_named_after_its_file(tmp_path: Path) -> None:
    edges = tmp_path / "data" / "my-net.csv"
    edges.parent.mkdir()
    edges.write_text("0,1\n1,2\n")
    assert load_graph(DataConfig(str(edges))).name == "my-net"  # not "data", its folder


def _refuse(tmp_path: Path, dataset: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """``tune-gae search`` in a real process; its stderr lines, and which heavy modules it had
    imported when it exited (an atexit hook: the CLI runs atexit handlers before its quick exit)."""
    probe = tmp_path / "imported.txt"
    code = (
        "import atexit, sys\n"
        f"atexit.register(lambda: open({str(probe)!r}, 'w').write(' '.join(sorted(m for m in "
        "('torch', 'torch_geometric', 'ray', 'optuna') if m in sys.modules))))\n"
        "from tune_gae.cli.process import run_as_process\n"
        f"sys.argv = ['tune-gae', 'search', 'smoke', '--dataset', {dataset!r}, '--results-dir', "
        f"{str(tmp_path / 'results')!r}]\n"
        "run_as_process()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    return done, probe.read_text().split()


@pytest.mark.parametrize("case", ["missing", "malformed"])
def test_a_bad_edge_file_is_refused_before_torch_pyg_and_ray_load(tmp_path: Path, case: str) -> None:
    edges = tmp_path / "edges.csv"
    if case == "malformed":
        edges.write_text("src,dst\n0,1\n1,2\n2;3\n")
        message = f"Error: {edges}:4: expected two node ids per line but got '2;3'."
    else:
        message = f"Error: edge file {edges} does not exist: check the path given to --dataset."
    done, imported = _refuse(tmp_path, str(edges))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [message]
    assert imported == []
    assert not (tmp_path / "results").exists()
