"""Reading and validating a YAML search space: every problem is one line naming the file and entry."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from tune_gae.config import (
    RUN_KEYS,
    did_you_mean,
)
from tune_gae.errors import TuneGAEError
from tune_gae.rules import DEPTH_RULE, KINDS, RULES, WIDTH_RULE, Rule, show_value
from tune_gae.search.catalog import shipped_spaces
from tune_gae.search.space import (
    GRAPH_KEY,
    GRAPH_KINDS,
    HIDDEN,
    HIDDEN_LAYERS_KEY,
    HIDDEN_WIDTH_PREFIX,
    Choice,
    Constant,
    Distribution,
    FloatRange,
    HiddenLayers,
    IntRange,
    Parameter,
    SearchSpace,
    encode_widths,
    merged,
)

TOP_KEYS = ("description", "parameters")
CONDITION = "when"


LAYERS, WIDTH = "layers", "width"


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
    space = parse_space(document, path=shown, lines=_key_lines(text))
    return replace(space, path=str(Path(path).expanduser().resolve()))


def _key_lines(text: str) -> dict[str, int]:
    """The line (1-based) of each top-level key and of each ``parameters.<name>``, for errors."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:  # already parsed once: cannot happen, and lines are only a courtesy
        return {}
    lines: dict[str, int] = {}
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            lines[str(key.value)] = key.start_mark.line + 1
            if key.value == "parameters" and isinstance(value, yaml.MappingNode):
                for name, _ in value.value:
                    lines[f"parameters.{name.value}"] = name.start_mark.line + 1
    return lines


def parse_space(document: Any, *, path: str = "<space>", lines: Mapping[str, int] | None = None) -> SearchSpace:
    """Validate an already-parsed space (the YAML's top-level mapping); ``path`` names it in errors,
    with the line of the entry at fault when ``lines`` (``_key_lines``) gives it."""
    lines = lines or {}

    def at(key: str) -> str:
        return f"{path}:{lines[key]}" if key in lines else path

    if document is None:
        raise TuneGAEError(f"{path} is empty: write a top-level 'parameters:' mapping (see search_spaces/smoke.yaml).")
    if not isinstance(document, dict):
        raise TuneGAEError(
            f"{path} must hold a mapping with a 'parameters:' key but holds a {type(document).__name__}."
        )
    for key in document:
        if key not in TOP_KEYS:
            raise TuneGAEError(
                f"unknown top-level key {key!r} in {at(str(key))}{did_you_mean(str(key), TOP_KEYS)}; "
                f"allowed: {', '.join(TOP_KEYS)}."
            )
    if "parameters" not in document:
        raise TuneGAEError(f"{path} has no 'parameters:' mapping: add one with an entry per hyperparameter.")
    description = document.get("description") or ""
    if not isinstance(description, str):
        raise TuneGAEError(f"'description' in {at('description')} must be text but got {show_value(description)}.")
    entries = document["parameters"]
    if not isinstance(entries, dict) or not entries:
        raise TuneGAEError(
            f"'parameters:' in {at('parameters')} must be a non-empty mapping of name -> entry but got {show_value(entries)}."
        )
    names = [str(name) for name in entries]
    parsed: dict[str, Parameter] = {}
    for name, entry in entries.items():
        parameter = _Entry(str(name), entry, at(f"parameters.{name}")).parse(parsed, names)
        parsed[parameter.name] = parameter
    return SearchSpace(path=path, description=description.strip(), parameters=tuple(parsed.values()))


