"""Per-epoch train/eval time of tune-gae vs the seed recipe (PyG's examples/autoencoder.py, see
seed_recipe.py) at equal hyperparameters; then final test AUC/AP of both over several seeds."""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Any

from common import Context, Target, columns, interleaved, log, ms

PART = "epoch"
ORDER = 10
NEEDS_PLANETOID = True
SPEEDUP_TARGET = 10.0  # issue 17: per-epoch >= 10x the PyG recipe at every configuration


@dataclass(frozen=True)
class Plan:
    datasets: tuple[str, ...]
    sizes: tuple[tuple[int, int], ...]  # (hidden, latent)
    threads: tuple[int, ...]
    repeats: int
    epochs_per_repeat: int
    metric_seeds: int
    metric_epochs: int
    metric_models: tuple[str, ...]


FULL = Plan(datasets=("Cora", "CiteSeer"), sizes=((32, 16), (128, 64)), threads=(1, 2), repeats=5,
            epochs_per_repeat=10, metric_seeds=3, metric_epochs=200, metric_models=("gae", "vgae"))
QUICK = Plan(datasets=("Cora",), sizes=((32, 16),), threads=(1,), repeats=2, epochs_per_repeat=5,
             metric_seeds=1, metric_epochs=20, metric_models=("gae",))


def run(ctx: Context) -> dict[str, Any]:
    import seed_recipe
    import torch

    from tune_gae.config import DataConfig, ModelConfig, TrainConfig
    from tune_gae.data.split import load_split
    from tune_gae.train.trainer import Trainer, train_epoch, validation_metrics

    plan: Plan = ctx.pick(FULL, QUICK)
    rows = []
    for dataset in plan.datasets:
        train_data, val_data, _ = seed_recipe.load_data(ctx.root, dataset, seed=0)
        split = load_split(DataConfig(dataset, root=ctx.root))
        for hidden, latent in plan.sizes:
            for threads in plan.threads:
                torch.set_num_threads(threads)
                recipe = seed_recipe.SeedRecipe(train_data, hidden=hidden, latent=latent)
                model_config = ModelConfig(in_channels=split.num_features, hidden_channels=(hidden,),
                                           latent_channels=latent)
                train_config = TrainConfig(epochs=10**9)
                trainer = Trainer(split, model_config, train_config)  # step(): what a trial runs
                parts = Trainer(split, model_config, train_config)  # train_epoch / evaluate alone

                def ours_train(parts: Trainer = parts, train_config: TrainConfig = train_config) -> None:
                    train_epoch(parts.model, parts.optimizer, parts.x, parts.message_edges, parts.train_pos,
                                train_config)

                def ours_eval(parts: Trainer = parts) -> None:
                    validation_metrics(parts.model, parts.x, parts.message_edges, parts.val_pos, parts.val_neg)

                fns = {
                    "seed_train": recipe.train,
                    "seed_eval": lambda recipe=recipe: recipe.test(val_data),
                    "ours_step": trainer.step,
                    "ours_train": ours_train,
                    "ours_eval": ours_eval,
                }
                interleaved(fns, repeats=1, epochs=3)  # warm-up
                means = interleaved(fns, repeats=plan.repeats, epochs=plan.epochs_per_repeat)
                best = {k: min(v) for k, v in means.items()}
                med = {k: statistics.median(v) for k, v in means.items()}
                row = {
                    "dataset": dataset, "hidden": hidden, "latent": latent, "threads": threads,
                    **{f"{k}_ms": ms(v) for k, v in best.items()},
                    **{f"{k}_median_ms": ms(v) for k, v in med.items()},
                }
                row["seed_total_ms"] = ms(best["seed_train"] + best["seed_eval"])
                row["speedup"] = round((best["seed_train"] + best["seed_eval"]) / best["ours_step"], 2)
                row["speedup_median"] = round((med["seed_train"] + med["seed_eval"]) / med["ours_step"], 2)
                rows.append(row)
                log(f"epoch {dataset} h{hidden}/l{latent} {threads} thread(s): seed {row['seed_train_ms']:.1f}"
                    f"+{row['seed_eval_ms']:.1f} ms, tune-gae {row['ours_step_ms']:.2f} ms/epoch "
                    f"(train {row['ours_train_ms']:.2f}, eval {row['ours_eval_ms']:.2f}) -> x{row['speedup']}")
    torch.set_num_threads(max(plan.threads))
    return {"plan": plan.__dict__, "rows": rows, "metrics": metric_equality(plan, ctx.root)}


