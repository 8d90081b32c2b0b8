"""Per-epoch time and peak memory (max RSS of a fresh subprocess per size) on synthetic graphs
from 1e4 to 1e6 edges, tune-gae and the seed recipe; the log-log slope of each.

Worker: ``python benchmarks/bench_scaling.py --worker SPEC`` measures one size of one
implementation in a fresh process and prints JSON."""
from __future__ import annotations

import contextlib
import json
import math
import resource
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import REPO, Context, columns, log, ms, worker_command, worker_main

PART = "scaling"
ORDER = 20
NEEDS_PLANETOID = False
IMPLEMENTATIONS = ("tune_gae", "seed")


@dataclass(frozen=True)
class Plan:
    edges: tuple[int, ...]
    degree: int
    epochs: int


FULL = Plan(edges=(10_000, 30_000, 100_000, 300_000, 1_000_000), degree=10, epochs=5)
QUICK = Plan(edges=(10_000, 30_000), degree=10, epochs=2)


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would include the parent's, pre-exec)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One graph size, one implementation, in this fresh process."""
    import torch

    torch.set_num_threads(int(spec["threads"]))
    rss_start = peak_rss_mib()
    from tune_gae.config import DataConfig, ModelConfig, TrainConfig
    from tune_gae.data.sources import load_graph
    from tune_gae.data.split import load_split

    nodes, degree, epochs = int(spec["nodes"]), int(spec["degree"]), int(spec["epochs"])
    source = f"synthetic:nodes={nodes},degree={degree}"
    rss_imports = peak_rss_mib()
    if spec["impl"] == "tune_gae":
        from tune_gae.train.trainer import Trainer

        split = load_split(DataConfig(source))
        edges = split.train_pos.size(1) + split.val_pos.size(1) + split.test_pos.size(1)
        trainer = Trainer(split, ModelConfig(in_channels=split.num_features), TrainConfig(epochs=10**9))
        step = trainer.step
    else:
        import seed_recipe

        graph = load_graph(DataConfig(source))
        edges = graph.edge_index.size(1) // 2
        train_data, val_data, _ = seed_recipe.split_graph(graph, seed=0)
        recipe = seed_recipe.SeedRecipe(train_data)

        def step() -> None:
            recipe.train()
            recipe.test(val_data)

    rss_data = peak_rss_mib()
    step()  # warm-up (builds caches)
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    rss_end = peak_rss_mib()
    return {
        "impl": spec["impl"], "nodes": nodes, "edges": int(edges), "threads": spec["threads"],
        "epoch_ms": ms(min(times)), "epoch_median_ms": ms(statistics.median(times)),
        "peak_rss_mib": round(rss_end, 1),
        "rss_after_imports_mib": round(rss_imports, 1),
        "rss_after_data_mib": round(rss_data, 1),
        "rss_interpreter_mib": round(rss_start, 1),
    }


def run(ctx: Context) -> dict[str, Any]:
    plan: Plan = ctx.pick(FULL, QUICK)
    threads = int(ctx.options.get("scaling_threads") or 1)
    rows = []
    for impl in IMPLEMENTATIONS:
        for edges in plan.edges:
            nodes = int(round(2 * edges / plan.degree))
            spec = {"impl": impl, "nodes": nodes, "degree": plan.degree, "epochs": plan.epochs, "threads": threads}
            done = subprocess.run(worker_command("bench_scaling", spec), capture_output=True, text=True,
                                  cwd=str(REPO), check=False)
            if done.returncode != 0:
                log(f"scaling {impl} {edges} edges FAILED: {done.stderr.strip().splitlines()[-1:]}")
                rows.append({**spec, "edges": edges, "error": done.stderr.strip()[-500:]})
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            log(f"scaling {impl:8s} {row['edges']:>9,} edges ({nodes:,} nodes): {row['epoch_ms']:9.1f} ms/epoch, "
                f"peak RSS {row['peak_rss_mib']:.0f} MiB (after imports {row['rss_after_imports_mib']:.0f})")
    slopes = {}
    for impl in IMPLEMENTATIONS:
        points = [(r["edges"], r["epoch_ms"], r["peak_rss_mib"] - r["rss_after_imports_mib"])
                  for r in rows if r.get("impl") == impl and "error" not in r]
        big = sorted(points)[-3:]  # the three largest: small graphs are overhead-bound
        slopes[impl] = {
            "time_slope_all": loglog_slope([(p[0], p[1]) for p in points]),
            "time_slope_largest3": loglog_slope([(p[0], p[1]) for p in big]),
            "memory_slope_largest3": loglog_slope([(p[0], max(p[2], 1e-3)) for p in big]),
        }
    return {"plan": plan.__dict__, "rows": rows, "slopes": slopes, "threads": threads}


def loglog_slope(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 2:
        return None
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    denom = sum((x - mx) ** 2 for x in xs)
    return round(sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / denom, 3) if denom else None


def targets(result: dict[str, Any]) -> list:
    return []


COLUMNS = (
    ("implementation", lambda r: r["impl"]),
    ("edges", lambda r: f"{r['edges']:,}"),
    ("nodes", lambda r: f"{r['nodes']:,}"),
    ("ms / epoch", lambda r: "failed" if "error" in r else f"{r['epoch_ms']:.1f}"),
    ("peak RSS MiB", lambda r: "" if "error" in r else f"{r['peak_rss_mib']:.0f} ({r['rss_after_imports_mib']:.0f})"),
)


def markdown(result: dict[str, Any]) -> list[str]:
    lines = [
        "## Scaling with graph size",
        "",
        f"Synthetic graphs (`synthetic:nodes=N,degree={result['plan']['degree']}`, 64 binary features), GAE 32/16, "
        f"{result['threads']} thread(s), one fresh subprocess per size; per-epoch = train + validation; "
        f"memory = peak RSS of the process (after imports in brackets).",
        "",
        *columns(COLUMNS, result["rows"]),
    ]
    for impl, slope in result["slopes"].items():
        lines.append(f"- {impl}: log-log slope of time vs edges {slope['time_slope_all']} over all sizes, "
                     f"{slope['time_slope_largest3']} over the three largest; of peak memory above "
                     f"imports {slope['memory_slope_largest3']} over the three largest (1.0 = linear)")
    return lines + [""]


if __name__ == "__main__":
    worker_main(worker)
