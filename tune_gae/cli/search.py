"""``tune-gae search`` and ``resume``: run a search, print its best trials, export the winner."""
from __future__ import annotations

import json
import threading
from typing import Any

import click

from tune_gae.cli.main import main
from tune_gae.cli.options import (
    data_root_option,
    dataset_option,
    features_option,
    interruptible,
    negatives_option,
    print_top,
    setting_option,
    split_ratio_options,
    user_errors,
)
from tune_gae.errors import TuneGAEError


@main.command()
@click.argument("space", default="default")
@dataset_option
@features_option
@data_root_option
@setting_option("num_samples", help="Trials to run.")
@setting_option("max_epochs", help="ASHA's max_t and the cap on sampled epochs.")
@setting_option("grace_period", help="Epochs every trial runs before ASHA may stop it.  [default: 20, or "
                "--max-epochs when that is smaller]")
@setting_option("reduction_factor")
@setting_option("metric", help="Validation metric Optuna maximises and ASHA compares.")
@setting_option("scheduler")
@click.option("--objectives", default=None,
              help="Search two objectives at once: a validation metric (maximised; ASHA stops and export selects "
                   "on it), then a cost to minimise: epoch_ms, parameters or embedding_dim (e.g. val_auc,epoch_ms). "
                   "`report` shows the Pareto front; `export --trial ID` exports any trial.")
@negatives_option
@split_ratio_options
@setting_option("reselect_top", help="After the search, re-train this many best trials with fresh seeds; the "
                "best mean validation score wins the export (0: off, the single best trial wins).")
@setting_option("reselect_seeds", help="Fresh seeds per re-trained trial (0: off).")
@setting_option("cpus_per_trial")
@setting_option("gpus_per_trial", help="Fractions share a GPU (0.25 = four trials per GPU).")
@setting_option("max_concurrent", help="Cap on trials running at once.")
@click.option("--address", default=None,
              help="Ray cluster to join (HOST:PORT, or auto: the one `ray start` recorded here). Default: "
                   "$RAY_ADDRESS, else a local Ray started for this search.")
@click.option("--name", default=None, help="Search folder under --results-dir (default: <dataset>-<space>-<time>).")
@setting_option("results_dir", type=click.Path(file_okay=False))
@setting_option("seed", help="Seeds the split, the sampler and the models.")
@setting_option("checkpoint_every", help="Epochs between trial checkpoints (also at every ASHA rung and the end).")
@setting_option("max_failures", help="Retries of a crashed trial, from its last checkpoint.")
@setting_option("report_interval_s",
                help="Seconds between a trial's reports to Ray Tune besides those at ASHA rungs and "
                     "checkpoints (0: every epoch; TensorBoard gets every epoch regardless).")
@setting_option("time_budget_s", help="Wall-clock budget in seconds: no trial runs past it; re-selection runs after it (default: none).")
@setting_option("reproducible", is_flag=True, type=bool,
                help="The same --seed gives the same trials and winner on one machine: suggestions in fixed "
                     "batches (one per trial slot), ASHA compares a trial with earlier batches only. Slower.")
@click.option("--storage", default=None,
              help="SQLAlchemy URL of the database that keeps the Optuna study (e.g. postgresql://user@host/db; "
                   "put the password in PGPASSWORD, not the URL: search.json records the settings). Default: "
                   "study.db (SQLite) in the search folder.")
@click.option("--warm-start", default=None,
              help="An earlier search (results/<name>, or STORAGE_URL#STUDY) to start from: on the same split its "
                   "trials seed the sampler as already evaluated; on another, its top configurations run first.")
@click.option("--overwrite", is_flag=True, help="Delete an earlier search of the same name first (and its study).")
@click.option("--keep-checkpoints", is_flag=True,
              help="Keep every trial's last checkpoint (default: only the best trials', one per metric).")
