"""The portable encoder: a torch.export program that matches the model, on any graph size, safely."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch

from tune_gae.config import DataConfig, ModelConfig
from tune_gae.data.split import LinkSplit, load_split
from tune_gae.errors import TuneGAEError
from tune_gae.nn.encoders import build_model, embed
from tune_gae.nn.portable import PortableEncoder, export_encoder, pickled_members, write_portable_encoder

CONFIGS = [
    ModelConfig(1433, model="gae", encoder="gcn", hidden_channels=(32,), latent_channels=16),
    ModelConfig(1433, model="vgae", encoder="gcn", hidden_channels=(64, 32), latent_channels=8,
                normalize_features=False),
    ModelConfig(1433, model="gae", encoder="linear", latent_channels=16),
]


@pytest.fixture(scope="module")
def split(data_root: Path) -> LinkSplit:
    return load_split(DataConfig("Cora", root=str(data_root)))


def _trained_like(config: ModelConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """A model's state_dict with random (non-trivial) weights and biases."""
    torch.manual_seed(seed)
    model = build_model(config)
    with torch.no_grad():
        for value in model.parameters():
            value.normal_(0, 0.1)
    return model.state_dict()


def _model(config: ModelConfig, state: dict[str, torch.Tensor]) -> torch.nn.Module:
    model = build_model(config)
    model.load_state_dict(state)
    return model.eval()


def _subgraph(split: LinkSplit, keep: int) -> tuple[torch.Tensor, torch.Tensor]:
    edges = split.train_edge_index
    return split.x[:keep], edges[:, (edges[0] < keep) & (edges[1] < keep)]


@pytest.mark.parametrize("config", CONFIGS, ids=["gae-gcn", "vgae-2layer-raw", "linear"])
def test_exported_program_matches_the_model_on_graphs_of_any_size(config: ModelConfig, split: LinkSplit) -> None:
    state = _trained_like(config)
    model = _model(config, state)
    program = export_encoder(PortableEncoder.from_state_dict(config, state)).module()
    # Traced on a 3-node example; checked on Cora and on a subgraph with other node/edge counts.
    for x, edge_index in [(split.x, split.train_edge_index), _subgraph(split, 900)]:
        with torch.no_grad():
            assert torch.allclose(program(x, edge_index), embed(model, x, edge_index), atol=1e-5)


def test_existing_self_loops_count_once_as_in_gcn(split: LinkSplit) -> None:
    config = CONFIGS[0]
    state = _trained_like(config)
    x, edges = _subgraph(split, 300)
    looped = torch.cat([edges, torch.arange(0, 300, 7).repeat(2, 1)], dim=1)  # some nodes loop already
    program = export_encoder(PortableEncoder.from_state_dict(config, state)).module()
    with torch.no_grad():
        assert torch.allclose(program(x, looped), embed(_model(config, state), x, looped), atol=1e-5)
        assert torch.allclose(program(x, looped), program(x, edges), atol=1e-6)


