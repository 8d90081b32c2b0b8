"""YAML search spaces -> a validated ``SearchSpace`` -> an Optuna define-by-run function.

A space file (see ``search_spaces/*.yaml``)::

    description: One line shown by `tune-gae spaces`.
    parameters:
      model: {choice: [gae, vgae]}
      lr: {loguniform: [1.0e-3, 5.0e-2]}
      kl_weight: {uniform: [0.0, 1.0], when: {model: vgae}}
      node_encoding: {choice: [embedding, degree], when: {graph: featureless}}
      patience: {choice: [10, 20], featureless: {choice: [10, 200]}}
      hidden_channels: {layers: {int: [0, 2]}, width: {choice: [32, 64, 128]}}
      epochs: 200

How Ray's ``OptunaSearch`` uses the define-by-run function (ray/tune/search/optuna/optuna_search.py):
the trial config is ``{**values captured from trial.suggest_*(name, ...), **returned dict}``, then
``unflatten_dict`` nests every key containing "/". So here each Optuna parameter name is the trial
config key (never with "/"), the function returns the whole config (sampled values equal the
captured ones, constants added), and values stay scalars. ``hidden_channels`` is the one run key
that is not a scalar; in a trial config it appears as

- ``hidden_channels: "64-32"`` (``"none"`` for no hidden layer), from a choice among lists or a
  constant list: Optuna categorical values cannot be lists; or
- ``hidden_layers: 2, hidden_width_1: 64, hidden_width_2: 32``, from ``{layers: ..., width: ...}``:
  depth first, then one Optuna parameter per layer (conditional on the depth).

``resolve_trial_config`` turns either form back into ``hidden_channels: [64, 32]``.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Union

from tune_gae.config import (
    TrainConfig,
)
from tune_gae.errors import TuneGAEError
from tune_gae.rules import show_value

if TYPE_CHECKING:
    import optuna


HIDDEN = "hidden_channels"
HIDDEN_LAYERS_KEY = "hidden_layers"
HIDDEN_WIDTH_PREFIX = "hidden_width_"  # hidden_width_1 is the first hidden layer's width
NO_HIDDEN = "none"  # the trial config's spelling of hidden_channels: []


# --------------------------------------------------------------------------- distributions


@dataclass(frozen=True)
class Constant:
    """A fixed value: part of every trial config (when its condition holds), not an Optuna parameter."""

    value: Any
    kind: ClassVar[str] = "value"

    def sample(self, trial: optuna.Trial, name: str) -> Any:
        return self.value

    def can_take(self, value: Any) -> bool:
        return value == self.value

    def describe(self) -> str:
        return show_value(self.value)


@dataclass(frozen=True)
class Choice:
    """One of a few values: an Optuna categorical parameter."""

    options: tuple[Any, ...]
    kind: ClassVar[str] = "choice"

    def sample(self, trial: optuna.Trial, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.options))

    def can_take(self, value: Any) -> bool:
        return value in self.options

    def describe(self) -> str:
        return ", ".join(show_value(option) for option in self.options)


@dataclass(frozen=True)
class FloatRange:
    """A float in [low, high], uniform or log-uniform."""

    low: float
    high: float
    log: bool = False

    @property
    def kind(self) -> str:
        return "loguniform" if self.log else "uniform"

    def sample(self, trial: optuna.Trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def can_take(self, value: Any) -> bool:
        return self.low <= value <= self.high

    def describe(self) -> str:
        return f"[{show_value(self.low)}, {show_value(self.high)}]"


@dataclass(frozen=True)
class IntRange:
    """An integer in [low, high], uniform or log-uniform."""

    low: int
    high: int
    log: bool = False

    @property
    def kind(self) -> str:
        return "logint" if self.log else "int"

    def sample(self, trial: optuna.Trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, log=self.log)

    def can_take(self, value: Any) -> bool:
        return isinstance(value, int) and self.low <= value <= self.high

    def describe(self) -> str:
        return f"[{self.low}, {self.high}]"


Distribution = Union[Constant, Choice, FloatRange, IntRange]


@dataclass(frozen=True)
class HiddenLayers:
    """``hidden_channels`` as a depth, then one width per layer (each its own Optuna parameter)."""

    layers: Distribution
    width: Distribution
    kind: ClassVar[str] = "layers"

    def sample(self, trial: optuna.Trial) -> dict[str, int]:
        depth = self.layers.sample(trial, HIDDEN_LAYERS_KEY)
        values = {HIDDEN_LAYERS_KEY: depth}
        for layer in range(1, depth + 1):
            key = f"{HIDDEN_WIDTH_PREFIX}{layer}"
            values[key] = self.width.sample(trial, key)
        return values

    def max_depth(self) -> int:
        if isinstance(self.layers, IntRange):
            return self.layers.high
        if isinstance(self.layers, Choice):
            return max(self.layers.options)
        return self.layers.value

    def describe(self) -> str:
        return f"layers {self.layers.kind} {self.layers.describe()}; width {self.width.kind} {self.width.describe()}"


# ``when: {graph: featureless}``: an entry for graphs without node features only (or with them).
# ``featureless: {...}`` inside an entry: what it samples instead on such graphs (``features:`` too).
GRAPH_KEY = "graph"
GRAPH_KINDS = ("features", "featureless")
GRAPH_LABELS = {"features": "graphs with features", "featureless": "graphs without features"}


def graph_kind(features_given: bool) -> str:
    """What ``when: {graph: ...}`` and per-graph entries test: "features" or "featureless"."""
    return GRAPH_KINDS[0] if features_given else GRAPH_KINDS[1]


def merged(first: Distribution, second: Distribution) -> Distribution:
    """Every value either may sample: what a reader that does not know the graph is shown."""
    if isinstance(first, (Choice, Constant)) and isinstance(second, (Choice, Constant)):
        options = [*_options(first), *_options(second)]
        return Choice(tuple(dict.fromkeys(options)))
    if isinstance(first, (IntRange, FloatRange)) and type(first) is type(second) and first.log == second.log:
        return replace(first, low=min(first.low, second.low), high=max(first.high, second.high))
    raise ValueError(f"a {first.kind} and a {second.kind} cannot be merged")


def _options(distribution: Choice | Constant) -> tuple[Any, ...]:
    return distribution.options if isinstance(distribution, Choice) else (distribution.value,)


@dataclass(frozen=True)
class Parameter:
    """One entry of a space: a run key, how it is sampled, and when (``requires``: all must hold)."""

    name: str
    distribution: Distribution | HiddenLayers
    requires: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    # Per graph kind, what is sampled (``distribution`` is then their merge); () : the same for all.
    by_graph: tuple[tuple[str, Distribution], ...] = ()

    def for_graph(self, graph: str) -> Parameter:
        """This entry as sampled on a ``graph`` ("features"/"featureless") graph."""
        return replace(self, distribution=dict(self.by_graph)[graph], by_graph=()) if self.by_graph else self

    @property
    def kind(self) -> str:
        return self.distribution.kind

    @property
    def config_keys(self) -> tuple[str, ...]:
        """The trial config keys this entry may produce."""
        if isinstance(self.distribution, HiddenLayers):
            depth = self.distribution.max_depth()
            return (HIDDEN_LAYERS_KEY, *(f"{HIDDEN_WIDTH_PREFIX}{i}" for i in range(1, depth + 1)))
        return (self.name,)

    def applies(self, config: Mapping[str, Any]) -> bool:
        """Whether the condition holds for the values sampled so far (an absent one fails it)."""
        return all(ref in config and config[ref] in accepted for ref, accepted in self.requires)

    def sample(self, trial: optuna.Trial) -> dict[str, Any]:
        if isinstance(self.distribution, HiddenLayers):
            return self.distribution.sample(trial)
        return {self.name: self.distribution.sample(trial, self.name)}

    def describe(self) -> str:
        """The range or choices, readable (hidden widths shown as lists); per graph kind if they differ."""
        if self.by_graph:
            return "; ".join(f"{GRAPH_LABELS[graph]}: {self.for_graph(graph).describe()}"
                             for graph, _ in self.by_graph)
        if self.name == HIDDEN and isinstance(self.distribution, Choice):
            return ", ".join(str(decode_widths(option)) for option in self.distribution.options)
        if self.name == HIDDEN and isinstance(self.distribution, Constant):
            return str(decode_widths(self.distribution.value))
        return self.distribution.describe()

    def condition(self) -> str:
        """``"model = vgae"``-style text of the condition; "" when unconditional."""
        parts = []
        for ref, accepted in self.requires:
            if len(accepted) == 1:
                parts.append(f"{ref} = {show_value(accepted[0])}")
            else:
                parts.append(f"{ref} in {', '.join(show_value(a) for a in accepted)}")
        return " and ".join(parts)


# --------------------------------------------------------------------------- the space


@dataclass(frozen=True)
class DefineByRun:
    """The picklable define-by-run function ``OptunaSearch(space=...)`` calls once per trial.

    Returns the whole trial config: Ray merges it over the values it captured from the same
    ``trial.suggest_*`` calls, so the two agree. With ``max_epochs`` set, a config without
    ``epochs`` (not in the space, or its condition failed) gets ``min(default, max_epochs)``.
    """

    parameters: tuple[Parameter, ...]
    max_epochs: int | None = None
    graph: str | None = None  # "features" or "featureless": what ``when: {graph: ...}`` tests

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        config: dict[str, Any] = {}
        context = {GRAPH_KEY: self.graph} if self.graph else {}
        for parameter in self.parameters:
            if parameter.applies({**context, **config}):
                config.update(parameter.sample(trial))
        if self.max_epochs is not None and "epochs" not in config:
            config["epochs"] = min(TrainConfig().epochs, self.max_epochs)
        return config


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space: ``define_by_run()`` feeds ``OptunaSearch(space=...)``."""

    path: str
    description: str
    parameters: tuple[Parameter, ...]

    @property
    def name(self) -> str:
        return Path(self.path).stem

    @property
    def summary(self) -> str:
        """The first line of the description."""
        lines = self.description.strip().splitlines()
        return lines[0].strip() if lines else ""

    @property
    def param_names(self) -> tuple[str, ...]:
        """The run keys this space sets, in file order (``hidden_channels``, not its trial keys)."""
        return tuple(p.name for p in self.parameters)

    @property
    def config_keys(self) -> tuple[str, ...]:
        """Every key a trial config from this space may hold (before ``resolve_trial_config``)."""
        return tuple(key for p in self.parameters for key in p.config_keys)

    def for_graph(self, graph: str) -> SearchSpace:
        """The space as a search on a ``graph`` ("features"/"featureless") graph samples it."""
        return replace(self, parameters=tuple(p.for_graph(graph) for p in self.parameters))

    def define_by_run(
        self, max_epochs: int | None = None, *, graph: str | None = None
    ) -> Callable[[optuna.Trial], dict | None]:
        """The Optuna define-by-run function; ``max_epochs`` caps sampled or constant epochs.

        ``graph`` (``"features"`` or ``"featureless"``) decides entries conditioned on
        ``when: {graph: ...}``; without it they are never sampled.
        """
        if graph is not None and graph not in GRAPH_KINDS:
            raise TuneGAEError(f"graph must be one of {', '.join(GRAPH_KINDS)} but got {graph!r}.")
        parameters = self.for_graph(graph).parameters if graph is not None else self.parameters
        if max_epochs is None:
            return DefineByRun(parameters, graph=graph)
        if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
            raise TuneGAEError(f"max_epochs must be a positive integer but got {max_epochs!r}.")
        capped = tuple(
            replace(p, distribution=_cap(p.distribution, max_epochs),
                    by_graph=tuple((g, _cap(d, max_epochs)) for g, d in p.by_graph)) if p.name == "epochs" else p
            for p in parameters
        )
        return DefineByRun(capped, max_epochs, graph)


