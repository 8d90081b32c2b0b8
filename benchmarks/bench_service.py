"""Warm vs cold: the 8 x 300 Cora search (``--scheduler fifo --reselect-top 0``) as a fresh
``tune-gae search`` command on its own local Ray (cold) and on the service ``tune-gae up`` started
before it (warm); each one's fixed overhead = wall - pure training / slots (issue #25).

``up`` (and ``down``) are timed on their own, outside the warm searches' walls; the first warm
search starts once the service's warm workers finished importing, the second once the first one's
top-up did (a user who runs searches one after another, with a pause to read the results).
"""
from __future__ import annotations

import shutil
from typing import Any

from bench_search import FULL, QUICK, SEARCH_SPACE, Plan
from commands import run_timed, start_warm_service, stop_warm_service, tune_gae_command, wait_quiet
from common import Context, Target, log, slots, stop_ray, table
from replay import read_rows, replays

PART = "service"
ORDER = 41
NEEDS_PLANETOID = True
WARM_OVERHEAD_TARGET_S = 3.0
COLD_OVERHEAD_TARGET_S = 6.0



def run(ctx: Context) -> dict[str, Any]:
    plan: Plan = ctx.pick(FULL, QUICK)
    stop_ray()  # nothing of ours may compete for the CPUs
    space = ctx.workdir / "bench-8-configs.yaml"
    space.write_text(SEARCH_SPACE % plan.epochs)
    service_env = {"TUNE_GAE_SERVICE_DIR": str(ctx.workdir / "service")}

    def search(name: str, env: dict[str, str]) -> Any:
        argv = tune_gae_command(
            "search", str(space), "--dataset", ctx.dataset, "--data-root", ctx.root, "--scheduler", "fifo",
            "--num-samples", str(plan.configs), "--max-epochs", str(plan.epochs), "--results-dir",
            str(ctx.workdir), "--name", name, "--overwrite", "--seed", "0", "--reselect-top", "0")
        done = run_timed(argv, env={**service_env, **env})
        if done.returncode != 0:
            raise RuntimeError(f"tune-gae search ({name}) failed ({done.returncode}):\n{done.tail()}")
        return done

    cold = search("bench-cold", {"RAY_ADDRESS": "local"})
    folder = ctx.workdir / "service"
    service = start_warm_service(folder)
    try:
        # RAY_ADDRESS empty (the benchmarks' commands get "local" otherwise): the search finds the service.
        warm = search("bench-warm", service.env)
        wait_quiet(folder)  # the first warm search's top-up imported
        again = search("bench-warm-2", service.env)
    finally:
        down = stop_warm_service(service)
    for done in (warm, again):
        if not done.lines or "On the tune-gae service" not in done.lines[0][1]:
            raise RuntimeError(f"a warm search did not run on the service:\n{done.tail(20)}")
    up = service.up
    log(f"service: cold {cold.wall_s:.1f}s, up {up.wall_s:.1f}s (+{service.ready_s:.1f}s until its warm workers "
        f"imported), warm {warm.wall_s:.1f}s, again {again.wall_s:.1f}s, down {down.wall_s:.1f}s")

    folder = ctx.workdir / "bench-cold"
    bare = replays(folder, read_rows(folder), ctx.root, ctx.dataset, seed=0)
    compute, n = bare["pure_compute_s"], slots()
    for name in ("bench-cold", "bench-warm", "bench-warm-2"):
        shutil.rmtree(ctx.workdir / name, ignore_errors=True)
    command = " ".join(cold.argv[3:]).replace(str(ctx.workdir), "<tmp>").replace(ctx.root, "<data>")
    result = {
        "dataset": ctx.dataset, "configs": plan.configs, "epochs": plan.epochs, "parallel_slots": n,
        "command": command, "pure_compute_s": compute,
        "cold_wall_s": cold.wall_s, "warm_wall_s": warm.wall_s, "warm_again_wall_s": again.wall_s,
        "up_s": up.wall_s, "warm_ready_s": service.ready_s, "down_s": down.wall_s,
        "cold_overhead_s": round(cold.wall_s - compute / n, 2),
        "warm_overhead_s": round(warm.wall_s - compute / n, 2),
        "warm_again_overhead_s": round(again.wall_s - compute / n, 2),
        "cold_banner_s": cold.first_line_at("Search "), "warm_banner_s": warm.first_line_at("Search "),
        "warm_again_banner_s": again.first_line_at("Search "),
        "first_trial_done_s": {name: done.first_line_at(" done after ")
                               for name, done in (("cold", cold), ("warm", warm), ("warm_again", again))},
    }
    log(f"service: fixed overhead cold {result['cold_overhead_s']:.1f}s, warm {result['warm_overhead_s']:.1f}s, "
        f"again {result['warm_again_overhead_s']:.1f}s (pure training {compute:.1f}s on {n} slots)")
    return result


def targets(result: dict[str, Any]) -> list[Target]:
    shape = f"{result['configs']} configs x {result['epochs']} epochs"
    rows = ((f"after `tune-gae up` (warm), {shape}", WARM_OVERHEAD_TARGET_S, result["warm_overhead_s"]),
            (f"on its own Ray (cold), {shape}", COLD_OVERHEAD_TARGET_S, result["cold_overhead_s"]))
    return [Target(f"fixed overhead of `tune-gae search` {what}", f"<= {goal:g} s", f"{value:.1f} s", value <= goal)
            for what, goal, value in rows]


def markdown(result: dict[str, Any]) -> list[str]:
    n = result["parallel_slots"]

    def fmt(value: float | None) -> str:
        return "" if value is None else f"{value:.1f}"

    return [
        "## Warm vs cold: `tune-gae search` on the service `tune-gae up` started, and on its own Ray",
        "",
        f"The same fresh command (`tune-gae {result['command']}`), first on a local Ray of its own (cold), then "
        f"after `tune-gae up` (warm: it joins the service's Ray; `up` itself is not in its wall). Fixed overhead "
        f"= wall - pure training / {n} slots, pure training = {result['pure_compute_s']:.1f} s (the trials' "
        "epochs again in one bare process).",
        "",
        *table(("", "cold", "warm", "warm, next search"), [
            ("wall s", fmt(result["cold_wall_s"]), fmt(result["warm_wall_s"]), fmt(result.get("warm_again_wall_s"))),
            ("search banner at s", fmt(result["cold_banner_s"]), fmt(result["warm_banner_s"]),
             fmt(result.get("warm_again_banner_s"))),
            ("first trial done at s", *(fmt(result.get("first_trial_done_s", {}).get(k))
                                        for k in ("cold", "warm", "warm_again"))),
            (f"**fixed overhead s** (targets <= {COLD_OVERHEAD_TARGET_S:g} / {WARM_OVERHEAD_TARGET_S:g})",
             f"**{fmt(result['cold_overhead_s'])}**", f"**{fmt(result['warm_overhead_s'])}**",
             f"**{fmt(result.get('warm_again_overhead_s'))}**"),
        ]),
        f"`tune-gae up` took {result['up_s']:.1f} s (once), then its warm workers imported torch, PyG and tune_gae "
        f"for {fmt(result.get('warm_ready_s'))} s more; `tune-gae down` {result['down_s']:.1f} s. The warm search "
        "starts after that; the next one after the first one's top-up imported (each search starts the next "
        "search's workers as it exits). What stays warm: Ray's daemons and the trial workers.",
        "",
    ]
