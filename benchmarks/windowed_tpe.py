"""Does TPE over a window of a large study find what TPE over all of it finds, and at what cost?

Optuna's ``TPESampler`` against tune-gae's ``WindowedTPESampler`` (``tune_gae/search/sampler.py``:
the best trials plus the 1,000 most recent) on two standard test functions, Hartmann-6 and
Styblinski-Tang in 8 dimensions (both maximised as their negatives), ``--trials`` trials per run,
several seeds, one process, in-memory studies. Written: the best value after each tenth of the
trials (mean over seeds) and the sampler's milliseconds per trial in the first and the last tenth.

    python benchmarks/windowed_tpe.py --trials 3000 --seeds 5 --out benchmarks/windowed_tpe.json
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from tune_gae.search.sampler import WindowedTPESampler

HARTMANN_ALPHA = (1.0, 1.2, 3.0, 3.2)
HARTMANN_A = ((10, 3, 17, 3.5, 1.7, 8), (0.05, 10, 17, 0.1, 8, 14), (3, 3.5, 1.7, 10, 17, 8), (17, 8, 0.05, 10, 0.1, 14))
HARTMANN_P = ((0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886), (0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991),
              (0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650), (0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381))
HARTMANN_MAX = 3.32237  # -min of Hartmann-6
STYBLINSKI_DIMS = 8
STYBLINSKI_MAX = 39.16617 * STYBLINSKI_DIMS  # -min of Styblinski-Tang


def hartmann6(trial: optuna.Trial) -> float:
    x = [trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(6)]
    return sum(alpha * math.exp(-sum(a * (xi - p) ** 2 for a, xi, p in zip(row, x, prow)))
               for alpha, row, prow in zip(HARTMANN_ALPHA, HARTMANN_A, HARTMANN_P))


def styblinski_tang(trial: optuna.Trial) -> float:
    x = [trial.suggest_float(f"x{i}", -5.0, 5.0) for i in range(STYBLINSKI_DIMS)]
    return -sum(xi ** 4 - 16 * xi ** 2 + 5 * xi for xi in x) / 2


FUNCTIONS: dict[str, tuple[Callable[[optuna.Trial], float], float]] = {
    "hartmann6": (hartmann6, HARTMANN_MAX), "styblinski_tang8": (styblinski_tang, STYBLINSKI_MAX)}


def run(objective: Callable[[optuna.Trial], float], sampler: optuna.samplers.BaseSampler, trials: int) -> dict[str, Any]:
    """One study: the best value after each tenth, the seconds each tenth took."""
    study = optuna.create_study(direction="maximize", sampler=sampler)
    tenth = trials // 10
    best, seconds = [], []
    for _ in range(10):
        began = time.perf_counter()
        study.optimize(objective, n_trials=tenth)
        seconds.append(time.perf_counter() - began)
        best.append(study.best_value)
    return {"best": best, "ms_per_trial": [1000 * s / tenth for s in seconds]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    samplers = {"tpe": lambda seed: optuna.samplers.TPESampler(seed=seed),
                "windowed_tpe": lambda seed: WindowedTPESampler(seed=seed)}
    result: dict[str, Any] = {"trials": args.trials, "seeds": args.seeds, "functions": {}}
    for name, (objective, maximum) in FUNCTIONS.items():
        rows = {}
        for kind, make in samplers.items():
            runs = [run(objective, make(seed), args.trials) for seed in range(args.seeds)]
            gaps = [[maximum - b for b in r["best"]] for r in runs]
            rows[kind] = {
                "gap_to_optimum_by_tenth": [round(statistics.mean(g[i] for g in gaps), 4) for i in range(10)],
                "gap_std_at_end": round(statistics.stdev(g[-1] for g in gaps), 4) if len(gaps) > 1 else 0.0,
                "ms_per_trial_first_tenth": round(statistics.mean(r["ms_per_trial"][0] for r in runs), 2),
                "ms_per_trial_last_tenth": round(statistics.mean(r["ms_per_trial"][-1] for r in runs), 2),
            }
            print(name, kind, json.dumps(rows[kind]), flush=True)
        result["functions"][name] = rows
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
