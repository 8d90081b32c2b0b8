"""The Makefile: `make` shows the commands it runs, never the Makefile's own comments."""
from __future__ import annotations

import subprocess
from pathlib import Path

MAKEFILE = Path(__file__).resolve().parent.parent / "Makefile"


def test_no_recipe_line_is_a_comment() -> None:
    """make hands a recipe's `<TAB># ...` line to the shell and echoes it: a comment belongs above the rule."""
    commented = [f"Makefile:{n}: {line.strip()}" for n, line in enumerate(MAKEFILE.read_text().splitlines(), 1)
                 if line.startswith("\t") and line.strip().startswith("#")]
    assert commented == []


def test_make_echoes_no_comment_when_it_installs(tmp_path: Path) -> None:
    """What `make install` prints on a fresh clone (dry run: printed, not run)."""
    done = subprocess.run(["make", "-n", "-f", str(MAKEFILE), "install", f"VENV={tmp_path / 'venv'}"],
                          capture_output=True, text=True, check=True, cwd=MAKEFILE.parent)
    lines = done.stdout.splitlines()
    assert any("pip install" in line for line in lines)  # the recipe was printed
    assert [line for line in lines if line.lstrip().startswith("#")] == []
