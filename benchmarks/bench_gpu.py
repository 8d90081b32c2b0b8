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
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_large_graphs import MEAN_DEGREE, featureless_split
from bench_large_graphs import MODEL as LARGE_MODEL
from common import REPO, Context, Target, columns, log, ms, worker_command, worker_main

PART = "gpu"
ORDER = 70
NEEDS_PLANETOID = False
PACKED_TARGET = 8  # trials per GPU ...
THROUGHPUT_TARGET = 5.0  # ... at >= this times the throughput of one trial per GPU


@dataclass(frozen=True)
class Plan:
    graphs: tuple[str, ...]  # Planetoid names, or "embedding:<edges>" (featureless, learnable embeddings)
    epochs: int  # timed epochs per small graph and device (large graphs: LARGE_EPOCHS)
    packs: tuple[int, ...]  # trials sharing one device
    pack_graph: str
    pack_epochs: int


FULL = Plan(graphs=("Cora", "CiteSeer", "embedding:1e6", "embedding:1e7"),
            epochs=20, packs=(1, 2, 4, 8, 16), pack_graph="Cora", pack_epochs=300)
QUICK = Plan(graphs=("Cora", "embedding:1e4"), epochs=3, packs=(1, 2), pack_graph="Cora", pack_epochs=20)
LARGE_EPOCHS = 2  # timed epochs of an "embedding:" graph (after one warm-up epoch)
# Figures measured on a lent GPU machine (benchmarks/gpu_device.sh), shown when this run has no GPU.
RECORDED = Path(__file__).resolve().parent / "gpu_h200.json"


def _has_graph(graph: str, root: str) -> bool:
    from tune_gae.data.sources import SHIPPED_PLANETOID

    return graph.startswith("embedding:") or any(
        (base / graph / "raw").is_dir() for base in (Path(root) / "Planetoid", SHIPPED_PLANETOID))


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _split_and_model(graph: str, root: str) -> tuple[Any, Any]:
    """The split and model of one row: a Planetoid graph with its features and the default GAE,
    or a featureless synthetic graph of ``embedding:<edges>`` edges with learnable embeddings."""
    from tune_gae.config import DataConfig, ModelConfig
    from tune_gae.data.sources import seed_shipped_raw_files
    from tune_gae.data.split import load_split

    if not graph.startswith("embedding:"):
        seed_shipped_raw_files(graph, Path(root))  # the package's own raw files when root lacks them
        split = load_split(DataConfig(graph, root=root))
        return split, ModelConfig(in_channels=split.num_features)
    split = featureless_split(int(float(graph.partition(":")[2])))
    return split, ModelConfig(in_channels=split.num_features, normalize_features=False, **LARGE_MODEL)


def epoch_times(split: Any, model_config: Any, device_name: str, epochs: int) -> dict[str, Any]:
    """Min and median seconds of ``Trainer.step`` (train + validation) on ``device_name``."""
    import torch

    from tune_gae.config import TrainConfig
    from tune_gae.train.trainer import Trainer

    device = torch.device(device_name)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    trainer = Trainer(split, model_config, TrainConfig(epochs=10**9), device=device)
    _check_on(trainer, device)
    trainer.step()  # warm-up: kernels, caches, the allocator
    _sync(device)
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        trainer.step()
        _sync(device)
        times.append(time.perf_counter() - started)
    memory = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    del trainer
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {"epoch_ms": ms(min(times)), "epoch_median_ms": ms(statistics.median(times)),
            "peak_gpu_mib": round(memory, 1) if memory is not None else None}


def epoch_row(graph: str, root: str, device_name: str, epochs: int) -> dict[str, Any]:
    """One graph's per-epoch time on the CPU (all its cores) and on ``device_name``."""
    import torch

    started = time.perf_counter()
    split, model_config = _split_and_model(graph, root)
    setup = time.perf_counter() - started
    epochs = LARGE_EPOCHS if graph.startswith("embedding:") and epochs > LARGE_EPOCHS else epochs
    cpu = epoch_times(split, model_config, "cpu", epochs)
    other = epoch_times(split, model_config, device_name, epochs) if device_name != "cpu" else cpu
    return {"graph": graph, "nodes": split.num_nodes, "edges": int(split.train_pos.size(1) + split.val_pos.size(1)
            + (split.test_pos.size(1) if split.test_pos is not None else 0)), "setup_s": round(setup, 1),
            "epochs_timed": epochs, "cpu_threads": torch.get_num_threads(), "cpu_ms": cpu["epoch_ms"],
            "device_ms": other["epoch_ms"], "device_median_ms": other["epoch_median_ms"],
            "peak_gpu_mib": other["peak_gpu_mib"], "speedup": round(cpu["epoch_ms"] / other["epoch_ms"], 2)}