@click.option("--export/--no-export", default=True, show_default=True, help="Export the best model to <search>/best.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object at the end instead of a table.")
@interruptible
@user_errors
def search(space: str, dataset: str, features: str | None, data_root: str | None, num_samples: int,
           max_epochs: int, grace_period: int | None, reduction_factor: int, metric: str, scheduler: str,
           negatives: str, val_ratio: float, test_ratio: float, reselect_top: int, reselect_seeds: int,
           cpus_per_trial: float, gpus_per_trial: float, max_concurrent: int | None, address: str | None,
           name: str | None, results_dir: str, seed: int, checkpoint_every: int, max_failures: int,
           report_interval_s: float, time_budget_s: float | None, reproducible: bool, storage: str | None,
           warm_start: str | None, objectives: str | None, overwrite: bool, keep_checkpoints: bool,
           export: bool, as_json: bool) -> None:
    """Search GAE/VGAE hyperparameters over SPACE (a shipped name or a YAML file).

    Ray Tune runs the trials, Optuna samples SPACE, ASHA stops weak trials early.
    """
    from tune_gae.config import DataConfig
    from tune_gae.search.runner import run_search
    from tune_gae.search.settings import SearchSettings

    if objectives is not None:
        from tune_gae.rules import parse_objectives

        first = parse_objectives(objectives)[0]
        if click.get_current_context().get_parameter_source("metric") == click.core.ParameterSource.COMMANDLINE \
                and metric != first:
            raise TuneGAEError(f"--metric {metric} and --objectives {objectives} disagree: the first objective is "
                               f"the search metric, so drop --metric.")
        metric = first
    _join_service(address, as_json)

    settings = SearchSettings(
        space=space, data=DataConfig(dataset=dataset, root=data_root, features=features, split_seed=seed,
                                      negatives=negatives, val_ratio=val_ratio, test_ratio=test_ratio),
        num_samples=num_samples, max_epochs=max_epochs, grace_period=grace_period,
        reduction_factor=reduction_factor, metric=metric, scheduler=scheduler,
        cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial, max_concurrent=max_concurrent,
        address=address, name=name, results_dir=results_dir, seed=seed,
        checkpoint_every=checkpoint_every, max_failures=max_failures, overwrite=overwrite,
        time_budget_s=time_budget_s, report_interval_s=report_interval_s, keep_checkpoints=keep_checkpoints,
        reselect_top=reselect_top, reselect_seeds=reselect_seeds, reproducible=reproducible, storage=storage,
        warm_start=warm_start, objectives=objectives,
    )
    outcome = run_search(settings, echo=None if as_json else click.echo)
    _finish_search(outcome, metric, export, as_json)


def _join_service(address: str | None, as_json: bool) -> None:
    """Run on the service `tune-gae up` started, when one runs and no other Ray was asked for."""
    from tune_gae.service.head import join_running_service

    service = join_running_service(address)
    if service is not None and not as_json:
        click.echo(f"On the tune-gae service at {service.gcs_address} (started by `tune-gae up` at {service.started}).")


def _finish_search(outcome: Any, metric: str, export: bool, as_json: bool) -> None:
    from tune_gae.search.cluster import disconnect_ray

    # Nothing below needs Ray: its shutdown (1-2 s of stopping processes) overlaps the export.
    stopping = threading.Thread(target=disconnect_ray, name="tune-gae-ray-shutdown")
    stopping.start()
    try:
        _report_search(outcome, metric, export, as_json)
    finally:
        stopping.join()
    from tune_gae.service.head import top_up_after_search

    top_up_after_search()


