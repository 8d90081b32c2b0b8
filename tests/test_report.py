"""Reading a search back: table, learning curves, Optuna importances, plots."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from tune_gae.cli import main
from tune_gae.config import DataConfig
from tune_gae.report.importance import param_importances, study_from_trials
from tune_gae.report.plots import write_plots
from tune_gae.report.tables import learning_curves, read_trials, trial_order
from tune_gae.search.settings import SearchSettings

PLOTS = ["importance.png", "learning_curves.png", "trials.png"]


@pytest.fixture()
def search_copy(smoke_search: Path, tmp_path: Path) -> Path:
    """A private copy of the shared smoke search (plots are written into the search folder)."""
    return Path(shutil.copytree(smoke_search, tmp_path / "smoke", ignore=shutil.ignore_patterns("best", "plots")))


def _png(path: Path) -> tuple[int, ...]:
    from matplotlib.image import imread

    image = imread(path)
    assert image.std() > 0.05, f"{path} looks blank"
    return image.shape


@pytest.mark.slow
def test_report_plots_keep_the_table(search_copy: Path) -> None:
    result = CliRunner().invoke(main, ["report", str(search_copy), "--plots"])
    assert result.exit_code == 0, result.output
    rows, _ = read_trials(search_copy)
    lines = result.output.splitlines()
    assert lines[0].startswith("trial") and lines[1].startswith(rows[0]["trial"])
    assert sorted(p.name for p in (search_copy / "plots").iterdir()) == PLOTS
    for name in PLOTS:
        assert f"  {search_copy / 'plots' / name}" in lines
        height, width, _ = _png(search_copy / "plots" / name)
        assert width >= 900 and height >= 300

    as_json = CliRunner().invoke(main, ["report", str(search_copy), "--plots", "--json"])
    assert as_json.exit_code == 0
    assert [r["trial"] for r in json.loads(as_json.stdout)] == [r["trial"] for r in rows]
    assert "Plots:" in as_json.stderr


@pytest.mark.slow
def test_report_table_columns_line_up_under_their_headers(search_copy: Path) -> None:
    result = CliRunner().invoke(main, ["report", str(search_copy)])
    header, *lines = result.output.splitlines()
    for name in ("latent_channels", "lr", "epochs"):
        start = header.index(f"  {name}") + 2
        for line in lines:
            assert line[start - 2:start] == "  " and line[start] != " ", (name, line)


@pytest.mark.slow
def test_report_names_each_trials_decoder_and_the_exported_ones(decoder_bundles: Any, tmp_path: Path) -> None:
    bundle = decoder_bundles("ncn")
    search = Path(shutil.copytree(bundle.parent / "ncn", tmp_path / "ncn"))
    shutil.copytree(bundle, search / "best")
    result = CliRunner().invoke(main, ["report", str(search)])
    assert result.exit_code == 0, result.output
    header, *lines = result.output.splitlines()
    rows, _ = read_trials(search)
    start = header.index("  decoder") + 2
    assert [line[start:start + 3] for line in lines[:len(rows)]] == ["ncn"] * len(rows)
    metrics = json.loads((bundle / "metrics.json").read_text())
    assert lines[-1] == (f"Exported {metrics['trial']}: tuned model (ncn decoder) test AUC {metrics['test_auc']:.4f} "
                         f"vs best baseline " + lines[-1].split("vs best baseline ", 1)[1])


@pytest.mark.slow
def test_study_rebuilt_from_the_smoke_search(search_copy: Path) -> None:
    rows, _ = read_trials(search_copy)
    study = study_from_trials(search_copy)
    assert len(study.trials) == len(rows) == 4
    values = {t.user_attrs["trial"]: t.value for t in study.trials}
    assert values == {r["trial"]: r["best_val_auc"] for r in rows}
    assert [t.user_attrs["trial"] for t in study.trials] == [r["trial"] for r in trial_order(search_copy)]
    dists = study.trials[0].distributions
    assert dists["model"] == CategoricalDistribution(["gae", "vgae"])
    assert dists["hidden_channels"] == CategoricalDistribution(["16", "32"])
    assert dists["latent_channels"] == CategoricalDistribution([8, 16])
    assert dists["lr"] == FloatDistribution(0.005, 0.02, log=True)
    assert dists["epochs"] == IntDistribution(10, 30)  # the space's [10, 30], capped by max_epochs 30
    assert "normalize_features" not in dists  # a constant is not an Optuna parameter
    importances = param_importances(study)
    assert set(importances) == set(dists) and sum(importances.values()) == pytest.approx(1.0)


@pytest.mark.slow
def test_learning_curves_and_trial_order(search_copy: Path) -> None:
    rows, _ = read_trials(search_copy)
    curves = learning_curves(search_copy, top=3)
    assert [c.trial for c in curves] == [r["trial"] for r in rows[:3]]
    for curve, row in zip(curves, rows):
        assert curve.epochs == list(range(1, row["epochs_run"] + 1))
        assert max(curve.val_auc) == pytest.approx(row["best_val_auc"], abs=1e-6)  # TensorBoard keeps float32
        assert curve.epochs[curve.val_auc.index(max(curve.val_auc))] == row["best_epoch"]
    ordered = trial_order(search_copy)
    assert sorted(r["trial"] for r in ordered) == sorted(r["trial"] for r in rows)
    starts = [c.started for c in learning_curves(search_copy, top=10)]
    assert all(s < float("inf") for s in starts)


# --------------------------------------------------------------------------- conditional spaces

SPACE = """
parameters:
  model: {choice: [gae, vgae]}
  encoder: {choice: [gcn, linear]}
  hidden_channels: {layers: {int: [1, 2]}, width: {choice: [16, 32]}, when: {encoder: gcn}}
  lr: {loguniform: [1.0e-3, 5.0e-2]}
  kl_weight: {uniform: [0.0, 1.0], when: {model: vgae}}
  epochs: 100