def _cap(distribution: Distribution, cap: int) -> Distribution:
    """Epochs limited to ``cap``: range ends, each choice, or the constant."""
    if isinstance(distribution, IntRange):
        return replace(distribution, low=min(distribution.low, cap), high=min(distribution.high, cap))
    if isinstance(distribution, Choice):
        return Choice(tuple(dict.fromkeys(min(option, cap) for option in distribution.options)))
    if isinstance(distribution, Constant):
        return Constant(min(distribution.value, cap))
    return distribution


def resolve_trial_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The run keys of a trial config, as ``run_config_from_dict`` takes them.

    ``hidden_layers`` + ``hidden_width_<i>`` or ``hidden_channels: "64-32"`` / ``"none"`` become
    ``hidden_channels: [64, 32]`` / ``[]``; every other key passes through unchanged.
    """
    width_keys = [k for k in config if k.startswith(HIDDEN_WIDTH_PREFIX)]
    if HIDDEN_LAYERS_KEY in config and HIDDEN in config:
        raise TuneGAEError(
            f"trial config has both {HIDDEN_LAYERS_KEY!r} and {HIDDEN!r}: a space sets hidden_channels one way."
        )
    if width_keys and HIDDEN_LAYERS_KEY not in config:
        raise TuneGAEError(
            f"trial config has {width_keys[0]!r} but no {HIDDEN_LAYERS_KEY!r}: widths need their depth."
        )
    run: dict[str, Any] = {}
    for key, value in config.items():
        if key == HIDDEN_LAYERS_KEY:
            run[HIDDEN] = _widths_from_layers(config)
        elif key == HIDDEN:
            run[HIDDEN] = decode_widths(value)
        elif key not in width_keys:
            run[key] = value
    return run


def _widths_from_layers(config: Mapping[str, Any]) -> list[int]:
    depth = int(config[HIDDEN_LAYERS_KEY])
    keys = [f"{HIDDEN_WIDTH_PREFIX}{i}" for i in range(1, depth + 1)]
    missing = [k for k in keys if k not in config]
    if missing:
        raise TuneGAEError(
            f"trial config has {HIDDEN_LAYERS_KEY}={depth} but no {missing[0]!r}: one width per layer is needed."
        )
    return [int(config[k]) for k in keys]


def encode_widths(widths: list[int] | tuple[int, ...]) -> str:
    """[64, 32] -> "64-32"; [] -> "none" (Optuna categorical values must be scalars)."""
    return "-".join(str(w) for w in widths) if widths else NO_HIDDEN


def decode_widths(value: Any) -> list[int]:
    """ "64-32" -> [64, 32]; "none" -> []; a list or an int passes as widths."""
    if isinstance(value, str):
        if value.strip().lower() in (NO_HIDDEN, ""):
            return []
        try:
            return [int(part) for part in value.split("-")]
        except ValueError:
            raise TuneGAEError(
                f"cannot read hidden_channels {value!r}: expected widths like '64-32', or 'none'."
            ) from None
    if isinstance(value, int):
        return [value]
    return [int(w) for w in value]
