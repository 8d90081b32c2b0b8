"""What several commands share: error -> exit-code mapping (once) and shared options."""
from __future__ import annotations

import functools
import signal
from collections.abc import Callable
from typing import Any

import click

from tune_gae.errors import TuneGAEError
from tune_gae.rules import NEGATIVE_KINDS

negatives_option = click.option(
    "--negatives", type=click.Choice(NEGATIVE_KINDS), default="uniform", show_default=True,
    help="Evaluation negatives: uniform non-edges shared by all positives, or hard (HeaRT-style: "
         "each positive's own, one endpoint corrupted, ranked by resource allocation on the training graph).",
)


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
    """A search stopped by Ctrl-C, SIGTERM or SIGHUP says how to resume it (stderr) and exits
    with 128 + the signal's number (130, 143, 129), its local Ray stopped first."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from tune_gae.search.cluster import disconnect_ray
        from tune_gae.search.settings import SearchInterrupted
        from tune_gae.search.signals import StopSignals

        with StopSignals() as stop:
            try:
                return func(*args, **kwargs)
            except SearchInterrupted as exc:
                how = "" if exc.stopped_by == signal.SIGINT else f" ({exc.stopped_by.name})"
                click.echo(f"Interrupted{how}: {exc}", err=True)
                raise click.exceptions.Exit(128 + exc.stopped_by) from None
            except KeyboardInterrupt:  # before the search began
                click.echo(f"Interrupted ({stop.name}).", err=True)
                raise click.exceptions.Exit(stop.exit_code) from None
            finally:  # stop the local Ray here, where a stop signal cannot cut the shutdown short
                stop.defer()
                disconnect_ray()

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
    help="Cora, CiteSeer, PubMed, synthetic:nodes=N,communities=K, or an edge-list file: two integer node ids "
         "(from 0) a line, separated by tabs, commas or spaces; further columns (weights) ignored; blank lines and "
         "#-lines skipped; a first line that is not two integers is a header, whatever it says; edges undirected, "
         "repeats and self loops dropped. A search is named after the file (my-net.csv -> my-net-...; "
         "USAir/edges.csv -> USAir-edges-...).",
)


def split_ratio_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--val-ratio`` and ``--test-ratio``: the shares of edges held out (a paper's protocol, e.g.
    NCN's 70/10/20 is ``--val-ratio 0.1 --test-ratio 0.2``); ranges from ``rules.SPLIT_RULES``."""
    from dataclasses import fields

    from tune_gae.config import DataConfig
    from tune_gae.rules import SPLIT_RULES

    defaults = {f.name: f.default for f in fields(DataConfig)}
    for name, what in (("test_ratio", "testing (touched once, for the exported model)"),
                       ("val_ratio", "validation (what trials are selected and stopped on)")):
        flag = "--" + name.replace("_", "-")
        func = click.option(flag, name, type=SPLIT_RULES[name].click_type(name), default=defaults[name],
                            show_default=True, help=f"Share of the graph's edges held out for {what}.")(func)
    return func


def test_graph_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--test-graph``: the links read when the test edges are scored (``rules.TEST_GRAPHS``)."""
    from tune_gae.rules import TEST_GRAPHS

    return click.option(
        "--test-graph", type=click.Choice(TEST_GRAPHS), default="train", show_default=True,
        help="The links the model and the heuristics read when the test edges are scored: the training edges, "
             "or train+val, the validation edges added (PyG's RandomLinkSplit test data, MaskGAE).")(func)


features_option = click.option(
    "--features",
    type=click.Path(dir_okay=False),
    default=None,
    help="Node features (.npy, .pt or CSV) for an edge-list dataset.",
)


def print_top(rows: list[dict[str, Any]], metric: str, limit: int = 10) -> None:
    """The top trials as a compact table."""
    if not rows:
        click.echo("No trial finished.")
        return
    keys = [k for k in ("model", "encoder", "decoder", "node_encoding", "hidden_channels", "latent_channels", "lr",
                        "epochs")
            if any(k in row for row in rows)]
    shown_rows = rows[:limit]
    texts = [{k: f"{row[k]:.3g}" if isinstance(row.get(k), float) else f"{row.get(k, '')}" for k in keys}
             for row in shown_rows]
    widths = {k: max([len(k)] + [len(t[k]) for t in texts]) for k in keys}
    from tune_gae.report.tables import stop_reason_of

    # Why each trial ended (tune_gae.search.stopping); a trial still running shows its state.
    reasons = [stop_reason_of(row) or str(row.get("state", "")).lower() for row in shown_rows]
    stop_width = max([len("stopped by")] + [len(reason) for reason in reasons])
    header = (f"{'trial':<18} {'best ' + metric:>12} {'ran':>5}  {'stopped by':<{stop_width}}  "
              + "  ".join(f"{k:<{widths[k]}}" for k in keys))
    click.echo(header.rstrip())
    for row, text, reason in zip(shown_rows, texts, reasons):
        value = row.get(f"best_{metric}")
        shown = f"{float(value):.4f}" if value not in (None, "") else "-"
        cells = "  ".join(f"{text[k]:<{widths[k]}}" for k in keys)
        click.echo(f"{row['trial']:<18} {shown:>12} {row.get('epochs_run', ''):>5}  {reason:<{stop_width}}  "
                   f"{cells}".rstrip())


def setting_option(field: str, *, help: str | None = None, **extra: Any) -> Callable[[Callable[..., Any]], Any]:
    """A ``search`` flag for a ``SearchSettings`` field: its range comes from ``SEARCH_RULES`` and its
    default from the dataclass, so the CLI and the library refuse the same values."""
    from dataclasses import fields

    from tune_gae.rules import SEARCH_RULES
    from tune_gae.search.settings import FLAGS, METRICS, SCHEDULERS, SearchSettings

    default = {f.name: f.default for f in fields(SearchSettings)}[field]
    choices = {"metric": METRICS, "scheduler": SCHEDULERS}
    flag = "--" + FLAGS.get(field, field).replace("_", "-")
    if "type" not in extra:
        extra["type"] = click.Choice(list(choices[field])) if field in choices else \
            SEARCH_RULES[field].click_type(FLAGS.get(field, field))
    return click.option(flag, field, default=default, show_default=default is not None, help=help, **extra)


def hyper_option(field: str, flag: str | None = None, *, help: str | None = None) -> Callable[[Callable[..., Any]], Any]:
    """A ``train`` flag for a hyperparameter: range from ``tune_gae.rules.RULES``, default from the
    ``ModelConfig`` / ``TrainConfig`` field."""
    from dataclasses import fields

    from tune_gae.config import ModelConfig, TrainConfig
    from tune_gae.rules import RULES

    defaults = {f.name: f.default for cls in (ModelConfig, TrainConfig) for f in fields(cls)}
    name = flag or "--" + field.replace("_", "-")
    return click.option(name, field, type=RULES[field].click_type(name[2:].replace("-", "_")),
                        default=defaults[field], show_default=True,
                        help=help)


def metric_choice() -> click.Choice:
    """The validation metrics a search can select on (``search.settings.METRICS``)."""
    from tune_gae.search.settings import METRICS

    return click.Choice(list(METRICS))
