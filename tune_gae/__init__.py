"""tune-gae: hyperparameter search for graph auto-encoders on Ray Tune + Optuna."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tune_gae.config import DataConfig, ModelConfig, RunResult, TrainConfig
from tune_gae.errors import TuneGAEError

if TYPE_CHECKING:
    from tune_gae.bundle.evaluate import evaluate_bundle
    from tune_gae.bundle.reader import load_embeddings, load_model
    from tune_gae.bundle.writer import export_best
    from tune_gae.search.runner import resume_search, run_search
    from tune_gae.search.settings import SearchSettings

__all__ = [
    "DataConfig",
    "ModelConfig",
    "RunResult",
    "SearchSettings",
    "TrainConfig",
    "TuneGAEError",
    "evaluate_bundle",
    "export_best",
    "load_embeddings",
    "load_model",
    "resume_search",
    "run_search",
]
__version__ = "0.2.0"  # the one place the version is written (pyproject reads it)

# Imported on first use: `import tune_gae` stays light (no torch), and loading a bundle never
# imports Ray or Optuna.
_LAZY = {
    "SearchSettings": "tune_gae.search.settings",
    "run_search": "tune_gae.search.runner",
    "resume_search": "tune_gae.search.runner",
    "export_best": "tune_gae.bundle.writer",
    "load_model": "tune_gae.bundle.reader",
    "load_embeddings": "tune_gae.bundle.reader",
    "evaluate_bundle": "tune_gae.bundle.evaluate",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tune_gae' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
