"""Shared fixtures: a writable copy of the Planetoid data, one Ray runtime for the session."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATASETS = REPO.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``$TUNE_GAE_DATA`` when set (CI points it at a writable copy), else a fresh copy here."""
    if os.environ.get("TUNE_GAE_DATA"):
        return Path(os.environ["TUNE_GAE_DATA"])
    if not (SHARED_DATASETS / "Planetoid").is_dir():
        pytest.skip(f"no Planetoid raw files at {SHARED_DATASETS}; set TUNE_GAE_DATA")
    root = tmp_path_factory.mktemp("data")
    shutil.copytree(SHARED_DATASETS / "Planetoid", root / "Planetoid")
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root
