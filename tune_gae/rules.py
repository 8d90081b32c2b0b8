"""Every hyperparameter's limits, declared once: the config dataclasses, the search-space parser
and the CLI's option ranges all read them from here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tune_gae.config import (
    ENCODER_KINDS,
    MODEL_KINDS,
    did_you_mean,
)

if TYPE_CHECKING:
    pass


RANGE_KINDS = ("uniform", "loguniform", "int", "logint")


KINDS = ("choice", *RANGE_KINDS, "value")


@dataclass(frozen=True)
class Rule:
    """What values a run key allows, mirroring the checks in config.py."""

    type: type  # str, bool, int or float
    allowed: tuple[str, ...] = ()
    low: float | None = None  # inclusive
    above: float | None = None  # exclusive lower bound
    below: float | None = None  # exclusive upper bound

    def kinds(self) -> tuple[str, ...]:
        if self.type in (str, bool):
            return ("choice", "value")
        if self.type is int:
            return ("choice", "int", "logint", "value")
        return ("choice", "uniform", "loguniform", "value")

    def coerce(self, value: Any) -> Any:
        """The value as this rule's type, or ValueError with the problem."""
        if self.type is bool:
            if not isinstance(value, bool):
                raise ValueError(f"must be true or false but got {show_value(value)}")
            return value
        if self.type is str:
            if not isinstance(value, str):
                raise ValueError(f"must be one of {', '.join(self.allowed)} but got {show_value(value)}")
            if value not in self.allowed:
                raise ValueError(
                    f"must be one of {', '.join(self.allowed)} but got {value!r}{did_you_mean(value, self.allowed)}"
                )
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"must be a number but got {show_value(value)}")
        if isinstance(value, str):  # PyYAML reads 1e-3 (no dot) as text
            try:
                value = float(value)
            except ValueError:
                raise ValueError(f"must be a number but got {value!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"must be finite but got {value}")
        if self.type is int:
            if not float(value).is_integer():
                raise ValueError(f"must be a whole number but got {value}")
            value = int(value)
        else:
            value = float(value)
        if self.low is not None and value < self.low:
            raise ValueError(f"must be at least {show_value(self.low)} but got {show_value(value)}")
        if self.above is not None and value <= self.above:
            raise ValueError(f"must be above {show_value(self.above)} but got {show_value(value)}")
        if self.below is not None and value >= self.below:
            raise ValueError(f"must be below {show_value(self.below)} but got {show_value(value)}")
        return value


RULES: dict[str, Rule] = {
    "model": Rule(str, allowed=MODEL_KINDS),
    "encoder": Rule(str, allowed=ENCODER_KINDS),
    "latent_channels": Rule(int, low=1),
    "dropout": Rule(float, low=0.0, below=1.0),
    "lr": Rule(float, above=0.0),
    "epochs": Rule(int, low=1),
    "weight_decay": Rule(float, low=0.0),
    "kl_weight": Rule(float, low=0.0),
    "neg_ratio": Rule(int, low=1),
    "edge_dropout": Rule(float, low=0.0, below=1.0),
    "normalize_features": Rule(bool),
    "patience": Rule(int, low=0),
}


WIDTH_RULE = Rule(int, low=1)


DEPTH_RULE = Rule(int, low=0)


def show_value(value: Any) -> str:
    """A short readable form: floats as %g, text unquoted."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value
    return repr(value)
