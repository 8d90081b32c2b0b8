"""A whole search as a user runs it: ``tune-gae search`` (FIFO, 8 fixed configurations x 300
epochs, a fresh shell command: interpreter start, imports, data, Ray, trials, export and
shutdown all counted) vs the seed recipe run 8 times in one process; its fixed overhead."""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from typing import Any

from commands import run_timed, tune_gae_command
from common import Context, Target, log, slots, stop_ray, table
from replay import read_rows, replays, timeline, trial_hyper

PART = "search"
ORDER = 40
NEEDS_PLANETOID = True
RATIO_TARGET = 0.25  # the search's wall / the recipe 8 times in one process
OVERHEAD_TARGET_S = 5.0  # wall - pure training / slots

SEARCH_SPACE = """\
description: |
  Benchmark: fixed GCN GAEs, only the widths vary (8 combinations).
parameters:
  model: gae
  encoder: gcn
  hidden_channels: {choice: [[32], [64], [128], [256]]}
  latent_channels: {choice: [16, 64]}
  lr: 0.01
  epochs: %d
  normalize_features: true
  dropout: 0.0
  edge_dropout: 0.0
  neg_ratio: 1
  weight_decay: 0.0
"""


@dataclass(frozen=True)
class Plan:
    configs: int
    epochs: int


FULL = Plan(configs=8, epochs=300)
QUICK = Plan(configs=2, epochs=20)


def run(ctx: Context) -> dict[str, Any]:
    import seed_recipe
    import torch

    plan: Plan = ctx.pick(FULL, QUICK)
    stop_ray()  # the command starts its own Ray; nothing of ours may compete for the CPUs
    space = ctx.workdir / "bench-8-configs.yaml"
    space.write_text(SEARCH_SPACE % plan.epochs)
    folder = ctx.workdir / "bench-search"
    argv = tune_gae_command(
        "search", str(space), "--dataset", ctx.dataset, "--data-root", ctx.root, "--scheduler", "fifo",
        "--num-samples", str(plan.configs), "--max-epochs", str(plan.epochs), "--results-dir", str(ctx.workdir),
        "--name", folder.name, "--overwrite", "--seed", "0",
        # Fixed configurations: re-training the top ones with fresh seeds (issue #13's re-selection)
        # is extra training, not orchestration; the efficiency part measures what it adds.
        "--reselect-top", "0",
    )
    # The same command with Ray's idle workers preloading a module that costs nothing (``json``)
    # instead of the trainable: what the preloading is worth, in the same run.
    plain = run_timed(argv, env={"RAY_preload_python_modules": "json"})
    command = run_timed(argv)
    for done in (plain, command):
        if done.returncode != 0:
            raise RuntimeError(f"tune-gae search failed ({done.returncode}):\n{done.tail()}")
    log(f"search: without the trainable preloaded in Ray's workers {plain.wall_s:.1f}s")
    moments = timeline(folder, command.spawned)
    log(f"search: `tune-gae search` {plan.configs} configs x {plan.epochs} epochs: {command.wall_s:.1f}s from spawn "
        f"to exit; trials ran {moments.get('first_trial_start_s')}-{moments.get('last_trial_end_s')}s")

    rows = read_rows(folder)
    bare = replays(folder, rows, ctx.root, ctx.dataset, seed=0)
    compute = bare["pure_compute_s"]
    torch.set_num_threads(os.cpu_count() or 1)
    seed_started = time.perf_counter()
    for row in rows:
        hyper = trial_hyper(row)
        result = seed_recipe.run(ctx.root, ctx.dataset, epochs=plan.epochs, hidden=hyper["hidden_channels"][0],
                                 latent=int(hyper["latent_channels"]), seed=0)
        log(f"search: seed recipe h{hyper['hidden_channels'][0]}/l{hyper['latent_channels']}: {result['seconds']:.1f}s")
    seed_wall = time.perf_counter() - seed_started
    shutil.rmtree(folder, ignore_errors=True)

    wall, n = command.wall_s, slots()
    result = {
        "dataset": ctx.dataset, "configs": plan.configs, "epochs": plan.epochs, "parallel_slots": n,
        "command": " ".join(command.argv[3:]).replace(str(ctx.workdir), "<tmp>").replace(ctx.root, "<data>"),
        "wall_s": wall, "seed_wall_s": round(seed_wall, 2), "ratio": round(wall / seed_wall, 3),
        "wall_without_preload_s": plain.wall_s,
        **bare,
        "fixed_overhead_s": round(wall - compute / n, 2),
        "efficiency": round(compute / (wall * n), 3),
        "moments": {
            "banner_s": command.first_line_at("Search "),
            **moments,
            "table_s": command.first_line_at("trials in"),
            "exit_s": wall,
        },
    }
    log(f"search: seed recipe x{plan.configs} in {seed_wall:.1f}s -> ratio {result['ratio']:.3f}; pure compute "
        f"{compute:.1f}s -> fixed overhead {result['fixed_overhead_s']:.1f}s, efficiency {result['efficiency']:.2f}")
    return result


