"""One training run in plain torch: no Ray, no files.

``Trainer`` owns the model, optimiser and the best-validation weights; ``step()`` runs one epoch
(train + validation) and returns its metrics. The ``train`` command and the Ray trainable both
drive it; its ``state_dict`` is what a checkpoint holds.
"""
from __future__ import annotations

import copy
import math
import time
from typing import Any

import torch
from torch import Tensor
from torch_geometric.nn import GAE, VGAE
from torch_geometric.nn.models.autoencoder import EPS

from tune_gae.config import ModelConfig, RunResult, TrainConfig
from tune_gae.data import LinkSplit
from tune_gae.metrics import auc_ap
from tune_gae.models import build_model, embed, encode_from, prepare_features

METRICS = ("val_auc", "val_ap")
FUSED_ADAM_DEVICES = ("cpu", "cuda")
# PairSet beats autograd's scatter-add from this many pairs on, whatever the embedding width, or,
# for embeddings at least WIDE_EMBEDDING wide, from this many pairs x width (measured on CPU:
# 4,488 pairs x 256: 4.1 ms instead of 8.7 ms for the loss and its gradient; x 16: slower).
SORTED_PAIRS_MIN = 20_000
WIDE_EMBEDDING = 64
SORTED_PAIR_ENTRIES_MIN = 250_000
PAIR_CHUNK = 1 << 15  # pairs per gather: temporaries stay in cache and off the page-fault path


class DivergedError(RuntimeError):
    """The loss became NaN or infinite: this configuration cannot be trained further."""


def pick_device(requested: str = "auto") -> torch.device:
    """CUDA when requested or (``auto``) when one is visible, else CPU."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def sample_negatives(num_nodes: int, count: int, device: torch.device) -> Tensor:
    """Uniform random node pairs without self loops.

    Unlike PyG's ``negative_sampling`` this does not reject true edges: on sparse graphs
    (Cora: density 0.14 %) a collision is rare noise, and skipping the check keeps it O(count).
    """
    src = torch.randint(0, num_nodes, (count,), device=device)
    shift = torch.randint(1, num_nodes, (count,), device=device)
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
) -> float:
    """One optimisation step on the training graph; returns the loss.

    ``encoded``: the encoder's output for the current weights, computed with autograd (see
    ``Trainer.step``); the forward pass is then skipped. Only valid without any dropout.
    """
    model.train()
    optimizer.zero_grad(set_to_none=True)
    if encoded is not None:
        z = encode_from(model, encoded)
    else:
        edge_weight = None
        if config.edge_dropout > 0:
            # message_edges is [pairs, pairs flipped]: drop both directions of an edge together.
            # Zero weights rather than a new edge list: the model keeps its cached graph structure.
            keep = torch.rand(message_edges.size(1) // 2, device=x.device) >= config.edge_dropout
            edge_weight = keep.repeat(2).to(x.dtype)
        z = model.encode(x, message_edges, edge_weight)
    num_pos = train_pos.count if isinstance(train_pos, PairSet) else train_pos.size(1)
    neg = prepare_pairs(sample_negatives(x.size(0), config.neg_ratio * num_pos, x.device), x.size(0), z.size(1))
    loss = recon_loss(z, train_pos, neg)
    if isinstance(model, VGAE) and config.kl_weight > 0:
        loss = loss + config.kl_weight / x.size(0) * model.kl_loss()
    loss.backward()
    loss = loss.detach()
    optimizer.step()
    return loss.item()


@torch.no_grad()
def evaluate(model: GAE, x: Tensor, message_edges: Tensor, pos: Tensor, neg: Tensor) -> dict[str, float]:
    """AUC and AP of inner-product scores for the given positive and negative pairs."""
    return link_metrics(embed(model, x, message_edges), pos, neg)


def link_metrics(z: Tensor, pos: Tensor, neg: Tensor) -> dict[str, float]:
    """AUC and AP of the embeddings' inner products for positive and negative pairs."""
    return auc_ap(score_pairs(z, pos), score_pairs(z, neg))


def score_pairs(z: Tensor, pairs: Tensor) -> Tensor:
    """Inner-product logits of node pairs ``[2, P]``."""
    # index_select, not z[idx]: its backward is an index_add, much cheaper than index_put.
    return (z.index_select(0, pairs[0]) * z.index_select(0, pairs[1])).sum(dim=-1)


