"""The package as a cluster node installs it: a wheel, no editable install, run outside the repo."""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHIPPED = {"default", "paper", "smoke"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(REPO)], check=True, capture_output=True, text=True)
    (path,) = out.glob("tune_gae-*.whl")
    return path


def test_wheel_ships_the_spaces_and_the_type_marker(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"tune_gae/search/spaces/{name}.yaml" for name in SHIPPED} <= names
    assert "tune_gae/py.typed" in names


@pytest.mark.slow
def test_installed_wheel_lists_spaces_and_runs_a_search_outside_the_repo(wheel: Path, data_root: Path,
                                                                         tmp_path: Path) -> None:
    """A fresh environment holding only the wheel (its dependencies come from this environment's
    site-packages through a plain path entry, which runs no editable-install hook)."""
    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True)  # no pip inside: use ours
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", site, str(wheel)],
                   check=True, capture_output=True, text=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    where = subprocess.run([str(python), "-c", "import tune_gae; print(tune_gae.__file__)"], cwd=outside, env=env,
                           check=True, capture_output=True, text=True).stdout.strip()
    assert where.startswith(site), where  # the wheel's copy, not the repository's
    listed = subprocess.run([str(python), "-m", "tune_gae.cli", "spaces"], cwd=outside, env=env,
                            capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert {line.split()[0] for line in listed.stdout.splitlines()[:3]} == SHIPPED
    searched = subprocess.run(
        [str(python), "-m", "tune_gae.cli", "search", "smoke", "--dataset", "Cora", "--num-samples", "2",
         "--max-epochs", "10", "--data-root", str(data_root), "--results-dir", str(outside / "results"),
         "--name", "s", "--json"],
        cwd=outside, env={**env, "RAY_ADDRESS": "local"}, capture_output=True, text=True, timeout=300)
    assert searched.returncode == 0, searched.stderr[-2000:]
    assert (outside / "results" / "s" / "best" / "model.pt").is_file()
