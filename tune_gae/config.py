"""Typed settings for one training run: data, model and training, each a frozen dataclass.

``run_config_from_dict`` turns a flat dict (a CLI's flags, a Tune trial's sampled config)
into those objects strictly: an unknown key is an error with a "did you mean" hint.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tune_gae.errors import TuneGAEError, did_you_mean
from tune_gae.rules import (
    DECODER_OPTIONS,
    ENCODER_KINDS,
    MODEL_KINDS,
    NEGATIVE_KINDS,
    RULES,
    SPLIT_RULES,
    WIDTH_RULE,
)

__all__ = ["DataConfig", "ModelConfig", "RunResult", "TrainConfig", "did_you_mean", "run_config_from_dict",
           "ENCODER_KINDS", "MODEL_KINDS"]


def _check_fields(config: Any, names: tuple[str, ...]) -> None:
    """Each field against its one declared rule (``tune_gae.rules.RULES``), coerced in place."""
    for name in names:
        object.__setattr__(config, name, RULES[name].check(name, getattr(config, name)))


PLANETOID_NAMES = ("Cora", "CiteSeer", "PubMed")
SYNTHETIC_PREFIX = "synthetic"


def looks_like_path(source: str) -> bool:
    """Whether a --dataset names a file (an edge list) rather than a dataset."""
    return os.sep in source or "." in source or Path(source).exists()


def planetoid_name(name: str) -> str:
    """The canonical Planetoid spelling of ``name`` (case-insensitive), or a TuneGAEError."""
    for known in PLANETOID_NAMES:
        if name.lower() == known.lower():
            return known
    close = did_you_mean(name.lower(), [known.lower() for known in PLANETOID_NAMES])
    for known in PLANETOID_NAMES:  # the hint in the canonical spelling
        close = close.replace(repr(known.lower()), repr(known))
    raise TuneGAEError(
        f"unknown dataset {name!r}{close}: use one of {', '.join(PLANETOID_NAMES)}, "
        f"'synthetic:nodes=N,communities=K', or a path to an edge-list file."
    )


def check_dataset(source: str) -> None:
    """Refuse an unknown dataset name now, before torch and PyG are imported (seconds)."""
    source = source.strip()
    if not source.lower().startswith(SYNTHETIC_PREFIX) and not looks_like_path(source):
        planetoid_name(source)


@dataclass(frozen=True)
class DataConfig:
    """Which graph, and how its edges are split into train/validation/test."""

    dataset: str = "Cora"
    root: str | None = None
    features: str | None = None  # node features for an edge-list dataset
    val_ratio: float = 0.05
    test_ratio: float = 0.10
    split_seed: int = 0
    negatives: str = "uniform"  # evaluation negatives: "uniform" or "hard" (rules.NEGATIVE_KINDS)

    def __post_init__(self) -> None:
        check_dataset(self.dataset)
        if self.negatives not in NEGATIVE_KINDS:
            raise TuneGAEError(
                f"negatives must be one of {', '.join(NEGATIVE_KINDS)} but got {self.negatives!r}."
            )
        for name, rule in SPLIT_RULES.items():
            object.__setattr__(self, name, rule.check(name, getattr(self, name)))
        if self.val_ratio + self.test_ratio >= 1.0:
            raise TuneGAEError(
                f"val_ratio + test_ratio must be below 1 but got {self.val_ratio + self.test_ratio:g}: "
                f"leave edges to train on."
            )


@dataclass(frozen=True)
class ModelConfig:
    """Everything that rebuilds a model: ``build_model(ModelConfig(**d))``."""

    in_channels: int
    model: str = "gae"
    encoder: str = "gcn"
    # "batch": a batch norm after every GCN layer, the embedding's included (MaskGAE's encoder).
    encoder_norm: str = "none"
    # "elu": the embedding (a VGAE's mu) goes through an ELU after its batch norm, as MaskGAE's
    # encoder has; "none": a linear embedding (the paper's).
    embedding_activation: str = "none"
    hidden_channels: tuple[int, ...] = (32,)
    latent_channels: int = 16
    # The embedding's GCN layer g = A_hat H W + b propagated K - 1 more hops and the K hops averaged:
    # mean_k(A_hat^(k-1) g), k = 1..K (LightGCN-style, as Refined-GAE's Cora encoder). 1: a GCN layer.
    propagation_hops: int = 1
    dropout: float = 0.0
    normalize_features: bool = True  # row-normalise inputs (PyG's NormalizeFeatures) in the encoder
    node_encoding: str = "features"  # one of NODE_ENCODINGS (tune_gae.data.features)
    encoding_dims: int = 16  # columns of the spectral encoding (when node_encoding uses it)
    # Each node's embedding (a VGAE's mu) rescaled to this L2 length, so the inner product is a
    # scaled cosine (after Ahn & Kim's GNAE, CIKM 2021, which normalises before propagating);
    # 0: the raw inner product.
    embedding_norm: float = 0.0
    # A seed ensemble: this many encoders, each drawn and trained as alone (its own loss); a node's
    # embedding is theirs concatenated over sqrt(count), so its inner product averages their scores.
    ensemble: int = 1
    # The link scorer (tune_gae.nn.decoders): inner_product (the paper's), hadamard_mlp (MaskGAE's
    # edge decoder) or ncn (Neural Common Neighbour). The rest shape the learned ones: linear layers,
    # hidden width, dropout, normalisation; and how ncn weights a common neighbour.
    decoder: str = "inner_product"
    decoder_layers: int = 2
    decoder_width: int = 64
    decoder_dropout: float = 0.0
    decoder_norm: str = "none"
    cn_weighting: str = "resource_allocation"

    def __post_init__(self) -> None:
        # A linear encoder has no hidden layer: its config says so (bundles, TensorBoard HParams).
        hidden = () if self.encoder == "linear" else self.hidden_channels
        object.__setattr__(self, "hidden_channels", tuple(int(w) for w in hidden))
        # Row-normalising applies to a user's features alone: an embedding or structural block
        # would be shifted and densified (N x N for an embedding). The config says so.
        if self.node_encoding != "features":
            object.__setattr__(self, "normalize_features", False)
        if self.in_channels <= 0:
            raise TuneGAEError(f"in_channels must be positive but got {self.in_channels}.")
        for width in self.hidden_channels:
            WIDTH_RULE.check("hidden widths", width)
        _check_fields(self, ("model", "encoder", "encoder_norm", "embedding_activation", "latent_channels",
                             "propagation_hops", "dropout", "normalize_features",
                             "node_encoding", "encoding_dims", "embedding_norm", "ensemble", "decoder",
                             "decoder_layers", "decoder_width", "decoder_dropout", "decoder_norm", "cn_weighting"))

    def decoder_options(self) -> dict[str, Any]:
        """The settings that shape this model's decoder (``rules.DECODER_OPTIONS``; none for the inner product)."""
        return {key: getattr(self, key) for key in DECODER_OPTIONS[self.decoder]}

    def decoder_summary(self) -> str:
        """The decoder in words: ``inner_product``, ``hadamard_mlp (2 layers, width 64, dropout 0, norm none)``."""
        if not self.decoder_options():
            return self.decoder
        parts = [f"{self.decoder_layers} layers", f"width {self.decoder_width}", f"dropout {self.decoder_dropout:g}",
                 f"norm {self.decoder_norm}"]
        if "cn_weighting" in self.decoder_options():
            parts.append(f"common neighbours weighted by {self.cn_weighting}")
        return f"{self.decoder} ({', '.join(parts)})"

    @property
    def embedding_dim(self) -> int:
        """Columns of a node's embedding: the latent size times the ensemble's members."""
        return self.latent_channels * self.ensemble

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["hidden_channels"] = list(self.hidden_channels)
        return out


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one run."""

    lr: float = 0.01
    epochs: int = 200
    weight_decay: float = 0.0
    kl_weight: float = 1.0
    neg_ratio: int = 1
    edge_dropout: float = 0.0
    # Share of training edges hidden from message passing each epoch; the loss reconstructs
    # exactly those (masked-edge reconstruction, MaskGAE: Li et al., KDD 2023). 0: plain GAE loss.
    mask_ratio: float = 0.0
    # How the masked edges are drawn (tune_gae.train.masks): "edge", each with probability mask_ratio;
    # "path", every edge of 3-step random walks from a mask_ratio share of the nodes (MaskGAE's);
    # "directed", each direction on its own (MaskGAE's MaskEdge): an edge is hidden when both are
    # masked, and every masked direction is reconstructed.
    mask_kind: str = "edge"
    # Clip the gradients' total L2 norm to this each step (MaskGAE clips to 1). 0: no clipping.
    grad_clip: float = 0.0
    # Weight of MaskGAE's degree loss: an MLP over each node's embedding (the learned decoder's
    # layers, width and dropout) regresses the node's degree over the edges the loss reconstructs
    # (the masked ones with mask_ratio), MSE. A training-only head: bundles do not keep it. 0: off.
    degree_loss: float = 0.0
    # Validate and keep an exponential moving average of the weights (and batch-norm statistics)
    # instead of the live ones, with this decay per epoch (Polyak averaging; torch.optim.swa_utils).
    # 0: the live weights.
    weight_ema: float = 0.0
    patience: int = 0  # stop after this many epochs without a validation improvement (0: never)
    seed: int = 0

    def __post_init__(self) -> None:
        _check_fields(self, TRAIN_KEYS)


# Keys a trial/run config may hold, mapped to the dataclass that owns them.
MODEL_KEYS = tuple(f.name for f in fields(ModelConfig) if f.name != "in_channels")
TRAIN_KEYS = tuple(f.name for f in fields(TrainConfig))
RUN_KEYS = MODEL_KEYS + TRAIN_KEYS


def run_config_from_dict(
    values: Mapping[str, Any], *, in_channels: int
) -> tuple[ModelConfig, TrainConfig]:
    """Split a flat hyperparameter dict into a ModelConfig and a TrainConfig, strictly."""
    for key in values:
        if key not in RUN_KEYS:
            raise TuneGAEError(f"unknown hyperparameter {key!r}{did_you_mean(key, RUN_KEYS)}.")
    model_kwargs = {k: values[k] for k in MODEL_KEYS if k in values}
    train_kwargs = {k: values[k] for k in TRAIN_KEYS if k in values}
    if "hidden_channels" in model_kwargs:
        model_kwargs["hidden_channels"] = _as_widths(model_kwargs["hidden_channels"])
    return ModelConfig(in_channels=in_channels, **model_kwargs), TrainConfig(**train_kwargs)


def _as_widths(value: Any) -> tuple[int, ...]:
    """Accept [32, 16], (32,), 32, "32,16" or "" (no hidden layer) as a width list."""
    if isinstance(value, str):
        return tuple(int(part) for part in value.replace("-", ",").split(",") if part.strip())
    if isinstance(value, int):
        return (value,)
    return tuple(int(w) for w in value)


@dataclass(frozen=True)
class RunResult:
    """What one finished training run reports."""

    val_auc: float
    val_ap: float
    test_auc: float | None
    test_ap: float | None
    best_epoch: int
    epochs: int
    seconds: float
    split_hash: str
    history: list[dict[str, float]] = field(default_factory=list, repr=False)
    # Every validation and test metric by name (val_auc ... val_hits@100, test_auc ... test_mrr).
    metrics: dict[str, float] = field(default_factory=dict)