def _yaml_problem(path: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    detail = _one_line(f"{context}, {problem}" if context else problem)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path
    return f"{where}: invalid YAML ({detail}): fix the syntax there (indent with spaces, quote odd strings)."


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
        allowed = (*KINDS, CONDITION, *((LAYERS, WIDTH) if self.name == HIDDEN else GRAPH_KINDS))
        for key in entry:
            if key not in allowed:
                raise TuneGAEError(
                    f"unknown keyword {key!r} for {self.name!r} in {self.path}"
                    f"{did_you_mean(str(key), allowed)}; use one of {', '.join(allowed)}."
                )
        overrides = [key for key in entry if key in GRAPH_KINDS]
        if overrides:
            return self._per_graph(entry, overrides, earlier, names)
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

    def _per_graph(
        self, entry: Mapping[str, Any], overrides: list[str], earlier: Mapping[str, Parameter], names: list[str]
    ) -> Parameter:
        """``{choice: [...], featureless: {choice: [...]}}``: the entry for one kind of graph, the
        override for the other; readers that do not know the graph see both merged."""
        if len(overrides) > 1:
            raise self.fail(f"give {' or '.join(GRAPH_KINDS)}, not both: the entry itself is the other kind's")
        graph = overrides[0]
        rest = {key: value for key, value in entry.items() if key != graph}
        own = _Entry(self.name, rest, self.path).parse(earlier, names)
        if not isinstance(entry[graph], dict) or len(entry[graph]) != 1 or CONDITION in entry[graph]:
            raise self.fail(f"{graph} takes one entry like {{choice: [...]}} (no when) but got {show_value(entry[graph])}")
        ((kind, arg),) = entry[graph].items()
        other = self._distribution(kind, arg, RULES[self.name], f"{graph} ")
        if other.kind != own.kind:
            raise self.fail(f"{graph} takes a {own.kind} like the entry's own, not {other.kind}")
        try:
            union = merged(own.distribution, other)
        except ValueError as exc:
            raise self.fail(f"{graph}: {exc}") from None
        rest_kind = next(g for g in GRAPH_KINDS if g != graph)
        return replace(own, distribution=union, by_graph=((rest_kind, own.distribution), (graph, other)))

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
            return Constant(encode_widths(self._widths(value, "value")))
        return Constant(self._coerce(RULES[self.name], value, "value"))

    def _coerce(self, rule: Rule, value: Any, what: str) -> Any:
        """``value`` checked against ``rule``; ``what`` names it in the error ("uniform low")."""
        try:
            return rule.coerce(value)
        except ValueError as exc:
            raise self.fail(f"{what} {exc}") from None

    def _distribution(self, kind: str, arg: Any, rule: Rule, label: str = "") -> Distribution:
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
            raise self.fail(f"{label}{kind} takes [low, high] but got {show_value(arg)}")
        log = kind.startswith("log")
        if log:
            for bound in arg:
                if isinstance(bound, (int, float)) and not isinstance(bound, bool) and bound <= 0:
                    raise self.fail(
                        f"{label}{kind} bounds must be positive but got {show_value(bound)}: "
                        f"use {'uniform' if rule.type is float else 'int'}, or a choice that includes it"
                    )
        low = self._coerce(rule, arg[0], f"{label}{kind} low")
        high = self._coerce(rule, arg[1], f"{label}{kind} high")
        if low > high:
            raise self.fail(f"{label}{kind} low {show_value(low)} is above high {show_value(high)}: write [low, high]")
        if log and low <= 0:
            raise self.fail(f"{label}{kind} bounds must be positive but got {show_value(low)}: use a choice that includes it")
        return IntRange(low, high, log) if rule.type is int else FloatRange(low, high, log)

    def _options(self, arg: Any, convert: Callable[[Any], Any]) -> tuple[Any, ...]:
        if not isinstance(arg, list):
            raise self.fail(f"choice takes a list of options but got {show_value(arg)}")
        if not arg:
            raise self.fail("choice is empty: list at least one option")
        options: list[Any] = []
        for raw in arg:
            option = convert(raw)
            if option in options:
                raise self.fail(f"choice lists {show_value(raw)} twice: remove the duplicate")
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
            return Constant(encode_widths(self._widths(arg, kind)))
        if kind == "choice":
            return Choice(self._options(arg, lambda v: encode_widths(self._widths(v, kind))))
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

    def _sub(self, sub: Any, rule: Rule, label: str) -> Distribution:
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
            raise self.fail(f"when takes a mapping like {{model: vgae}} but got {show_value(when)}")
        requires = []
        for ref, wanted in when.items():
            ref = str(ref)
            if ref == self.name:
                raise self.fail("when cannot refer to the parameter itself")
            if ref == GRAPH_KEY:
                kinds = wanted if isinstance(wanted, list) else [wanted]
                for kind in kinds:
                    if kind not in GRAPH_KINDS:
                        raise self.fail(
                            f"when graph takes {' or '.join(GRAPH_KINDS)} but got {show_value(kind)}"
                        )
                requires.append((ref, tuple(kinds)))
                continue
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
                        f"when {ref} is {show_value(value)}, but {ref} is never {show_value(value)} "
                        f"({ref}: {target.kind} {target.describe()})"
                    )
                accepted.append(value)
            if not accepted:
                raise self.fail(f"when {ref} lists no value")
            requires.append((ref, tuple(accepted)))
        return tuple(requires)


def _one_line(text: str) -> str:
    return " ".join(text.split())
