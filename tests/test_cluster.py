"""Which Ray a search runs on: its own local one unless an address is asked for; a dead one fails fast.

Ray's own default joins the cluster the last ``ray start`` recorded in its temp folder
(``ray_current_cluster``) and retries for as long as it is let when that cluster died. These
tests point Ray's temp folder (``RAY_TMPDIR``) at a folder of their own, so no other Ray
runtime on this machine is read or touched.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SEARCH = ["search", "smoke", "--dataset", "synthetic:nodes=300", "--num-samples", "1", "--max-epochs", "5",
          "--no-export", "--json"]


def closed_port() -> int:
    """A localhost port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def ray_tmpdir() -> Iterator[Path]:
    """A Ray temp folder of this test's own; short, since Ray's socket paths must stay < 108 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def run_cli(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tune_gae.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False, start_new_session=True)


def env_without_ray_address(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, **extra}


@pytest.mark.slow
def test_without_an_address_a_search_starts_its_own_ray_not_a_dead_recorded_one(
    ray_tmpdir: Path, tmp_path: Path
) -> None:
    # What a crashed `ray start` cluster leaves behind: its address, recorded, nothing listening.
    (ray_tmpdir / "ray").mkdir()
    (ray_tmpdir / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{closed_port()}\n")
    result = run_cli([*SEARCH, "--results-dir", str(tmp_path), "--name", "local"],
                     env_without_ray_address(RAY_TMPDIR=str(ray_tmpdir)), timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Failed to connect to GCS" not in result.stderr
    assert (tmp_path / "local" / "trials.csv").is_file()
    # The Ray it ran on was started here, in this temp folder: a session of its own.
    assert list((ray_tmpdir / "ray").glob("session_2*"))


@pytest.mark.parametrize("how", ["--address", "RAY_ADDRESS"])
def test_a_dead_address_fails_in_seconds_naming_it_and_the_fix(ray_tmpdir: Path, tmp_path: Path, how: str) -> None:
    address = f"127.0.0.1:{closed_port()}"
    args = [*SEARCH, "--results-dir", str(tmp_path)]
    env = env_without_ray_address(RAY_TMPDIR=str(ray_tmpdir))
    if how == "--address":
        args += ["--address", address]
    else:
        env["RAY_ADDRESS"] = address
    began = time.monotonic()
    result = run_cli(args, env, timeout=60)
    took = time.monotonic() - began
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.strip().splitlines() == [
        f"Error: no Ray cluster answers at {address} (from {how}): connection refused. Start it "
        f"(`ray start --head` on that machine) or leave out --address (and unset RAY_ADDRESS) to run on a local Ray."
    ]
    assert took < 10, f"took {took:.1f} s"
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.slow
def test_run_search_prints_no_foreign_lines(ray_tmpdir: Path, tmp_path: Path) -> None:
    """``run_search`` from Python (a notebook's way, no --verbose) starts its own Ray without Ray's
    "Token authentication is enabled ... RAY_AUTH_MODE=disabled to opt out" or any other line."""
    code = ("from tune_gae import DataConfig, SearchSettings, run_search\n"
            "run_search(SearchSettings(space='smoke', data=DataConfig('synthetic:nodes=300'), num_samples=1, "
            f"max_epochs=5, reselect_top=0, results_dir={str(tmp_path)!r}, name='quiet'))\n")
    env = {k: v for k, v in env_without_ray_address(RAY_TMPDIR=str(ray_tmpdir)).items() if k != "RAY_AUTH_MODE"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=240,
                          check=False, start_new_session=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "quiet" / "trials.csv").is_file()
    assert done.stdout + done.stderr == ""
