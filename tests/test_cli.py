import json
from pathlib import Path

from click.testing import CliRunner
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tune_gae.cli import main


def _events(folder: Path) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return acc


def test_train_json_tensorboard_and_hparams(data_root: Path, tmp_path: Path) -> None:
    args = ["train", "--dataset", "synthetic:nodes=300", "--epochs", "15", "--latent", "8", "--hidden", "16,8",
            "--results-dir", str(tmp_path), "--name", "run", "--json", "--data-root", str(data_root)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # exactly one JSON object on stdout
    for key in ("val_auc", "val_ap", "test_auc", "test_ap", "epochs", "seconds", "split_hash"):
        assert key in summary
    for part in ("val", "test"):  # every ranking metric, for validation and test
        assert all(0 <= summary[f"{part}_{k}"] <= 1 for k in ("mrr", "hits@10", "hits@20", "hits@50", "hits@100"))
    assert summary["negatives"] == "uniform" and summary["selected_by"] == "val_auc"
    assert summary["epochs"] == 15 and summary["config"]["hidden_channels"] == [16, 8]
    acc = _events(tmp_path / "run")
    assert {"loss", "val_auc", "val_ap"} <= set(acc.Tags()["scalars"])
    assert [e.step for e in acc.Scalars("val_auc")] == list(range(1, 16))
    best = max(e.value for e in acc.Scalars("val_auc"))
    assert abs(best - summary["val_auc"]) < 1e-6
    hparams = acc.PluginTagToContent("hparams")
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= set(hparams)
    assert b"latent_channels" in hparams["_hparams_/session_start_info"]
    final = acc.Scalars("hparams/test_auc")[-1].value
    assert abs(final - summary["test_auc"]) < 1e-6


def test_train_test_graph_changes_only_how_the_test_edges_are_scored(tmp_path: Path) -> None:
    args = ["train", "--dataset", "synthetic:nodes=300", "--epochs", "15", "--results-dir", str(tmp_path), "--json"]
    runs = {}
    for graph in ("train", "train+val"):
        result = CliRunner().invoke(main, [*args, "--name", graph.replace("+", "-"), "--test-graph", graph])
        assert result.exit_code == 0, result.output
        runs[graph] = json.loads(result.stdout)
    plain, with_val = runs["train"], runs["train+val"]
    assert plain["test_graph"] == "train" and with_val["test_graph"] == "train+val"
    # Training and selection never see the validation edges as links: identical runs up to the test.
    assert (with_val["val_auc"], with_val["best_epoch"]) == (plain["val_auc"], plain["best_epoch"])
    assert with_val["test_auc"] != plain["test_auc"]
    assert with_val["baselines"]["adamic_adar"] != plain["baselines"]["adamic_adar"]


def test_train_two_latent_sizes_side_by_side(tmp_path: Path) -> None:
    for latent in (8, 16):
        args = ["train", "--dataset", "synthetic:nodes=300", "--epochs", "3", "--latent", str(latent),
                "--results-dir", str(tmp_path), "--name", f"latent{latent}"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        assert "test AUC" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latent16", "latent8"]


def test_unknown_dataset_is_one_line_exit_2() -> None:
    result = CliRunner().invoke(main, ["train", "--dataset", "Cra"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: unknown dataset 'Cra' (did you mean 'Cora'?): use one of Cora, CiteSeer, PubMed, "
        "'synthetic:nodes=N,communities=K', or a path to an edge-list file."
    ]


def test_missing_data_offline_is_one_line_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["train", "--dataset", "CiteSeer", "--data-root", str(tmp_path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "ind.citeseer.graph" in lines[0] and "--data-root" in lines[0]


def test_bad_hidden_width_is_rejected() -> None:
    result = CliRunner().invoke(main, ["train", "--hidden", "32,abc"])
    assert result.exit_code == 2 and "widths must be integers but got 'abc'" in result.output


def _ring_edges(path: Path, nodes: int = 300) -> Path:
    """A featureless edge list: a ring plus chords (every node has edges, no features file)."""
    lines = ["source,target"] + [f"{i},{(i + 1) % nodes}" for i in range(nodes)] + [
        f"{i},{(i + 7) % nodes}" for i in range(0, nodes, 2)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_train_says_which_feature_encoding_a_featureless_graph_gets(tmp_path: Path) -> None:
    edges = _ring_edges(tmp_path / "ring.csv")
    args = ["train", "--dataset", str(edges), "--epochs", "2", "--results-dir", str(tmp_path), "--name", "ring"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert ("node encoding embedding: a learnable embedding per node, 300 input columns, structure from "
            "training edges only") in result.output.splitlines()


def test_search_says_which_feature_encoding_a_featureless_graph_gets(ray_session: None, tmp_path: Path) -> None:
    from tune_gae import DataConfig, SearchSettings, run_search

    edges = _ring_edges(tmp_path / "ring.csv")
    lines: list[str] = []
    outcome = run_search(SearchSettings(space="smoke", data=DataConfig(str(edges)), num_samples=1, max_epochs=2,
                                        results_dir=str(tmp_path), name="ring"), echo=lines.append)
    said = "Node encoding: no node features: embedding for every trial (structure from training edges only)."
    assert said in lines
    record = json.loads((outcome.path / "search.json").read_text())
    assert record["node_encoding"] == said


def _ring_with_chords(path: Path, nodes: int, *, offset: int = 0) -> list[str]:
    return [f"{offset + i},{offset + (i + d) % nodes}" for d in (1, 5, 11) for i in range(nodes)]


def test_train_on_a_featureless_graph_says_its_encoding_and_baselines(tmp_path: Path) -> None:
    # Two separate 150-node parts: a disconnected graph without features.
    edges = tmp_path / "two-parts.csv"
    edges.write_text("\n".join(_ring_with_chords(edges, 150) + _ring_with_chords(edges, 150, offset=150)) + "\n")
    args = ["train", "--dataset", str(edges), "--epochs", "5", "--results-dir", str(tmp_path / "r"),
            "--node-encoding", "embedding+spectral", "--encoding-dims", "8"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "The graph has 2 connected parts (the largest holds 150 of 300 nodes)." in lines
    assert ("node encoding embedding+spectral: a learnable embedding per node + Laplacian eigenvectors (8 dims), "
            "308 input columns, structure from training edges only") in lines
    assert any(line.startswith("tuned model (inner_product decoder) test AUC ") and "vs best baseline (" in line
               for line in lines)
    summary = json.loads(CliRunner().invoke(main, [*args, "--json", "--name", "j"]).stdout)
    assert summary["config"]["node_encoding"] == "embedding+spectral" and summary["config"]["in_channels"] == 308
    assert set(summary["baselines"]) == {"common_neighbours", "adamic_adar", "resource_allocation"}
    # TensorBoard HParams record the encoding of the run.
    hparams = _events(tmp_path / "r" / "j").PluginTagToContent("hparams")
    assert b"embedding+spectral" in hparams["_hparams_/session_start_info"]


def test_train_says_which_nodes_have_no_edges(tmp_path: Path) -> None:
    import numpy as np

    edges = tmp_path / "g.csv"
    edges.write_text("\n".join(_ring_with_chords(edges, 200)) + "\n")
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((210, 6)).astype("float32"))
    result = CliRunner().invoke(main, ["train", "--dataset", str(edges), "--features", str(tmp_path / "x.npy"),
                                       "--epochs", "3", "--results-dir", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert (f"{tmp_path / 'x.npy'} has 210 feature rows but g.csv's largest node id is 199: "
            "nodes 200..209 (10) have no edges.") in result.output
    assert "10 of 210 nodes have no edge at all" in result.output
    assert "node encoding features: the graph's 6 node features" in result.output
    assert "features-only" not in result.output or "vs best baseline" in result.output


def test_train_selects_on_mrr_against_hard_negatives(tmp_path: Path) -> None:
    args = ["train", "--dataset", "synthetic:nodes=1200", "--epochs", "8", "--negatives", "hard", "--metric",
            "val_mrr", "--results-dir", str(tmp_path), "--name", "hard", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["negatives"] == "hard" and summary["selected_by"] == "val_mrr"
    curve = _events(tmp_path / "hard").Scalars("val_mrr")
    assert abs(max(e.value for e in curve) - summary["val_mrr"]) < 1e-6  # the kept epoch is the MRR-best


def test_unknown_metric_names_the_choices() -> None:
    result = CliRunner().invoke(main, ["search", "smoke", "--metric", "val_hits@30"])
    assert result.exit_code == 2
    assert "'val_hits@30' is not one of" in result.output and "'val_hits@20'" in result.output
