"""YAML search spaces -> a validated ``SearchSpace`` -> an Optuna define-by-run function.

A space file (see ``search_spaces/*.yaml``)::

    description: One line shown by `tune-gae spaces`.
    parameters:
      model: {choice: [gae, vgae]}
      lr: {loguniform: [1.0e-3, 5.0e-2]}
      kl_weight: {uniform: [0.0, 1.0], when: {model: vgae}}
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

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Union

import yaml

from tune_gae.config import (
    ENCODER_KINDS,
    MODEL_KINDS,
    RUN_KEYS,
    TrainConfig,
    did_you_mean,
)
from tune_gae.errors import TuneGAEError

if TYPE_CHECKING:
    import optuna

__all__ = [
    "HIDDEN_LAYERS_KEY",
    "HIDDEN_WIDTH_PREFIX",
    "DefineByRun",
    "Parameter",
    "SearchSpace",
    "load_space",
    "parse_space",
    "resolve_space_path",
    "resolve_trial_config",
    "shipped_spaces",
]

HIDDEN = "hidden_channels"
HIDDEN_LAYERS_KEY = "hidden_layers"
HIDDEN_WIDTH_PREFIX = "hidden_width_"  # hidden_width_1 is the first hidden layer's width
NO_HIDDEN = "none"  # the trial config's spelling of hidden_channels: []

TOP_KEYS = ("description", "parameters")
RANGE_KINDS = ("uniform", "loguniform", "int", "logint")
KINDS = ("choice", *RANGE_KINDS, "value")
CONDITION = "when"
LAYERS, WIDTH = "layers", "width"


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
        return _show(self.value)


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
        return ", ".join(_show(option) for option in self.options)


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
        return f"[{_show(self.low)}, {_show(self.high)}]"


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


@dataclass(frozen=True)
class Parameter:
    """One entry of a space: a run key, how it is sampled, and when (``requires``: all must hold)."""

    name: str
    distribution: Distribution | HiddenLayers
    requires: tuple[tuple[str, tuple[Any, ...]], ...] = ()

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
        """The range or choices, readable (hidden widths shown as lists)."""
        if self.name == HIDDEN and isinstance(self.distribution, Choice):
            return ", ".join(str(_decode_widths(option)) for option in self.distribution.options)
        if self.name == HIDDEN and isinstance(self.distribution, Constant):
            return str(_decode_widths(self.distribution.value))
        return self.distribution.describe()

    def condition(self) -> str:
        """``"model = vgae"``-style text of the condition; "" when unconditional."""
        parts = []
        for ref, accepted in self.requires:
            if len(accepted) == 1:
                parts.append(f"{ref} = {_show(accepted[0])}")
            else:
                parts.append(f"{ref} in {', '.join(_show(a) for a in accepted)}")
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

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        config: dict[str, Any] = {}
        for parameter in self.parameters:
            if parameter.applies(config):
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

    def define_by_run(self, max_epochs: int | None = None) -> Callable[[optuna.Trial], dict | None]:
        """The Optuna define-by-run function; ``max_epochs`` caps sampled or constant epochs."""
        if max_epochs is None:
            return DefineByRun(self.parameters)
        if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
            raise TuneGAEError(f"max_epochs must be a positive integer but got {max_epochs!r}.")
        capped = tuple(
            replace(p, distribution=_cap(p.distribution, max_epochs)) if p.name == "epochs" else p
            for p in self.parameters
        )
        return DefineByRun(capped, max_epochs)


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
            run[HIDDEN] = _decode_widths(value)
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


def _encode_widths(widths: list[int] | tuple[int, ...]) -> str:
    """[64, 32] -> "64-32"; [] -> "none" (Optuna categorical values must be scalars)."""
    return "-".join(str(w) for w in widths) if widths else NO_HIDDEN


def _decode_widths(value: Any) -> list[int]:
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


# --------------------------------------------------------------------------- finding files


def shipped_spaces() -> dict[str, Path]:
    """The YAML files in the repository's ``search_spaces/`` folder, by name (file stem)."""
    folder = Path(__file__).resolve().parent.parent / "search_spaces"
    if not folder.is_dir():
        return {}
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    return {path.stem: path for path in files}


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


# --------------------------------------------------------------------------- loading + validation