def _check_on(trainer: Any, device: Any) -> None:
    """The trial really runs on ``device``: its weights and its graph are there."""
    weight = next(trainer.model.parameters())
    if weight.device.type != device.type or trainer.message_edges.device.type != device.type:
        raise RuntimeError(f"the trainer is on {weight.device}, not {device}")


def worker(spec: dict[str, Any]) -> None:
    """One trial process of a packing run: load, say "ready", wait for "go", train, report."""
    import torch

    from tune_gae.config import TrainConfig
    from tune_gae.train.trainer import Trainer

    device = torch.device(spec["device"])
    torch.set_num_threads(1)
    split, model_config = _split_and_model(spec["graph"], spec["root"])
    trainer = Trainer(split, model_config, TrainConfig(epochs=10**9, seed=spec["seed"]), device=device)
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


@contextlib.contextmanager
def mps_daemon() -> Iterator[None]:
    """NVIDIA's Multi-Process Service for the processes started inside: their kernels share one
    GPU context instead of being time-sliced (what a Ray node with MPS enabled gives its
    fractional-GPU trials). Stopped on the way out."""
    folder = Path(tempfile.mkdtemp(prefix="tune-gae-mps-"))
    env = {"CUDA_MPS_PIPE_DIRECTORY": str(folder / "pipe"), "CUDA_MPS_LOG_DIRECTORY": str(folder / "log")}
    for path in env.values():
        Path(path).mkdir()
    os.environ.update(env)
    subprocess.run(["nvidia-cuda-mps-control", "-d"], check=True, timeout=30)
    try:
        yield
    finally:
        subprocess.run(["nvidia-cuda-mps-control"], input="quit\n", text=True, timeout=30, check=False)
        for key in env:
            os.environ.pop(key, None)


def packing(graph: str, root: str, device_name: str, trials: int, epochs: int, *,
            timeout_s: float = 180.0) -> dict[str, Any]:
    """``trials`` processes training at once on one device: trials per minute and memory.
    Every process is killed after ``timeout_s`` seconds (a stuck device fails the row, not the run)."""
    specs = [{"graph": graph, "root": root, "device": device_name, "epochs": epochs, "seed": i} for i in range(trials)]
    processes = [subprocess.Popen(worker_command("bench_gpu", spec), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, cwd=str(REPO)) for spec in specs]
    watchdog = threading.Timer(timeout_s, lambda: [process.kill() for process in processes])
    watchdog.start()
    try:
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
    finally:
        watchdog.cancel()
        for process in processes:
            if process.poll() is None:
                process.kill()
    wall = max(r["end"] for r in reports) - started
    return {"trials": trials, "graph": graph, "device": device_name, "epochs": epochs, "wall_s": round(wall, 2),
            "trials_per_minute": round(trials / wall * 60, 2),
            "devices_seen": sorted({r["on"] for r in reports}),
            "peak_gpu_mib_per_trial": max(r["peak_gpu_mib"] for r in reports)}


