"""tune-gae: hyperparameter search for graph auto-encoders on Ray Tune + Optuna."""
from __future__ import annotations

from tune_gae.config import DataConfig, ModelConfig, RunResult, TrainConfig
from tune_gae.errors import TuneGAEError

__all__ = ["DataConfig", "ModelConfig", "RunResult", "TrainConfig", "TuneGAEError"]
__version__ = "0.1.0"
