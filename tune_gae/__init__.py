"""tune-gae: hyperparameter search for graph auto-encoders on Ray Tune + Optuna."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tune_gae.config import DataConfig, ModelConfig, RunResult, TrainConfig
from tune_gae.errors import TuneGAEError

if TYPE_CHECKING:
    from tune_gae.evaluate import evaluate_bundle
    from tune_gae.export import export_best, load_embeddings, load_model
    from tune_gae.search import SearchSettings, run_search

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
    "run_search",
]
__version__ = "0.1.0"

# Imported on first use: `import tune_gae` stays light (no torch), and loading a bundle never
# imports Ray or Optuna.
_LAZY = {
    "SearchSettings": "tune_gae.search",
    "run_search": "tune_gae.search",
    "export_best": "tune_gae.export",
    "load_model": "tune_gae.export",
    "load_embeddings": "tune_gae.export",
    "evaluate_bundle": "tune_gae.evaluate",
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