class PairSet:
    """Node pairs ``[2, P]`` sorted for fast inner-product scores on large graphs.

    The backward pass of ``z[u] . z[v]`` scatters gradients into ``z``: a scatter-add per side,
    slow past ~1e4 pairs. Here the pairs are sorted by ``u`` once (and a second order by ``v``
    kept), so the gradient is two ``embedding_bag`` sums over sorted segments: 3-5x faster at
    1e5-1e6 pairs. Scores come back in the sorted order (the loss is a mean: order-free).
    """

    def __init__(self, pairs: Tensor, num_nodes: int) -> None:
        order = torch.argsort(_sort_key(pairs[0], num_nodes))
        u, v = pairs[0].index_select(0, order), pairs[1].index_select(0, order)
        self.pairs = torch.stack([u, v])
        self.num_nodes = num_nodes
        self._u_offsets = _offsets(u, num_nodes)
        self._v_order = torch.argsort(_sort_key(v, num_nodes))
        self._v_offsets = _offsets(v, num_nodes)
        self._v_partners = u.index_select(0, self._v_order)

    @property
    def count(self) -> int:
        return self.pairs.size(1)

    def scores(self, z: Tensor) -> Tensor:
        return _PairScores.apply(z, self)

    def gradient(self, z: Tensor, grad: Tensor) -> Tensor:
        """d(sum_k grad_k * z[u_k] . z[v_k]) / dz."""
        bag = torch.nn.functional.embedding_bag
        at_u = bag(self.pairs[1], z, self._u_offsets, mode="sum", per_sample_weights=grad,
                   include_last_offset=True)
        at_v = bag(self._v_partners, z, self._v_offsets, mode="sum",
                   per_sample_weights=grad.index_select(0, self._v_order),
                   include_last_offset=True)
        return at_u + at_v


