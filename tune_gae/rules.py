"""Every hyperparameter's limits, declared once: the config dataclasses, the search-space parser
and the CLI's option ranges all read them from here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tune_gae.errors import TuneGAEError, did_you_mean

if TYPE_CHECKING:
    import click

MODEL_KINDS = ("gae", "vgae")
ENCODER_KINDS = ("gcn", "linear")
# The link scorer over two node embeddings (tune_gae.nn.decoders): the inner product, an MLP over
# their Hadamard product, or Neural Common Neighbour (common neighbours from training edges only).
DECODER_KINDS = ("inner_product", "hadamard_mlp", "ncn")
# Decoders that read the training graph when scoring (a bundle attaches its split.pt's train_edge_index).
GRAPH_DECODERS = ("ncn",)
# The ModelConfig fields that shape each decoder (the others do not apply to it).
DECODER_OPTIONS = {
    "inner_product": (),
    "hadamard_mlp": ("decoder_layers", "decoder_width", "decoder_dropout", "decoder_norm"),
    "ncn": ("decoder_layers", "decoder_width", "decoder_dropout", "decoder_norm", "cn_weighting"),
}
ALL_DECODER_OPTIONS = DECODER_OPTIONS["ncn"]
DECODER_NORMS = ("none", "layer", "batch")
# Normalisation after each GCN layer of the encoder (batch: MaskGAE's BatchNorm, Li et al., KDD 2023).
ENCODER_NORMS = ("none", "batch")
# The activation on the encoder's last layer, i.e. on the embedding (a VGAE's mu), after its batch
# norm if any: none leaves it linear (Kipf & Welling); elu is MaskGAE's encoder (Li et al., KDD 2023).
EMBEDDING_ACTIVATIONS = ("none", "elu")
# Which training edges masked-edge reconstruction hides (tune_gae.train.masks): each edge on its own,
# the edges of short random walks from a mask_ratio share of the nodes (MaskGAE's path masking), or
# each direction on its own (MaskGAE's MaskEdge: hidden when both are, every masked one reconstructed).
MASK_KINDS = ("edge", "path", "directed")
# How the ncn decoder weights each common neighbour w: 1, 1 / log deg w, 1 / deg w.
CN_WEIGHTINGS = ("count", "adamic_adar", "resource_allocation")
# What the encoder reads, joined by "+" (tune_gae.data.features): the graph's own features, a
# learnable embedding per node, one-hot log-degree, Laplacian eigenvectors (training edges only).
ENCODING_PARTS = ("features", "embedding", "degree", "spectral")
NODE_ENCODINGS = tuple(
    "+".join(p for i, p in enumerate(ENCODING_PARTS) if mask >> i & 1) for mask in range(1, 2 ** len(ENCODING_PARTS))
)
RANGE_KINDS = ("uniform", "loguniform", "int", "logint")


# Link metrics, declared once: Hits@K at these K, then every metric a split's evaluation edges
# give (tune_gae.train.metrics computes them), and the names a search may select and stop on.
HITS_AT: tuple[int, ...] = (10, 20, 50, 100)
LINK_METRICS: tuple[str, ...] = ("auc", "ap", "mrr", *(f"hits@{k}" for k in HITS_AT))
VALIDATION_METRICS: tuple[str, ...] = tuple(f"val_{name}" for name in LINK_METRICS)
TEST_METRICS: tuple[str, ...] = tuple(f"test_{name}" for name in LINK_METRICS)
# Multi-objective searches (`--objectives val_auc,epoch_ms`): a validation metric first (maximised;
# ASHA stops on it, export selects on it), then one cost every trial reports, with the way Optuna
# optimises it: mean ms per epoch (training step + validation), the model's parameter count, the
# embedding width (latent size x ensemble members).
COST_OBJECTIVES: dict[str, str] = {"epoch_ms": "min", "parameters": "min", "embedding_dim": "min"}


def parse_objectives(value: str | tuple[str, ...] | list[str]) -> tuple[str, str]:
    """``"val_auc,epoch_ms"`` -> ``("val_auc", "epoch_ms")``, or a one-line TuneGAEError naming the problem."""
    names = [n.strip() for n in (value.split(",") if isinstance(value, str) else value)]
    example = f"e.g. --objectives val_auc,{next(iter(COST_OBJECTIVES))}"
    costs = ", ".join(COST_OBJECTIVES)
    for name in names:
        if name not in VALIDATION_METRICS and name not in COST_OBJECTIVES:
            raise TuneGAEError(f"--objectives: unknown objective {name!r}{did_you_mean(name, (*VALIDATION_METRICS, *COST_OBJECTIVES))}: "
                               f"name a validation metric ({', '.join(VALIDATION_METRICS)}), then one of {costs}.")
    repeated = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if repeated is not None:
        raise TuneGAEError(f"--objectives names {repeated!r} twice: name each objective once ({example}).")
    if not names or names[0] not in VALIDATION_METRICS:
        raise TuneGAEError(f"--objectives must start with a validation metric ({', '.join(VALIDATION_METRICS)}) "
                           f"but starts with {names[0] if names else ''!r}: put the metric first ({example}).")
    if len(names) != 2 or names[1] not in COST_OBJECTIVES:
        raise TuneGAEError(f"--objectives takes a validation metric and one cost ({costs}) but got "
                           f"{','.join(names)!r}: {example}.")
    return names[0], names[1]


# How evaluation negatives are drawn (tune_gae.data.negatives): uniform non-edges shared by all
# positives, or HeaRT-style hard negatives, each positive its own.
NEGATIVE_KINDS: tuple[str, ...] = ("uniform", "hard")

# The graph the test edges are scored on (encoder, a graph-reading decoder, the heuristics):
# ``train`` (what every trial trained and was selected on) or ``train+val``, the validation edges
# added as known links (PyG's RandomLinkSplit test data, MaskGAE's train_linkpred.py).
TEST_GRAPHS: tuple[str, ...] = ("train", "train+val")


KINDS = ("choice", *RANGE_KINDS, "value")


@dataclass(frozen=True)
class Rule:
    """What values one setting allows. ``check`` is what the dataclasses call, ``coerce`` what the
    space parser calls, ``click_type`` what the CLI's options use: one declaration, three readers."""

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

    def check(self, name: str, value: Any, *, flag: bool = False) -> Any:
        """``value`` coerced, or a one-line TuneGAEError naming the setting (``--name`` for a flag)."""
        try:
            return self.coerce(value)
        except ValueError as exc:
            label = f"--{name.replace('_', '-')}" if flag else name
            raise TuneGAEError(f"{label} {exc}.") from None

    def describe(self) -> str:
        """The allowed values in short: ``>0``, ``>=1``, ``[0, 1)``, ``gae|vgae``."""
        if self.type is str:
            return "|".join(self.allowed)
        low = f">={show_value(self.low)}" if self.low is not None else (
            f">{show_value(self.above)}" if self.above is not None else "")
        if self.below is not None:
            return f"{low.replace('>=', '[').replace('>', '(')}, {show_value(self.below)})" if low else f"<{show_value(self.below)}"
        return low

    def click_type(self, label: str) -> click.ParamType:
        """A click type that refuses what ``check`` refuses, in ``check``'s words (exit 2)."""
        import click

        rule = self

        class RuleParam(click.ParamType):
            name = {str: "text", bool: "boolean", int: "integer", float: "float"}[rule.type]

            def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
                if isinstance(value, str) and rule.type is not str:
                    value = value.strip()
                try:
                    return rule.check(label, value, flag=True)
                except TuneGAEError as exc:
                    self.fail(str(exc), param, ctx)

            def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
                described = rule.describe()
                return f"{self.name.upper()} {described}".strip() if rule.type is not str else f"[{described}]"

        return RuleParam()