def targets(result: dict[str, Any]) -> list[Target]:
    shape = f"{result['configs']} configs x {result['epochs']} epochs"
    return [
        Target(f"fixed overhead of `tune-gae search`, {shape} (wall - pure training / {result['parallel_slots']} slots)",
               f"<= {OVERHEAD_TARGET_S:g} s", f"{result['fixed_overhead_s']:.1f} s",
               result["fixed_overhead_s"] <= OVERHEAD_TARGET_S),
        Target(f"`tune-gae search`, {shape}, vs the seed recipe {result['configs']} times in one process",
               f"<= {RATIO_TARGET:g}", f"{result['ratio']:.3f}", result["ratio"] <= RATIO_TARGET),
    ]


def markdown(result: dict[str, Any]) -> list[str]:
    m, n = result["moments"], result["parallel_slots"]

    def at(key: str) -> str:
        return "" if m.get(key) is None else f"{m[key]:.1f}"

    return [
        f"## Whole search: `tune-gae search` vs the seed recipe {result['configs']} times in one process",
        "",
        f"{result['configs']} fixed configurations (widths vary) x {result['epochs']} epochs on {result['dataset']}, "
        f"FIFO, 1 CPU per trial, {n} trials at once. The search is a fresh shell command "
        f"(`tune-gae {result['command']}`), timed from its spawn to its exit: interpreter start, imports, "
        "data loading, Ray's start, the trials, the export of the best model and Ray's shutdown all count. "
        "The seed recipe runs in the benchmark's process (its imports are not counted).",
        "",
        *table(("", "wall s"), [
            ("`tune-gae search`", f"{result['wall_s']:.1f}"),
            (f"seed recipe, {result['configs']} runs one after another", f"{result['seed_wall_s']:.1f}"),
            (f"**ratio** (target <= {RATIO_TARGET:g})", f"**{result['ratio']:.3f}**"),
        ]),
        f"The same command with Ray's idle worker processes not preloading the trainable "
        f"(`RAY_preload_python_modules=json`, run just before): {result['wall_without_preload_s']:.1f} s.",
        "",
        "Moments of the command, in seconds since it was spawned:",
        "",
        *table(("moment", "s"), [
            ("search banner printed (data loaded, Ray up, folder written)", at("banner_s")),
            ("first trial starts training", at("first_trial_start_s")),
            ("last trial ends", at("last_trial_end_s")),
            ("trial table printed (after the export)", at("table_s")),
            ("command exits (Ray shut down)", at("exit_s")),
        ]),
        f"Pure training: every trial's epochs trained again in one fresh process without Ray (a fresh Trainer "
        f"per trial, 1 thread): {result['pure_compute_s']:.1f}s. **Fixed overhead** = wall - pure training / {n} "
        f"slots = {result['wall_s']:.1f} - {result['pure_compute_s'] / n:.1f} = **{result['fixed_overhead_s']:.1f} s** "
        f"(target <= {OVERHEAD_TARGET_S:g} s). Orchestration efficiency = pure training / (wall x {n}) = "
        f"{result['efficiency']:.2f}; trials running at once, on average: {m.get('mean_trials_running')} of {n}.",
        "",
        f"Without any orchestration: the same trials on the same slots in the same order, in "
        f"{result['side_by_side_slots']} bare processes at once (no Ray, data already loaded), took "
        f"{result['side_by_side_wall_s']:.1f}s (efficiency {result['side_by_side_efficiency']:.2f}: the most this "
        "machine gives, two processes on its 2 cores share caches and memory bandwidth).",
        "",
    ]
