"""The ``tune-gae`` command line: each command parses flags, calls one library function, prints.

User errors (``TuneGAEError``) become a one-line ``Error: ...`` and exit code 2.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Callable

import click

from tune_gae.errors import TuneGAEError


class UserError(click.ClickException):
    """A one-line ``Error: ...`` with exit code 2 (no usage banner: the flags were fine)."""

    exit_code = 2


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a TuneGAEError raised below a command into click's one-line error, exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TuneGAEError as exc:
            raise UserError(str(exc)) from None

    return wrapper


def parse_widths(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[int, ...]:
    """``--hidden 32 --hidden 16`` or ``--hidden 32,16`` -> (32, 16); ``--hidden ''`` -> ()."""
    widths: list[int] = []
    for item in value:
        for part in item.split(","):
            if not part.strip():
                continue
            try:
                width = int(part)
            except ValueError:
                raise click.BadParameter(f"widths must be integers but got {part!r}.") from None
            if width <= 0:
                raise click.BadParameter(f"widths must be positive but got {width}.")
            widths.append(width)
    return tuple(widths)


data_root_option = click.option(
    "--data-root",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder laid out as <root>/Planetoid/<Name>/raw (default: $TUNE_GAE_DATA, else ~/.cache/tune-gae).",
)
dataset_option = click.option(
    "--dataset",
    default="Cora",
    show_default=True,
    help="Cora, CiteSeer, PubMed, synthetic:nodes=N,communities=K, or an edge-list file.",
)
features_option = click.option(
    "--features",
    type=click.Path(dir_okay=False),
    default=None,
    help="Node features (.npy, .pt or CSV) for an edge-list dataset.",
)


@click.group()
@click.version_option(package_name="tune-gae")
def main() -> None:
    """Hyperparameter search for graph auto-encoders (GAE/VGAE) on Ray Tune + Optuna."""


@main.command()
@dataset_option
@features_option
@data_root_option
@click.option("--model", type=click.Choice(["gae", "vgae"]), default="gae", show_default=True)
@click.option("--encoder", type=click.Choice(["gcn", "linear"]), default="gcn", show_default=True)
@click.option("--hidden", multiple=True, default=("32",), callback=parse_widths,
              help="Hidden widths: repeat or comma list (--hidden 64,32).  [default: 32]")
@click.option("--latent", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.01, show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True)
@click.option("--weight-decay", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.option("--kl-weight", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="VGAE only: weight of KL/N in the loss.")
@click.option("--normalize-features/--raw-features", default=True, show_default=True,
              help="Row-normalise node features (the paper's setting) or feed them raw.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the split and the model.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
@click.option("--results-dir", type=click.Path(file_okay=False), default="results", show_default=True)
@click.option("--name", default=None, help="Run folder under --results-dir (default: <dataset>-<model>-<time>).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a summary.")
@user_errors
def train(
    dataset: str,
    features: str | None,
    data_root: str | None,
    model: str,
    encoder: str,
    hidden: tuple[int, ...],
    latent: int,
    lr: float,
    epochs: int,
    dropout: float,
    weight_decay: float,
    kl_weight: float,
    normalize_features: bool,
    seed: int,
    device: str,
    results_dir: str,
    name: str | None,
    as_json: bool,
) -> None:
    """Train one GAE/VGAE, select the best validation epoch, test it once.

    Writes TensorBoard events (loss, val_auc, val_ap, HParams) under RESULTS_DIR/NAME.
    """
    from tune_gae.config import DataConfig
    from tune_gae.run import train_run

    data_config = DataConfig(dataset=dataset, root=data_root, features=features, split_seed=seed)
    hyper = dict(
        model=model, encoder=encoder, hidden_channels=hidden, latent_channels=latent, lr=lr,
        epochs=epochs, dropout=dropout, weight_decay=weight_decay, kl_weight=kl_weight,
        normalize_features=normalize_features, seed=seed,
    )
    summary = train_run(data_config, hyper, results_dir=results_dir, name=name, device=device,
                        echo=None if as_json else click.echo)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(
            f"{summary['dataset']} {model.upper()}: best epoch {summary['best_epoch']}/{summary['epochs']}  "
            f"val AUC {summary['val_auc']:.4f} AP {summary['val_ap']:.4f}  "
            f"test AUC {summary['test_auc']:.4f} AP {summary['test_ap']:.4f}  "
            f"({summary['seconds']:.1f} s)\nTensorBoard: tensorboard --logdir {summary['log_dir']}"
        )


def _print_top(rows: list[dict[str, Any]], metric: str, limit: int = 10) -> None:
    """The top trials as a compact table."""
    if not rows:
        click.echo("No trial finished.")
        return
    keys = [k for k in ("model", "encoder", "hidden_channels", "latent_channels", "lr", "epochs")
            if k in rows[0]]
    header = f"{'trial':<18} {'best ' + metric:>12} {'ran':>5}  " + "  ".join(keys)
    click.echo(header)
    for row in rows[:limit]:
        value = row.get(f"best_{metric}")
        shown = f"{float(value):.4f}" if value not in (None, "") else "-"
        cells = "  ".join(f"{row.get(k)}" if not isinstance(row.get(k), float) else f"{row[k]:.3g}" for k in keys)
        flags = " (stopped early)" if str(row.get("stopped_early")) == "True" else ""
        flags += " (diverged)" if str(row.get("diverged")) == "True" else ""
        click.echo(f"{row['trial']:<18} {shown:>12} {row.get('epochs_run', ''):>5}  {cells}{flags}")


@main.command()
@click.argument("space", default="default")
@dataset_option
@features_option
@data_root_option
@click.option("--num-samples", type=click.IntRange(min=1), default=24, show_default=True, help="Trials to run.")
@click.option("--max-epochs", type=click.IntRange(min=1), default=400, show_default=True,
              help="ASHA's max_t and the cap on sampled epochs.")
@click.option("--grace-period", type=click.IntRange(min=1), default=25, show_default=True,
              help="Epochs every trial runs before ASHA may stop it.")
@click.option("--reduction-factor", type=click.IntRange(min=2), default=3, show_default=True)
@click.option("--metric", type=click.Choice(["val_auc", "val_ap"]), default="val_auc", show_default=True)
@click.option("--scheduler", type=click.Choice(["asha", "fifo"]), default="asha", show_default=True)
@click.option("--cpus-per-trial", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True)
@click.option("--gpus-per-trial", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Fractions share a GPU (0.25 = four trials per GPU).")
@click.option("--max-concurrent", type=click.IntRange(min=1), default=None, help="Cap on trials running at once.")
@click.option("--address", default=None, help="Ray cluster to join (e.g. auto, 10.0.0.1:6379). Default: start Ray locally.")
@click.option("--name", default=None, help="Search folder under --results-dir (default: <dataset>-<space>-<time>).")
@click.option("--results-dir", type=click.Path(file_okay=False), default="results", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the split, the sampler and the models.")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=50, show_default=True,
              help="Epochs between trial checkpoints (also at every ASHA rung and the end).")
@click.option("--max-failures", type=click.IntRange(min=0), default=2, show_default=True,
              help="Retries of a crashed trial, from its last checkpoint.")
@click.option("--overwrite", is_flag=True, help="Delete an earlier search of the same name first.")
@click.option("--export/--no-export", default=True, show_default=True, help="Export the best model to <search>/best.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object at the end instead of a table.")
@user_errors
def search(space: str, dataset: str, features: str | None, data_root: str | None, num_samples: int,
           max_epochs: int, grace_period: int, reduction_factor: int, metric: str, scheduler: str,
           cpus_per_trial: float, gpus_per_trial: float, max_concurrent: int | None, address: str | None,
           name: str | None, results_dir: str, seed: int, checkpoint_every: int, max_failures: int,
           overwrite: bool, export: bool, as_json: bool) -> None:
    """Search GAE/VGAE hyperparameters over SPACE (a shipped name or a YAML file).

    Ray Tune runs the trials, Optuna samples SPACE, ASHA stops weak trials early.
    """
    from tune_gae.config import DataConfig
    from tune_gae.search import SearchSettings, run_search

    settings = SearchSettings(
        space=space, data=DataConfig(dataset=dataset, root=data_root, features=features, split_seed=seed),
        num_samples=num_samples, max_epochs=max_epochs, grace_period=min(grace_period, max_epochs),
        reduction_factor=reduction_factor, metric=metric, scheduler=scheduler,
        cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial, max_concurrent=max_concurrent,
        address=address, name=name, results_dir=results_dir, seed=seed,
        checkpoint_every=checkpoint_every, max_failures=max_failures, overwrite=overwrite,
    )
    outcome = run_search(settings, echo=None if as_json else click.echo)
    _finish_search(outcome, metric, export, as_json)


def _finish_search(outcome: Any, metric: str, export: bool, as_json: bool) -> None:
    bundle = None
    if export and outcome.best_trial:
        from tune_gae.export import export_best

        bundle = export_best(outcome.path, metric=metric)
    if as_json:
        click.echo(json.dumps({
            "path": str(outcome.path), "best_trial": outcome.best_trial, "best": outcome.best,
            "num_trials": len(outcome.trials), "split_hash": outcome.split_hash,
            "seconds": round(outcome.seconds, 1), "bundle": str(bundle) if bundle else None,
        }, default=str))
        return
    click.echo("")
    _print_top(outcome.trials, metric)
    click.echo(f"\n{len(outcome.trials)} trials in {outcome.seconds:.0f} s. Results: {outcome.path}")
    if bundle:
        click.echo(f"Best model: {bundle}")
    click.echo(f"TensorBoard: tune-gae tensorboard {outcome.path}")


@main.command()
@click.argument("path", type=click.Path())
@click.option("--address", default=None, help="Ray cluster to join (default: the search's own setting).")
@click.option("--export/--no-export", default=True, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@user_errors
def resume(path: str, address: str | None, export: bool, as_json: bool) -> None:
    """Continue an interrupted search in PATH: finished trials are kept, the rest continue.

    PATH must be a search folder you trust: Ray's experiment state in it is unpickled.
    """
    from tune_gae.search import load_search_record, resume_search

    metric = load_search_record(path)["settings"]["metric"]
    outcome = resume_search(path, echo=None if as_json else click.echo, address=address)
    _finish_search(outcome, metric, export, as_json)


@main.command()
@click.argument("path", type=click.Path())
@click.option("--metric", type=click.Choice(["val_auc", "val_ap"]), default=None,
              help="Sort by this metric (default: the search's).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@user_errors
def report(path: str, metric: str | None, as_json: bool) -> None:
    """Print the trials of the search in PATH, best first."""
    from tune_gae.report import read_trials

    rows, metric = read_trials(path, metric)
    if as_json:
        click.echo(json.dumps(rows, default=str))
    else:
        _print_top(rows, metric, limit=len(rows))


@main.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Use 0.0.0.0 only on a trusted network.")
@click.option("--port", type=int, default=6006, show_default=True)
def tensorboard(path: str, host: str, port: int) -> None:
    """Serve TensorBoard over a search or run folder (every trial, HParams included)."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(Path(path).resolve()),
               "--host", host, "--port", str(port)]
    click.echo(f"TensorBoard on http://{host}:{port}/ (Ctrl-C to stop)")
    raise SystemExit(subprocess.call(command))


