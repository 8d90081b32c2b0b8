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

from tune_gae.config import ModelConfig, RunResult, TrainConfig
from tune_gae.data import LinkSplit
from tune_gae.metrics import auc_ap
from tune_gae.models import build_model, embed, normalize_features

METRICS = ("val_auc", "val_ap")


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
    train_pos: Tensor,
    config: TrainConfig,
) -> float:
    """One optimisation step on the training graph; returns the loss."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    if config.edge_dropout > 0:
        keep = torch.rand(message_edges.size(1) // 2, device=x.device) >= config.edge_dropout
        half = message_edges[:, : message_edges.size(1) // 2][:, keep]
        message_edges = torch.cat([half, half.flip(0)], dim=1)
    z = model.encode(x, message_edges)
    neg = sample_negatives(x.size(0), config.neg_ratio * train_pos.size(1), x.device)
    loss = model.recon_loss(z, train_pos, neg)
    if isinstance(model, VGAE) and config.kl_weight > 0:
        loss = loss + config.kl_weight / x.size(0) * model.kl_loss()
    loss.backward()
    loss = loss.detach()
    optimizer.step()
    return loss.item()


@torch.no_grad()
def evaluate(model: GAE, x: Tensor, message_edges: Tensor, pos: Tensor, neg: Tensor) -> dict[str, float]:
    """AUC and AP of inner-product scores for the given positive and negative pairs."""
    z = embed(model, x, message_edges)
    return auc_ap(score_pairs(z, pos), score_pairs(z, neg))


def score_pairs(z: Tensor, pairs: Tensor) -> Tensor:
    """Inner-product logits of node pairs ``[2, P]``."""
    return (z[pairs[0]] * z[pairs[1]]).sum(dim=-1)


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
        x = split.x.to(self.device)
        self.x = normalize_features(x) if model_config.normalize_features else x
        self.message_edges = split.train_edge_index.to(self.device)
        self.train_pos = split.train_pos.to(self.device)
        self.val_pos = split.val_pos.to(self.device)
        self.val_neg = split.val_neg.to(self.device)
        cached = train_config.edge_dropout == 0
        self.model = build_model(model_config, cached=cached, inputs_normalized=True).to(self.device)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=train_config.lr, weight_decay=train_config.weight_decay
        )
        self.epoch = 0
        self.best: dict[str, float] = {"val_auc": -1.0, "val_ap": -1.0, "epoch": 0}
        self.best_state: dict[str, Tensor] = self._weights()

    @property
    def done(self) -> bool:
        return self.epoch >= self.train_config.epochs

    def step(self) -> dict[str, float]:
        """One epoch: train, validate, remember the best weights. Raises DivergedError on NaN."""
        started = time.perf_counter()
        loss = train_epoch(
            self.model, self.optimizer, self.x, self.message_edges, self.train_pos, self.train_config
        )
        if not math.isfinite(loss):
            raise DivergedError(f"loss became {loss} at epoch {self.epoch + 1}")
        metrics = evaluate(self.model, self.x, self.message_edges, self.val_pos, self.val_neg)
        self.epoch += 1
        result = {"epoch": self.epoch, "loss": loss, "val_auc": metrics["auc"], "val_ap": metrics["ap"]}
        if result[self.metric] > self.best[self.metric]:
            self.best = {"val_auc": result["val_auc"], "val_ap": result["val_ap"], "epoch": self.epoch}
            self.best_state = self._weights()
        result.update(
            best_val_auc=self.best["val_auc"],
            best_val_ap=self.best["val_ap"],
            best_epoch=self.best["epoch"],
            epoch_seconds=time.perf_counter() - started,
        )
        return result

    def best_model(self) -> GAE:
        """A fresh (uncached) model holding the best-validation weights, in eval mode."""
        model = build_model(self.model_config).to(self.device)
        model.load_state_dict(self.best_state)
        return model.eval()

    def _weights(self) -> dict[str, Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

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
        self.epoch = int(state["epoch"])
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.best = dict(state["best"])
        self.best_state = copy.copy(state["best_state"])
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
