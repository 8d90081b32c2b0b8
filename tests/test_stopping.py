"""Every trial's stop reason: epochs, patience, asha, nan, error, time budget.

The rule is checked on its own, then against real searches, where each reason is checked
against what the trial's own ``progress.csv`` shows (its epochs, its best epoch).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from tune_gae.config import DataConfig
from tune_gae.search.runner import run_search
from tune_gae.search.settings import SearchSettings
from tune_gae.search.stopping import STOP_REASONS, stop_reason

GRAPH = "synthetic:nodes=300"


def reason(**given: object) -> str:
    values = dict(error=False, diverged=False, epochs_run=100, planned_epochs=100, best_epoch=90, patience=0,
                  rungs=(10, 30, 90))
    values.update(given)
    return stop_reason(**values)  # type: ignore[arg-type]


def test_the_rules_in_the_order_the_causes_act() -> None:
    assert reason() == "epochs"
    assert reason(error=True, diverged=True) == "error"
    assert reason(diverged=True, epochs_run=12) == "nan"
    # Patience ends a trial at the first epoch `patience` epochs after its best, even on a rung.
    assert reason(epochs_run=30, best_epoch=20, patience=10) == "patience"
    assert reason(epochs_run=30, best_epoch=25, patience=10) == "asha"
    assert reason(epochs_run=100, best_epoch=50, patience=10) == "epochs"  # all its epochs: not a stop
    assert reason(epochs_run=31, best_epoch=25, patience=10) == "time budget"
    assert reason(epochs_run=30, best_epoch=25, rungs=()) == "time budget"  # no ASHA, no rung
    assert reason(epochs_run=0, best_epoch=0, planned_epochs=None) == "time budget"  # cut before its first report
    assert set(STOP_REASONS) == {"epochs", "patience", "asha", "nan", "error", "time budget"}


def _table(search: Path) -> list[dict[str, str]]:
    with (search / "trials.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _progress(trial: Path) -> list[dict[str, str]]:
    with (trial / "progress.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_patience_stops_are_recorded_as_patience_not_asha(ray_session: None, tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("parameters:\n  model: gae\n  hidden_channels: [16]\n  latent_channels: 8\n"
                     "  lr: {loguniform: [0.01, 0.05]}\n  epochs: 400\n  patience: 4\n  normalize_features: false\n")
    outcome = run_search(SearchSettings(
        space=str(space), data=DataConfig(GRAPH), num_samples=3, max_epochs=400, grace_period=50,
        reduction_factor=3, results_dir=str(tmp_path), name="p", report_interval_s=0.0, keep_checkpoints=True,
    ))
    rows = _table(outcome.path)
    # --keep-checkpoints: every trial keeps its last checkpoint.
    assert all(r["checkpoint"] and len(list((outcome.path / r["trial"]).glob("checkpoint_*"))) == 1 for r in rows)
    assert all("optimizer" in torch.load(Path(r["checkpoint"]) / "trainer.pt", weights_only=True) for r in rows)
    assert len(rows) == 3 and {r["stop_reason"] for r in rows} <= set(STOP_REASONS)
    stopped = [r for r in rows if r["stop_reason"] == "patience"]
    assert stopped, [(r["stop_reason"], r["epochs_run"]) for r in rows]
    for row in stopped:
        history = _progress(outcome.path / row["trial"])
        last = int(history[-1]["epoch"])
        best = max(history, key=lambda h: (float(h["val_auc"]), -int(h["epoch"])))
        assert last == int(row["epochs_run"]) < 400
        assert last - int(best["epoch"]) == 4 == last - int(row["best_epoch"])
        assert row["stopped_early"] == "True"
    for row in rows:
        if row["stop_reason"] == "asha":
            assert int(row["epochs_run"]) in (50, 150)


@pytest.mark.slow
def test_trials_cut_by_the_time_budget_say_so(ray_session: None, tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("parameters:\n  model: gae\n  hidden_channels: [16]\n  latent_channels: 8\n"
                     "  lr: {loguniform: [0.005, 0.02]}\n  epochs: 20000\n  normalize_features: false\n")
    outcome = run_search(SearchSettings(
        space=str(space), data=DataConfig(GRAPH), num_samples=2, max_epochs=20000, scheduler="fifo",
        results_dir=str(tmp_path), name="t", time_budget_s=12.0, reselect_seeds=1,
    ))
    rows = _table(outcome.path)
    assert rows and all(r["stop_reason"] == "time budget" and int(r["epochs_run"]) < 20000 for r in rows)
    segments = json.loads((outcome.path / "search.json").read_text())["segments"]
    assert [s["ended_by"] for s in segments] == ["time budget"]
    # Re-selection re-trains the cut trials no further than they ran (not to their 20000 epochs).
    record = json.loads((outcome.path / "search.json").read_text())
    ran = {r["trial"]: int(r["epochs_run"]) for r in rows}
    assert record["reselection"] and all(entry["config"]["epochs"] == 20000 for entry in record["reselection"])
    kept = list((outcome.path / "reselection").glob("*.pt"))
    assert kept
    for file in kept:
        trial = file.name.rsplit("-seed", 1)[0]
        assert torch.load(file, weights_only=True)["epoch"] <= ran[trial]