def metric_equality(plan: Plan, root: str) -> list[dict[str, Any]]:
    """Final-epoch test AUC/AP of both at equal settings (hidden 32, latent 16, lr 0.01)."""
    import seed_recipe

    from tune_gae.config import DataConfig, ModelConfig, TrainConfig
    from tune_gae.data.split import load_split
    from tune_gae.nn.encoders import build_model
    from tune_gae.train.trainer import Trainer, score_test_edges

    rows = []
    for dataset in plan.datasets:
        for model in plan.metric_models:
            seed_runs, ours_final, ours_selected = [], [], []
            seed_s = ours_s = 0.0
            for seed in range(plan.metric_seeds):
                run_ = seed_recipe.run(root, dataset, epochs=plan.metric_epochs, variational=model == "vgae", seed=seed)
                seed_runs.append((run_["test_auc"], run_["test_ap"]))
                seed_s += run_["seconds"]
                started = time.perf_counter()
                split = load_split(DataConfig(dataset, root=root, split_seed=seed))
                model_config = ModelConfig(in_channels=split.num_features, model=model)
                trainer = Trainer(split, model_config, TrainConfig(epochs=plan.metric_epochs, seed=seed))
                while not trainer.done:
                    trainer.step()
                final = build_model(model_config)
                final.load_state_dict(trainer.model.state_dict())
                got = score_test_edges(final.eval(), split)
                ours_final.append((got["test_auc"], got["test_ap"]))
                chosen = score_test_edges(trainer.best_model(), split)
                ours_selected.append((chosen["test_auc"], chosen["test_ap"]))
                ours_s += time.perf_counter() - started
            row = {"dataset": dataset, "model": model, "epochs": plan.metric_epochs, "seeds": plan.metric_seeds,
                   "seed_seconds": round(seed_s, 2), "ours_seconds": round(ours_s, 2)}
            for label, runs in (("seed", seed_runs), ("ours", ours_final), ("ours_selected", ours_selected)):
                for i, metric in enumerate(("auc", "ap")):
                    values = [r[i] for r in runs]
                    row[f"{label}_{metric}"] = round(statistics.fmean(values), 4)
                    row[f"{label}_{metric}_sd"] = round(statistics.stdev(values), 4) if len(values) > 1 else None
            for metric in ("auc", "ap"):
                diff = row[f"ours_{metric}"] - row[f"seed_{metric}"]
                sds = [row[f"seed_{metric}_sd"] or 0.0, row[f"ours_{metric}_sd"] or 0.0]
                noise = 2 * math.sqrt((sds[0] ** 2 + sds[1] ** 2) / plan.metric_seeds)
                row[f"{metric}_diff"] = round(diff, 4)
                row[f"{metric}_equal_within_noise"] = abs(diff) <= max(noise, 0.01)
            rows.append(row)
            log(f"metrics {dataset} {model}: seed test AUC {row['seed_auc']:.4f}/AP {row['seed_ap']:.4f}, "
                f"tune-gae {row['ours_auc']:.4f}/{row['ours_ap']:.4f} (selected on val: "
                f"{row['ours_selected_auc']:.4f}/{row['ours_selected_ap']:.4f}); "
                f"{seed_s:.1f}s vs {ours_s:.1f}s")
    return rows


def targets(result: dict[str, Any]) -> list[Target]:
    worst = min(result["rows"], key=lambda r: r["speedup"])
    return [Target("per-epoch train+eval vs the seed recipe, equal config, every benchmarked configuration",
                   f">= {SPEEDUP_TARGET:g}x",
                   f"{worst['speedup']:.1f}x at the least ({worst['dataset']} {worst['hidden']}/{worst['latent']}, "
                   f"{worst['threads']} thread(s))", worst["speedup"] >= SPEEDUP_TARGET)]


EPOCH_COLUMNS = (
    ("dataset", lambda r: r["dataset"]),
    ("hidden/latent", lambda r: f"{r['hidden']}/{r['latent']}"),
    ("threads", lambda r: r["threads"]),
    ("seed train ms", lambda r: f"{r['seed_train_ms']:.1f}"),
    ("seed eval ms", lambda r: f"{r['seed_eval_ms']:.1f}"),
    ("seed total ms", lambda r: f"{r['seed_total_ms']:.1f}"),
    ("tune-gae train ms", lambda r: f"{r['ours_train_ms']:.2f}"),
    ("tune-gae eval ms", lambda r: f"{r['ours_eval_ms']:.2f}"),
    ("tune-gae epoch ms", lambda r: f"{r['ours_step_ms']:.2f}"),
    ("speed-up", lambda r: f"**{r['speedup']:.1f}x**"),
)


def _mean_sd(r: dict[str, Any], label: str, metric: str) -> str:
    sd = r[f"{label}_{metric}_sd"]
    return f"{r[f'{label}_{metric}']:.4f}" + (f" ({sd:.4f})" if sd is not None else "")


METRIC_COLUMNS = (
    ("dataset", lambda r: r["dataset"]),
    ("model", lambda r: r["model"]),
    ("epochs x seeds", lambda r: f"{r['epochs']} x {r['seeds']}"),
    ("seed AUC", lambda r: _mean_sd(r, "seed", "auc")),
    ("tune-gae AUC", lambda r: _mean_sd(r, "ours", "auc")),
    ("seed AP", lambda r: _mean_sd(r, "seed", "ap")),
    ("tune-gae AP", lambda r: _mean_sd(r, "ours", "ap")),
    ("equal within noise", lambda r: "yes" if r["auc_equal_within_noise"] and r["ap_equal_within_noise"] else "NO"),
    ("tune-gae selected on val (AUC/AP)", lambda r: f"{r['ours_selected_auc']:.4f}/{r['ours_selected_ap']:.4f}"),
    ("time seed / tune-gae", lambda r: f"{r['seed_seconds']:.1f}s / {r['ours_seconds']:.1f}s"),
)


def markdown(result: dict[str, Any]) -> list[str]:
    return [
        "## Per-epoch time: tune-gae vs the seed recipe (PyG examples/autoencoder.py)",
        "",
        "Seed: `train()` + `test(val)` of the script (GCNConv cached, sklearn metrics, PyG "
        "negative_sampling). tune-gae: `Trainer.step()` (train + validation, what a trial runs); "
        "its train/eval columns time `train_epoch()` and `evaluate()` alone.",
        "",
        *columns(EPOCH_COLUMNS, result["rows"]),
        f"Target: >= {SPEEDUP_TARGET:g}x. Final-epoch test metrics at equal settings (GCN 32/16, lr 0.01, "
        "mean over seeds, sd in brackets); the seed's split is PyG's RandomLinkSplit, "
        "tune-gae's its own seeded split (same 85/5/10 ratios):",
        "",
        *columns(METRIC_COLUMNS, result["metrics"]),
    ]
