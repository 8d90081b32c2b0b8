"""``tune-gae up``, ``down``, ``status``; ``submit``, ``jobs``, ``logs``, ``stop``: the search service."""
from __future__ import annotations

import os
from pathlib import Path

import click

from tune_gae.cli.main import main
from tune_gae.cli.options import user_errors

jobs_address_option = click.option(
    "--address", default=None,
    help="A Ray head's Jobs API (http://HOST:8265, e.g. a cluster's through an SSH tunnel). "
         "Default: the service `tune-gae up` started here.")


@main.command()
@click.option("--num-cpus", type=int, default=None, help="CPUs the service offers (default: all of this machine's).")
@click.option("--num-gpus", type=int, default=None, help="GPUs the service offers (default: those Ray finds).")
@click.option("--dashboard-port", type=int, default=8265, show_default=True,
              help="Port of Ray's dashboard and Jobs API, on 127.0.0.1.")
@click.option("--warm-workers", type=click.IntRange(min=0), default=None,
              help="Idle worker processes kept with torch, PyG and tune_gae imported, for the next search's "
                   "trials (default: one per CPU, at most 8; each holds ~0.5 GB).")
@user_errors
def up(num_cpus: int | None, num_gpus: int | None, dashboard_port: int, warm_workers: int | None) -> None:
    """Start the search service: a Ray head on 127.0.0.1 that searches join instead of starting one.

    Token auth on; dashboard and Jobs API on 127.0.0.1 only. Warm workers wait for the next
    search's trials. `tune-gae down` stops it.
    """
    from tune_gae.service.head import service_dir, start_service

    service, started = start_service(num_cpus=num_cpus, num_gpus=num_gpus, dashboard_port=dashboard_port,
                                     warm_workers=warm_workers)
    click.echo(f"{'Started' if started else 'Already running'}: the tune-gae service at {service.gcs_address} "
               f"(Jobs API and dashboard: {service.dashboard_url}; token: {service.token_path}).")
    if started:
        click.echo(f"Warm workers: {service.warm_workers}, importing torch, PyG and tune_gae now for the next search's "
                   f"trials (each search starts the next one's as it exits).")
    click.echo(f"`tune-gae search` and `tune-gae submit` now run on it; `tune-gae down` stops it "
               f"(record: {service_dir()}).")


@main.command()
@user_errors
def down() -> None:
    """Stop the service `tune-gae up` started (only its own processes)."""
    from tune_gae.service.head import stop_service

    click.echo("Stopped the tune-gae service." if stop_service() else "No tune-gae service was running.")


@main.command()
@user_errors
def status() -> None:
    """The service's nodes, CPUs/GPUs, worker processes and running searches."""
    from tune_gae.service.status import service_status

    state = service_status()
    click.echo(f"tune-gae service at {state.gcs_address} (Jobs API {state.dashboard_url})")
    for node in state.nodes:
        click.echo(f"  node {node['ip']}: {'alive' if node['alive'] else 'dead'}, {node['CPU']:g} CPU, "
                   f"{node['GPU']:g} GPU")
    click.echo(f"  worker processes: {state.workers}; idle with torch and PyG imported: {state.idle} "
               f"(kept warm between searches: {state.warm_target})")
    click.echo(f"  searches running: {len(state.running)}")
    for line in state.running:
        click.echo(f"    {line}")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("space")
@jobs_address_option
@click.argument("search_args", nargs=-1, type=click.UNPROCESSED)
@user_errors
def submit(space: str, address: str | None, search_args: tuple[str, ...]) -> None:
    """Run `tune-gae search SPACE [SEARCH_ARGS]` as a Ray Job on the service (or --address).

    The search goes on when this terminal closes. `tune-gae logs JOB --follow` shows it.
    """
    from tune_gae.cli.search import search
    from tune_gae.service.head import running_service
    from tune_gae.service.jobs import submit_search

    args = [space, *search_args]
    with search.make_context("tune-gae submit", list(args)) as parsed:  # bad flags fail here, not in the job
        params = parsed.params
    if address is None and running_service() is not None:  # the same machine: paths as this shell sees them
        for flag in ("results_dir", "data_root"):
            given = params.get(flag)
            if given and not os.path.isabs(given):  # (the last of a repeated flag wins)
                args += [f"--{flag.replace('_', '-')}", str(Path(given).expanduser().resolve())]
        if os.path.exists(space):
            args[0] = str(Path(space).resolve())
    job_id, url = submit_search(args, address)
    click.echo(f"Submitted {job_id} to {url}.")
    click.echo(f"Follow it: tune-gae logs {job_id} --follow    Stop it (resumable): tune-gae stop {job_id}")


@main.command()
@jobs_address_option
@user_errors
def jobs(address: str | None) -> None:
    """Searches submitted to the service (and drivers that joined it), newest first."""
    from tune_gae.service.jobs import list_jobs

    rows = list_jobs(address)
    if not rows:
        click.echo("No jobs.")
    for row in rows:
        click.echo(f"{row.job_id:<28} {row.status:<10} {row.kind:<10} {row.entrypoint}")


@main.command()
@click.argument("job")
@click.option("--follow", "-f", is_flag=True, help="Keep showing new output until the job ends.")
@jobs_address_option
@user_errors
def logs(job: str, follow: bool, address: str | None) -> None:
    """The output (progress view) of JOB."""
    from tune_gae.service.jobs import job_logs

    for chunk in job_logs(job, address, follow=follow):
        click.echo(chunk, nl=False)


@main.command()
@click.argument("job")
@jobs_address_option
@user_errors
def stop(job: str, address: str | None) -> None:
    """Stop JOB like SIGTERM: its state is saved, `tune-gae resume` continues it."""
    from tune_gae.service.jobs import stop_job

    if stop_job(job, address):
        click.echo(f"Stopping {job}: it saves its state first; the last line of `tune-gae logs {job}` "
                   f"is the `tune-gae resume` that continues it.")
    else:
        click.echo(f"{job} had already ended.")
