"""Plain Optuna, the race's other runner: TPE + MedianPruner in one process, driving tune-gae's
own ``Trainer`` over the same space. Run as a fresh command; prints one JSON line at the end:
every new best validation AUC with its wall-clock time, and the study's best.

    python benchmarks/plain_optuna.py --data-root /tmp/tgdata --trials 100 --max-epochs 300
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--dataset", default="Cora")
    parser.add_argument("--space", default="default")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--max-epochs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import optuna

    from tune_gae.config import DataConfig, run_config_from_dict
    from tune_gae.data.split import encode_for_run, load_split
    from tune_gae.search.catalog import resolve_space_path
    from tune_gae.search.space import resolve_trial_config
    from tune_gae.search.space_parser import load_space
    from tune_gae.train.allocator import keep_freed_memory
    from tune_gae.train.trainer import DivergedError, Trainer

    keep_freed_memory()  # as tune-gae's trials do: equal settings
    split = load_split(DataConfig(args.dataset, root=args.data_root, split_seed=args.seed))
    # As tune-gae's trials see it: the space's entries for graphs with (or without) features, and
    # each trial's node encoding built the trainable's way (encode_for_run).
    define = load_space(resolve_space_path(args.space)).define_by_run(
        max_epochs=args.max_epochs, graph="features" if split.features_given else "featureless")
    bests: list[tuple[float, float]] = []  # (wall-clock time, new best validation AUC)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        trial_split, hyper = encode_for_run(split, {"seed": args.seed, **resolve_trial_config(define(trial))})
        model_config, train_config = run_config_from_dict(hyper, in_channels=trial_split.num_features)
        trainer = Trainer(trial_split, model_config, train_config)
        try:
            while not trainer.done:
                row = trainer.step()
                if not bests or row["val_auc"] > bests[-1][1]:
                    bests.append((time.time(), float(row["val_auc"])))
                trial.report(row["best_val_auc"], row["epoch"])
                if trial.should_prune():
                    raise optuna.TrialPruned()
        except DivergedError:
            pass
        return max(trainer.best["val_auc"], 0.0)

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=args.seed),
                                pruner=optuna.pruners.MedianPruner())
    study.optimize(objective, n_trials=args.trials)
    print(json.dumps({"bests": bests, "best_value": study.best_value, "trials": len(study.trials)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
