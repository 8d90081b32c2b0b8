"""One training run in plain torch: no Ray, no files.

``Trainer`` owns the model, optimiser and the best-validation weights; ``step()`` runs one epoch
(train + validation) and returns its metrics. The ``train`` command and the Ray trainable both
drive it; its ``state_dict`` is what a checkpoint holds.
"""
from __future__ import annotations

import copy
import math
import threading
import time
from typing import Any

import torch
from torch import Tensor
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch_geometric.nn import GAE, VGAE

from tune_gae.config import ModelConfig, RunResult, TrainConfig
from tune_gae.data.split import LinkSplit
from tune_gae.nn.decoders import NCNDecoder, decoder_members, is_inner_product, member_blocks
from tune_gae.nn.degree import DegreeDecoder, reconstructed_degree
from tune_gae.nn.encoders import (
    GCNEncoder,
    build_model,
    embed,
    encode_from,
    ensemble_size,
    prepare_features,
)
from tune_gae.nn.pairs import PairSet, logit_loss, prepare_pairs, recon_loss
from tune_gae.rules import LINK_METRICS, VALIDATION_METRICS
from tune_gae.train.masks import directed_mask, edge_mask, path_mask
from tune_gae.train.metrics import score_metrics

METRICS = VALIDATION_METRICS


FUSED_ADAM_DEVICES = ("cpu", "cuda")
# A run's own random stream is seeded with its seed plus this (not the seed itself: its draws are
# then not the same numbers as the weight initialisation's).
RUN_STREAM_OFFSET = 7919
# Held while a run seeds torch's global generator and draws its initial weights from it.
GLOBAL_RNG_LOCK = threading.Lock()


class DivergedError(RuntimeError):
    """The loss became NaN or infinite: this configuration cannot be trained further."""


