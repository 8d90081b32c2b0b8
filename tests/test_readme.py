"""The README runs as written: its Python blocks execute, its Commands block lists every command."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tune_gae.cli import main

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.S | re.M)


def section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_every_python_block_runs_as_written(index: int, tmp_path: Path) -> None:
    code = blocks("python")[index]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "RAY_ADDRESS": "local"}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=900, check=False)
    assert result.returncode == 0, f"README python block {index}:\n{code}\n{result.stderr[-3000:]}"


def test_the_readme_has_python_blocks() -> None:
    assert blocks("python")  # the test above runs them: it must have some to run


def test_the_commands_block_lists_every_command() -> None:
    (commands,) = re.findall(r"^```bash\n(.*?)^```", section("Commands"), flags=re.S | re.M)
    listed = {re.match(r"tune-gae (\S+)", line).group(1) for line in commands.splitlines() if line.strip()}
    assert listed == set(main.commands)
