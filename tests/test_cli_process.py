"""``tune-gae`` as a process: output cut off by a closed pipe ends the command quietly with 0."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _fake_search(folder: Path) -> Path:
    """A finished search's records, enough for ``report`` (40 trials: more lines than ``head`` shows)."""
    folder.mkdir()
    (folder / "search.json").write_text(json.dumps({"settings": {"metric": "val_auc"}}))
    rows = [{"trial": f"trial_{i:08x}", "state": "TERMINATED", "best_val_auc": 0.9 - i / 1000, "epochs_run": 50,
             "stop_reason": "epochs", "model": "gae", "lr": 0.01} for i in range(40)]
    (folder / "trials.json").write_text(json.dumps(rows))
    return folder


def _into_closed_pipe(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI with stdout a pipe whose reader has already gone (what ``| head`` leaves once it
    has its lines): the first write fails with EPIPE, every time."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "tune_gae.cli", *args], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("command", ["report", "spaces"])
def test_a_closed_pipe_ends_the_command_with_0_and_no_message(tmp_path: Path, command: str) -> None:
    args = ["report", str(_fake_search(tmp_path / "s"))] if command == "report" else ["spaces"]
    done = _into_closed_pipe(args)
    assert (done.returncode, done.stderr) == (0, "")

