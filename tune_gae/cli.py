"""The ``tune-gae`` command line: each command parses flags, calls one library function, prints.

User errors (``TuneGAEError``) become a one-line ``Error: ...`` and exit code 2.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Callable

import click

from tune_gae.allocator import keep_freed_memory
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


INTERRUPTED_EXIT_CODE = 130  # the shell's code for a command stopped by Ctrl-C (128 + SIGINT)


def interruptible(func: Callable[..., Any]) -> Callable[..., Any]:
    """A search stopped by Ctrl-C says how to resume it (stderr) and exits with code 130."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from tune_gae.search import SearchInterrupted

        try:
            return func(*args, **kwargs)
        except SearchInterrupted as exc:
            click.echo(f"Interrupted: {exc}", err=True)
            raise click.exceptions.Exit(INTERRUPTED_EXIT_CODE) from None

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
    keep_freed_memory()  # train/evaluate/embed run epochs or big forward passes in this process


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
@click.option("--patience", type=click.IntRange(min=0), default=0, show_default=True,
              help="Stop after this many epochs without a validation improvement (0: never).")
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
    patience: int,
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
        normalize_features=normalize_features, patience=patience, seed=seed,
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
    shown_rows = rows[:limit]
    texts = [{k: f"{row[k]:.3g}" if isinstance(row.get(k), float) else f"{row.get(k, '')}" for k in keys}
             for row in shown_rows]
    widths = {k: max([len(k)] + [len(t[k]) for t in texts]) for k in keys}
    header = f"{'trial':<18} {'best ' + metric:>12} {'ran':>5}  " + "  ".join(f"{k:<{widths[k]}}" for k in keys)
    click.echo(header.rstrip())
    for row, text in zip(shown_rows, texts):
        value = row.get(f"best_{metric}")
        shown = f"{float(value):.4f}" if value not in (None, "") else "-"
        cells = "  ".join(f"{text[k]:<{widths[k]}}" for k in keys)
        flags = " (stopped early)" if str(row.get("stopped_early")) == "True" else ""
        flags += " (diverged)" if str(row.get("diverged")) == "True" else ""
        click.echo(f"{row['trial']:<18} {shown:>12} {row.get('epochs_run', ''):>5}  {cells}".rstrip() + flags)


@main.command()
@click.argument("space", default="default")
@dataset_option
@features_option
@data_root_option
@click.option("--num-samples", type=click.IntRange(min=1), default=24, show_default=True, help="Trials to run.")
@click.option("--max-epochs", type=click.IntRange(min=1), default=400, show_default=True,
              help="ASHA's max_t and the cap on sampled epochs.")
@click.option("--grace-period", type=click.IntRange(min=1), default=20, show_default=True,
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
@click.option("--report-interval", "report_interval_s", type=click.FloatRange(min=0), default=0.1,
              show_default=True,
              help="Seconds between a trial's reports to Ray Tune besides those at ASHA rungs and "
                   "checkpoints (0: every epoch; TensorBoard gets every epoch regardless).")
@click.option("--time-budget", "time_budget_s", type=click.FloatRange(min=1), default=None,
              help="Wall-clock budget in seconds: no trial runs past it (default: none).")
@click.option("--overwrite", is_flag=True, help="Delete an earlier search of the same name first.")
@click.option("--export/--no-export", default=True, show_default=True, help="Export the best model to <search>/best.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object at the end instead of a table.")
@interruptible
@user_errors
def search(space: str, dataset: str, features: str | None, data_root: str | None, num_samples: int,
           max_epochs: int, grace_period: int, reduction_factor: int, metric: str, scheduler: str,
           cpus_per_trial: float, gpus_per_trial: float, max_concurrent: int | None, address: str | None,
           name: str | None, results_dir: str, seed: int, checkpoint_every: int, max_failures: int,
           report_interval_s: float, time_budget_s: float | None, overwrite: bool, export: bool, as_json: bool) -> None:
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
        time_budget_s=time_budget_s, report_interval_s=report_interval_s,
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
@interruptible
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
@click.option("--plots", is_flag=True,
              help="Also write PNGs to PATH/plots: metric per trial, top learning curves, importance.")
@user_errors
def report(path: str, metric: str | None, as_json: bool, plots: bool) -> None:
    """Print the trials of the search in PATH, best first."""
    from tune_gae.report import read_trials

    rows, metric = read_trials(path, metric)
    if as_json:
        click.echo(json.dumps(rows, default=str))
    else:
        _print_top(rows, metric, limit=len(rows))
    if plots:
        from tune_gae.report import write_plots

        written = write_plots(path, metric)
        # With --json, stdout stays one JSON document: the plot paths go to stderr.
        click.echo(("\n" if not as_json else "") + "Plots:\n" + "\n".join(f"  {p}" for p in written), err=as_json)


@main.command("export")
@click.argument("path", type=click.Path())
@click.option("--metric", type=click.Choice(["val_auc", "val_ap"]), default=None,
              help="Pick the best trial by this validation metric (default: the search's).")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Bundle folder (default: PATH/best).")
@data_root_option
@user_errors
def export_command(path: str, metric: str | None, out: str | None, data_root: str | None) -> None:
    """Export the best trial of the search in PATH as a model bundle (test metrics computed once)."""
    from tune_gae.export import export_best

    bundle = export_best(path, metric=metric, out=out, data_root=data_root)
    metrics = json.loads((bundle / "metrics.json").read_text())
    click.echo(
        f"Exported {metrics['trial']} (epoch {metrics['epoch']}, {metrics['selected_by']} "
        f"{metrics[metrics['selected_by']]:.4f}) to {bundle}\n"
        f"test AUC {metrics['test_auc']:.4f} AP {metrics['test_ap']:.4f} (computed once, at export)"
    )


@main.command()
@click.argument("bundle", type=click.Path())
@click.option("--graph", type=click.Path(dir_okay=False), default=None,
              help="Edge-list file of a new graph (default: the bundle's own training graph).")
@click.option("--features", type=click.Path(dir_okay=False), default=None,
              help="Node features of --graph (.npy, .pt or CSV), as many columns as the model's input.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Output file: .pt or .npy.")
@data_root_option
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N].")
@user_errors
def embed(bundle: str, graph: str | None, features: str | None, out: str, data_root: str | None,
          device: str) -> None:
    """Write node embeddings (mu for a VGAE) of BUNDLE's model for its graph or a new one."""
    from tune_gae.predict import embed_graph, save_embeddings

    z = embed_graph(bundle, graph=graph, features=features, data_root=data_root, device=device)
    path = save_embeddings(z, out)
    click.echo(f"Wrote {z.size(0)} x {z.size(1)} embeddings to {path}")