@main.group(invoke_without_command=True)
@click.pass_context
def spaces(ctx: click.Context) -> None:
    """List the shipped search spaces; `tune-gae spaces check FILE` validates one."""
    if ctx.invoked_subcommand is not None:
        return
    from tune_gae.spaces import load_space, shipped_spaces

    shipped = shipped_spaces()
    if not shipped:
        click.echo("No shipped search spaces (the search_spaces/ folder is missing).")
        return
    width = max(len(name) for name in shipped)
    for name, path in shipped.items():
        try:
            summary = load_space(path).summary
        except TuneGAEError as exc:
            summary = f"INVALID: {exc}"
        click.echo(f"{name:<{width}}  {summary}")
    click.echo("\nSearch one: tune-gae search NAME. Validate a file: tune-gae spaces check FILE.")


@spaces.command("check")
@click.argument("space", metavar="FILE")
@user_errors
def check_space(space: str) -> None:
    """Validate the search space FILE (or a shipped name) and print its parameters."""
    from tune_gae.spaces import load_space, resolve_space_path

    loaded = load_space(space if Path(space).is_file() else resolve_space_path(space))
    click.echo(f"{space}: valid, {len(loaded.parameters)} parameters.")
    if loaded.summary:
        click.echo(loaded.summary)
    rows = [(p.name, p.kind, p.describe(), f"when {p.condition()}" if p.requires else "")
            for p in loaded.parameters]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for name, kind, values, condition in rows:
        line = f"  {name:<{widths[0]}}  {kind:<{widths[1]}}  {values:<{widths[2]}}  {condition}"
        click.echo(line.rstrip())


if __name__ == "__main__":
    main()
