"""Using an exported bundle from the command line: embed, predict (pairs and top-k)."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

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


# --------------------------------------------------------------------------- bundles of learned decoders


def _hand_hadamard_ensemble(bundle: Path, pairs: torch.Tensor) -> torch.Tensor:
    """The hadamard_mlp ensemble's logits by hand from model.pt: per member, its block of
    embeddings.pt unscaled, linear -> batch norm (running statistics) -> ReLU -> linear; the mean."""
    state = torch.load(bundle / "model.pt", weights_only=True)
    z = load_embeddings(bundle).double()
    members = read_bundle_config(bundle)["model"]["ensemble"]
    blocks = (z * members**0.5).chunk(members, dim=1)
    logits = []
    for m, block in enumerate(blocks):
        p = {k.split(f"decoder.members.{m}.mlp.", 1)[1]: v.double() for k, v in state.items()
             if k.startswith(f"decoder.members.{m}.mlp.")}
        h = block[pairs[0]] * block[pairs[1]]
        h = h @ p["lins.0.weight"].T + p["lins.0.bias"]
        h = (h - p["norms.0.running_mean"]) / (p["norms.0.running_var"] + 1e-5).sqrt() * p["norms.0.weight"] \
            + p["norms.0.bias"]
        logits.append((h.relu() @ p["lins.1.weight"].T + p["lins.1.bias"]).squeeze(-1))
    return torch.stack(logits).mean(dim=0)


def _scorer_logits(bundle: Path, pairs: torch.Tensor) -> torch.Tensor:
    """scorer.pt2's logits (plain torch ops: the ncn's common neighbours without SciPy)."""
    scorer = torch.export.load(bundle / "scorer.pt2").module()
    with torch.no_grad():
        return scorer(load_embeddings(bundle), pairs, load_bundle_split(bundle)["train_edge_index"])


@pytest.mark.parametrize("decoder", ["hadamard_mlp", "ncn"])
def test_predict_scores_with_the_bundles_decoder(decoder: str, decoder_bundles: Any, tmp_path: Path) -> None:
    bundle = decoder_bundles(decoder)
    edges = load_bundle_split(bundle)
    pairs = torch.cat([edges["test_pos"][:, :6], edges["test_neg"][:, :6], torch.tensor([[7], [7]])], dim=1)
    (tmp_path / "pairs.csv").write_text("src,dst\n" + "".join(f"{u},{v}\n" for u, v in pairs.t().tolist()))
    result = CliRunner().invoke(main, ["predict", str(bundle), "--pairs", str(tmp_path / "pairs.csv")])
    assert result.exit_code == 0, result.output
    rows = _csv(result.output)
    assert [(int(r["src"]), int(r["dst"])) for r in rows] == [tuple(p) for p in pairs.t().tolist()]
    got = torch.tensor([float(r["score"]) for r in rows])
    want = torch.sigmoid(_hand_hadamard_ensemble(bundle, pairs) if decoder == "hadamard_mlp"
                         else _scorer_logits(bundle, pairs))
    assert torch.allclose(got.double(), want.double(), atol=1e-6)
    z = load_embeddings(bundle)
    inner = torch.sigmoid((z[pairs[0]] * z[pairs[1]]).sum(-1))
    assert not torch.allclose(got, inner, atol=1e-3)  # not sigmoid(z_u . z_v)


@pytest.mark.parametrize("decoder", ["hadamard_mlp", "ncn"])
def test_predict_top_k_ranks_by_the_bundles_decoder(decoder: str, decoder_bundles: Any) -> None:
    bundle = decoder_bundles(decoder)
    edges = load_bundle_split(bundle)["train_edge_index"]
    n = read_bundle_config(bundle)["num_nodes"]
    node = int(torch.bincount(edges[0], minlength=n).argmax())
    result = CliRunner().invoke(main, ["predict", str(bundle), "--node", str(node), "--top-k", "8"])
    assert result.exit_code == 0, result.output
    rows = _csv(result.output)
    neighbours = set(edges[1][edges[0] == node].tolist())
    allowed = [i for i in range(n) if i != node and i not in neighbours]
    others = torch.tensor(allowed)
    scores = torch.sigmoid(_scorer_logits(bundle, torch.stack([torch.full_like(others, node), others])))
    of = dict(zip(allowed, scores.tolist()))
    found = [int(r["dst"]) for r in rows]
    shown = [float(r["score"]) for r in rows]
    # Each listed node with its own score, best first; no other candidate above the last one (the
    # two implementations may order exact ties differently by a last bit, so ties are not compared).
    assert len(set(found)) == 8 and set(found) <= set(allowed) and shown == sorted(shown, reverse=True)
    assert shown == pytest.approx([of[i] for i in found], abs=1e-6)
    assert shown == pytest.approx(sorted(of.values(), reverse=True)[:8], abs=1e-6)


def test_scoring_in_small_chunks_changes_nothing(decoder_bundles: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tune_gae.bundle import predict

    bundle = decoder_bundles("ncn")
    edges = load_bundle_split(bundle)
    pairs = torch.cat([edges["test_pos"], edges["test_neg"]], dim=1)
    whole = predict.link_probabilities(bundle, pairs)
    top = predict.top_k_links(bundle, 3, 10)
    most = int(torch.bincount(edges["train_edge_index"][0]).max())
    monkeypatch.setattr(predict, "CHUNK_ENTRIES", 7 * (1 + 2 * most))  # 7 pairs a chunk
    assert torch.allclose(predict.link_probabilities(bundle, pairs), whole, atol=1e-6)
    chunked = predict.top_k_links(bundle, 3, 10)
    assert [s for _, _, s in chunked] == pytest.approx([s for _, _, s in top], abs=1e-6)
    assert predict.link_probabilities(bundle, pairs[:, :0]).shape == (0,)
