"""What keeping the Optuna study in SQLite costs a search (issue 23: < 2 % of the README search).

Replays a finished search's study, call for call, through the two searchers a driver can have:
Ray Tune's ``OptunaSearch`` with Optuna's in-memory storage (what tune-gae did before) and
tune-gae's ``StudySearch`` over a fresh ``study.db`` (what it does now): for every trial, in
order, ``suggest`` (Optuna's ask and one write per sampled parameter), one ``on_trial_result``
per intermediate value the real search recorded (the same epochs), and ``on_trial_complete``.
The difference, per trial and summed, is the price of the database; the search's own wall time
(``search.json``: its segments, without re-selection) and, with ``--run-search``, the README
search command's whole wall time (it runs that command first, timed from spawn to exit) are what
it is compared with. Each searcher runs ``--repeats`` times, interleaved; the medians count.

    python benchmarks/study_cost.py --run-search --data-root <data>   # the README search, then its replay
    python benchmarks/study_cost.py results/<README search>           # e.g. after `make search`
    python benchmarks/study_cost.py /tmp/smoke-search --repeats 1     # a check that it runs
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import save_standalone

SHARE_TARGET = 0.02


def replay(searcher: Any, trials: list[Any], metric: str) -> float:
    """Seconds to feed ``trials`` (FrozenTrials of the real study) through ``searcher``."""
    began = time.perf_counter()
    for index, trial in enumerate(trials):
        trial_id = f"r{index:05d}"
        searcher.suggest(trial_id)
        steps = sorted(trial.intermediate_values)
        for iteration, step in enumerate(steps, 1):
            searcher.on_trial_result(trial_id, {"epoch": step, metric: trial.intermediate_values[step],
                                                "best_epoch": step, "training_iteration": iteration})
        last = steps[-1] if steps else 0
        searcher.on_trial_complete(trial_id, result={"epoch": last, metric: trial.value, "best_epoch": last,
                                                     "training_iteration": len(steps)})
    return time.perf_counter() - began


def run_readme_search(data_root: Path | None) -> tuple[Path, float]:
    """The README's search (default space, Cora, 24 trials) as a fresh command: its folder and wall."""
    results = Path(tempfile.mkdtemp(prefix="study-cost-search-"))
    command = [sys.executable, "-m", "tune_gae.cli", "search", "search_spaces/default.yaml", "--dataset", "Cora",
               "--num-samples", "24", "--results-dir", str(results), "--name", "readme-search"]
    if data_root is not None:
        command += ["--data-root", str(data_root)]
    began = time.perf_counter()
    subprocess.run(command, check=True, cwd=Path(__file__).resolve().parent.parent)
    return results / "readme-search", time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("search", type=Path, nargs="?", help="a finished search folder (its study.db is replayed)")
    parser.add_argument("--run-search", action="store_true", help="run the README search first and replay it")
    parser.add_argument("--data-root", type=Path, default=None, help="the Planetoid data root (--run-search)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="write the results here (JSON)")
    args = parser.parse_args()
    if (args.search is None) == (not args.run_search):
        parser.error("give a search folder or --run-search")
    command_s = None
    if args.run_search:
        args.search, command_s = run_readme_search(args.data_root)

    import optuna
    from ray.tune.search.optuna import OptunaSearch

    from tune_gae.search import study_search
    from tune_gae.search.results import SearchFolder
    from tune_gae.search.sampler import WindowedTPESampler
    from tune_gae.search.settings import search_rungs
    from tune_gae.search.space_parser import load_space
    from tune_gae.search.study import load_study
    from tune_gae.search.study_search import StudySearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = SearchFolder.open(args.search)
    settings, record = folder.settings(), folder.record()
    trials = [t for t in load_study(*folder.study()).trials if t.value is not None]
    metric = f"best_{settings.metric}"
    graph = "features" if record.get("num_features") else "featureless"
    space = load_space(record["settings"]["space"]).define_by_run(max_epochs=settings.max_epochs, graph=graph)
    study_search.INTERMEDIATE_INTERVAL_S = 0.0  # replay exactly the values the real search recorded
    memory_s, sqlite_s = [], []
    with tempfile.TemporaryDirectory(prefix="study-cost-") as scratch:
        for repeat in range(args.repeats):
            sampler = WindowedTPESampler(seed=repeat)  # the search's sampler, in both
            memory_s.append(replay(OptunaSearch(space=space, metric=metric, mode="max", sampler=sampler),
                                   trials, metric))
            sqlite = StudySearch(space=space, metric=metric, storage_url=f"sqlite:///{scratch}/study-{repeat}.db",
                                 study_name="replay", sampler=WindowedTPESampler(seed=repeat),
                                 rungs=search_rungs(settings))
            sqlite_s.append(replay(sqlite, trials, metric))
    search_s = folder.seconds() - float(record.get("reselection_seconds") or 0.0)
    extra = statistics.median(sqlite_s) - statistics.median(memory_s)
    result: dict[str, Any] = {
        "search": str(folder.path), "trials": len(trials), "search_s": round(search_s, 1),
        "intermediate_values": sum(len(t.intermediate_values) for t in trials),
        "memory_replay_s": [round(s, 3) for s in memory_s], "sqlite_replay_s": [round(s, 3) for s in sqlite_s],
        "sqlite_extra_ms_per_trial": round(1000 * extra / len(trials), 2),
        "share_of_search": round(extra / search_s, 4),
    }
    if command_s is not None:
        result["command_s"] = round(command_s, 1)
        result["share_of_command"] = round(extra / command_s, 4)
    result["met"] = result.get("share_of_command", result["share_of_search"]) < SHARE_TARGET
    if args.out:
        save_standalone(args.out, result)
    else:
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