"""


def _conditional_search(tmp_path: Path) -> Path:
    """A search folder written by hand: a conditional space and 12 trials' rows (no trial dirs)."""
    folder = tmp_path / "conditional"
    folder.mkdir()
    (tmp_path / "space.yaml").write_text(SPACE)
    settings = SearchSettings(space=str(tmp_path / "space.yaml"), data=DataConfig("Cora"), max_epochs=100,
                              grace_period=10, name="conditional")
    (folder / "search.json").write_text(json.dumps({"settings": settings.to_json(), "split_hash": "x"}))
    rows = []
    for i in range(12):
        model = "vgae" if i % 2 else "gae"
        encoder = "linear" if i % 3 == 0 else "gcn"
        kl = round(i / 12, 3) if model == "vgae" else ""
        hidden = ("16-32" if i % 4 == 1 else "32") if encoder == "gcn" else ""
        value = 0.8 + (0.1 * kl if kl != "" else 0.0) + 0.001 * i
        rows.append({"trial": f"trial_{i:02d}", "state": "TERMINATED", "best_val_auc": value, "best_val_ap": value,
                     "best_epoch": 50, "epochs_run": 100, "stopped_early": False, "diverged": False, "checkpoint": "",
                     "encoder": encoder, "epochs": 100, "hidden_channels": hidden, "kl_weight": kl,
                     "lr": 0.001 * (i + 1), "model": model})
    with (folder / "trials.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder


def test_conditional_parameters_appear_only_where_sampled(tmp_path: Path) -> None:
    folder = _conditional_search(tmp_path)
    study = study_from_trials(folder)
    assert len(study.trials) == 12
    by_trial = {t.user_attrs["trial"]: t for t in study.trials}
    gae, vgae_linear, vgae_deep = by_trial["trial_00"], by_trial["trial_03"], by_trial["trial_01"]
    assert "kl_weight" not in gae.params and "hidden_layers" not in gae.params  # gae, linear
    assert vgae_linear.params["kl_weight"] == pytest.approx(0.25) and "hidden_layers" not in vgae_linear.params
    assert vgae_deep.params == {"model": "vgae", "encoder": "gcn", "hidden_layers": 2, "hidden_width_1": 16,
                                "hidden_width_2": 32, "lr": pytest.approx(0.002), "kl_weight": pytest.approx(1 / 12, abs=1e-3)}
    assert vgae_deep.distributions["hidden_layers"] == IntDistribution(1, 2)
    assert vgae_deep.distributions["hidden_width_2"] == CategoricalDistribution([16, 32])
    assert vgae_deep.distributions["kl_weight"] == FloatDistribution(0.0, 1.0)
    importances = param_importances(study)
    assert {"kl_weight", "hidden_layers", "hidden_width_1", "model", "encoder", "lr"} <= set(importances)

    written = write_plots(folder)  # no trial folders: the learning-curve plot is skipped
    assert [p.name for p in written] == ["trials.png", "importance.png"]
    assert all(_png(p) for p in written)


def test_distributions_inferred_when_the_space_file_is_gone(tmp_path: Path) -> None:
    folder = _conditional_search(tmp_path)
    (tmp_path / "space.yaml").unlink()
    study = study_from_trials(folder)
    by_trial = {t.user_attrs["trial"]: t for t in study.trials}
    assert "kl_weight" not in by_trial["trial_00"].params
    kl = by_trial["trial_01"].distributions["kl_weight"]
    assert isinstance(kl, FloatDistribution) and (kl.low, kl.high) == (0.083, 0.917)
    assert by_trial["trial_01"].params["hidden_channels"] == "16-32"
    assert "epochs" not in by_trial["trial_01"].params  # the same in every trial: a constant
    assert param_importances(study)


def test_report_of_a_search_stopped_before_its_first_trial(tmp_path: Path) -> None:
    """No trial table and no Ray state: nothing to show (an interrupted search with trials is
    reported from Ray's saved state: tests/test_signals.py)."""
    folder = _conditional_search(tmp_path)
    (folder / "trials.csv").unlink()
    result = CliRunner().invoke(main, ["report", str(folder), "--plots"])
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {folder} holds no trial yet: the search stopped before its first one."
