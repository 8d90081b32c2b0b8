"""Exporting the best trial of a real search, and loading the bundle back (safely) elsewhere."""
from __future__ import annotations

import csv
import json
import pickle
import shutil
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from sklearn.metrics import average_precision_score, roc_auc_score

from tune_gae import load_model
from tune_gae.bundle.files import BUNDLE_FILES
from tune_gae.bundle.reader import (
    bundle_model_config,
    load_bundle_split,
    load_embeddings,
    read_bundle_config,
)
from tune_gae.cli import main
from tune_gae.config import DataConfig
from tune_gae.data.split import LinkSplit, load_split
from tune_gae.errors import TuneGAEError
from tune_gae.nn.encoders import embed
from tune_gae.nn.portable import PortableEncoder, pickled_members
from tune_gae.rules import TEST_METRICS, VALIDATION_METRICS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def split(data_root: Path) -> LinkSplit:
    return load_split(DataConfig("Cora", root=str(data_root)))


def _rows(search: Path) -> list[dict[str, str]]:
    with (search / "trials.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _pair_keys(edges: torch.Tensor, num_nodes: int) -> set[int]:
    """Undirected pair keys (low * N + high)."""
    low, high = torch.minimum(edges[0], edges[1]), torch.maximum(edges[0], edges[1])
    return set((low * num_nodes + high).tolist())


def _copy(bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle, tmp_path / "bundle"))


# --------------------------------------------------------------------------- the bundle


def test_search_json_records_the_reselection_and_its_winner(smoke_search: Path) -> None:
    record = json.loads((smoke_search / "search.json").read_text())
    entries = record["reselection"]
    rows = _rows(smoke_search)
    assert len(entries) >= 2 and record["reselection_settings"] == {"top": 3, "seeds": 3, "metric": "val_auc"}
    # The candidates are the top trials by the search's validation metric.
    assert [e["trial"] for e in sorted(entries, key=lambda e: -e["search_value"])] == [r["trial"] for r in rows[:len(entries)]]
    for entry in entries:
        assert len(entry["values"]) == len(entry["seeds"]) == 3 and all(0.5 < v <= 1 for v in entry["values"])
        assert entry["mean"] == pytest.approx(statistics.fmean(entry["values"]), abs=1e-12)
        assert entry["std"] == pytest.approx(statistics.stdev(entry["values"]), abs=1e-12)
    assert record["winner"]["trial"] == max(entries, key=lambda e: e["mean"])["trial"] == entries[0]["trial"]
    # Only the exported run's weights stay on disk; its value is the winner's best fresh value.
    kept = sorted(p.name for p in (smoke_search / "reselection").glob("*.pt"))
    assert kept == [f"{record['winner']['trial']}-seed{record['winner']['seed']}.pt"]
    saved = torch.load(smoke_search / "reselection" / kept[0], weights_only=True)
    assert saved["best"]["val_auc"] == max(entries[0]["values"])


