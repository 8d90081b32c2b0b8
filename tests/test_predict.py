"""Using an exported bundle from the command line: embed, predict (pairs and top-k)."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from tune_gae import load_model
from tune_gae.bundle.reader import (
    load_bundle_split,
    load_embeddings,
    read_bundle_config,
)
from tune_gae.cli import main
from tune_gae.nn.encoders import embed

pytestmark = pytest.mark.slow


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_embed_own_graph_reproduces_the_bundle(smoke_bundle: Path, tmp_path: Path) -> None:
    for name in ("z.npy", "z.pt"):
        result = CliRunner().invoke(main, ["embed", str(smoke_bundle), "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        path = tmp_path / name
        z = torch.from_numpy(np.load(path)) if name.endswith(".npy") else torch.load(path, weights_only=True)
        saved = load_embeddings(smoke_bundle)
        assert z.shape == saved.shape and torch.allclose(z, saved, atol=1e-5)
        assert f"Wrote 2708 x {saved.size(1)} embeddings" in result.output


def test_embed_a_new_graph_with_the_same_feature_size(smoke_bundle: Path, tmp_path: Path, data_root: Path) -> None:
    from tune_gae.config import DataConfig
    from tune_gae.data.split import load_split

    split = load_split(DataConfig("Cora", root=str(data_root)))
    keep = 1000
    edges = split.train_pos[:, (split.train_pos[0] < keep) & (split.train_pos[1] < keep)]
    with (tmp_path / "edges.csv").open("w") as handle:
        handle.write("source,target\n" + "".join(f"{u},{v}\n" for u, v in edges.t().tolist()))
    np.save(tmp_path / "x.npy", split.x[:keep].numpy())
    args = ["embed", str(smoke_bundle), "--graph", str(tmp_path / "edges.csv"), "--features", str(tmp_path / "x.npy"),
            "--out", str(tmp_path / "new.pt")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    z = torch.load(tmp_path / "new.pt", weights_only=True)
    both_ways = torch.cat([edges, edges.flip(0)], dim=1)
    expected = embed(load_model(smoke_bundle), split.x[:keep], both_ways)
    assert z.shape == expected.shape == (keep, read_bundle_config(smoke_bundle)["model"]["latent_channels"])
    assert torch.allclose(z, expected, atol=1e-5)

    np.save(tmp_path / "x10.npy", np.ones((keep, 10), dtype=np.float32))
    args[5] = str(tmp_path / "x10.npy")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: {tmp_path / 'x10.npy'} has 10 feature columns but the model takes 1433 (config.json "
        "in_channels): give --features with 1433 columns per node."
    ]


def test_embed_rejects_an_unknown_output_format(smoke_bundle: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["embed", str(smoke_bundle), "--out", str(tmp_path / "z.txt")])
    assert result.exit_code == 2 and "Error: --out must end in .pt or .npy but got 'z.txt'." in result.output


def test_predict_pairs_are_sigmoid_of_inner_products(smoke_bundle: Path, tmp_path: Path) -> None:
    pairs = [(0, 633), (0, 1), (5, 10), (2707, 3), (100, 100)]
    (tmp_path / "pairs.csv").write_text("src,dst\n" + "".join(f"{u},{v}\n" for u, v in pairs))
    result = CliRunner().invoke(main, ["predict", str(smoke_bundle), "--pairs", str(tmp_path / "pairs.csv")])
    assert result.exit_code == 0, result.output
    rows = _csv(result.output)
    z = load_embeddings(smoke_bundle)
    assert [(int(r["src"]), int(r["dst"])) for r in rows] == pairs
    for row in rows:
        u, v = int(row["src"]), int(row["dst"])
        assert float(row["score"]) == pytest.approx(torch.sigmoid(z[u] @ z[v]).item(), abs=1e-6)

    out = tmp_path / "scores.csv"
    written = CliRunner().invoke(main, ["predict", str(smoke_bundle), "--pairs", str(tmp_path / "pairs.csv"),
                                        "--out", str(out)])
    assert written.exit_code == 0 and out.read_text() == result.output


def test_predict_top_k_excludes_existing_neighbours(smoke_bundle: Path) -> None:
    edges = load_bundle_split(smoke_bundle)["train_edge_index"]
    degree = torch.bincount(edges[0], minlength=2708)
    node = int(degree.argmax())  # the best-connected node: the most to exclude
    result = CliRunner().invoke(main, ["predict", str(smoke_bundle), "--node", str(node), "--top-k", "15"])
    assert result.exit_code == 0, result.output
    rows = _csv(result.output)
    neighbours = set(edges[1][edges[0] == node].tolist())
    found = [int(r["dst"]) for r in rows]
    scores = [float(r["score"]) for r in rows]
    assert len(found) == 15 and all(int(r["src"]) == node for r in rows)
    assert node not in found and not neighbours & set(found)
    assert scores == sorted(scores, reverse=True)
    # The same list, computed independently: every other non-neighbour scores no higher.
    z = load_embeddings(smoke_bundle)
    all_scores = torch.sigmoid(z @ z[node])
    allowed = [i for i in range(2708) if i != node and i not in neighbours]
    best = sorted(allowed, key=lambda i: (-all_scores[i].item(), i))[:15]
    assert found == best
    assert scores == pytest.approx([all_scores[i].item() for i in best], abs=1e-6)


def test_predict_errors(smoke_bundle: Path, tmp_path: Path) -> None:
    neither = CliRunner().invoke(main, ["predict", str(smoke_bundle)])
    assert neither.exit_code == 2 and "give either --pairs FILE or --node N" in neither.output
    far = CliRunner().invoke(main, ["predict", str(smoke_bundle), "--node", "5000"])
    assert far.exit_code == 2
    assert far.output.strip().splitlines() == [
        "Error: --node 5000 is out of range: the bundle's graph has nodes 0..2707."
    ]
    (tmp_path / "pairs.csv").write_text("0,1\n2,x\n")
    bad = CliRunner().invoke(main, ["predict", str(smoke_bundle), "--pairs", str(tmp_path / "pairs.csv")])
    assert bad.exit_code == 2 and f"{tmp_path / 'pairs.csv'}:2: node ids must be integers" in bad.output