def test_written_archive_reloads_with_torch_alone_and_holds_no_pickled_code(split: LinkSplit, tmp_path: Path) -> None:
    config = CONFIGS[1]
    state = _trained_like(config)
    z = embed(_model(config, state), split.x, split.train_edge_index)
    path = tmp_path / "encoder.pt2"
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        note = write_portable_encoder(path, config, state, split.x, split.train_edge_index, z)
    assert note.startswith("torch.export program (.pt2 archive); reproduces embeddings.pt to")
    assert pickled_members(path) == []
    # The weights (1433 x 64 + 64 x 32 + 32 x 8 floats: 0.38 MB) and the graph; Cora's features
    # (15.5 MB) are not saved as the archive's sample inputs.
    assert path.stat().st_size < 600_000

    x, edges = _subgraph(split, 500)
    torch.save({"x": x, "edge_index": edges}, tmp_path / "inputs.pt")
    script = """
import sys, warnings
warnings.simplefilter("error", DeprecationWarning)
sys.modules["tune_gae"] = None  # any import of tune_gae (or PyG) now raises ImportError
sys.modules["torch_geometric"] = None
import torch
encoder = torch.export.load(sys.argv[1]).module()
inputs = torch.load(sys.argv[2], weights_only=True)
with torch.no_grad():
    torch.save(encoder(inputs["x"], inputs["edge_index"]), sys.argv[3])
print(sorted(m for m in sys.modules if m.startswith(("tune_gae", "torch_geometric")) and sys.modules[m]))
"""
    done = subprocess.run([sys.executable, "-I", "-c", script, str(path), "inputs.pt", "z.pt"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    got = torch.load(tmp_path / "z.pt", weights_only=True)
    assert torch.allclose(got, embed(_model(config, state), x, edges), atol=1e-5)


def test_pickled_members_finds_what_torch_would_unpickle(split: LinkSplit, tmp_path: Path) -> None:
    config = CONFIGS[0]
    state = _trained_like(config)
    path = tmp_path / "encoder.pt2"
    torch.export.save(export_encoder(PortableEncoder.from_state_dict(config, state)), path)
    tampered = tmp_path / "tampered.pt2"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tampered, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.endswith("model_weights_config.json"):
                weights = json.loads(data)
                first = next(iter(weights["config"]))
                weights["config"][first]["use_pickle"] = True
                data = json.dumps(weights).encode()
                flagged = f"{item.filename}:{first}"
            target.writestr(item, data)
    assert pickled_members(path) == []
    assert pickled_members(tampered) == [flagged]


def test_an_encoder_that_drifts_from_the_model_is_not_written(split: LinkSplit, tmp_path: Path) -> None:
    config = CONFIGS[0]
    state = _trained_like(config)
    z = embed(_model(config, state), split.x, split.train_edge_index)
    with pytest.raises(TuneGAEError, match=r"^the exported encoder does not reproduce the model's embeddings"):
        write_portable_encoder(tmp_path / "encoder.pt2", config, state, split.x, split.train_edge_index, z + 0.01)
    assert not (tmp_path / "encoder.pt2").exists()


# --------------------------------------------------------------------------- the portable scorer

SCORER_CONFIGS = {
    "inner_product": ModelConfig(1433, latent_channels=8),
    "inner_product-ensemble": ModelConfig(1433, latent_channels=8, ensemble=2),
    "hadamard_mlp-layer": ModelConfig(1433, latent_channels=8, decoder="hadamard_mlp", decoder_layers=3,
                                      decoder_width=16, decoder_norm="layer", decoder_dropout=0.3),
    "hadamard_mlp-batch-ensemble": ModelConfig(1433, latent_channels=8, decoder="hadamard_mlp", decoder_norm="batch",
                                               decoder_width=16, ensemble=2),
    **{f"ncn-{w}": ModelConfig(1433, latent_channels=8, decoder="ncn", decoder_layers=3, decoder_width=16,
                               decoder_norm="batch", cn_weighting=w)
       for w in ("count", "adamic_adar", "resource_allocation")},
    "ncn-ensemble": ModelConfig(1433, latent_channels=8, decoder="ncn", decoder_width=16, ensemble=3,
                                cn_weighting="adamic_adar"),
}


def _scored_like(config: ModelConfig, seed: int = 0) -> tuple[dict[str, torch.Tensor], torch.nn.Module]:
    """Random weights (batch norms' running statistics too) and the decoder holding them, in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    state = {k: torch.randn(v.shape, generator=generator) * 0.3 if v.is_floating_point() else v
             for k, v in build_model(config).state_dict().items()}
    state = {k: v.abs() + 0.5 if k.endswith("running_var") else v for k, v in state.items()}
    return state, _model(config, state).decoder


def _pairs(split: LinkSplit) -> torch.Tensor:
    """Held-out edges, non-edges, and pairs of a node with itself."""
    return torch.cat([split.val_pos, split.val_neg, torch.arange(0, 2708, 97).repeat(2, 1)], dim=1)


@pytest.mark.parametrize("name", list(SCORER_CONFIGS))
def test_exported_scorer_reproduces_the_decoder_on_graphs_of_any_size(name: str, split: LinkSplit) -> None:
    from tune_gae.nn.portable_scorer import PortableScorer, export_scorer

    config = SCORER_CONFIGS[name]
    state, decoder = _scored_like(config)
    program = export_scorer(PortableScorer.from_state_dict(config, state), config.embedding_dim).module()
    z = torch.randn(split.num_nodes, config.embedding_dim, generator=torch.Generator().manual_seed(1))
    # Cora's training graph, then a subgraph: other node, edge and pair counts than the traced ones.
    keep = 900
    x, sub_edges = _subgraph(split, keep)
    pairs = _pairs(split)
    sub_pairs = pairs[:, (pairs[0] < keep) & (pairs[1] < keep)]
    for nodes, edges, scored in [(split.num_nodes, split.train_edge_index, pairs), (keep, sub_edges, sub_pairs)]:
        decoder.attach_graph(edges, nodes)
        with torch.no_grad():
            want = decoder.logits(z[:nodes], scored)
            got = program(z[:nodes], scored, edges)
        assert got.shape == (scored.size(1),)
        assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()
        assert want.std() > 0  # the pairs' scores differ: the check compares something
    assert program(z, pairs[:, :0], split.train_edge_index).shape == (0,)


def test_written_scorer_reloads_with_torch_alone(split: LinkSplit, tmp_path: Path) -> None:
    from tune_gae.nn.portable_scorer import write_portable_scorer

    config = SCORER_CONFIGS["ncn-ensemble"]
    state, decoder = _scored_like(config, seed=2)
    z = torch.randn(split.num_nodes, config.embedding_dim, generator=torch.Generator().manual_seed(3))
    pairs = _pairs(split)
    decoder.attach_graph(split.train_edge_index, split.num_nodes)
    with torch.no_grad():
        want = decoder.logits(z, pairs)
    path = tmp_path / "scorer.pt2"
    note = write_portable_scorer(path, config, state, z, pairs, split.train_edge_index, want)
    assert note.startswith(f"torch.export program (.pt2 archive); reproduces the model's logits of {pairs.size(1)} ")
    assert pickled_members(path) == []
    torch.save({"z": z, "pairs": pairs, "edge_index": split.train_edge_index}, tmp_path / "inputs.pt")
    script = """
import sys
sys.modules["tune_gae"] = None  # any import of tune_gae, PyG or SciPy now raises ImportError
sys.modules["torch_geometric"] = None
sys.modules["scipy"] = None
import torch
scorer = torch.export.load(sys.argv[1]).module()
inputs = torch.load(sys.argv[2], weights_only=True)
with torch.no_grad():
    torch.save(scorer(inputs["z"], inputs["pairs"], inputs["edge_index"]), sys.argv[3])
"""
    done = subprocess.run([sys.executable, "-I", "-c", script, str(path), "inputs.pt", "logits.pt"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert torch.allclose(torch.load(tmp_path / "logits.pt", weights_only=True), want, atol=1e-5)

    with pytest.raises(TuneGAEError, match=r"^the exported scorer does not reproduce the model's link scores"):
        write_portable_scorer(tmp_path / "drift.pt2", config, state, z, pairs, split.train_edge_index, want + 0.01)
    assert not (tmp_path / "drift.pt2").exists()


@pytest.mark.slow
@pytest.mark.parametrize("decoder", ["hadamard_mlp", "ncn"])
def test_a_bundles_scorer_reproduces_its_test_metrics_with_torch_alone(decoder: str, decoder_bundles: Any,
                                                                       tmp_path: Path) -> None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    from tune_gae import load_model
    from tune_gae.bundle.reader import load_bundle_split, load_embeddings

    bundle = decoder_bundles(decoder)
    script = """
import sys
sys.modules["tune_gae"] = None  # any import of tune_gae, PyG or SciPy now raises ImportError
sys.modules["torch_geometric"] = None
sys.modules["scipy"] = None
import torch
bundle = sys.argv[1]
scorer = torch.export.load(bundle + "/scorer.pt2").module()
z = torch.load(bundle + "/embeddings.pt", weights_only=True)
split = torch.load(bundle + "/split.pt", weights_only=True)
with torch.no_grad():
    logits = [scorer(z, split[k], split["train_edge_index"]) for k in ("test_pos", "test_neg")]
torch.save(logits, sys.argv[2])
"""
    done = subprocess.run([sys.executable, "-I", "-c", script, str(bundle), "logits.pt"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    pos, neg = torch.load(tmp_path / "logits.pt", weights_only=True)
    metrics = json.loads((bundle / "metrics.json").read_text())
    labels = [1] * pos.numel() + [0] * neg.numel()
    scores = torch.cat([pos, neg]).numpy()
    assert roc_auc_score(labels, scores) == pytest.approx(metrics["test_auc"], abs=1e-4)
    assert average_precision_score(labels, scores) == pytest.approx(metrics["test_ap"], abs=1e-4)
    model, z, edges = load_model(bundle), load_embeddings(bundle), load_bundle_split(bundle)
    with torch.no_grad():
        assert torch.allclose(pos, model.decoder.logits(z, edges["test_pos"]), atol=1e-5)
        assert torch.allclose(neg, model.decoder.logits(z, edges["test_neg"]), atol=1e-5)
