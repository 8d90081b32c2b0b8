"""Commands over an exported bundle: ``export``, ``embed``, ``predict``, ``evaluate``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from tune_gae.cli.main import main
from tune_gae.cli.options import data_root_option, metric_choice, test_graph_option, user_errors
from tune_gae.rules import NEGATIVE_KINDS, SPLIT_RULES


@main.command("export")
@click.argument("path", type=click.Path())
@click.option("--metric", type=metric_choice(), default=None,
              help="Pick the best trial by this validation metric (default: the search's).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Bundle folder (default: PATH/best). A relative --out is taken from the current folder, "
                   "not from PATH; the last line prints the full path.")
@click.option("--trial", default=None,
              help="Export this trial (an id from `tune-gae report`, e.g. a point of a multi-objective search's "
                   "Pareto front) instead of the best; default --out: PATH/picked-<trial>.")
@data_root_option
@user_errors
def export_command(path: str, metric: str | None, out: str | None, trial: str | None, data_root: str | None) -> None:
    """Export the best trial of the search in PATH (or the one --trial names) as a model bundle (test
    metrics computed once)."""
    from tune_gae.bundle.writer import export_best
    from tune_gae.search.pareto import default_winner_note
    from tune_gae.search.results import SearchFolder

    bundle = export_best(path, metric=metric, out=out, data_root=data_root, trial=trial)
    metrics = json.loads((bundle / "metrics.json").read_text())
    note = default_winner_note(SearchFolder.open(path).settings().objectives, path) if trial is None else None
    click.echo(
        f"Exported {metrics['trial']} ({'picked by hand, ' if metrics.get('picked_by_hand') else ''}"
        f"epoch {metrics['epoch']}, {metrics['selected_by']} {metrics[metrics['selected_by']]:.4f})\n"
        + (f"{note}\n" if note else "") +
        f"test AUC {metrics['test_auc']:.4f} AP {metrics['test_ap']:.4f} MRR {metrics['test_mrr']:.4f} "
        f"Hits@20 {metrics['test_hits@20']:.4f} ({metrics['negatives']} negatives; computed once, at export)\n"
        f"Bundle: {bundle}"
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
    from tune_gae.bundle.predict import embed_graph, save_embeddings

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
    """Score links with BUNDLE's decoder over its embeddings as CSV src,dst,score (a probability).

    --pairs FILE scores the given pairs; --node N lists N's top-k non-neighbours in the training graph.
    """
    import csv
    import io

    from tune_gae.bundle.predict import link_probabilities, read_pairs, top_k_links
    from tune_gae.bundle.reader import read_bundle_config

    if (pairs is None) == (node is None):
        raise click.UsageError("give either --pairs FILE or --node N (with --top-k K).")
    if pairs is not None:
        pair_tensor = read_pairs(pairs, int(read_bundle_config(bundle)["num_nodes"]))
        scores = link_probabilities(bundle, pair_tensor)
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
@click.option("--fresh-only", is_flag=True, help="With --resplit: only the fresh splits, not the bundle's own.")
@click.option("--negatives", type=click.Choice(NEGATIVE_KINDS), default=None,
              help="Evaluate against these negatives instead of the bundle's (same positives).")
@click.option("--val-ratio", type=SPLIT_RULES["val_ratio"].click_type("val_ratio"), default=None,
              help="With --resplit: the fresh splits' share of validation edges (default: the bundle's).")
@click.option("--test-ratio", type=SPLIT_RULES["test_ratio"].click_type("test_ratio"), default=None,
              help="With --resplit: the fresh splits' share of test edges (default: the bundle's).")
@test_graph_option
@data_root_option
@click.option("--device", default="cpu", show_default=True, help="auto, cpu or cuda[:N].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a summary.")
@user_errors
def evaluate(bundle: str, seeds: int, resplit: bool, fresh_only: bool, negatives: str | None,
             val_ratio: float | None, test_ratio: float | None, test_graph: str, data_root: str | None,
             device: str, as_json: bool) -> None:
    """Re-train BUNDLE's configuration from scratch over seeds; report test metrics mean ± std.

    Each run selects its best validation epoch and is tested once. Printed beside the published
    GAE/VGAE/ARGA numbers for the dataset.
    """
    from tune_gae.bundle.evaluate import evaluate_bundle
    from tune_gae.train.baselines import LABELS, baseline_line

    result = evaluate_bundle(bundle, seeds=seeds, resplit=resplit, data_root=data_root, device=device,
                             negatives=negatives, fresh_only=fresh_only, val_ratio=val_ratio,
                             test_ratio=test_ratio, test_graph=test_graph,
                             echo=None if as_json else click.echo)
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"\n{result['dataset']} {result['model'].upper()} with the {result['decoder_summary']} decoder (config of "
               f"{result['trial']}, {result['epochs']} epochs), re-trained {seeds}x from scratch, "
               f"{result['negatives']} negatives, test edges scored on the "
               f"{'training and validation' if test_graph == 'train+val' else 'training'} edges, "
               f"test AUC / AP / MRR / Hits@20 in %:")
    lines = [(f"same split ({result['split_hash']})", result["same_split"])] if result["same_split"] else []
    if result["fresh_splits"] is not None:
        seeds_used = [run["split_seed"] for run in result["fresh_splits"]["runs"]]
        lines.append((f"fresh splits (seeds {seeds_used[0]}-{seeds_used[-1]})", result["fresh_splits"]))
    for label, summary in lines:
        click.echo(f"  {label + ':':<32} " + " / ".join(
            _mean_std(summary, key) for key in ("test_auc", "test_ap", "test_mrr", "test_hits@20")))
        for name, means in (summary.get("baselines") or {}).items():
            click.echo(f"    {LABELS.get(name, name) + ' (same splits):':<36} "
                       f"{100 * means['test_auc_mean']:.1f} / {100 * means['test_ap_mean']:.1f}")
        if summary.get("baselines"):
            best = {name: {"test_auc": m["test_auc_mean"]} for name, m in summary["baselines"].items()}
            click.echo(f"    {baseline_line(summary['test_auc_mean'], best, decoder=result['decoder'])} (means)")
    exported = result["exported"]
    if exported.get("test_auc") is not None:
        click.echo(f"  {'exported model (one run):':<32} " + " / ".join(
            f"{100 * exported[key]:.1f}" for key in ("test_auc", "test_ap", "test_mrr", "test_hits@20")))
    if result["published"]:
        click.echo("Published test AUC / AP (85/5/10 edge split, uniform negatives; docs/references.md):")
        for row in result["published"]:
            click.echo(f"  {row['model']:<5} {row['source']:<20} {row['test_auc']:.1f} / {row['test_ap']:.1f}")
    click.echo("(mean ± sample standard deviation over runs)")


