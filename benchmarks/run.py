"""tune-gae benchmarks, measured side by side in one run; writes results.json and RESULTS.md.

Each benchmark is a module ``benchmarks/bench_<part>.py`` (found by name; see common.py for what
it declares). The parts, in the order they run:

- ``epoch``:      per-epoch train/eval time vs the seed recipe (PyG's examples/autoencoder.py)
                  at equal hyperparameters; final test AUC/AP of both over several seeds.
- ``scaling``:    per-epoch time and peak memory on synthetic graphs of 1e4 to 1e6 edges.
- ``report``:     the cost of one ``tune.report`` in a Ray Tune function trainable.
- ``search``:     ``tune-gae search`` (8 fixed configurations x 300 epochs, a fresh command) vs
                  the seed recipe 8 times in one process; the search's fixed overhead.
- ``service``:    the same search warm (after ``tune-gae up``) and cold (its own Ray), both fresh
                  commands; each one's fixed overhead.
- ``efficiency``: orchestration efficiency of the README's 24-trial search.
- ``race``:       ``tune-gae search`` vs plain Optuna, both fresh commands: time to validation
                  AUC targets and to the plateau (100 trials), and that search's efficiency.
- ``gpu``:        per-epoch CPU vs GPU and trials packed per GPU (needs a CUDA GPU; see
                  bench_gpu.py, which also runs on its own and has a CPU dry mode).

Usage (from the repository root)::

    .venv/bin/python benchmarks/run.py                    # every part
    .venv/bin/python benchmarks/run.py --quick            # smoke check, tiny sizes
    .venv/bin/python benchmarks/run.py --parts search,race --data-root /tmp/tgdata

Timings are the minimum over repeats of a mean over epochs (robust to other load); run on a
quiet machine for numbers to quote.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_DATA_ROOT, HERE, Context, elapsed, log, machine_info, stop_ray, targets_table  # noqa: E402

# Benchmarks run as scripts of their own (too long, or another machine); RESULTS.md shows what they saved.
STANDALONE = ("bench_large_graphs", "metrics_cost", "option_cost", "decoder_cost")


def benchmark_modules() -> dict[str, ModuleType]:
    """``bench_*.py`` modules that declare a ``PART``, by part, in their ``ORDER`` (a module
    without one is a script of its own, e.g. ``bench_large_graphs.py``)."""
    modules = [importlib.import_module(path.stem) for path in sorted(HERE.glob("bench_*.py"))]
    parts = [module for module in modules if hasattr(module, "PART")]
    return {module.PART: module for module in sorted(parts, key=lambda m: (m.ORDER, m.PART))}


def write_markdown(path: Path, results: dict[str, Any], modules: dict[str, ModuleType]) -> None:
    """RESULTS.md: the run's facts, every part's targets in one table, then each part's section."""
    m = results["machine"]
    reproduce = [f"`{run['command']}`" + (f" (re-ran {', '.join(run['parts'])}, {run['started']})" if run.get("parts") else "")
                 for run in results.get("runs", [{"command": results["command"]}])]
    lines = [
        "# tune-gae benchmark results",
        "",
        "Reproduce: " + ", then ".join(reproduce) + ("  (**--quick smoke check: numbers mean little**)" if results["quick"] else ""),
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable); Python {m['python']}, "
        f"torch {m['torch']}, torch_geometric {m['torch_geometric']}, ray {m['ray']}, optuna {m['optuna']}; "
        f"load average at start {', '.join(f'{x:.2f}' for x in m['load_average_start'])}, "
        f"at end {', '.join(f'{x:.2f}' for x in results['load_average_end'])}. "
        f"Ran {results['started']}, {results['seconds']:.0f} s in all.",
        "",
    ]
    if results.get("note"):
        lines += [results["note"], ""]
    lines += [
        "Times are the minimum over repeats of the mean over epochs (medians in results.json).",
        "",
        "Every process of this run, the seed recipe's included, uses the glibc malloc settings of "
        "tune-gae's trials and CLI (`tune_gae/train/allocator.py`: freed tensor memory is reused, not "
        "faulted in again), so both sides are measured at equal settings.",
        "",
    ]
    ran = [(modules[name], result) for name, result in results["parts"].items() if name in modules]
    lines += targets_table([target for module, result in ran for target in module.targets(result)])
    for module, result in ran:
        lines += module.markdown(result)
    for name in STANDALONE:  # scripts of their own: their last saved results, re-read each time
        lines += importlib.import_module(name).markdown()
    path.write_text("\n".join(lines).rstrip("\n") + "\n")