def test_bundle_describes_the_reselected_winner(smoke_search: Path, smoke_bundle: Path, split: LinkSplit) -> None:
    assert sorted(p.name for p in smoke_bundle.iterdir()) == sorted(BUNDLE_FILES)
    record = json.loads((smoke_search / "search.json").read_text())
    config = read_bundle_config(smoke_bundle)
    metrics = json.loads((smoke_bundle / "metrics.json").read_text())
    entry = record["reselection"][0]
    best = next(r for r in _rows(smoke_search) if r["trial"] == record["winner"]["trial"])

    assert config["format"] == "tune-gae-bundle" and config["format_version"] == 1
    # The export is the best-mean configuration's fresh run with the best validation score.
    seed = entry["seeds"][entry["values"].index(max(entry["values"]))]
    assert config["trial"]["id"] == metrics["trial"] == record["winner"]["trial"] == entry["trial"] == best["trial"]
    assert config["training"]["seed"] == seed == record["winner"]["seed"]
    assert metrics["val_auc"] == max(entry["values"])
    assert config["trial"]["reselection"]["mean"] == entry["mean"]
    run = torch.load(smoke_search / "reselection" / f"{entry['trial']}-seed{seed}.pt", weights_only=True)
    assert config["split"]["hash"] == metrics["split_hash"] == record["split_hash"] == split.split_hash
    assert config["split"]["seed"] == 0 and config["dataset"] == "Cora" and config["data"]["dataset"] == "Cora"
    assert config["in_channels"] == config["model"]["in_channels"] == 1433 and config["num_nodes"] == 2708
    assert set(config["versions"]) == {"torch", "torch_geometric", "ray", "optuna", "tune_gae"}
    assert config["versions"]["torch"] == torch.__version__
    assert config["trial"]["best_epoch"] == metrics["epoch"] == int(run["best"]["epoch"])
    assert all(metrics[k] == pytest.approx(run["best"][k], abs=1e-12) for k in VALIDATION_METRICS)
    assert 0.5 < metrics["test_auc"] <= 1 and 0.5 < metrics["test_ap"] <= 1
    assert set(TEST_METRICS) <= set(metrics) and metrics["negatives"] == "uniform"

    # model.pt is that run's best-validation state_dict, plain tensors only.
    state = torch.load(smoke_bundle / "model.pt", weights_only=True)
    assert state.keys() == run["best_state"].keys()
    assert all(torch.equal(state[k], run["best_state"][k]) for k in state)
    assert config["model"] == run["model_config"]
    params = json.loads((smoke_search / best["trial"] / "params.json").read_text())  # checkpoints may be pruned
    assert config["training"]["lr"] == params["lr"] and config["training"]["epochs"] == params["epochs"]

    z = load_embeddings(smoke_bundle)
    assert z.dtype == torch.float32 and z.shape == (2708, config["model"]["latent_channels"])
    edges = load_bundle_split(smoke_bundle)
    assert all(torch.equal(edges[k], v) for k, v in split.edge_tensors().items())
    assert {k: v.size(1) for k, v in edges.items()} == config["split"]["sizes"]

    card = (smoke_bundle / "MODEL_CARD.md").read_text()
    assert best["trial"] in card and "smoke.yaml" in card and f"{metrics['test_auc']:.4f}" in card
    assert 'torch.export.load("path/to/bundle/encoder.pt2")' in card and "load_model" in card
    assert f"{metrics['test_mrr']:.4f}" in card and f"best mean `val_auc`: {entry['mean']:.4f}" in card
    assert f"seed {seed}" in card


def test_metrics_recomputed_with_sklearn_from_the_saved_embeddings(smoke_bundle: Path) -> None:
    z = load_embeddings(smoke_bundle)
    edges = load_bundle_split(smoke_bundle)
    metrics = json.loads((smoke_bundle / "metrics.json").read_text())
    for part in ("test", "val"):
        pos, neg = edges[f"{part}_pos"], edges[f"{part}_neg"]
        scores = torch.cat([(z[pos[0]] * z[pos[1]]).sum(-1), (z[neg[0]] * z[neg[1]]).sum(-1)]).numpy()
        labels = [1] * pos.size(1) + [0] * neg.size(1)
        assert roc_auc_score(labels, scores) == pytest.approx(metrics[f"{part}_auc"], abs=1e-4)
        assert average_precision_score(labels, scores) == pytest.approx(metrics[f"{part}_ap"], abs=1e-4)


def test_hits_and_mrr_recomputed_from_the_saved_embeddings(smoke_bundle: Path) -> None:
    """Independent route: numpy scores from embeddings.pt + split.pt, OGB's formulas by hand."""
    z = load_embeddings(smoke_bundle).double().numpy()
    edges = {k: v.numpy() for k, v in load_bundle_split(smoke_bundle).items()}
    metrics = json.loads((smoke_bundle / "metrics.json").read_text())
    for part in ("test", "val"):
        pos, neg = edges[f"{part}_pos"], edges[f"{part}_neg"]
        pos_scores = np.einsum("ij,ij->i", z[pos[0]], z[pos[1]])
        neg_scores = np.einsum("ij,ij->i", z[neg[0]], z[neg[1]])
        ranked = np.sort(neg_scores)[::-1]
        for k in (10, 20, 50, 100):
            hits = np.mean(pos_scores > ranked[k - 1]) if len(ranked) >= k else 1.0
            assert metrics[f"{part}_hits@{k}"] == pytest.approx(hits, abs=2 / len(pos_scores))
        ranks = [1 + ((neg_scores > s).sum() + (neg_scores >= s).sum()) / 2 for s in pos_scores]
        assert metrics[f"{part}_mrr"] == pytest.approx(np.mean(1 / np.array(ranks)), abs=1e-3)