@main.command()
@click.argument("bundle", type=click.Path())
@click.option("--pairs", type=click.Path(dir_okay=False), default=None,
              help="CSV of node pairs (two integer columns, header optional) to score.")
@click.option("--node", type=int, default=None, help="List the most likely new neighbours of this node.")
@click.option("--top-k", type=click.IntRange(min=1), default=10, show_default=True, help="How many, with --node.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write the CSV here instead of stdout.")
@user_errors
def predict(bundle: str, pairs: str | None, node: int | None, top_k: int, out: str | None) -> None:
    """Score links with BUNDLE's embeddings as CSV src,dst,score (score = sigmoid(z_src . z_dst)).

    --pairs FILE scores the given pairs; --node N lists N's top-k non-neighbours in the training graph.
    """
    import csv
    import io

    from tune_gae.export import read_bundle_config
    from tune_gae.predict import read_pairs, score_pairs, top_k_links

    if (pairs is None) == (node is None):
        raise click.UsageError("give either --pairs FILE or --node N (with --top-k K).")
    if pairs is not None:
        pair_tensor = read_pairs(pairs, int(read_bundle_config(bundle)["num_nodes"]))
        scores = score_pairs(bundle, pair_tensor)
        rows = [(int(u), int(v), float(s)) for u, v, s in zip(pair_tensor[0], pair_tensor[1], scores)]
    else:
        rows = top_k_links(bundle, node, top_k)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["src", "dst", "score"])
    writer.writerows((u, v, f"{s:.8g}") for u, v, s in rows)
    if out is None:
        click.echo(buffer.getvalue(), nl=False)
    else:
        Path(out).write_text(buffer.getvalue())
        click.echo(f"Wrote {len(rows)} scores to {out}")


def _mean_std(summary: dict[str, Any], key: str) -> str:
    return f"{100 * summary[f'{key}_mean']:.1f} ± {100 * summary[f'{key}_std']:.1f}"


@main.command()
@click.argument("bundle", type=click.Path())
@click.option("--seeds", type=click.IntRange(min=1), default=5, show_default=True,
              help="Re-training runs (model seeds 0..N-1).")
@click.option("--resplit", is_flag=True, help="Also re-train on fresh splits (split seeds after the bundle's).")
@data_root_option
@click.option("--device", default="cpu", show_default=True, help="auto, cpu or cuda[:N].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a summary.")
@user_errors
def evaluate(bundle: str, seeds: int, resplit: bool, data_root: str | None, device: str, as_json: bool) -> None:
    """Re-train BUNDLE's configuration from scratch over seeds; report test AUC/AP mean ± std.

    Each run selects its best validation epoch and is tested once. Printed beside the published
    GAE/VGAE/ARGA numbers for the dataset.
    """
    from tune_gae.evaluate import evaluate_bundle

    result = evaluate_bundle(bundle, seeds=seeds, resplit=resplit, data_root=data_root, device=device,
                             echo=None if as_json else click.echo)
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"\n{result['dataset']} {result['model'].upper()} (config of {result['trial']}, "
               f"{result['epochs']} epochs), re-trained {seeds}x from scratch, test AUC / AP in %:")
    lines = [(f"same split ({result['split_hash']})", result["same_split"])]
    if result["fresh_splits"] is not None:
        seeds_used = [run["split_seed"] for run in result["fresh_splits"]["runs"]]
        lines.append((f"fresh splits (seeds {seeds_used[0]}-{seeds_used[-1]})", result["fresh_splits"]))
    for label, summary in lines:
        click.echo(f"  {label + ':':<32} {_mean_std(summary, 'test_auc')} / {_mean_std(summary, 'test_ap')}")
    exported = result["exported"]
    if exported.get("test_auc") is not None:
        click.echo(f"  {'exported model (one run):':<32} {100 * exported['test_auc']:.1f} / {100 * exported['test_ap']:.1f}")
    if result["published"]:
        click.echo("Published (85/5/10 edge split):")
        for row in result["published"]:
            click.echo(f"  {row['model']:<5} {row['source']:<20} {row['test_auc']:.1f} / {row['test_ap']:.1f}")
    click.echo("(mean ± sample standard deviation over runs)")


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