def _report_search(outcome: Any, metric: str, export: bool, as_json: bool) -> None:
    bundle = None
    if outcome.already_finished:  # resumed a finished search: its bundle is the one it has
        bundle = outcome.path / "best" if (outcome.path / "best").is_dir() else None
    elif export and outcome.best_trial:
        from tune_gae.bundle.writer import export_best

        bundle = export_best(outcome.path, metric=metric)
    if as_json:
        click.echo(json.dumps({
            "path": str(outcome.path), "best_trial": outcome.best_trial, "best": outcome.best,
            "winner": outcome.winner, "exported": _trial_row(outcome.trials, outcome.winner),
            "num_trials": len(outcome.trials), "split_hash": outcome.split_hash,
            "seconds": round(outcome.seconds, 1), "bundle": str(bundle) if bundle else None,
            "already_finished": outcome.already_finished,
            "baselines": _bundle_metrics(bundle).get("baselines") if bundle else None,
        }, default=str))
        return
    from tune_gae.search.results import SearchFolder

    search = SearchFolder.open(outcome.path)
    click.echo("")
    print_top(outcome.trials, metric)
    reselection_s = search.record().get("reselection_seconds")
    then = f", then re-selection in {reselection_s:.0f} s" if reselection_s else ""
    click.echo(f"\n{len(outcome.trials)} trials in {outcome.seconds:.0f} s{then}. Results: {outcome.path}")
    if bundle:
        from tune_gae.search.pareto import default_winner_note

        click.echo(f"{winner_line(search.record(), metric)} Bundle: {bundle}")
        note = default_winner_note(search.settings().objectives, outcome.path)
        if note:
            click.echo(note)
        line = _baseline_summary(bundle)
        if line:
            click.echo(line)
    click.echo(f"TensorBoard: tune-gae tensorboard {outcome.path}")


def _trial_row(trials: list[dict[str, Any]], trial: str | None) -> dict[str, Any] | None:
    """The exported trial's row (its hyperparameters and metrics): ``best`` describes the single best
    trial, which re-selection may not have exported."""
    return next((row for row in trials if row.get("trial") == trial), None)


def winner_line(record: dict[str, Any], metric: str) -> str:
    """How the exported trial was chosen, in one wording whether re-selection ran or not."""
    best, winner, picked = record.get("best_trial"), record.get("winner"), record.get("reselection_settings")
    if not (winner and picked and record.get("reselection")):
        return f"Best model: {best}, the single best trial by {metric} (no re-selection)."
    single = "also the single best trial" if winner["trial"] == best else f"the single best trial was {best}"
    return (f"Best model: {winner['trial']}, chosen by mean {picked['metric']} over {picked['seeds']} fresh seeds "
            f"among the top {len(record['reselection'])} trials ({single}); exported: its fresh run with seed "
            f"{winner['seed']}.")


def _bundle_metrics(bundle: Any) -> dict[str, Any]:
    from tune_gae.bundle.files import METRICS_FILE

    return json.loads((bundle / METRICS_FILE).read_text())


def _baseline_summary(bundle: Any) -> str | None:
    """``Exported model: tuned model test AUC ... vs best baseline (...) ...`` from metrics.json."""
    from tune_gae.bundle.reader import bundle_decoder
    from tune_gae.train.baselines import baseline_line

    metrics = _bundle_metrics(bundle)
    if not metrics.get("baselines"):
        return None
    line = baseline_line(metrics["test_auc"], metrics["baselines"], decoder=bundle_decoder(bundle))
    return f"On its split's test edges: {line}"


@main.command()
@click.argument("path", type=click.Path())
@click.option("--address", default=None, help="Ray cluster to join (default: the search's own setting).")
@click.option("--export/--no-export", default=True, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@interruptible
@user_errors
def resume(path: str, address: str | None, export: bool, as_json: bool) -> None:
    """Continue an interrupted search in PATH: finished trials are kept, the rest continue.

    A search that already finished is said so, without starting anything.

    PATH must be a search folder you trust: Ray's experiment state in it is unpickled.
    """
    from tune_gae.search.results import load_search_record
    from tune_gae.search.runner import resume_search

    metric = load_search_record(path)["settings"]["metric"]
    _join_service(address, as_json)
    outcome = resume_search(path, echo=None if as_json else click.echo, address=address)
    if outcome.already_finished and not as_json:
        best = outcome.best.get(f"best_{metric}")
        shown = f", best {metric} {float(best):.4f} ({outcome.best_trial})" if best not in (None, "") else ""
        click.echo(f"{outcome.path.name} already finished: {len(outcome.trials)} trials in "
                   f"{outcome.seconds:.0f} s{shown}. Nothing to resume.\nTrials: tune-gae report {outcome.path}")
        return
    _finish_search(outcome, metric, export, as_json)