class _PairScores(torch.autograd.Function):
    """``z[u] . z[v]`` for a PairSet's pairs, gathered in chunks; gradient via ``PairSet.gradient``."""

    @staticmethod
    def forward(ctx: Any, z: Tensor, pair_set: PairSet) -> Tensor:
        ctx.save_for_backward(z)
        ctx.pair_set = pair_set
        u, v = pair_set.pairs[0], pair_set.pairs[1]
        out = z.new_empty(u.numel())
        for start in range(0, u.numel(), PAIR_CHUNK):
            end = start + PAIR_CHUNK
            torch.sum(z.index_select(0, u[start:end]) * z.index_select(0, v[start:end]), dim=-1, out=out[start:end])
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, None]:
        (z,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None
        return ctx.pair_set.gradient(z, grad.contiguous()), None


def _sort_key(index: Tensor, num_nodes: int) -> Tensor:
    return index.to(torch.int32) if num_nodes < 2**31 else index


def _offsets(index: Tensor, num_nodes: int) -> Tensor:
    offsets = index.new_zeros(num_nodes + 1)
    offsets[1:] = torch.cumsum(torch.bincount(index, minlength=num_nodes), 0)
    return offsets


def prepare_pairs(pairs: Tensor, num_nodes: int, width: int) -> Tensor | PairSet:
    """``pairs`` as a PairSet when, for embeddings ``width`` wide, sorting them pays off."""
    count = pairs.size(1)
    wide = width >= WIDE_EMBEDDING and count * width >= SORTED_PAIR_ENTRIES_MIN
    return PairSet(pairs, num_nodes) if count >= SORTED_PAIRS_MIN or wide else pairs


def recon_loss(z: Tensor, pos: Tensor | PairSet, neg: Tensor | PairSet) -> Tensor:
    """``GAE.recon_loss(z, pos, neg)``: binary cross-entropy of the pairs' inner products."""
    if isinstance(pos, Tensor) and isinstance(neg, Tensor):  # small: one gather for both
        probs = torch.sigmoid(score_pairs(z, torch.cat([pos, neg], dim=1)))
        pos_probs, neg_probs = probs[: pos.size(1)], probs[pos.size(1) :]
    else:
        pos_probs, neg_probs = (
            torch.sigmoid(p.scores(z) if isinstance(p, PairSet) else score_pairs(z, p)) for p in (pos, neg)
        )
    pos_loss = -torch.log(pos_probs + EPS).mean()
    neg_loss = -torch.log(1 - neg_probs + EPS).mean()
    return pos_loss + neg_loss


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
        torch.manual_seed(train_config.seed)
        # Normalised once; CSR when mostly zeros (the first layer then runs sparse).
        self.x = prepare_features(split.x.to(self.device), normalize=model_config.normalize_features)
        # The same tensor every epoch: the model caches its normalised adjacency by identity.
        self.message_edges = split.train_edge_index.to(self.device)
        self.train_pos = split.train_pos.to(self.device)
        # Sorted once if large.
        self._train_pairs = prepare_pairs(self.train_pos, split.num_nodes, model_config.latent_channels)
        self.val_pos = split.val_pos.to(self.device)
        self.val_neg = split.val_neg.to(self.device)
        self.model = build_model(model_config, cached=True, inputs_normalized=True).to(self.device)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(),
            lr=train_config.lr,
            weight_decay=train_config.weight_decay,
            # One kernel for all of Adam's updates: 3-6x faster than the per-op loop on CPU.
            fused=self.device.type in FUSED_ADAM_DEVICES,
        )
        self._parameters = list(self.model.parameters())
        self._reuse_forward = model_config.dropout == 0 and train_config.edge_dropout == 0
        self._forward: tuple[Any, list[int]] | None = None
        self.epoch = 0
        self.best: dict[str, float] = {"val_auc": -1.0, "val_ap": -1.0, "epoch": 0}
        # Views of the live weights (optimiser steps update them in place): cloned on improvement.
        self._state_views = list(self.model.state_dict().items())
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
            encoded=self._take_forward(),
        )
        if not math.isfinite(loss):
            raise DivergedError(f"loss became {loss} at epoch {self.epoch + 1}")
        z = self._embed_keeping_forward() if self._reuse_forward else embed(self.model, self.x, self.message_edges)
        metrics = link_metrics(z, self.val_pos, self.val_neg)
        self.epoch += 1
        result = {"epoch": self.epoch, "loss": loss, "val_auc": metrics["auc"], "val_ap": metrics["ap"]}
        if result[self.metric] > self.best[self.metric]:
            self.best = {"val_auc": result["val_auc"], "val_ap": result["val_ap"], "epoch": self.epoch}
            self.best_state = self._weights()
            self._best_z = z  # the best weights' embedding: checked for inf/NaN only when asked
        result.update(
            best_val_auc=self.best["val_auc"],
            best_val_ap=self.best["val_ap"],
            best_epoch=self.best["epoch"],
            epoch_seconds=time.perf_counter() - started,
        )
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
            "rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._forward = None
        self.epoch = int(state["epoch"])
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.best = dict(state["best"])
        self.best_state = copy.copy(state["best_state"])
        self._best_z = None
        torch.set_rng_state(state["rng"])


def test_metrics(model: GAE, split: LinkSplit, device: torch.device | str = "cpu") -> dict[str, float]:
    """Test AUC/AP of a trained model: call once, for the selected model only."""
    if split.test_pos is None or split.test_neg is None:
        raise ValueError("this split carries no test edges (a search trial's copy).")
    device = torch.device(device)
    metrics = evaluate(
        model.to(device),
        split.x.to(device),
        split.train_edge_index.to(device),
        split.test_pos.to(device),
        split.test_neg.to(device),
    )
    return {"test_auc": metrics["auc"], "test_ap": metrics["ap"]}


def train(
    split: LinkSplit,
    model_config: ModelConfig,
    train_config: TrainConfig,
    *,
    device: torch.device | str = "cpu",
    metric: str = "val_auc",
    on_epoch: Any = None,
) -> tuple[RunResult, GAE]:
    """Train for ``train_config.epochs``, select on validation, test the selected weights once."""
    started = time.perf_counter()
    trainer = Trainer(split, model_config, train_config, device=device, metric=metric)
    history = []
    while not trainer.done:
        row = trainer.step()
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
    model = trainer.best_model()
    tested = test_metrics(model, split, trainer.device) if split.test_pos is not None else {}
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
    )
    return result, model