def test_no_held_out_edge_is_in_the_training_graph(smoke_bundle: Path) -> None:
    edges = load_bundle_split(smoke_bundle)
    n = 2708
    train = _pair_keys(edges["train_edge_index"], n)
    assert edges["train_edge_index"].size(1) == 2 * len(train)  # both directions, nothing else
    for key in ("test_pos", "val_pos", "test_neg", "val_neg"):
        assert not train & _pair_keys(edges[key], n), key
    assert not _pair_keys(edges["test_pos"], n) & _pair_keys(edges["val_pos"], n)


def test_fresh_process_loads_the_bundle_and_reproduces_it(smoke_bundle: Path, tmp_path: Path) -> None:
    script = """
import json, sys
import torch
from tune_gae import load_model
from tune_gae.bundle.reader import load_embeddings, rebuild_split
from tune_gae.nn.encoders import embed
from tune_gae.train.trainer import score_test_edges

bundle = sys.argv[1]
model = load_model(bundle)
split = rebuild_split(bundle)
z = embed(model, split.x, split.train_edge_index)
tested = score_test_edges(model, split)
print(json.dumps({
    "max_diff": (z - load_embeddings(bundle)).abs().max().item(),
    "training": model.training, "kind": type(model).__name__, **tested,
    "heavy": sorted(m for m in ("ray", "optuna", "matplotlib", "sklearn") if m in sys.modules),
}))
"""
    done = subprocess.run([sys.executable, "-c", script, str(smoke_bundle)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    metrics = json.loads((smoke_bundle / "metrics.json").read_text())
    config = read_bundle_config(smoke_bundle)
    assert got["max_diff"] < 1e-5
    assert got["test_auc"] == pytest.approx(metrics["test_auc"], abs=1e-6)
    assert got["test_ap"] == pytest.approx(metrics["test_ap"], abs=1e-6)
    assert got["training"] is False and got["kind"] == config["model"]["model"].upper()
    assert got["heavy"] == []  # loading a bundle never imports Ray, Optuna, matplotlib or sklearn


def _card_snippet(bundle: Path) -> str:
    """The model card's "Without tune-gae" code, pointed at ``bundle``."""
    card = (bundle / "MODEL_CARD.md").read_text()
    block = card.split("Without tune-gae (torch only):", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    return block.replace("path/to/bundle", str(bundle))


def test_the_cards_portable_encoder_runs_without_tune_gae_or_pyg(smoke_bundle: Path, split: LinkSplit,
                                                                  tmp_path: Path) -> None:
    torch.save({"x": split.x, "edge_index": split.train_edge_index}, tmp_path / "inputs.pt")
    script = f"""
import sys, warnings
warnings.simplefilter("error", DeprecationWarning)
sys.modules["tune_gae"] = None  # any import of tune_gae (or PyG) now raises ImportError
sys.modules["torch_geometric"] = None
import torch
inputs = torch.load("inputs.pt", weights_only=True)
x, edge_index = inputs["x"], inputs["edge_index"]
with torch.no_grad():
{textwrap.indent(_card_snippet(smoke_bundle), "    ")}
torch.save(z, "z.pt")
torch.save(logits, "logits.pt")
print(sorted(m for m in sys.modules if m.startswith(("tune_gae", "torch_geometric")) and sys.modules[m]))
"""
    # -I: no user site, no cwd on sys.path; run from a folder that holds no tune_gae either.
    done = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    z = torch.load(tmp_path / "z.pt", weights_only=True)
    assert torch.allclose(z, load_embeddings(smoke_bundle), atol=1e-5)
    assert pickled_members(smoke_bundle / "encoder.pt2") == []  # loading it unpickled no code
    # The card's scorer: the test positives' logits, as the bundle's decoder scores them.
    logits = torch.load(tmp_path / "logits.pt", weights_only=True)
    test_pos = load_bundle_split(smoke_bundle)["test_pos"]
    with torch.no_grad():
        assert torch.allclose(logits, load_model(smoke_bundle).decoder.logits(z, test_pos), atol=1e-5)
    assert pickled_members(smoke_bundle / "scorer.pt2") == []


def test_portable_encoder_generalises_to_another_graph(smoke_bundle: Path, split: LinkSplit) -> None:
    # A different node count and edge set: the exported program has no size baked in.
    keep = 900
    edges = split.train_edge_index
    sub = edges[:, (edges[0] < keep) & (edges[1] < keep)]
    x = split.x[:keep]
    encoder = torch.export.load(smoke_bundle / "encoder.pt2").module()
    model = load_model(smoke_bundle)
    with torch.no_grad():
        assert torch.allclose(encoder(x, sub), embed(model, x, sub), atol=1e-5)
    portable = PortableEncoder.from_state_dict(
        bundle_model_config(read_bundle_config(smoke_bundle)),
        torch.load(smoke_bundle / "model.pt", weights_only=True),
    )
    assert torch.allclose(portable(x, sub), embed(model, x, sub), atol=1e-5)


def test_cli_export_writes_the_same_bundle(smoke_search: Path, smoke_bundle: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["export", str(smoke_search), "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert metrics == json.loads((smoke_bundle / "metrics.json").read_text())
    assert f"Exported {metrics['trial']}" in result.output and f"test AUC {metrics['test_auc']:.4f}" in result.output
    # Exporting again replaces the earlier bundle in place.
    again = CliRunner().invoke(main, ["export", str(smoke_search), "--out", str(tmp_path / "b")])
    assert again.exit_code == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["b"]


# --------------------------------------------------------------------------- errors


def _no_finished_trial_search(smoke_search: Path, tmp_path: Path) -> Path:
    """A copy of the search's records in which every trial errored (no checkpoint)."""
    folder = tmp_path / "failed"
    folder.mkdir()
    shutil.copy(smoke_search / "search.json", folder / "search.json")
    rows = _rows(smoke_search)
    for row in rows:
        row.update(state="ERROR", checkpoint="")
    with (folder / "trials.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder


def test_export_without_a_finished_trial_is_one_line_exit_2(smoke_search: Path, tmp_path: Path) -> None:
    folder = _no_finished_trial_search(smoke_search, tmp_path)
    result = CliRunner().invoke(main, ["export", str(folder)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: no finished trial with a checkpoint in {folder} (4 ERROR): resume it with "
        f"`tune-gae resume {folder}` or run a new search."
    ]
    assert not (folder / "best").exists()


def test_export_of_a_folder_that_is_not_a_search(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["export", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: {tmp_path} is not a tune-gae search (no search.json): pass a folder made by `tune-gae search`."
    ]


class _Payload:
    """Unpickling this would create ``marker``: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def test_model_pt_with_pickled_objects_is_refused_not_run(smoke_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy(smoke_bundle, tmp_path)
    marker = tmp_path / "code-ran"
    (bundle / "model.pt").write_bytes(pickle.dumps(_Payload(marker), protocol=2))
    with pytest.raises(TuneGAEError, match=r"^refused to load .*model\.pt: it holds pickled Python objects") as err:
        load_model(bundle)
    assert "\n" not in str(err.value) and not marker.exists()
    # A whole pickled module (torch.save(model), anti-pattern 6) is refused the same way.
    torch.save(load_model(smoke_bundle), bundle / "model.pt")
    with pytest.raises(TuneGAEError, match="holds pickled Python objects"):
        load_model(bundle)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _other_kind(bundle: Path) -> str:
    return {"gae": "vgae", "vgae": "gae"}[json.loads((bundle / "config.json").read_text())["model"]["model"]]


def _edit_config(bundle: Path, **changes: Any) -> None:
    config = json.loads((bundle / "config.json").read_text())
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            config[section][field] = value
        else:
            config[section] = value
    (bundle / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: _truncate(b / "config.json"), r"config\.json is not valid JSON \(.* at line \d+ column \d+; truncated or edited\?\)"),
        (lambda b: (b / "config.json").unlink(), r"bundle .* is missing config\.json \(a partial copy\?\)"),
        (lambda b: (b / "model.pt").unlink(), r"bundle .* is missing model\.pt \(a partial copy\?\)"),
        (lambda b: _truncate(b / "model.pt"), r"model\.pt is corrupt or truncated"),
        (lambda b: _edit_config(b, format_version=99), r"has format version 99 but this tune-gae reads version 1"),
        (lambda b: (b / "config.json").write_text('{"name": "someone else"}'), r"is not a tune-gae bundle config"),
        (lambda b: _edit_config(b, model__latent_channels=3),
         r"model\.pt: encoder\.conv_mu\.bias has shape \[\d+\] but config\.json's model needs \[3\]"),
        (lambda b: _edit_config(b, model__model=_other_kind(b)),
         r"model\.pt does not match config\.json's model \((missing|unexpected) encoder\.conv_logstd"),
        (lambda b: _edit_config(b, model__widths=[4]), r"'model' has unknown key 'widths'"),
    ],
    ids=["truncated-config", "no-config", "no-model", "truncated-model", "version", "foreign-config",
         "shape", "keys", "unknown-key"],
)
def test_damaged_bundles_give_one_line_errors(smoke_bundle: Path, tmp_path: Path, damage: Any, message: str) -> None:
    bundle = _copy(smoke_bundle, tmp_path)
    damage(bundle)
    with pytest.raises(TuneGAEError, match=message) as err:
        load_model(bundle)
    text = str(err.value)
    assert "\n" not in text and ("re-export" in text or "pass a folder" in text)


def test_wrong_folders_name_the_right_one(smoke_search: Path, tmp_path: Path) -> None:
    with pytest.raises(TuneGAEError, match=r"is a search folder, not a bundle: use .*/best \(run `tune-gae export"):
        load_model(smoke_search)
    with pytest.raises(TuneGAEError, match=r"bundle folder .* does not exist: pass the folder `tune-gae export` wrote"):
        load_model(tmp_path / "nowhere")
    result = CliRunner().invoke(main, ["predict", str(tmp_path), "--node", "0"])
    assert result.exit_code == 2 and result.output.startswith("Error: bundle ") and "missing config.json" in result.output


def test_damaged_split_and_embeddings_are_refused(smoke_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy(smoke_bundle, tmp_path)
    torch.save(torch.zeros(5, 2), bundle / "embeddings.pt")
    with pytest.raises(TuneGAEError, match=r"embeddings\.pt has shape \[5, 2\] but config\.json says \[2708, \d+\]"):
        load_embeddings(bundle)
    edges = torch.load(bundle / "split.pt", weights_only=True)
    del edges["test_neg"]
    torch.save(edges, bundle / "split.pt")
    with pytest.raises(TuneGAEError, match=r"split\.pt must hold train_edge_index, val_pos, val_neg, test_pos, test_neg"):
        load_bundle_split(bundle)


# --------------------------------------------------------------------------- trials never see test edges


def _shipped_parameters(trainable: Any) -> dict[str, Any]:
    """What ``tune.with_parameters`` put in Ray's object store for ``trainable`` (fetched back).

    Ray keeps the registry and key prefix in the wrapper's closure; reading it shows exactly the
    objects every trial receives.
    """
    cells = dict(zip(trainable.__code__.co_freevars, (c.cell_contents for c in trainable.__closure__)))
    registry, prefix = cells["parameter_registry"], cells["prefix"]
    return {key: registry.get(prefix + key) for key in cells["keys"]}


def test_search_trials_never_receive_test_edges(smoke_search: Path, split: LinkSplit, tmp_path: Path) -> None:
    from tune_gae.search.runner import _trainable
    from tune_gae.search.settings import SearchSettings
    from tune_gae.search.trainable import TrialSettings, train_trial

    # 1. The trainable refuses a split that carries test edges, before doing anything else.
    settings = TrialSettings(metric="val_auc", tensorboard_dir=str(tmp_path), seed=0, cpus_per_trial=1,
                             gpus_per_trial=0, checkpoint_every=10)
    assert split.test_pos is not None
    with pytest.raises(ValueError, match="trials must not receive test edges"):
        train_trial({}, split=split, settings=settings)

    # 2. What the search ships to its trials (Ray's object store) has no test edge at all.
    shipped = _shipped_parameters(_trainable(split, SearchSettings(space="smoke"), tmp_path))
    assert shipped["split"].test_pos is None and shipped["split"].test_neg is None
    assert shipped["split"].split_hash == split.split_hash
    assert torch.equal(shipped["split"].val_pos, split.val_pos)
    assert torch.equal(shipped["split"].train_pos, split.train_pos)

    # 3. Every trial of the real search passed that guard and trained to its end.
    rows = _rows(smoke_search)
    assert rows and all(r["state"] == "TERMINATED" and int(r["epochs_run"]) > 0 for r in rows)


def test_hard_negative_search_exports_a_bundle_whose_ranking_metrics_recompute(
    ray_session: None, data_root: Path, tmp_path: Path
) -> None:
    """`--negatives hard` end to end: split.pt holds [2, P, K] per-positive negatives, and
    test/val MRR and Hits@K recompute from embeddings.pt + split.pt by hand (numpy)."""
    args = ["search", "smoke", "--dataset", "Cora", "--data-root", str(data_root), "--negatives", "hard",
            "--metric", "val_mrr", "--num-samples", "2", "--max-epochs", "10", "--reselect-top", "2",
            "--reselect-seeds", "1", "--results-dir", str(tmp_path), "--name", "hard", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    bundle = tmp_path / "hard" / "best"
    config = read_bundle_config(bundle)
    metrics = json.loads((bundle / "metrics.json").read_text())
    assert config["split"]["negatives"] == metrics["negatives"] == "hard" and metrics["selected_by"] == "val_mrr"
    record = json.loads((tmp_path / "hard" / "search.json").read_text())
    assert len(record["reselection"]) == 2 and record["settings"]["data"]["negatives"] == "hard"
    z = load_embeddings(bundle).double().numpy()
    edges = {k: v.numpy() for k, v in load_bundle_split(bundle).items()}
    per_positive = config["split"]["negatives_per_positive"]
    for part in ("test", "val"):
        pos, neg = edges[f"{part}_pos"], edges[f"{part}_neg"]
        assert neg.shape == (2, pos.shape[1], per_positive)
        pos_scores = np.einsum("ij,ij->i", z[pos[0]], z[pos[1]])
        neg_scores = np.einsum("pkj,pkj->pk", z[neg[0]], z[neg[1]])  # row i: positive i's own
        above = (neg_scores > pos_scores[:, None]).sum(1)
        at_or_above = (neg_scores >= pos_scores[:, None]).sum(1)
        assert metrics[f"{part}_mrr"] == pytest.approx(np.mean(1 / (1 + (above + at_or_above) / 2)), abs=1e-3)
        for k in (10, 20, 50, 100):  # OGB: strictly above the K-th best of its own negatives
            kth = np.sort(neg_scores, axis=1)[:, ::-1][:, k - 1]
            assert metrics[f"{part}_hits@{k}"] == pytest.approx(np.mean(pos_scores > kth), abs=2 / len(pos_scores))


# --------------------------------------------------------------------------- bundles of learned decoders

DECODERS = ["hadamard_mlp", "ncn"]


@pytest.mark.parametrize("decoder", DECODERS)
def test_a_decoder_bundle_holds_and_describes_its_decoder(decoder: str, decoder_bundles: Any) -> None:
    from tune_gae.config import ModelConfig

    bundle = decoder_bundles(decoder)
    assert sorted(p.name for p in bundle.iterdir()) == sorted(BUNDLE_FILES)
    config = read_bundle_config(bundle)
    assert config["model"]["decoder"] == decoder
    # model.pt holds the decoder's weights, and load_model puts them in its decoder.
    state = torch.load(bundle / "model.pt", weights_only=True)
    model = load_model(bundle)
    own = {f"decoder.{k}": v for k, v in model.decoder.state_dict().items()}
    assert own and all(torch.equal(state[k], v) for k, v in own.items())
    card = (bundle / "MODEL_CARD.md").read_text()
    assert f"- Decoder (the link scorer): {ModelConfig(**config['model']).decoder_summary()}" in card
    assert 'torch.export.load("path/to/bundle/scorer.pt2")' in card and "link_metrics(model.decoder" in card
    chosen = next(line for line in card.splitlines() if line.startswith("- Chosen hyperparameters: "))
    assert ("cn_weighting=adamic_adar" in chosen) == (decoder == "ncn") and "decoder_width=16" in chosen
    metrics = json.loads((bundle / "metrics.json").read_text())
    assert f"tuned model ({decoder} decoder) test AUC {metrics['test_auc']:.4f}" in card
    if decoder == "ncn":  # the decoder reads the bundle's training graph, and only that
        n = config["num_nodes"]
        adjacency = model.decoder.graph.adjacency.tocoo()
        edges = load_bundle_split(bundle)
        assert set((adjacency.row * n + adjacency.col).tolist()) == set(
            (edges["train_edge_index"][0] * n + edges["train_edge_index"][1]).tolist())


@pytest.mark.parametrize("decoder", DECODERS)
def test_a_decoder_bundles_test_metrics_recomputed_from_its_embeddings(decoder: str, decoder_bundles: Any) -> None:
    """The README's recipe (the decoder over embeddings.pt), and sklearn over the same logits."""
    from tune_gae.nn.decoders import InnerProduct
    from tune_gae.train.trainer import link_metrics

    bundle = decoder_bundles(decoder)
    model, z, edges = load_model(bundle), load_embeddings(bundle), load_bundle_split(bundle)
    metrics = json.loads((bundle / "metrics.json").read_text())
    recomputed = link_metrics(model.decoder, z, edges["test_pos"], edges["test_neg"])
    assert all(recomputed[k] == pytest.approx(metrics[f"test_{k}"], abs=1e-6) for k in recomputed)
    with torch.no_grad():
        scores = torch.cat([model.decoder.logits(z, edges["test_pos"]), model.decoder.logits(z, edges["test_neg"])])
    labels = [1] * edges["test_pos"].size(1) + [0] * edges["test_neg"].size(1)
    assert roc_auc_score(labels, scores.numpy()) == pytest.approx(metrics["test_auc"], abs=1e-4)
    assert average_precision_score(labels, scores.numpy()) == pytest.approx(metrics["test_ap"], abs=1e-4)
    # Not the inner product's metrics: the bundle's numbers come from its own decoder.
    inner = link_metrics(InnerProduct(), z, edges["test_pos"], edges["test_neg"])
    assert inner["auc"] != pytest.approx(metrics["test_auc"], abs=1e-6)


def test_the_ncn_cards_code_scores_as_the_bundle(decoder_bundles: Any, tmp_path: Path) -> None:
    """Both of the card's snippets, run: with tune-gae (the test metrics again) and torch alone."""
    from tune_gae.bundle.reader import rebuild_split

    bundle = decoder_bundles("ncn")
    card = (bundle / "MODEL_CARD.md").read_text()
    with_tune_gae = card.split("## How to load", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict[str, Any] = {"u": 0, "v": 1}
    exec(with_tune_gae.replace("path/to/bundle", str(bundle)), scope)  # noqa: S102 - the card's own code
    metrics = json.loads((bundle / "metrics.json").read_text())
    assert all(scope["test"][k] == pytest.approx(metrics[f"test_{k}"], abs=1e-6) for k in scope["test"])
    assert 0 < float(scope["probability"]) < 1

    split = rebuild_split(bundle)
    torch.save({"x": split.x, "edge_index": split.train_edge_index}, tmp_path / "inputs.pt")
    script = f"""
import sys
sys.modules["tune_gae"] = None
sys.modules["torch_geometric"] = None
sys.modules["scipy"] = None
import torch
inputs = torch.load("inputs.pt", weights_only=True)
x, edge_index = inputs["x"], inputs["edge_index"]
with torch.no_grad():
{textwrap.indent(_card_snippet(bundle), "    ")}
torch.save(logits, "logits.pt")
"""
    done = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    logits = torch.load(tmp_path / "logits.pt", weights_only=True)
    with torch.no_grad():
        want = load_model(bundle).decoder.logits(load_embeddings(bundle), split.test_pos)
    assert torch.allclose(logits, want, atol=1e-4)


def test_damaged_decoder_bundles_give_one_line_errors(decoder_bundles: Any, tmp_path: Path) -> None:
    bundle = Path(shutil.copytree(decoder_bundles("ncn"), tmp_path / "ncn"))
    state = torch.load(bundle / "model.pt", weights_only=True)
    torch.save({**state, "decoder.beta": state["decoder.beta"].long()}, bundle / "model.pt")
    with pytest.raises(TuneGAEError, match=r"model\.pt: decoder\.beta holds torch\.int64 values, not floats: re-export"):
        load_model(bundle)
    torch.save(state, bundle / "model.pt")
    (bundle / "split.pt").unlink()  # the ncn decoder reads its training graph from it
    with pytest.raises(TuneGAEError, match=r"bundle .* is missing split\.pt \(a partial copy\?\)"):
        load_model(bundle)
    # A batch norm's int64 batch counter is what the model holds, not damage.
    batch_norm = decoder_bundles("hadamard_mlp")
    assert torch.load(batch_norm / "model.pt", weights_only=True)[
        "decoder.members.0.mlp.norms.0.num_batches_tracked"].dtype == torch.int64
    assert not load_model(batch_norm).training
