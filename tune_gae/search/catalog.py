"""The shipped search spaces (package data in ``tune_gae/search/spaces/``) and name lookup."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from tune_gae.config import did_you_mean
from tune_gae.errors import TuneGAEError

SPACES_PACKAGE = "tune_gae.search.spaces"


def shipped_spaces() -> dict[str, Path]:
    """The YAML files shipped with the package, by name (file stem); found in an installed wheel too."""
    folder = resources.files(SPACES_PACKAGE)
    files = sorted((entry for entry in folder.iterdir() if entry.name.endswith((".yaml", ".yml"))),
                   key=lambda entry: entry.name)
    return {Path(entry.name).stem: Path(str(entry)) for entry in files}


def resolve_space_path(name_or_path: str) -> Path:
    """A space file: an existing path, or a shipped name like ``smoke`` / ``smoke.yaml``."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path.resolve()
    shipped = shipped_spaces()
    stem = name_or_path[: -len(path.suffix)] if path.suffix in (".yaml", ".yml") else name_or_path
    if stem in shipped:
        return shipped[stem]
    names = ", ".join(shipped) or "none"
    if path.is_dir():
        raise TuneGAEError(f"search space {name_or_path!r} is a folder: give a YAML file or a shipped name ({names}).")
    raise TuneGAEError(
        f"no search space {name_or_path!r}: not a file and not a shipped space"
        f"{did_you_mean(stem, list(shipped))}; shipped spaces: {names}."
    )
