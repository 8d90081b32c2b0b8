"""Quiet by default: a search prints tune-gae's own lines only; --verbose shows the libraries' logs."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _search(tmp_path: Path, data_root: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    fresh = tmp_path / "data"  # raw files only: PyG processes them (and says so when allowed)
    for name in ("Cora",):
        shutil.copytree(data_root / "Planetoid" / name / "raw", fresh / "Planetoid" / name / "raw")
    return subprocess.run(
        [sys.executable, "-m", "tune_gae.cli", *flags, "search", "smoke", "--dataset", "Cora", "--data-root",
         str(fresh), "--num-samples", "1", "--max-epochs", "5", "--results-dir", str(tmp_path), "--name", "s",
         "--no-export"],
        # PyG stays silent under pytest (PYTEST_CURRENT_TEST): the command must run as a user runs it.
        env={k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"},
        capture_output=True, text=True, timeout=600, check=False, start_new_session=True)


def test_a_search_prints_only_its_own_lines(tmp_path: Path, data_root: Path) -> None:
    result = _search(tmp_path, data_root)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""  # no PyG "Processing...", no Ray token warning, no Optuna banner
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines[0].startswith("Search s: 1 trials of smoke.yaml on Cora")
    assert "A new study created" not in result.stdout and "Processing..." not in result.stdout


def test_verbose_shows_the_libraries_logs(tmp_path: Path, data_root: Path) -> None:
    result = _search(tmp_path, data_root, "--verbose")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Processing..." in result.stderr and "Done!" in result.stderr  # PyG
    assert "A new study created" in result.stderr  # Optuna
