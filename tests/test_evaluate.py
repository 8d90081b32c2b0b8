"""Re-training an exported configuration over seeds: an honest estimate beside published numbers."""
from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tune_gae.bundle.evaluate import published_results
from tune_gae.bundle.reader import bundle_model_config, bundle_train_config, read_bundle_config, rebuild_split
from tune_gae.cli import main
from tune_gae.train.trainer import train

pytestmark = pytest.mark.slow


def test_evaluate_two_seeds_same_and_fresh_splits(smoke_bundle: Path) -> None:
    result = CliRunner().invoke(main, ["evaluate", str(smoke_bundle), "--seeds", "2", "--resplit", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    config = read_bundle_config(smoke_bundle)
    metrics = json.loads((smoke_bundle / "metrics.json").read_text())

    same, fresh = report["same_split"], report["fresh_splits"]
    assert [r["seed"] for r in same["runs"]] == [0, 1] and [r["seed"] for r in fresh["runs"]] == [0, 1]
    assert {r["split_hash"] for r in same["runs"]} == {config["split"]["hash"]}
    assert [r["split_seed"] for r in fresh["runs"]] == [1, 2]
    assert len({r["split_hash"] for r in fresh["runs"]} | {config["split"]["hash"]}) == 3
    for summary in (same, fresh):
        aucs = [r["test_auc"] for r in summary["runs"]]
        assert summary["test_auc_mean"] == pytest.approx(statistics.fmean(aucs))
        assert summary["test_auc_std"] == pytest.approx(statistics.stdev(aucs))
        assert all(0.5 < a <= 1 for a in aucs)
        assert all(1 <= r["best_epoch"] <= config["training"]["epochs"] for r in summary["runs"])
    assert report["exported"]["test_auc"] == metrics["test_auc"]
    # Baselines for every split used: on the bundle's own split, exactly the bundle's numbers.
    assert all(r["baselines"] == metrics["baselines"] for r in same["runs"])
    assert same["baselines"]["adamic_adar"]["test_auc_mean"] == metrics["baselines"]["adamic_adar"]["test_auc"]
    assert {"common_neighbours", "adamic_adar", "resource_allocation", "features_only"} == set(fresh["baselines"])
    assert fresh["runs"][0]["baselines"] != fresh["runs"][1]["baselines"]  # each fresh split its own
    assert report["published"] == published_results("Cora")
    assert {"model": "GAE", "source": "Kipf & Welling 2016", "test_auc": 91.0, "test_ap": 92.0} in report["published"]
    # The exported weights are the re-selection's fresh run (its seed in the bundle's training
    # config): training that configuration again with that seed on the same split gives them back.
    rerun, _ = train(rebuild_split(smoke_bundle), bundle_model_config(config), bundle_train_config(config),
                     metric=metrics["selected_by"])
    assert rerun.best_epoch == metrics["epoch"]
    assert rerun.metrics["test_auc"] == pytest.approx(metrics["test_auc"], abs=5e-3)
    assert rerun.metrics["test_mrr"] == pytest.approx(metrics["test_mrr"], abs=2e-2)


def test_evaluate_prints_beside_published_numbers(smoke_bundle: Path) -> None:
    result = CliRunner().invoke(main, ["evaluate", str(smoke_bundle), "--seeds", "1"])
    assert result.exit_code == 0, result.output
    assert "re-trained 1x from scratch" in result.output and "same split" in result.output
    assert "test edges scored on the training edges" in result.output
    assert "VGAE  Kipf & Welling 2016  91.4 / 92.6" in result.output
    assert "ARGA  Pan et al. 2018      92.4 / 93.2" in result.output
    assert "tuned model (inner_product decoder) test AUC " in result.output and "vs best baseline (" in result.output
    assert "with the inner_product decoder (config of " in result.output


def test_evaluate_on_train_plus_val_counts_the_validation_edges_for_model_and_heuristics(smoke_bundle: Path) -> None:
    metrics = json.loads((smoke_bundle / "metrics.json").read_text())
    result = CliRunner().invoke(main, ["evaluate", str(smoke_bundle), "--seeds", "1", "--test-graph", "train+val", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["test_graph"] == "train+val"
    assert report["exported"] == {}  # the export was scored on the training graph: not comparable
    run = report["same_split"]["runs"][0]
    heuristics = ("common_neighbours", "adamic_adar", "resource_allocation")
    assert all(run["baselines"][name] != metrics["baselines"][name] for name in heuristics)
    assert run["baselines"]["features_only"] == metrics["baselines"]["features_only"]
    bad = CliRunner().invoke(main, ["evaluate", str(smoke_bundle), "--test-graph", "all"])
    assert bad.exit_code == 2 and "'all' is not one of 'train', 'train+val'" in bad.output


def test_published_results_only_for_planetoid() -> None:
    assert [r["model"] for r in published_results("citeseer")] == ["GAE", "VGAE", "ARGA"]
    assert published_results("synthetic:nodes=300") == []


def test_evaluate_an_ncn_bundle_names_its_decoder_and_retrains_it(decoder_bundles: Any) -> None:
    bundle = decoder_bundles("ncn")
    config = read_bundle_config(bundle)
    metrics = json.loads((bundle / "metrics.json").read_text())
    result = CliRunner().invoke(main, ["evaluate", str(bundle), "--seeds", "1"])
    assert result.exit_code == 0, result.output
    summary = ("ncn (2 layers, width 16, dropout 0, norm none, common neighbours weighted by adamic_adar)")
    assert f"with the {summary} decoder (config of {config['trial']['id']}" in result.output
    assert "tuned model (ncn decoder) test AUC " in result.output
    report = json.loads(CliRunner().invoke(main, ["evaluate", str(bundle), "--seeds", "1", "--json"]).stdout)
    assert report["decoder"] == "ncn" and report["decoder_summary"] == summary
    # The bundle's own seed on its own split trains its weights again: the same test numbers.
    rerun, _ = train(rebuild_split(bundle), bundle_model_config(config), bundle_train_config(config),
                     metric=metrics["selected_by"])
    assert rerun.best_epoch == metrics["epoch"]
    assert rerun.metrics["test_auc"] == pytest.approx(metrics["test_auc"], abs=1e-4)