def measure(plan: Plan, root: str, device_name: str, *, deadline_s: float = float("inf"), mps: bool = False,
            packing_only: bool = False,
            saved: Callable[[dict[str, Any]], None] = lambda result: None) -> dict[str, Any]:
    """Packing on ``device_name`` first (the target; time-sliced, then under MPS with ``mps``),
    then per-epoch CPU vs ``device_name`` (unless ``packing_only``).

    A row that fails is recorded with its error and the run goes on; rows that would start after
    ``deadline_s`` seconds are skipped (said in ``skipped``); ``saved`` gets the result so far
    after every row, so a run cut short still leaves its figures.
    """
    import torch

    result: dict[str, Any] = {
        "available": True, "device": device_name, "dry_run": device_name == "cpu",
        "device_name": torch.cuda.get_device_name(0) if device_name.startswith("cuda") else "cpu",
        "torch": torch.__version__, "cpu_count": os.cpu_count(),
        "measured_at": "trainer level (N processes share one device; no Ray)",
        "plan": plan.__dict__, "epochs": [], "skipped": [], "errors": [], "packing": [],
    }
    begun = time.monotonic()

    def late(what: str) -> bool:
        if time.monotonic() - begun <= deadline_s:
            return False
        result["skipped"].append(f"{what} (past the {deadline_s:.0f} s deadline)")
        return True

    pack_graph = plan.pack_graph if _has_graph(plan.pack_graph, root) else QUICK.graphs[-1]
    for sharing in ("time-sliced", "MPS") if mps else ("time-sliced",):
        try:
            with mps_daemon() if sharing == "MPS" else contextlib.nullcontext():
                for trials in plan.packs:
                    if late(f"packing {trials} ({sharing})"):
                        continue
                    try:
                        row = packing(pack_graph, root, device_name, trials, plan.pack_epochs)
                        if any(not seen.startswith(device_name.split(":")[0]) for seen in row["devices_seen"]):
                            raise RuntimeError(f"packed trials ran on {row['devices_seen']}, not {device_name}")
                    except Exception as error:  # noqa: BLE001 - recorded, the run goes on
                        result["errors"].append(f"packing {trials} ({sharing}): {error!r}")
                        log(f"gpu: packing {trials} ({sharing}) failed: {error!r}")
                        continue
                    row["sharing"] = sharing
                    result["packing"].append(row)
                    base = result["packing"][0]["trials_per_minute"]  # one time-sliced trial: one trial per GPU
                    row["throughput_vs_one"] = round(row["trials_per_minute"] / base, 2)
                    log(f"gpu: {trials} trial(s) on one {device_name} ({sharing}): {row['trials_per_minute']:.1f} "
                        f"trials/min ({row['throughput_vs_one']:.2f}x one), peak {row['peak_gpu_mib_per_trial']:.0f} MiB "
                        "GPU memory per trial")
                    saved(result)
        except (OSError, subprocess.SubprocessError) as error:  # no MPS on this machine: said, not fatal
            result["errors"].append(f"{sharing}: {error!r}")
            log(f"gpu: {sharing} failed: {error!r}")
    for graph in () if packing_only else plan.graphs:
        if not _has_graph(graph, root):
            result["skipped"].append(f"{graph} (no raw files under {root})")
            continue
        if late(graph):
            continue
        try:
            row = epoch_row(graph, root, device_name, plan.epochs)
        except Exception as error:  # noqa: BLE001 - recorded, the run goes on
            result["errors"].append(f"{graph}: {error!r}")
            log(f"gpu: {graph} failed: {error!r}")
            continue
        result["epochs"].append(row)
        log(f"gpu: {graph}: cpu {row['cpu_ms']:.2f} ms, {device_name} {row['device_ms']:.2f} ms per epoch")
        saved(result)
    return result


def run(ctx: Context) -> dict[str, Any]:
    """Measure on this machine's GPU; without one, the figures last recorded on a lent GPU machine
    (RECORDED, said so in RESULTS.md) or, failing those, why nothing was measured."""
    import torch

    if torch.cuda.is_available():
        return measure(ctx.pick(FULL, QUICK), ctx.root, "cuda", mps=True)
    reason = f"no CUDA GPU visible to this run (torch {torch.__version__}, CUDA build {torch.version.cuda})"
    if RECORDED.is_file() and not ctx.quick:
        log(f"gpu: {reason}: RESULTS.md shows the figures recorded in {RECORDED.name}")
        return json.loads(RECORDED.read_text())
    log(f"gpu: {reason}: nothing measured")
    return {"available": False, "reason": reason}


def targets(result: dict[str, Any]) -> list[Target]:
    goal = f">= {PACKED_TARGET} trials per GPU at >= {THROUGHPUT_TARGET:g}x one trial's throughput"
    if not result.get("available") or result.get("dry_run"):
        return [Target("GPU packing (fractional --gpus-per-trial)", goal,
                       "no GPU available in this run" if not result.get("available") else "CPU dry run only", None)]
    if not result["packing"]:
        return [Target("GPU packing (trainer level: N processes per GPU)", goal,
                       f"no packing row ran ({'; '.join(result.get('errors', [])) or 'skipped'})", None)]
    rows = []
    for sharing in sorted({r.get("sharing", "time-sliced") for r in result["packing"]}, reverse=True):
        packs = [r for r in result["packing"] if r.get("sharing", "time-sliced") == sharing]
        ok = [r for r in packs if r["trials"] >= PACKED_TARGET and (r["throughput_vs_one"] or 0) >= THROUGHPUT_TARGET]
        best = max(packs, key=lambda r: r["throughput_vs_one"] or 0)
        at_target = next((r for r in packs if r["trials"] == PACKED_TARGET), None)
        measured = (f"{at_target['throughput_vs_one']}x at {PACKED_TARGET} trials, " if at_target else "") + \
            f"best {best['throughput_vs_one']}x at {best['trials']} trials per GPU"
        rows.append(Target(f"GPU packing, {sharing} (trainer level: N processes per GPU, {result['device_name']})",
                           goal, measured, bool(ok)))
    return rows


