"""``tune-gae spaces`` (list shipped spaces) and ``spaces check FILE``."""
from __future__ import annotations

from pathlib import Path

import click

from tune_gae.cli.main import main
from tune_gae.cli.options import user_errors
from tune_gae.errors import TuneGAEError


@main.group(invoke_without_command=True)
@click.pass_context
def spaces(ctx: click.Context) -> None:
    """List the shipped search spaces; `tune-gae spaces check FILE` validates one."""
    if ctx.invoked_subcommand is not None:
        return
    from tune_gae.search.catalog import shipped_spaces
    from tune_gae.search.space_parser import load_space

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
    from tune_gae.search.catalog import resolve_space_path
    from tune_gae.search.space_parser import load_space

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