# Hyperparameters of one run (ModelConfig / TrainConfig fields), as a space or `train` sets them.
RULES: dict[str, Rule] = {
    "model": Rule(str, allowed=MODEL_KINDS),
    "encoder": Rule(str, allowed=ENCODER_KINDS),
    "encoder_norm": Rule(str, allowed=ENCODER_NORMS),
    "embedding_activation": Rule(str, allowed=EMBEDDING_ACTIVATIONS),
    "decoder": Rule(str, allowed=DECODER_KINDS),
    "decoder_layers": Rule(int, low=1),
    "decoder_width": Rule(int, low=1),
    "decoder_dropout": Rule(float, low=0.0, below=1.0),
    "decoder_norm": Rule(str, allowed=DECODER_NORMS),
    "cn_weighting": Rule(str, allowed=CN_WEIGHTINGS),
    "latent_channels": Rule(int, low=1),
    "propagation_hops": Rule(int, low=1, below=9),
    "dropout": Rule(float, low=0.0, below=1.0),
    "lr": Rule(float, above=0.0),
    "epochs": Rule(int, low=1),
    "weight_decay": Rule(float, low=0.0),
    "kl_weight": Rule(float, low=0.0),
    "neg_ratio": Rule(int, low=1),
    "edge_dropout": Rule(float, low=0.0, below=1.0),
    "mask_ratio": Rule(float, low=0.0, below=1.0),
    "mask_kind": Rule(str, allowed=MASK_KINDS),
    "grad_clip": Rule(float, low=0.0),
    "degree_loss": Rule(float, low=0.0),
    "weight_ema": Rule(float, low=0.0, below=1.0),
    "embedding_norm": Rule(float, low=0.0),
    "ensemble": Rule(int, low=1),
    "normalize_features": Rule(bool),
    "patience": Rule(int, low=0),
    "seed": Rule(int),
    "node_encoding": Rule(str, allowed=NODE_ENCODINGS),
    "encoding_dims": Rule(int, low=1, below=65),
}


# Shares of a graph's edges held out for validation and for testing (DataConfig, `--val-ratio`,
# `--test-ratio`); together they must stay below 1 (DataConfig says so).
SPLIT_RULES: dict[str, Rule] = {
    "val_ratio": Rule(float, above=0.0, below=1.0),
    "test_ratio": Rule(float, above=0.0, below=1.0),
}

WIDTH_RULE = Rule(int, low=1)
DEPTH_RULE = Rule(int, low=0)

# Search settings (SearchSettings fields, `tune-gae search` flags). None means "not set" and is
# allowed wherever the field's default is None.
SEARCH_RULES: dict[str, Rule] = {
    "num_samples": Rule(int, low=1),
    "max_epochs": Rule(int, low=1),
    "grace_period": Rule(int, low=1),
    "reduction_factor": Rule(int, low=2),
    "cpus_per_trial": Rule(float, above=0.0),
    "gpus_per_trial": Rule(float, low=0.0),
    "max_concurrent": Rule(int, low=1),
    "checkpoint_every": Rule(int, low=1),
    "max_failures": Rule(int, low=0),
    "time_budget_s": Rule(float, low=1.0),
    "report_interval_s": Rule(float, low=0.0),
    "seed": Rule(int),
    "reselect_top": Rule(int, low=0),
    "reselect_seeds": Rule(int, low=0),
    "reproducible": Rule(bool),
}


def show_value(value: Any) -> str:
    """A short readable form: floats as %g, text unquoted."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value
    return repr(value)