EPOCH_COLUMNS = (
    ("graph", lambda r: r["graph"]),
    ("nodes", lambda r: f"{r['nodes']:,}"),
    ("edges", lambda r: f"{r['edges']:,}"),
    ("CPU threads", lambda r: r["cpu_threads"]),
    ("CPU ms / epoch", lambda r: f"{r['cpu_ms']:.2f}"),
    ("GPU ms / epoch", lambda r: f"{r['device_ms']:.2f}"),
    ("speed-up", lambda r: f"{r['speedup']:.1f}x"),
    ("peak GPU MiB", lambda r: "-" if r["peak_gpu_mib"] is None else f"{r['peak_gpu_mib']:.0f}"),
)
PACK_COLUMNS = (
    ("trials per GPU", lambda r: r["trials"]),
    ("sharing", lambda r: r.get("sharing", "time-sliced")),
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
    seen = ", ".join(sorted({d for r in result["packing"] for d in r["devices_seen"]})) or "-"
    recorded = result.get("recorded")
    where = [f"**Not measured by this run (no GPU here): recorded on {recorded['date']} on a lent machine "
             f"({recorded['machine']}) by:**", "", *[f"- `{command}`" for command in recorded["commands"]], ""] if recorded else []
    lines = [
        f"## GPU: {result['device_name']}{dry}",
        "",
        *where,
        f"Measured at the {result['measured_at']}; torch {result['torch']}, {result.get('cpu_count')} CPU cores "
        "on that machine. Per epoch: minimum of the timed epochs of `Trainer.step` (train + validation) after one "
        "warm-up; Planetoid graphs with the default GAE, `embedding:<edges>` graphs featureless synthetic graphs "
        f"(mean degree {MEAN_DEGREE}) with learnable embeddings and GCN 64/32, as in bench_large_graphs.py.",
        "",
        *columns(EPOCH_COLUMNS, result["epochs"]),
        f"Packing: {result['plan']['pack_epochs']} epochs of the default GAE on {result['plan']['pack_graph']} per "
        f"trial, one process per trial (1 CPU thread each), all started at once; every trial process asserted "
        f"its model was on {seen}.",
        "",
        *columns(PACK_COLUMNS, result["packing"]),
    ]
    for note in result.get("errors", []):
        lines += [f"- failed: {note}"]
    for note in result.get("skipped", []):
        lines += [f"- skipped: {note}"]
    return lines + [""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda[:N], or cpu for a dry run of the script")
    parser.add_argument("--data-root", default=os.environ.get("TUNE_GAE_DATA", "/tmp/tgdata"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--deadline-s", type=float, default=float("inf"),
                        help="start no row after this many seconds (rows left are listed as skipped)")
    parser.add_argument("--mps", action="store_true",
                        help="also pack the trials under NVIDIA MPS (started and stopped by this script)")
    parser.add_argument("--packing-only", action="store_true", help="skip the per-epoch CPU vs GPU table")
    parser.add_argument("--out", default=None, help="write the JSON result (and a .md beside it) here, after every row")
    args = parser.parse_args()
    from tune_gae.train.allocator import keep_freed_memory

    keep_freed_memory()
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            sys.exit(f"--device {args.device}: no CUDA GPU visible (torch {torch.__version__}); use --device cpu.")

    def save(result: dict[str, Any]) -> None:
        if args.out:
            Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
            Path(args.out).with_suffix(".md").write_text("\n".join(markdown(result)) + "\n")

    result = measure(QUICK if args.quick else FULL, str(Path(args.data_root).expanduser()), args.device,
                     deadline_s=args.deadline_s, mps=args.mps, packing_only=args.packing_only, saved=save)
    save(result)
    print(json.dumps(result, indent=2))
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main(worker)
    else:
        sys.exit(main())
