"""``tune-gae dashboard``: serve optuna-dashboard over a search's Optuna study on localhost."""
from __future__ import annotations

import click

from tune_gae.cli.main import main
from tune_gae.cli.options import user_errors
from tune_gae.cli.serve import check_port_free, serve_until_stopped

# optuna-dashboard's public entry point, run in a child process (its server has no stop call).
SERVER = "import sys, optuna_dashboard; optuna_dashboard.run_server(sys.argv[1], host=sys.argv[2], port=int(sys.argv[3]))"


@main.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Use 0.0.0.0 only on a trusted network.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@user_errors
def dashboard(path: str, host: str, port: int) -> None:
    """Serve optuna-dashboard over the Optuna study of the search in PATH (history, parallel
    coordinates, importance, every trial's intermediate values).

    Runs until Ctrl-C, SIGTERM or SIGHUP, which stop the server too (exit 128 + the signal).
    """
    import sys

    from tune_gae.search.results import SearchFolder
    from tune_gae.search.study import study_page

    url, name = SearchFolder.open(path).study()
    page = study_page(url, name)  # the study exists and opens: checked before the server starts
    check_port_free(host, port)
    serve_until_stopped([sys.executable, "-c", SERVER, url, host, str(port)],
                        f"optuna-dashboard on http://{host}:{port}{page} (Ctrl-C to stop)")
