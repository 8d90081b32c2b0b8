"""A fair race: ``tune-gae search`` (Ray Tune + OptunaSearch + ASHA, 2 slots) vs plain Optuna
(TPE + MedianPruner in one process, ``plain_optuna.py``), both started as fresh shell commands
(interpreter start, imports and data loading counted on both sides), same space, seed and
budget. Time to validation AUC targets and to the plateau; the search's efficiency. tune-gae runs
twice: on a Ray of its own (cold) and on the service a `tune-gae up` started before it (warm)."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from commands import run_timed, start_warm_service, stop_warm_service
from common import HERE, Context, Target, log, seconds_text, slots, table
from replay import first_reached, measured_search, remove_search

PART = "race"
ORDER = 60
NEEDS_PLANETOID = True
OF_BOUND_TARGET = 0.85


@dataclass(frozen=True)
class Plan:
    trials: int
    max_epochs: int
    targets: tuple[float, ...]


FULL = Plan(trials=100, max_epochs=300, targets=(0.93, 0.94, 0.95))
QUICK = Plan(trials=4, max_epochs=30, targets=(0.75, 0.80))


def run(ctx: Context) -> dict[str, Any]:
    plan: Plan = ctx.pick(FULL, QUICK)
    if ctx.options.get("targets"):
        plan = Plan(plan.trials, plan.max_epochs, tuple(ctx.options["targets"]))
    if ctx.options.get("race_trials"):
        plan = Plan(int(ctx.options["race_trials"]), plan.max_epochs, plan.targets)
    args = ["default", "--dataset", ctx.dataset, "--num-samples", str(plan.trials), "--max-epochs",
            str(plan.max_epochs), "--seed", "0"]
    ours = measured_search(ctx, "bench-race", args)
    folder = Path(ours["folder"])
    service = start_warm_service(ctx.workdir / "race-service")
    try:
        warm = measured_search(ctx, "bench-race-warm", args, env=service.env)
    finally:
        stop_warm_service(service)
    optuna_run = run_timed([sys.executable, str(HERE / "plain_optuna.py"), "--data-root", ctx.root,
                            "--dataset", ctx.dataset, "--trials", str(plan.trials),
                            "--max-epochs", str(plan.max_epochs), "--seed", "0"])
    if optuna_run.returncode != 0:
        raise RuntimeError(f"plain_optuna.py failed ({optuna_run.returncode}):\n{optuna_run.tail()}")
    report = json.loads(next(line for _, line in reversed(optuna_run.lines) if line.startswith("{")))
    bests = [(at - optuna_run.spawned, value) for at, value in report["bests"]]

    def optuna_first(target: float) -> float | None:
        return next((round(at, 2) for at, value in bests if value >= target), None)

    plateau = round(min(ours["best_val_auc"], report["best_value"]), 4)
    levels = [*plan.targets, plateau]
    tune_first = {str(t): first_reached(folder, t, ours["spawned"]) for t in levels}
    warm_first = {str(t): first_reached(Path(warm["folder"]), t, warm["spawned"]) for t in levels}
    opt_first = {str(t): optuna_first(t) for t in levels}
    log(f"race: tune-gae cold {tune_first} (wall {ours['wall_s']:.1f}s), warm {warm_first} (wall "
        f"{warm['wall_s']:.1f}s); plain Optuna {opt_first} (wall {optuna_run.wall_s:.1f}s); plateau {plateau}")
    remove_search(ours)
    remove_search(warm)
    return {
        "plan": plan.__dict__, "dataset": ctx.dataset, "parallel_slots": slots(), "plateau": plateau,
        "levels": [str(t) for t in levels],
        "tune_gae": {**ours, "time_to": tune_first},
        "tune_gae_warm": {**warm, "time_to": warm_first},
        "optuna": {"command": f"python benchmarks/plain_optuna.py --trials {plan.trials} --max-epochs {plan.max_epochs}",
                   "wall_s": optuna_run.wall_s, "best_val_auc": round(report["best_value"], 4), "time_to": opt_first},
    }



def _first(tune_s: float | None, optuna_s: float | None) -> bool:
    return tune_s is not None and (optuna_s is None or tune_s <= optuna_s)


def targets(result: dict[str, Any]) -> list[Target]:
    theirs, levels = result["optuna"], result["levels"]
    names = [f"{level}" + (" (plateau)" if i == len(levels) - 1 else "") for i, level in enumerate(levels)]
    rows = []
    for key, how in (("tune_gae_warm", "after `tune-gae up` (warm)"), ("tune_gae", "on its own Ray (cold)")):
        ours = result.get(key)
        if ours is None:  # a results.json from before the warm run
            continue
        first = [level for level in levels if _first(ours["time_to"][level], theirs["time_to"][level])]
        rows += [
            Target(f"fair race vs plain Optuna (fresh commands, {result['plan']['trials']} trials), tune-gae {how}: "
                   "reaches each validation AUC no later", "every level",
                   f"first or level at {len(first)} of {len(levels)} ({', '.join(names)})", len(first) == len(levels)),
            Target(f"orchestration efficiency of a {ours['trials']}-trial default search {how}, share of the "
                   "bare-process bound", f">= {OF_BOUND_TARGET:g}",
                   f"{ours['of_bound']:.2f} (efficiency {ours['efficiency']:.2f})", ours["of_bound"] >= OF_BOUND_TARGET),
        ]
    return rows


def markdown(result: dict[str, Any]) -> list[str]:
    ours, theirs, levels = result["tune_gae"], result["optuna"], result["levels"]
    warm = result.get("tune_gae_warm")
    headers = ["", *(f"to {level}" + (" (plateau)" if i == len(levels) - 1 else "") + " s"
                     for i, level in enumerate(levels)), "wall s", "best val AUC"]
    m = ours["moments"]
    return [
        "## A fair race: `tune-gae search` vs plain Optuna, both fresh commands",
        "",
        f"Default space on {result['dataset']}, {result['plan']['trials']} trials, at most "
        f"{result['plan']['max_epochs']} epochs, seed 0 (TPE seeded 0 on both sides). Both are started as "
        "fresh shell commands and timed from their spawn: interpreter start, imports and data loading count on "
        f"both sides. tune-gae runs {result['parallel_slots']} trials at once (Ray Tune + OptunaSearch + ASHA); "
        "plain Optuna runs one trial at a time (TPE + MedianPruner) with torch using every core. The plateau is the "
        f"lower of the two searches' best validation AUCs after {result['plan']['trials']} trials.",
        "",
        *table(headers, [
            [f"`{ours['command']}` (cold)", *(seconds_text(ours["time_to"][lv]) for lv in levels),
             f"{ours['wall_s']:.1f}", f"{ours['best_val_auc']:.4f}"],
            *([["the same after `tune-gae up` (warm)", *(seconds_text(warm["time_to"][lv]) for lv in levels),
                f"{warm['wall_s']:.1f}", f"{warm['best_val_auc']:.4f}"]] if warm else []),
            [f"`{theirs['command']}`", *(seconds_text(theirs["time_to"][lv]) for lv in levels),
             f"{theirs['wall_s']:.1f}", f"{theirs['best_val_auc']:.4f}"],
        ]),
        f"tune-gae's first trial started {m.get('first_trial_start_s')} s after its spawn, the last ended at "
        f"{m.get('last_trial_end_s')} s. Its times come from its trials' reports (every 0.1 s and at every rung). "
        f"Efficiency of this {ours['trials']}-trial search: pure training {ours['pure_compute_s']:.1f}s / "
        f"({ours['wall_s']:.1f}s x {result['parallel_slots']}) = **{ours['efficiency']:.2f}**; bare processes "
        f"side by side {ours['side_by_side_wall_s']:.1f}s ({ours['side_by_side_efficiency']:.2f}), so "
        f"**{ours['of_bound']:.2f}** of the bound (target >= {OF_BOUND_TARGET:g}).",
        *([f"Warm (the same command after `tune-gae up`, its warm workers done importing): first trial at "
           f"{warm['moments'].get('first_trial_start_s')} s, efficiency pure training {warm['pure_compute_s']:.1f}s / "
           f"({warm['wall_s']:.1f}s x {result['parallel_slots']}) = **{warm['efficiency']:.2f}**; bare processes side "
           f"by side {warm['side_by_side_wall_s']:.1f}s, so **{warm['of_bound']:.2f}** of the bound."] if warm else []),
        "",
    ]
