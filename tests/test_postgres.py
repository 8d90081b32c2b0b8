"""Studies in a real PostgreSQL server: two searches writing to one database at once, one of them
stopped by Ctrl-C and resumed, keep their studies apart and complete; a third warm-starts from one.

CI (``.ci/run``) starts the server and exports its URL in ``TUNE_GAE_TEST_POSTGRES``; under
``CI=true`` a missing URL fails the test. Elsewhere the test starts its own server from Debian's
``postgresql`` package (``postgres_server.py``).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from postgres_server import URL_ENV, PostgresServer, postgres_bin
from test_faults import (
    DRIVER_TIMEOUT_S,
    GRAPH,
    cli,
    finished_trials,
    saved_as_terminated,
    wait_for,
    write_space,
)

from tune_gae.search.results import SearchFolder
from tune_gae.search.study import load_study
from tune_gae.search.study_search import STUDY_STATES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    if os.environ.get(URL_ENV):
        yield os.environ[URL_ENV]
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{URL_ENV} is not set: .ci/run starts a PostgreSQL server on 127.0.0.1 and exports its URL "
                    f"there; run the suite through .ci/run, or export the URL of a server the tests may write to.")
    if postgres_bin() is None:
        pytest.skip(f"no PostgreSQL here: install Debian's postgresql (the test starts its own server) or set {URL_ENV}")
    with PostgresServer() as url:
        yield url


def test_searches_opening_a_fresh_database_at_once_all_get_it(postgres_url: str) -> None:
    """Optuna creates its tables on first use; two drivers doing so at once collide (a unique
    violation in PostgreSQL's catalogue, 5 of 12 processes in a trial run): open_storage retries."""
    import sqlalchemy

    fresh = f"fresh_{os.getpid()}"
    engine = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {fresh}")
    engine.dispose()
    url = postgres_url.rsplit("/", 1)[0] + f"/{fresh}"
    code = "import sys; from tune_gae.search.study import open_storage; open_storage(sys.argv[1], writer=True)"
    drivers = [subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [driver.communicate(timeout=120)[1] for driver in drivers]
    assert [driver.returncode for driver in drivers] == [0, 0, 0, 0], errors


def _assert_study_is_the_table(search: Path, url: str, samples: int) -> None:
    folder = SearchFolder.open(search)
    assert folder.study() == (url, search.name)
    study = load_study(url, search.name)
    rows = {row["trial"]: row for row in folder.trials()}
    assert len(rows) == samples
    recorded = {t.user_attrs["trial"]: t for t in study.trials if t.state != TrialState.FAIL}
    assert set(recorded) == set(rows)
    for name, trial in recorded.items():
        assert trial.state == TrialState[STUDY_STATES[rows[name]["stop_reason"]]]
        assert trial.value == pytest.approx(rows[name]["best_val_auc"])
    assert all(t.user_attrs.get("stop_reason") == "driver lost" for t in study.trials if t.state == TrialState.FAIL)


def test_two_searches_share_one_postgres_storage_and_a_resumed_one_continues_its_study(
        postgres_url: str, tmp_path: Path) -> None:
    epochs, samples = 300, 4
    space = write_space(tmp_path, epochs=epochs)
    flags = ["--dataset", GRAPH, "--num-samples", str(samples), "--max-epochs", str(epochs), "--scheduler", "fifo",
             "--results-dir", str(tmp_path), "--storage", postgres_url, "--reselect-top", "0", "--no-export", "--json"]
    a, b = tmp_path / "pg-a", tmp_path / "pg-b"
    with (tmp_path / "a.log").open("w") as log_a, (tmp_path / "b.log").open("w") as log_b:
        first = subprocess.Popen(cli("search", str(space), "--name", a.name, *flags), stdout=subprocess.PIPE,
                                 stderr=log_a, text=True, start_new_session=True)
        second = subprocess.Popen(cli("search", str(space), "--name", b.name, "--seed", "1", *flags),
                                  stdout=subprocess.PIPE, stderr=log_b, text=True, start_new_session=True)
        try:
            wait_for(lambda: finished_trials(a, epochs) and saved_as_terminated(a), "a finished trial of pg-a",
                     alive=lambda: first.poll() is None)
            os.killpg(first.pid, signal.SIGINT)
            first.communicate(timeout=DRIVER_TIMEOUT_S)
            out_b, _ = second.communicate(timeout=DRIVER_TIMEOUT_S)
        finally:
            for driver in (first, second):
                if driver.poll() is None:
                    driver.kill()
    assert first.returncode == 130, (tmp_path / "a.log").read_text()[-2000:]
    assert second.returncode == 0, (tmp_path / "b.log").read_text()[-2000:]
    interrupted = load_study(postgres_url, a.name)
    done_before = [t for t in interrupted.trials if t.state.is_finished()]
    assert 1 <= len(done_before) < samples

    resumed = subprocess.run(cli("resume", str(a), "--no-export", "--json"), capture_output=True, text=True,
                             timeout=DRIVER_TIMEOUT_S, start_new_session=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["num_trials"] == samples

    names = {s.study_name for s in optuna.get_all_study_summaries(postgres_url)}
    assert {a.name, b.name} <= names
    _assert_study_is_the_table(a, postgres_url, samples)
    _assert_study_is_the_table(b, postgres_url, samples)
    after = {t.number: t for t in load_study(postgres_url, a.name).trials}
    for trial in done_before:  # finished before Ctrl-C: kept as they were, not run again
        assert after[trial.number].value == trial.value and after[trial.number].state == trial.state
    assert json.loads(out_b.strip().splitlines()[-1])["num_trials"] == samples

    # A warm start from pg-b's study, named by URL#STUDY, on pg-b's split (same graph, same seed):
    # pg-b's trials enter the new study as evaluated, then 2 trials of its own run.
    warm = subprocess.run(cli("search", str(space), "--name", "pg-warm", "--seed", "1", "--warm-start",
                              f"{postgres_url}#{b.name}", *flags[:2], "--num-samples", "2", *flags[4:]),
                          capture_output=True, text=True, timeout=DRIVER_TIMEOUT_S, start_new_session=True)
    assert warm.returncode == 0, warm.stderr[-3000:]
    study = load_study(postgres_url, "pg-warm")
    earlier = {t.number: t for t in load_study(postgres_url, b.name).trials if t.state.is_finished()}
    added = [t for t in study.trials if "#" in str(t.user_attrs.get("warm_start", ""))]
    assert sorted(int(t.user_attrs["warm_start"].split("#")[1]) for t in added) == sorted(earlier)
    assert all(t.value == earlier[int(t.user_attrs["warm_start"].split("#")[1])].value for t in added)
    assert len(study.trials) == len(added) + 2 and study.trials[-1].user_attrs["trial"].startswith("trial_")