def pick_device(requested: str = "auto") -> torch.device:
    """CUDA when requested or (``auto``) when one is visible, else CPU."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def sample_negatives(num_nodes: int, count: int, device: torch.device,
                     generator: torch.Generator | None = None) -> Tensor:
    """Uniform random node pairs without self loops (drawn from ``generator`` when given).

    Unlike PyG's ``negative_sampling`` this does not reject true edges: on sparse graphs
    (Cora: density 0.14 %) a collision is rare noise, and skipping the check keeps it O(count).
    """
    src = torch.randint(0, num_nodes, (count,), device=device, generator=generator)
    shift = torch.randint(1, num_nodes, (count,), device=device, generator=generator)
    return torch.stack([src, (src + shift) % num_nodes])


def train_epoch(
    model: GAE,
    optimizer: torch.optim.Optimizer,
    x: Tensor,
    message_edges: Tensor,
    train_pos: Tensor | PairSet,
    config: TrainConfig,
    *,
    encoded: Tensor | tuple[Tensor, Tensor] | None = None,
    degree_decoders: list[DegreeDecoder] | None = None,
) -> float:
    """One optimisation step on the training graph; returns the loss.

    Masks, edge dropout and negatives draw from the run's own stream, ``model.encoder.generator``
    (as the encoder's dropout and a VGAE's sampling do; ``Trainer`` sets it), else torch's global one.

    ``encoded``: the encoder's output for the current weights, computed with autograd (see
    ``Trainer.step``); the forward pass is then skipped. Only valid without any dropout or mask.

    With ``config.mask_ratio`` (MaskGAE, Li et al., KDD 2023) that share of training edges is
    hidden from message passing this epoch and the loss reconstructs exactly those edges (drawn as
    ``config.mask_kind`` says: ``tune_gae.train.masks``).
    ``config.degree_loss`` adds MaskGAE's degree loss (one ``degree_decoders`` entry per ensemble
    member: each regresses the degrees over the reconstructed edges from its own member's block);
    ``config.grad_clip`` clips the total gradient norm of every parameter the optimiser steps.
    """
    model.train()
    optimizer.zero_grad(set_to_none=True)
    generator = getattr(model.encoder, "generator", None)
    if encoded is not None:
        z = encode_from(model, encoded)
    else:
        edge_weight, masked_pos = None, None
        num_edges = message_edges.size(1) // 2
        keep = torch.ones(num_edges, dtype=torch.bool, device=x.device)
        if config.mask_ratio > 0 and config.mask_kind == "directed":
            hidden, directions = directed_mask(num_edges, config.mask_ratio, x.device, generator)
            if bool(directions.any()):
                keep = ~hidden
                masked_pos = message_edges[:, directions]
        elif config.mask_ratio > 0:
            # message_edges is [train_pos, train_pos flipped] (LinkSplit.train_edge_index).
            masked = (path_mask(message_edges, x.size(0), config.mask_ratio, generator) if config.mask_kind == "path"
                      else edge_mask(num_edges, config.mask_ratio, x.device, generator))
            if bool(masked.any()):
                keep = ~masked
                masked_pos = message_edges[:, :num_edges][:, masked]
        if config.edge_dropout > 0:
            # Drop both directions of an edge together. Zero weights rather than a new edge
            # list: the model keeps its cached graph structure.
            keep = keep & (torch.rand(num_edges, device=x.device, generator=generator) >= config.edge_dropout)
        if config.mask_ratio > 0 or config.edge_dropout > 0:
            edge_weight = keep.repeat(2).to(x.dtype)
        z = encode_from(model, model.encoder(x, message_edges, edge_weight))
        if masked_pos is not None:
            train_pos = (prepare_pairs(masked_pos, x.size(0), z.size(1)) if is_inner_product(model.decoder)
                         else masked_pos)
    num_pos = train_pos.count if isinstance(train_pos, PairSet) else train_pos.size(1)
    negatives = sample_negatives(x.size(0), config.neg_ratio * num_pos, x.device, generator)
    members = ensemble_size(model)
    # A seed ensemble's members each learn from their own scores (the same pairs), as if alone.
    if is_inner_product(model.decoder):
        neg = prepare_pairs(negatives, x.size(0), z.size(1) // members)
        loss = sum(recon_loss(block, train_pos, neg) for block in member_blocks(z, members))
    else:  # a learned decoder scores positives and negatives as one batch, each member its own
        decoders = decoder_members(model.decoder)
        loss = sum(logit_loss(*decoder.logits_of(block, [train_pos, negatives]))
                   for block, decoder in zip(member_blocks(z, members), decoders))
    if config.degree_loss > 0 and degree_decoders:
        target = reconstructed_degree(train_pos.pairs if isinstance(train_pos, PairSet) else train_pos,
                                      x.size(0), z.dtype)
        loss = loss + config.degree_loss * sum(
            head.loss(block, target) for block, head in zip(member_blocks(z, members), degree_decoders))
    if isinstance(model, VGAE) and config.kl_weight > 0:
        # Summed over members, of their own (unscaled) mu and logstd: see EnsembleEncoder.
        kl = model.kl_loss(model.__mu__ * members**0.5, model.__logstd__ + 0.5 * math.log(members))
        loss = loss + config.kl_weight / x.size(0) * kl
    loss.backward()
    loss = loss.detach()
    if config.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]],
                                       config.grad_clip)
    optimizer.step()
    return loss.item()


@torch.no_grad()
def validation_metrics(model: GAE, x: Tensor, message_edges: Tensor, pos: Tensor, neg: Tensor) -> dict[str, float]:
    """Every link metric of the model's scores for the given positive and negative pairs, the
    decoder reading ``message_edges`` (the training graph) where it reads a graph."""
    model.decoder.attach_graph(message_edges, x.size(0))
    return link_metrics(model.decoder, embed(model, x, message_edges), pos, neg)


@torch.no_grad()
def link_metrics(decoder: torch.nn.Module, z: Tensor, pos: Tensor, neg: Tensor) -> dict[str, float]:
    """``LINK_METRICS`` (auc, ap, mrr, hits@K) of the decoder's scores (in eval mode).

    ``neg`` is ``[2, N]`` (shared by every positive) or ``[2, P, K]`` (each positive its own).
    """
    was_training = decoder.training
    decoder.eval()
    try:
        pos_scores, neg_scores = decoder.logits_of(z, [pos, neg.reshape(2, -1)])
    finally:
        decoder.train(was_training)
    return score_metrics(pos_scores, neg_scores.view(neg.shape[1:]))


class Trainer:
    """Trains one configuration on one split, keeping the best-validation weights."""

    def __init__(
        self,
        split: LinkSplit,
        model_config: ModelConfig,
        train_config: TrainConfig,
        *,
        device: torch.device | str = "cpu",
        metric: str = "val_auc",
    ) -> None:
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS} but got {metric!r}.")
        self.device = torch.device(device)
        self.model_config = model_config
        self.train_config = train_config
        self.metric = metric
        # Weights are drawn from torch's global generator, under a lock (re-selection trains runs in
        # threads); everything random after that (dropout, masks, negatives, a VGAE's samples)
        # comes from the run's own generator, so a run is the same whatever else runs beside it.
        self.generator = torch.Generator(device=self.device).manual_seed(train_config.seed + RUN_STREAM_OFFSET)
        # Normalised once; CSR when mostly zeros (the first layer then runs sparse).
        self.x = prepare_features(split.x.to(self.device), normalize=model_config.normalize_features)
        # The same tensor every epoch: the model caches its normalised adjacency by identity.
        self.message_edges = split.train_edge_index.to(self.device)
        self.train_pos = split.train_pos.to(self.device)
        # Sorted once if large (the inner product's fast path; a learned decoder takes the pairs).
        self._train_pairs = (prepare_pairs(self.train_pos, split.num_nodes, model_config.embedding_dim)
                             if model_config.decoder == "inner_product" else self.train_pos)
        self.val_pos = split.val_pos.to(self.device)
        self.val_neg = split.val_neg.to(self.device)
        with GLOBAL_RNG_LOCK:
            torch.manual_seed(train_config.seed)
            self.model = build_model(model_config, cached=True, inputs_normalized=True).to(self.device)
            # With weight_ema, validation reads (and the run keeps) a moving average of the weights.
            self.averaged = (AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(train_config.weight_ema),
                                           use_buffers=True) if train_config.weight_ema else None)
            # MaskGAE's degree heads (training only, one per ensemble member), drawn after the model
            # so that the model's initial weights do not depend on degree_loss.
            self.degree_decoders = torch.nn.ModuleList(
                DegreeDecoder.for_model(model_config) for _ in range(model_config.ensemble)
                if train_config.degree_loss > 0).to(self.device)
        self.model.encoder.generator = self.generator
        for head in self.degree_decoders:
            head.generator = self.generator
        self.model.decoder.generator = self.generator
        # A decoder that reads the graph reads the whole training graph, every epoch (masked
        # training hides edges from the encoder's messages only).
        self.model.decoder.attach_graph(self.message_edges, split.num_nodes)
        self._validated = self.model
        if self.averaged is not None:
            self._validated = self.averaged.module
            share_graph_state(self.model, self._validated)
        self.optimizer = torch.optim.Adam(
            [*self.model.parameters(), *self.degree_decoders.parameters()],
            lr=train_config.lr,
            weight_decay=train_config.weight_decay,
            # One kernel for all of Adam's updates: 3-6x faster than the per-op loop on CPU.
            fused=self.device.type in FUSED_ADAM_DEVICES,
        )
        self._parameters = list(self.model.parameters())
        # (a batch norm normalises by the batch in training and by running statistics in eval)
        self._reuse_forward = (model_config.dropout == 0 and train_config.edge_dropout == 0
                               and train_config.mask_ratio == 0 and model_config.encoder_norm == "none"
                               and self.averaged is None)
        self._forward: tuple[Any, list[int]] | None = None
        self.epoch = 0
        self.best: dict[str, float] = _unset_best()
        # Views of the validated weights (updated in place): cloned on improvement.
        self._state_views = list(self._validated.state_dict().items())
        self.best_state: dict[str, Tensor] = self._weights()
        self._best_z: Tensor | None = None

    @property
    def done(self) -> bool:
        """All epochs run, or (with patience) no validation improvement for that long."""
        if self.epoch >= self.train_config.epochs:
            return True
        patience = self.train_config.patience
        return bool(patience) and self.epoch - int(self.best["epoch"]) >= patience

    def step(self) -> dict[str, float]:
        """One epoch: train, validate, remember the best weights. Raises DivergedError on NaN."""
        started = time.perf_counter()
        loss = train_epoch(
            self.model, self.optimizer, self.x, self.message_edges, self._train_pairs, self.train_config,
            encoded=self._take_forward(), degree_decoders=list(self.degree_decoders),
        )
        if not math.isfinite(loss):
            raise DivergedError(f"loss became {loss} at epoch {self.epoch + 1}")
        if self.averaged is not None:
            self.averaged.update_parameters(self.model)
        z = (self._embed_keeping_forward() if self._reuse_forward
             else embed(self._validated, self.x, self.message_edges))
        metrics = link_metrics(self._validated.decoder, z, self.val_pos, self.val_neg)
        self.epoch += 1
        result: dict[str, float] = {"epoch": self.epoch, "loss": loss}
        result.update({f"val_{name}": metrics[name] for name in LINK_METRICS})
        if result[self.metric] > self.best[self.metric]:
            self.best = {**{name: result[name] for name in VALIDATION_METRICS}, "epoch": self.epoch}
            self.best_state = self._weights()
            self._best_z = z  # the best weights' embedding: checked for inf/NaN only when asked
        result.update({f"best_{name}": self.best[name] for name in VALIDATION_METRICS})
        result.update(best_epoch=self.best["epoch"], epoch_seconds=time.perf_counter() - started)
        return result

    def _embed_keeping_forward(self) -> Tensor:
        """The validation embedding, keeping the forward pass (with autograd) for the next
        epoch's training step.

        Without dropout the encoder is deterministic and train/eval modes agree, so the next
        epoch's forward pass would recompute exactly this; one pass serves both.
        """
        self.model.train()
        encoded = self.model.encoder(self.x, self.message_edges)
        self._forward = (encoded, [p._version for p in self._parameters])
        return (encoded[0] if isinstance(encoded, tuple) else encoded).detach()

    def _take_forward(self) -> Tensor | tuple[Tensor, Tensor] | None:
        """The kept forward pass, if the weights have not changed since (else None)."""
        kept, self._forward = self._forward, None
        if kept is None or kept[1] != [p._version for p in self._parameters]:
            return None
        return kept[0]

    def best_is_finite(self) -> bool:
        """Whether the best-validation weights exist and embed every node finitely.

        Validation scores from inf/NaN embeddings still rank into an AUC (NaN sorts last), so
        the epoch right before a NaN loss can look like the best: such a "best" must not count.
        Checks the embedding validation already computed (after a restore: one forward pass).
        """
        if not self.best["epoch"]:
            return False
        z = self._best_z if self._best_z is not None else self.best_embedding()
        return bool(torch.isfinite(z).all())

    def best_embedding(self) -> Tensor:
        """Node embeddings (mu for a VGAE) of the best-validation weights on the training graph.

        Equals ``embed(self.best_model(), split.x, split.train_edge_index)`` but reuses this
        trainer's prepared (sparse, normalised) inputs: a few ms instead of a dense forward pass.
        """
        model = build_model(self.model_config, inputs_normalized=True).to(self.device)
        model.load_state_dict(self.best_state)
        return embed(model, self.x, self.message_edges)

    def best_model(self) -> GAE:
        """A fresh (uncached) model holding the best-validation weights, in eval mode."""
        model = build_model(self.model_config).to(self.device)
        model.load_state_dict(self.best_state)
        return model.eval()

    def _weights(self) -> dict[str, Tensor]:
        return {k: v.clone() for k, v in self._state_views}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this run exactly where it is (tensors + plain values)."""
        return {
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "best": dict(self.best),
            "best_state": self.best_state,
            "rng": self.generator.get_state(),  # the run's own stream (see __init__)
            "degree_decoders": self.degree_decoders.state_dict(),  # empty without degree_loss
            **({"averaged": self.averaged.state_dict()} if self.averaged is not None else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._forward = None
        self.epoch = int(state["epoch"])
        self.model.load_state_dict(state["model"])
        self.degree_decoders.load_state_dict(state.get("degree_decoders", {}))  # older checkpoints: none
        self.optimizer.load_state_dict(state["optimizer"])
        if self.averaged is not None:
            self.averaged.load_state_dict(state["averaged"])
        self.best = {**_unset_best(), **state["best"]}  # checkpoints from before Hits/MRR lack them
        self.best_state = copy.copy(state["best_state"])
        self._best_z = None
        self.generator.set_state(state["rng"])


def share_graph_state(source: torch.nn.Module, copy_of_source: torch.nn.Module) -> None:
    """Make a copy of a model read the original's cached graph operators and attached training
    graph (the same edges give the same operators) instead of building a second set."""
    for original, copied in zip(source.modules(), copy_of_source.modules(), strict=True):
        if isinstance(original, GCNEncoder):
            copied.share_caches(original)
        elif isinstance(original, NCNDecoder):
            copied.share_graph(original)


def _unset_best() -> dict[str, float]:
    """The best-so-far record before any epoch: every validation metric below its range."""
    return {**{name: -1.0 for name in VALIDATION_METRICS}, "epoch": 0}


def score_test_edges(model: GAE, split: LinkSplit, device: torch.device | str = "cpu",
                     test_graph: str = "train") -> dict[str, float]:
    """Every test metric (``test_auc``, ``test_mrr``, ``test_hits@K``...) of a trained model:
    call once, for the selected model only. ``test_graph`` (``rules.TEST_GRAPHS``): the links the
    encoder and a graph-reading decoder read, the training edges or those plus the validation ones."""
    if split.test_pos is None or split.test_neg is None:
        raise ValueError("this split carries no test edges (a search trial's copy).")
    device = torch.device(device)
    metrics = validation_metrics(
        model.to(device),
        split.x.to(device),
        split.known_edge_index(test_graph).to(device),
        split.test_pos.to(device),
        split.test_neg.to(device),
    )
    return {f"test_{name}": metrics[name] for name in LINK_METRICS}


def train(
    split: LinkSplit,
    model_config: ModelConfig,
    train_config: TrainConfig,
    *,
    device: torch.device | str = "cpu",
    metric: str = "val_auc",
    on_epoch: Any = None,
    test_graph: str = "train",
) -> tuple[RunResult, GAE]:
    """Train for ``train_config.epochs``, select on validation, test the selected weights once
    (on ``test_graph``'s links: see ``score_test_edges``)."""
    started = time.perf_counter()
    trainer = Trainer(split, model_config, train_config, device=device, metric=metric)
    history = []
    while not trainer.done:
        row = trainer.step()
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
    model = trainer.best_model()
    tested = score_test_edges(model, split, trainer.device, test_graph) if split.test_pos is not None else {}
    result = RunResult(
        val_auc=trainer.best["val_auc"],
        val_ap=trainer.best["val_ap"],
        test_auc=tested.get("test_auc"),
        test_ap=tested.get("test_ap"),
        best_epoch=int(trainer.best["epoch"]),
        epochs=trainer.epoch,
        seconds=time.perf_counter() - started,
        split_hash=split.split_hash,
        history=history,
        metrics={**{name: trainer.best[name] for name in VALIDATION_METRICS}, **tested},
    )
    return result, model