def load_space(path: str | Path) -> SearchSpace:
    """Read and validate a YAML space file; any problem is a one-line TuneGAEError."""
    shown = str(path)
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TuneGAEError(
            f"search space file {shown} not found: give a YAML file or a shipped name "
            f"({', '.join(shipped_spaces()) or 'none'})."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TuneGAEError(f"cannot read search space {shown}: {_one_line(str(exc))}.") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TuneGAEError(_yaml_problem(shown, exc)) from None
    space = parse_space(document, path=shown)
    return replace(space, path=str(Path(path).expanduser().resolve()))


def parse_space(document: Any, *, path: str = "<space>") -> SearchSpace:
    """Validate an already-parsed space (the YAML's top-level mapping); ``path`` names it in errors."""
    if document is None:
        raise TuneGAEError(f"{path} is empty: write a top-level 'parameters:' mapping (see search_spaces/smoke.yaml).")
    if not isinstance(document, dict):
        raise TuneGAEError(
            f"{path} must hold a mapping with a 'parameters:' key but holds a {type(document).__name__}."
        )
    for key in document:
        if key not in TOP_KEYS:
            raise TuneGAEError(
                f"unknown top-level key {key!r} in {path}{did_you_mean(str(key), TOP_KEYS)}; "
                f"allowed: {', '.join(TOP_KEYS)}."
            )
    if "parameters" not in document:
        raise TuneGAEError(f"{path} has no 'parameters:' mapping: add one with an entry per hyperparameter.")
    description = document.get("description") or ""
    if not isinstance(description, str):
        raise TuneGAEError(f"'description' in {path} must be text but got {_show(description)}.")
    entries = document["parameters"]
    if not isinstance(entries, dict) or not entries:
        raise TuneGAEError(
            f"'parameters:' in {path} must be a non-empty mapping of name -> entry but got {_show(entries)}."
        )
    names = [str(name) for name in entries]
    parsed: dict[str, Parameter] = {}
    for name, entry in entries.items():
        parameter = _Entry(str(name), entry, path).parse(parsed, names)
        parsed[parameter.name] = parameter
    return SearchSpace(path=path, description=description.strip(), parameters=tuple(parsed.values()))


def _yaml_problem(path: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    detail = _one_line(f"{context}, {problem}" if context else problem)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path
    return f"{where}: invalid YAML ({detail}): fix the syntax there (indent with spaces, quote odd strings)."


@dataclass(frozen=True)
class _Rule:
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
                raise ValueError(f"must be true or false but got {_show(value)}")
            return value
        if self.type is str:
            if not isinstance(value, str):
                raise ValueError(f"must be one of {', '.join(self.allowed)} but got {_show(value)}")
            if value not in self.allowed:
                raise ValueError(
                    f"must be one of {', '.join(self.allowed)} but got {value!r}{did_you_mean(value, self.allowed)}"
                )
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"must be a number but got {_show(value)}")
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
            raise ValueError(f"must be at least {_show(self.low)} but got {_show(value)}")
        if self.above is not None and value <= self.above:
            raise ValueError(f"must be above {_show(self.above)} but got {_show(value)}")
        if self.below is not None and value >= self.below:
            raise ValueError(f"must be below {_show(self.below)} but got {_show(value)}")
        return value


RULES: dict[str, _Rule] = {
    "model": _Rule(str, allowed=MODEL_KINDS),
    "encoder": _Rule(str, allowed=ENCODER_KINDS),
    "latent_channels": _Rule(int, low=1),
    "dropout": _Rule(float, low=0.0, below=1.0),
    "lr": _Rule(float, above=0.0),
    "epochs": _Rule(int, low=1),
    "weight_decay": _Rule(float, low=0.0),
    "kl_weight": _Rule(float, low=0.0),
    "neg_ratio": _Rule(int, low=1),
    "edge_dropout": _Rule(float, low=0.0, below=1.0),
    "normalize_features": _Rule(bool),
    "patience": _Rule(int, low=0),
}
WIDTH_RULE = _Rule(int, low=1)
DEPTH_RULE = _Rule(int, low=0)
SPACE_KEYS = tuple(k for k in RUN_KEYS if k != "seed")


class _Entry:
    """Parses one ``name: entry`` of ``parameters:``, raising one-line errors that name both."""

    def __init__(self, name: str, entry: Any, path: str) -> None:
        self.name, self.entry, self.path = name, entry, path

    def fail(self, problem: str) -> TuneGAEError:
        return TuneGAEError(f"{self.name!r} in {self.path}: {problem}.")

    def parse(self, earlier: Mapping[str, Parameter], names: list[str]) -> Parameter:
        self._check_name()
        entry = self.entry
        if not isinstance(entry, dict):
            return Parameter(self.name, self._constant(entry))
        allowed = (*KINDS, CONDITION, *((LAYERS, WIDTH) if self.name == HIDDEN else ()))
        for key in entry:
            if key not in allowed:
                raise TuneGAEError(
                    f"unknown keyword {key!r} for {self.name!r} in {self.path}"
                    f"{did_you_mean(str(key), allowed)}; use one of {', '.join(allowed)}."
                )
        requires = self._condition(entry[CONDITION], earlier, names) if CONDITION in entry else ()
        kinds = [key for key in entry if key != CONDITION]
        if self.name == HIDDEN and (LAYERS in kinds or WIDTH in kinds):
            return Parameter(self.name, self._hidden_layers(entry, kinds), requires)
        if len(kinds) != 1:
            found = f"{' and '.join(kinds)}" if kinds else "none"
            raise self.fail(f"give exactly one of {', '.join(KINDS)} but found {found}")
        kind = kinds[0]
        if self.name == HIDDEN:
            return Parameter(self.name, self._hidden(kind, entry[kind]), requires)
        return Parameter(self.name, self._distribution(kind, entry[kind], RULES[self.name]), requires)

    def _check_name(self) -> None:
        if self.name == "seed":
            raise self.fail("a space cannot set seed: the search seeds every trial; remove the entry")
        if self.name in (HIDDEN_LAYERS_KEY, "hidden_width") or self.name.startswith(HIDDEN_WIDTH_PREFIX):
            raise self.fail(
                "not a parameter: write hidden_channels: {layers: {int: [0, 2]}, width: {choice: [32, 64]}}"
            )
        if self.name not in SPACE_KEYS:
            hint = did_you_mean(self.name, SPACE_KEYS) or f"; parameters are: {', '.join(SPACE_KEYS)}"
            raise TuneGAEError(f"unknown parameter {self.name!r} in {self.path}{hint}.")

    def _constant(self, value: Any) -> Constant:
        if value is None:
            raise self.fail("has no value: give a constant or an entry like {choice: [...]}")
        if self.name == HIDDEN:
            return Constant(_encode_widths(self._widths(value, "value")))
        return Constant(self._coerce(RULES[self.name], value, "value"))

    def _coerce(self, rule: _Rule, value: Any, what: str) -> Any:
        """``value`` checked against ``rule``; ``what`` names it in the error ("uniform low")."""
        try:
            return rule.coerce(value)
        except ValueError as exc:
            raise self.fail(f"{what} {exc}") from None

    def _distribution(self, kind: str, arg: Any, rule: _Rule, label: str = "") -> Distribution:
        """A constant, choice or range for ``rule``; ``label`` ("width ") prefixes sub-entries."""
        if kind not in rule.kinds():
            what = {str: "text", int: "integer", float: "float"}[rule.type]
            raise self.fail(f"{label}takes {what} values: use {', '.join(rule.kinds())}, not {kind}")
        if kind == "value":
            if arg is None:
                raise self.fail(f"{label}value is empty")
            return Constant(self._coerce(rule, arg, f"{label}value"))
        if kind == "choice":
            return Choice(self._options(arg, lambda v: self._coerce(rule, v, f"{label}choice")))
        if not isinstance(arg, list) or len(arg) != 2:
            raise self.fail(f"{label}{kind} takes [low, high] but got {_show(arg)}")
        log = kind.startswith("log")
        if log:
            for bound in arg:
                if isinstance(bound, (int, float)) and not isinstance(bound, bool) and bound <= 0:
                    raise self.fail(
                        f"{label}{kind} bounds must be positive but got {_show(bound)}: "
                        f"use {'uniform' if rule.type is float else 'int'}, or a choice that includes it"
                    )
        low = self._coerce(rule, arg[0], f"{label}{kind} low")
        high = self._coerce(rule, arg[1], f"{label}{kind} high")
        if low > high:
            raise self.fail(f"{label}{kind} low {_show(low)} is above high {_show(high)}: write [low, high]")
        if log and low <= 0:
            raise self.fail(f"{label}{kind} bounds must be positive but got {_show(low)}: use a choice that includes it")
        return IntRange(low, high, log) if rule.type is int else FloatRange(low, high, log)

    def _options(self, arg: Any, convert: Callable[[Any], Any]) -> tuple[Any, ...]:
        if not isinstance(arg, list):
            raise self.fail(f"choice takes a list of options but got {_show(arg)}")
        if not arg:
            raise self.fail("choice is empty: list at least one option")
        options: list[Any] = []
        for raw in arg:
            option = convert(raw)
            if option in options:
                raise self.fail(f"choice lists {_show(raw)} twice: remove the duplicate")
            options.append(option)
        return tuple(options)

    def _widths(self, value: Any, what: str) -> list[int]:
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list):
            raise self.fail(
                f"{what} {value!r} is not a list of widths: write e.g. [64, 32], or [] for no hidden layer"
            )
        return [self._coerce(WIDTH_RULE, w, f"{what} width") for w in value]

    def _hidden(self, kind: str, arg: Any) -> Distribution:
        if kind == "value":
            if arg is None:
                raise self.fail("value is empty")
            return Constant(_encode_widths(self._widths(arg, kind)))
        if kind == "choice":
            return Choice(self._options(arg, lambda v: _encode_widths(self._widths(v, kind))))
        raise self.fail(
            f"takes a list of widths, not a {kind} range: use a list like [64, 32], "
            "{choice: [[32], [64, 32], []]} or {layers: {int: [0, 2]}, width: {choice: [32, 64]}}"
        )

    def _hidden_layers(self, entry: Mapping[str, Any], kinds: list[str]) -> HiddenLayers:
        extra = [k for k in kinds if k not in (LAYERS, WIDTH)]
        if extra:
            raise self.fail(f"give either {LAYERS} + {WIDTH} or {extra[0]}, not both")
        missing = [k for k in (LAYERS, WIDTH) if k not in entry]
        if missing:
            raise self.fail(f"{LAYERS} needs {WIDTH} and {WIDTH} needs {LAYERS}: add {missing[0]}")
        return HiddenLayers(
            self._sub(entry[LAYERS], DEPTH_RULE, LAYERS), self._sub(entry[WIDTH], WIDTH_RULE, WIDTH)
        )

    def _sub(self, sub: Any, rule: _Rule, label: str) -> Distribution:
        """``layers:`` or ``width:``: a constant or a one-keyword entry (no ``when``)."""
        if not isinstance(sub, dict):
            return self._distribution("value", sub, rule, f"{label} ")
        allowed = rule.kinds()
        for key in sub:
            if key not in allowed:
                raise TuneGAEError(
                    f"unknown keyword {key!r} for {self.name!r} {label} in {self.path}"
                    f"{did_you_mean(str(key), allowed)}; use one of {', '.join(allowed)}."
                )
        if len(sub) != 1:
            raise self.fail(f"{label} takes exactly one of {', '.join(allowed)} but found {' and '.join(sub) or 'none'}")
        ((kind, arg),) = sub.items()
        return self._distribution(kind, arg, rule, f"{label} ")

    def _condition(
        self, when: Any, earlier: Mapping[str, Parameter], names: list[str]
    ) -> tuple[tuple[str, tuple[Any, ...]], ...]:
        if not isinstance(when, dict) or not when:
            raise self.fail(f"when takes a mapping like {{model: vgae}} but got {_show(when)}")
        requires = []
        for ref, wanted in when.items():
            ref = str(ref)
            if ref == self.name:
                raise self.fail("when cannot refer to the parameter itself")
            if ref not in SPACE_KEYS:
                raise self.fail(f"when refers to unknown parameter {ref!r}{did_you_mean(ref, SPACE_KEYS)}")
            if ref == HIDDEN:
                raise self.fail("when cannot refer to hidden_channels (a list): condition on a single value")
            if ref not in earlier:
                if ref in names:
                    raise self.fail(f"when refers to {ref!r}, which is defined later: move {ref!r} above {self.name!r}")
                raise self.fail(f"when refers to {ref!r}, which this space does not set: add it above {self.name!r}")
            target = earlier[ref]
            accepted = []
            for value in wanted if isinstance(wanted, list) else [wanted]:
                try:
                    value = RULES[ref].coerce(value)
                except ValueError as exc:
                    raise self.fail(f"when {ref}: {exc}") from None
                if not target.distribution.can_take(value):
                    raise self.fail(
                        f"when {ref} is {_show(value)}, but {ref} is never {_show(value)} "
                        f"({ref}: {target.kind} {target.describe()})"
                    )
                accepted.append(value)
            if not accepted:
                raise self.fail(f"when {ref} lists no value")
            requires.append((ref, tuple(accepted)))
        return tuple(requires)


def _show(value: Any) -> str:
    """A short readable form: floats as %g, text unquoted."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value
    return repr(value)


def _one_line(text: str) -> str:
    return " ".join(text.split())
