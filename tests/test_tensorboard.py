"""RunLogger writes event files TensorBoard reads back: curves, restarts, the HParams entry."""
from __future__ import annotations

from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tune_gae.train.logger import RunLogger, hparam_value


def _scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def _row(epoch: int) -> dict[str, float]:
    return {"epoch": epoch, "loss": 1.0 / epoch, "val_auc": 0.5 + epoch / 100, "val_ap": 0.4 + epoch / 100}


def test_every_epoch_reads_back_as_three_curves(tmp_path: Path) -> None:
    logger = RunLogger(tmp_path / "run", {"lr": 0.01, "hidden_channels": [64, 32]})
    for epoch in range(1, 6):
        logger.log_epoch({**_row(epoch), "epoch_seconds": 0.003})  # extra keys are not curves
    logger.finish({"best_val_auc": 0.55, "best_val_ap": 0.45})
    scalars = _scalars(tmp_path / "run")
    for key in ("loss", "val_auc", "val_ap"):
        assert [step for step, _ in scalars[key]] == [1, 2, 3, 4, 5]
        assert [value for _, value in scalars[key]] == pytest.approx([_row(e)[key] for e in range(1, 6)], rel=1e-6)
    assert "epoch_seconds" not in scalars
    assert scalars["hparams/best_val_auc"] == [(5, pytest.approx(0.55))]  # at the last epoch, not step 0


def test_a_search_trial_logs_curves_only(tmp_path: Path) -> None:
    """The driver writes a trial's HParams entry once it ended (tune_gae.search.board)."""
    logger = RunLogger(tmp_path / "run", None)
    logger.log_epoch(_row(1))
    logger.finish({"best_val_auc": 0.51})
    events = EventAccumulator(str(tmp_path / "run"))
    events.Reload()
    assert events.Tags()["scalars"] == ["loss", "val_auc", "val_ap"]
    assert {m.plugin_data.plugin_name for m in events.summary_metadata.values()} <= {"scalars", ""}


def test_a_restarted_run_replaces_the_epochs_it_repeats(tmp_path: Path) -> None:
    first = RunLogger(tmp_path / "run", {"lr": 0.01})
    for epoch in range(1, 6):
        first.log_epoch(_row(epoch))
    first.close()
    # A retried trial resumes from its epoch-2 checkpoint and logs epochs 3.. again, differently.
    second = RunLogger(tmp_path / "run", {"lr": 0.01}, purge_step=3)
    for epoch in range(3, 5):
        second.log_epoch({**_row(epoch), "val_auc": 0.9})
    second.close()
    curve = _scalars(tmp_path / "run")["val_auc"]
    assert [step for step, _ in curve] == [1, 2, 3, 4]
    assert [value for _, value in curve] == pytest.approx([0.51, 0.52, 0.9, 0.9])


def test_hparam_values_are_what_tensorboard_accepts() -> None:
    assert hparam_value([64, 32]) == "64-32"
    assert hparam_value([]) == "none"
    assert hparam_value(None) == "None"
    assert hparam_value(0.5) == 0.5
