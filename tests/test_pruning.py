"""Bounded disk: a finished search keeps only the checkpoints an export can pick."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from tune_gae.search.pruning import EXPORT_KEYS
from tune_gae.search.results import SearchFolder
from tune_gae.search.selection import select_trial
from tune_gae.search.settings import METRICS

MAX_TRIAL_BYTES = 1_000_000  # the bound per trial, best/ aside


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def test_only_the_winners_keep_a_checkpoint(smoke_search: Path, smoke_bundle: Path) -> None:
    folder = SearchFolder.open(smoke_search)
    rows = folder.trials()
    with_checkpoint = {r["trial"] for r in rows if list((smoke_search / r["trial"]).glob("checkpoint_*"))}
    # The trials an export picks by each metric, chosen from the scores the trials reported.
    ranked = {metric: max((r for r in rows if r["state"] == "TERMINATED"), key=lambda r: r[f"best_{metric}"])
              for metric in METRICS}
    assert with_checkpoint == {ranked[m]["trial"] for m in METRICS}
    for row in rows:  # the table says which trials have one
        assert bool(row["checkpoint"]) == (row["trial"] in with_checkpoint)
        assert not row["checkpoint"] or Path(row["checkpoint"]).parent.name == row["trial"]
    for metric in METRICS:  # export still finds what it needs, by either metric
        assert select_trial(smoke_search, sorted(rows, key=lambda r: -r[f"best_{metric}"]), metric).row["trial"] \
            == ranked[metric]["trial"]
    # The bundle is the re-selection winner (best mean over fresh seeds), whose weights are the
    # kept fresh run's; without re-selection it would be the best trial by the search metric.
    winner = folder.record().get("winner") or {"trial": ranked["val_auc"]["trial"]}
    assert json.loads((smoke_bundle / "metrics.json").read_text())["trial"] == winner["trial"]
    for trial in with_checkpoint:  # what an export reads, no optimizer state: a finished search is not resumed
        (checkpoint,) = (smoke_search / trial).glob("checkpoint_*/trainer.pt")
        assert set(torch.load(checkpoint, weights_only=True)) == set(EXPORT_KEYS)


def test_every_trial_stays_under_a_megabyte(smoke_search: Path) -> None:
    for row in SearchFolder.open(smoke_search).trials():
        trial = _size(smoke_search / row["trial"]) + _size(smoke_search / "tensorboard" / row["trial"])
        assert trial <= MAX_TRIAL_BYTES, (row["trial"], trial)