def merged(earlier: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """``now``'s parts over ``earlier``'s; the runs whose parts still show stay on record."""
    first = {k: earlier[k] for k in ("command", "started", "seconds") if k in earlier}
    runs = [*earlier.get("runs", [first]),
            {"command": now["command"], "started": now["started"], "seconds": now["seconds"],
             "parts": list(now["parts"])}]
    shown = []  # a run every part of which a later run re-ran no longer shows anywhere
    for i, run in enumerate(runs):
        later = {part for other in runs[i + 1:] for part in other.get("parts", [])}
        if "parts" not in run or set(run["parts"]) - later:
            shown.append(run)
    return {**earlier, "parts": {**earlier["parts"], **now["parts"]}, "runs": shown,
            "load_average_end": now["load_average_end"]}


def _without_note(args: list[str]) -> list[str]:
    """The command line as RESULTS.md shows it: ``--note`` is printed on its own."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--note":
            skip = True
        elif not arg.startswith("--note="):
            kept.append(arg)
    return kept


def main(argv: list[str] | None = None) -> int:
    modules = benchmark_modules()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default=",".join(modules), help=f"comma-separated, from {', '.join(modules)}")
    parser.add_argument("--quick", action="store_true", help="a smoke check: tiny sizes")
    parser.add_argument("--data-root", default=os.environ.get("TUNE_GAE_DATA", DEFAULT_DATA_ROOT),
                        help="folder holding Planetoid/<Name>/raw (default: $TUNE_GAE_DATA or /tmp/tgdata)")
    parser.add_argument("--dataset", default="Cora", help="dataset of the search-level parts")
    parser.add_argument("--target", default=None, help="validation AUC targets of the race, comma list")
    parser.add_argument("--race-trials", type=int, default=None, help="trials of each side of the race (default 100)")
    parser.add_argument("--scaling-threads", type=int, default=1)
    parser.add_argument("--note", default=None, help="a sentence for RESULTS.md (e.g. the machine was shared)")
    parser.add_argument("--out", default=str(HERE), help="folder for results.json and RESULTS.md")
    parser.add_argument("--merge", action="store_true",
                        help="keep the other parts of the results.json already in --out (re-run some parts only)")
    args = parser.parse_args(argv)
    # Every process of the run, the seed recipe's included, trains with the malloc settings that
    # tune-gae's trials and CLI use: the comparisons are at equal settings.
    from tune_gae.train.allocator import keep_freed_memory

    keep_freed_memory()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in modules]
    if unknown:
        parser.error(f"unknown part {unknown[0]!r}: use {', '.join(modules)}")
    root = str(Path(args.data_root).expanduser().resolve())
    if any(modules[p].NEEDS_PLANETOID for p in parts) and not (Path(root) / "Planetoid" / "Cora" / "raw").is_dir():
        parser.error(f"no Planetoid raw files under {root}: pass --data-root (a writable copy of "
                     f"shared/datasets), e.g. cp -r shared/datasets/Planetoid /tmp/tgdata/")

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    # The seed recipe's `return float(loss)` (as in PyG's script) warns on every call.
    warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad=True to a scalar")
    command = "python benchmarks/run.py " + shlex.join(_without_note(argv if argv is not None else sys.argv[1:]))
    results: dict[str, Any] = {
        "command": command.strip(), "quick": args.quick, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "note": args.note, "machine": machine_info(), "parts": {},
    }
    log(f"tune-gae benchmark: parts {', '.join(parts)}{' (quick)' if args.quick else ''}; "
        f"{results['machine']['cpu']}, {results['machine']['cores']} cores")
    workdir = Path(tempfile.mkdtemp(prefix="tune-gae-bench-"))
    options = {"targets": [float(t) for t in args.target.split(",")] if args.target else None,
               "scaling_threads": args.scaling_threads, "race_trials": args.race_trials}
    ctx = Context(quick=args.quick, root=root, workdir=workdir, dataset=args.dataset, options=options)
    try:
        for name, module in modules.items():
            if name in parts:
                log(f"--- {name}")
                results["parts"][name] = module.run(ctx)
    finally:
        stop_ray()
        shutil.rmtree(workdir, ignore_errors=True)
    results["seconds"] = round(elapsed(), 1)
    results["load_average_end"] = os.getloadavg()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if args.quick else ""
    earlier_file = out / f"results{suffix}.json"
    if args.merge and earlier_file.is_file():
        results = merged(json.loads(earlier_file.read_text()), results)
    (out / f"results{suffix}.json").write_text(json.dumps(results, indent=2, default=str))
    write_markdown(out / f"RESULTS{suffix}.md", results, modules)
    log(f"wrote {out / f'results{suffix}.json'} and {out / f'RESULTS{suffix}.md'} ({results['seconds']:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
