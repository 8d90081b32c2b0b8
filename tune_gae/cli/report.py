"""``tune-gae report``: the trial table of a search (and its plots)."""
from __future__ import annotations

import json

import click

from tune_gae.cli.main import main
from tune_gae.cli.options import metric_choice, print_top, user_errors


@main.command()
@click.argument("path", type=click.Path())
@click.option("--metric", type=metric_choice(), default=None,
              help="Sort by this metric (default: the search's).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.option("--plots", is_flag=True,
              help="Also write PNGs to PATH/plots: metric per trial, top learning curves, importance.")
@user_errors
def report(path: str, metric: str | None, as_json: bool, plots: bool) -> None:
    """Print the trials of the search in PATH, best first."""
    from tune_gae.report.tables import read_trials
    from tune_gae.search.results import SearchFolder

    rows, metric = read_trials(path, metric)
    if as_json:
        click.echo(json.dumps(rows, default=str))
    else:
        if not SearchFolder.open(path).has_trials():
            ended = sum(row.get("state") in ("TERMINATED", "ERROR") for row in rows)
            click.echo(f"Not finished (interrupted or still running): {ended} of {len(rows)} trials ended, "
                       f"as of Ray's last saved state.")
        print_top(rows, metric, limit=len(rows))
        line = _exported_vs_baselines(path)
        if line:
            click.echo(line)
    objectives = SearchFolder.open(path).settings().objectives
    if objectives is not None and not as_json:  # a multi-objective search: its Pareto front, table and plot
        from tune_gae.report.pareto import pareto_table
        from tune_gae.report.plots import write_pareto_plot
        from tune_gae.search.pareto import pareto_front

        click.echo("\n" + "\n".join(pareto_table(pareto_front(rows, objectives), objectives)))
        if not plots:
            click.echo(f"Plot: {write_pareto_plot(path)}")
    if plots:
        from tune_gae.report.plots import write_plots

        written = write_plots(path, metric)
        # With --json, stdout stays one JSON document: the plot paths go to stderr.
        click.echo(("\n" if not as_json else "") + "Plots:\n" + "\n".join(f"  {p}" for p in written), err=as_json)




def _exported_vs_baselines(path: str) -> str | None:
    """The exported winner's test AUC beside the classic baselines on its split (if exported)."""
    from pathlib import Path

    from tune_gae.bundle.files import BEST_DIR, METRICS_FILE
    from tune_gae.bundle.reader import bundle_decoder
    from tune_gae.train.baselines import baseline_line

    metrics_file = Path(path).expanduser() / BEST_DIR / METRICS_FILE
    if not metrics_file.is_file():
        return None
    metrics = json.loads(metrics_file.read_text())
    if not metrics.get("baselines") or metrics.get("test_auc") is None:
        return None
    line = baseline_line(metrics["test_auc"], metrics["baselines"],
                         decoder=bundle_decoder(Path(path).expanduser() / BEST_DIR))
    return f"\nExported {metrics['trial']}: {line}"
