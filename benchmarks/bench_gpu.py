"""GPU benchmark: per-epoch time on the CPU vs a CUDA GPU, and trials packed per GPU.

Measured at the trainer level, as Ray's fractional ``--gpus-per-trial`` would place trials: N
fresh trial processes (each one ``Trainer`` of the same configuration) share one device, all
started at once after their imports and data loading; each asserts that its model and data are
on that device. Reported: trials per minute, peak GPU memory per trial, and the throughput
against one trial per GPU. This needs neither Ray nor Optuna (the GPU machine this project can
use has neither).

    python benchmarks/bench_gpu.py --device cuda --data-root /tmp/tgdata --out gpu.json
    python benchmarks/bench_gpu.py --device cpu --quick          # dry mode: tests the script on a CPU

As a part of ``benchmarks/run.py`` (``--parts gpu``) it runs when a CUDA GPU is visible and
otherwise records that none was.

Worker: ``python benchmarks/bench_gpu.py --worker SPEC`` (one trial process of a packing run).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import REPO, Context, Target, columns, log, ms, worker_command, worker_main

PART = "gpu"
ORDER = 70
NEEDS_PLANETOID = False
PACKED_TARGET = 8  # trials per GPU ...
THROUGHPUT_TARGET = 5.0  # ... at >= this times the throughput of one trial per GPU


@dataclass(frozen=True)
class Plan:
    graphs: tuple[str, ...]  # Planetoid names or synthetic sources
    epochs: int  # timed epochs per graph and device
    packs: tuple[int, ...]  # trials sharing one device
    pack_graph: str
    pack_epochs: int


FULL = Plan(graphs=("Cora", "CiteSeer", "synthetic:nodes=200000,degree=10", "synthetic:nodes=2000000,degree=10"),
            epochs=10, packs=(1, 2, 4, 8, 16), pack_graph="Cora", pack_epochs=300)
QUICK = Plan(graphs=("Cora", "synthetic:nodes=2000,degree=10"), epochs=3, packs=(1, 2), pack_graph="Cora",
             pack_epochs=20)
SYNTHETIC_FALLBACK = "synthetic:nodes=20000,degree=10"  # packing graph when no Planetoid files are there


def _data_config(graph: str, root: str) -> Any:
    from tune_gae.config import DataConfig

    return DataConfig(graph, root=root)


def _has_graph(graph: str, root: str) -> bool:
    return graph.startswith("synthetic:") or (Path(root) / "Planetoid" / graph / "raw").is_dir()


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def epoch_times(graph: str, root: str, device_name: str, epochs: int) -> dict[str, Any]:
    """Min and median seconds of ``Trainer.step`` (train + validation) on ``device_name``."""
    import torch

    from tune_gae.config import ModelConfig, TrainConfig
    from tune_gae.data.split import load_split
    from tune_gae.train.trainer import Trainer

    device = torch.device(device_name)
    split = load_split(_data_config(graph, root))
    trainer = Trainer(split, ModelConfig(in_channels=split.num_features), TrainConfig(epochs=10**9), device=device)
    _check_on(trainer, device)
    for _ in range(2):  # warm-up: kernels, caches, the allocator
        trainer.step()
    _sync(device)
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        trainer.step()
        _sync(device)
        times.append(time.perf_counter() - started)
    edges = int(split.train_pos.size(1) + split.val_pos.size(1) + (split.test_pos.size(1) if split.test_pos is not None else 0))
    return {"graph": graph, "device": device_name, "nodes": split.num_nodes, "edges": edges,
            "epoch_ms": ms(min(times)), "epoch_median_ms": ms(statistics.median(times))}


def _check_on(trainer: Any, device: Any) -> None:
    """The trial really runs on ``device``: its weights and its graph are there."""
    weight = next(trainer.model.parameters())
    if weight.device.type != device.type or trainer.message_edges.device.type != device.type:
        raise RuntimeError(f"the trainer is on {weight.device}, not {device}")


def worker(spec: dict[str, Any]) -> None:
    """One trial process of a packing run: load, say "ready", wait for "go", train, report."""
    import torch

    from tune_gae.config import ModelConfig, TrainConfig
    from tune_gae.data.split import load_split
    from tune_gae.train.trainer import Trainer

    device = torch.device(spec["device"])
    torch.set_num_threads(1)
    split = load_split(_data_config(spec["graph"], spec["root"]))
    trainer = Trainer(split, ModelConfig(in_channels=split.num_features), TrainConfig(epochs=10**9, seed=spec["seed"]),
                      device=device)
    _check_on(trainer, device)
    trainer.step()  # first-call costs (CUDA context, kernels) before the clock starts
    _sync(device)
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.time()
    for _ in range(int(spec["epochs"])):
        trainer.step()
    _sync(device)
    memory = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0
    print(json.dumps({"start": started, "end": time.time(), "on": str(next(trainer.model.parameters()).device),
                      "peak_gpu_mib": round(memory / 2**20, 1)}), flush=True)


def packing(graph: str, root: str, device_name: str, trials: int, epochs: int) -> dict[str, Any]:
    """``trials`` processes training at once on one device: trials per minute and memory."""
    specs = [{"graph": graph, "root": root, "device": device_name, "epochs": epochs, "seed": i} for i in range(trials)]
    processes = [subprocess.Popen(worker_command("bench_gpu", spec), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, cwd=str(REPO)) for spec in specs]
    for process in processes:
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("a packed trial process failed to start (see its stderr above)")
    started = time.time()
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    reports = []
    for process in processes:
        out, _ = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"a packed trial process failed ({process.returncode})")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    wall = max(r["end"] for r in reports) - started
    return {"trials": trials, "graph": graph, "device": device_name, "epochs": epochs, "wall_s": round(wall, 2),
            "trials_per_minute": round(trials / wall * 60, 2),
            "devices_seen": sorted({r["on"] for r in reports}),
            "peak_gpu_mib_per_trial": max(r["peak_gpu_mib"] for r in reports)}


def measure(plan: Plan, root: str, device_name: str) -> dict[str, Any]:
    """Per-epoch CPU vs ``device_name``, then packing on ``device_name``."""
    import torch

    rows, skipped = [], []
    for graph in plan.graphs:
        if not _has_graph(graph, root):
            skipped.append(f"{graph} (no raw files under {root})")
            continue
        cpu = epoch_times(graph, root, "cpu", plan.epochs)
        other = epoch_times(graph, root, device_name, plan.epochs) if device_name != "cpu" else cpu
        rows.append({"graph": graph, "nodes": cpu["nodes"], "edges": cpu["edges"], "cpu_ms": cpu["epoch_ms"],
                     "device_ms": other["epoch_ms"], "speedup": round(cpu["epoch_ms"] / other["epoch_ms"], 2)})
        log(f"gpu: {graph}: cpu {cpu['epoch_ms']:.2f} ms, {device_name} {other['epoch_ms']:.2f} ms per epoch")
    pack_graph = plan.pack_graph if _has_graph(plan.pack_graph, root) else SYNTHETIC_FALLBACK
    packs = []
    for trials in plan.packs:
        row = packing(pack_graph, root, device_name, trials, plan.pack_epochs)
        if any(not seen.startswith(device_name.split(":")[0]) for seen in row["devices_seen"]):
            raise RuntimeError(f"packed trials ran on {row['devices_seen']}, not {device_name}")
        packs.append(row)
        log(f"gpu: {trials} trial(s) on one {device_name}: {row['trials_per_minute']:.1f} trials/min, "
            f"peak {row['peak_gpu_mib_per_trial']:.0f} MiB GPU memory per trial")
    base = packs[0]["trials_per_minute"] if packs else None
    for row in packs:
        row["throughput_vs_one"] = round(row["trials_per_minute"] / base, 2) if base else None
    return {
        "available": True, "device": device_name, "dry_run": device_name == "cpu",
        "device_name": torch.cuda.get_device_name(0) if device_name.startswith("cuda") else "cpu",
        "torch": torch.__version__, "measured_at": "trainer level (N processes share one device; no Ray)",
        "plan": plan.__dict__, "epochs": rows, "skipped": skipped, "packing": packs,
    }


def run(ctx: Context) -> dict[str, Any]:
    import torch

    if not torch.cuda.is_available():
        reason = f"no CUDA GPU visible to this run (torch {torch.__version__}, CUDA build {torch.version.cuda})"
        log(f"gpu: {reason}: nothing measured")
        return {"available": False, "reason": reason}
    return measure(ctx.pick(FULL, QUICK), ctx.root, "cuda")


def targets(result: dict[str, Any]) -> list[Target]:
    goal = f">= {PACKED_TARGET} trials per GPU at >= {THROUGHPUT_TARGET:g}x one trial's throughput"
    if not result.get("available") or result.get("dry_run"):
        return [Target("GPU packing (fractional --gpus-per-trial)", goal,
                       "no GPU available in this run" if not result.get("available") else "CPU dry run only", None)]
    ok = [r for r in result["packing"] if r["trials"] >= PACKED_TARGET and (r["throughput_vs_one"] or 0) >= THROUGHPUT_TARGET]
    best = max(result["packing"], key=lambda r: r["throughput_vs_one"] or 0)
    return [Target("GPU packing (trainer level: N processes per GPU)", goal,
                   f"best {best['throughput_vs_one']}x at {best['trials']} trials per GPU", bool(ok))]


EPOCH_COLUMNS = (
    ("graph", lambda r: r["graph"]),
    ("nodes", lambda r: f"{r['nodes']:,}"),
    ("edges", lambda r: f"{r['edges']:,}"),
    ("CPU ms / epoch", lambda r: f"{r['cpu_ms']:.2f}"),
    ("GPU ms / epoch", lambda r: f"{r['device_ms']:.2f}"),
    ("speed-up", lambda r: f"{r['speedup']:.1f}x"),
)
PACK_COLUMNS = (
    ("trials per GPU", lambda r: r["trials"]),
    ("wall s", lambda r: f"{r['wall_s']:.1f}"),
    ("trials / min", lambda r: f"{r['trials_per_minute']:.1f}"),
    ("x one trial per GPU", lambda r: f"{r['throughput_vs_one']:.2f}"),
    ("peak GPU MiB per trial", lambda r: f"{r['peak_gpu_mib_per_trial']:.0f}"),
)


def markdown(result: dict[str, Any]) -> list[str]:
    if not result.get("available"):
        return ["## GPU", "", f"**No GPU was available in this run** ({result['reason']}): no GPU figures. "
                "`python benchmarks/bench_gpu.py --device cuda` measures them on a machine with one "
                "(`--device cpu --quick` checks the script without).", ""]
    dry = " (**CPU dry run: the 'GPU' columns are the CPU again; it only checks the script**)" if result["dry_run"] else ""
    return [
        f"## GPU: {result['device_name']}{dry}",
        "",
        f"Measured at the {result['measured_at']}; torch {result['torch']}.",
        "",
        *columns(EPOCH_COLUMNS, result["epochs"]),
        f"Packing: {result['plan']['pack_epochs']} epochs of GAE 32/16 per trial; every trial process asserted its "
        f"model was on {', '.join(sorted({d for r in result['packing'] for d in r['devices_seen']}))}.",
        "",
        *columns(PACK_COLUMNS, result["packing"]),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda[:N], or cpu for a dry run of the script")
    parser.add_argument("--data-root", default=os.environ.get("TUNE_GAE_DATA", "/tmp/tgdata"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None, help="write the JSON result (and a .md beside it) here")
    args = parser.parse_args()
    from tune_gae.train.allocator import keep_freed_memory

    keep_freed_memory()
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            sys.exit(f"--device {args.device}: no CUDA GPU visible (torch {torch.__version__}); use --device cpu.")
    result = measure(QUICK if args.quick else FULL, str(Path(args.data_root).expanduser()), args.device)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
        Path(args.out).with_suffix(".md").write_text("\n".join(markdown(result)) + "\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main(worker)
    else:
        sys.exit(main())
