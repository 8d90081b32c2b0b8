"""``--reproducible``: batched suggestions and ASHA against earlier batches; the same seed, the same search."""
from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from tune_gae.errors import TuneGAEError
from tune_gae.search.reproducible import BatchedASHA
from tune_gae.search.results import SearchFolder
from tune_gae.search.settings import SearchSettings, asha_rungs

GRACE, RF, MAX_T = 10, 3, 100


def _ours(batch_size: int) -> BatchedASHA:
    scheduler = BatchedASHA(time_attr="epoch", rungs=asha_rungs(GRACE, RF, MAX_T), reduction_factor=RF,
                            batch_size=batch_size)
    assert scheduler.set_search_properties("m", "max")
    return scheduler


def _rays() -> ASHAScheduler:
    return ASHAScheduler(time_attr="epoch", metric="m", mode="max", max_t=MAX_T, grace_period=GRACE,
                         reduction_factor=RF)


def test_batches_of_one_decide_as_rays_asha() -> None:
    """One trial at a time, every earlier trial is an earlier batch: Ray's ASHA is the reference."""
    rng = random.Random(0)
    ray_asha, ours = _rays(), _ours(batch_size=1)
    stops = 0
    for i in range(40):
        trial = SimpleNamespace(trial_id=f"t{i}")
        ray_asha.on_trial_add(None, trial)
        ours.on_trial_add(None, trial)
        for epoch in (5, 10, 12, 30, 31, 60, 90, 99):
            result = {"epoch": epoch, "m": rng.random()}
            expected = ray_asha.on_trial_result(None, trial, result)
            assert ours.on_trial_result(None, trial, result) == expected, (i, epoch)
            if expected == TrialScheduler.STOP:
                stops += 1
                break
    assert stops > 10  # the comparison exercised stops, not only CONTINUE


def _decisions(scheduler: object, order: list[tuple[str, int, float]]) -> dict[tuple[str, int], str]:
    added: set[str] = set()
    out = {}
    for trial_id, epoch, value in order:
        trial = SimpleNamespace(trial_id=trial_id)
        if trial_id not in added:
            added.add(trial_id)
            scheduler.on_trial_add(None, trial)  # type: ignore[attr-defined]
        out[trial_id, epoch] = scheduler.on_trial_result(None, trial, {"epoch": epoch, "m": value})  # type: ignore[attr-defined]
    return out


def test_the_order_inside_a_batch_changes_nothing() -> None:
    """Two trials of one batch reach the first rung in either order: Ray's ASHA stops the second
    to arrive when it is worse, whichever that is; BatchedASHA decides the same both ways, and
    the next batch is compared with both."""
    first, second = [("a", 10, 0.9), ("b", 10, 0.5)], [("b", 10, 0.5), ("a", 10, 0.9)]
    later = [("c", 10, 0.6), ("d", 10, 0.95)]
    assert _decisions(_rays(), first)["b", 10] == TrialScheduler.STOP
    assert _decisions(_rays(), second)["b", 10] == TrialScheduler.CONTINUE
    one, two = _decisions(_ours(2), first + later), _decisions(_ours(2), second + later)
    assert one == two
    assert one["a", 10] == one["b", 10] == TrialScheduler.CONTINUE  # the first batch: nothing earlier
    # cutoff of [0.5, 0.9] at rf 3: the 2/3 quantile, 0.5 + 0.4 * 2/3
    assert one["c", 10] == TrialScheduler.STOP and one["d", 10] == TrialScheduler.CONTINUE


def test_reproducible_refuses_a_time_budget() -> None:
    with pytest.raises(TuneGAEError, match="--time-budget .* --reproducible search cannot have one"):
        SearchSettings(reproducible=True, time_budget_s=60)


@pytest.mark.slow
def test_the_same_seed_gives_the_same_trials_and_winner(data_root: Path, tmp_path: Path) -> None:
    """Two reproducible searches in a process of their own (its own Ray, whose trial logs stay out
    of the other tests' output): the same trials, values and winner."""
    code = (
        "from tune_gae import DataConfig, SearchSettings, run_search\n"
        "for name in ('run0', 'run1'):\n"
        f"    run_search(SearchSettings(space='smoke', data=DataConfig('Cora', root={str(data_root)!r}), "
        f"num_samples=6, max_epochs=30, grace_period=5, results_dir={str(tmp_path)!r}, name=name, "
        "reproducible=True, reselect_top=2, reselect_seeds=2))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600,
                          check=False, start_new_session=True)
    assert done.returncode == 0, done.stderr[-3000:]
    folders = [SearchFolder.open(tmp_path / name) for name in ("run0", "run1")]
    one, two = (_trials(folder) for folder in folders)
    assert len(one) == 6 and one == two  # every configuration, value, epoch count and stop reason
    winners = [folder.record()["winner"] for folder in folders]
    configs = [_strip(next(r for r in f.trials() if r["trial"] == w["trial"])) for f, w in zip(folders, winners)]
    assert configs[0] == configs[1] and winners[0]["seed"] == winners[1]["seed"]


def _trials(folder: SearchFolder) -> list[dict[str, object]]:
    return [_strip(row) for row in folder.trials()]


def _strip(row: dict[str, object]) -> dict[str, object]:
    """A trial's row without its name, its checkpoint path and its measured time per epoch."""
    return {k: v for k, v in row.items() if k not in ("trial", "checkpoint", "epoch_ms")}
