"""MaskGAE's degree decoder: a training-only head that regresses each node's degree from its embedding.

Li et al., KDD 2023 (EdisonLeeeee/MaskGAE, ``maskgae/model.py``, ``DegreeDecoder`` and
``MaskGAE.train_epoch``): an MLP over ``z`` (the edge decoder's layers, width and dropout; ReLU
after every layer, the output's included) is fitted by mean squared error to each node's degree
counted over the edges the loss reconstructs (the masked ones), and ``alpha`` times that error is
added to the link loss (``alpha = 2e-3`` there). It shapes the encoder only: a bundle keeps no
degree head (``TrainConfig.degree_loss``).
"""
from __future__ import annotations

import torch
from torch import Tensor

from tune_gae.config import ModelConfig
from tune_gae.nn.decoders import _MLP

__all__ = ["DegreeDecoder", "reconstructed_degree"]


class DegreeDecoder(torch.nn.Module):
    """``ReLU(MLP(z))``: one non-negative degree estimate per node."""

    def __init__(self, channels: int, *, layers: int, width: int, dropout: float) -> None:
        super().__init__()
        self.mlp = _MLP(channels, width, 1, layers=layers, dropout=dropout, norm="none", final_activation=True)

    @classmethod
    def for_model(cls, config: ModelConfig) -> DegreeDecoder:
        """Shaped as MaskGAE shapes it: the learned edge decoder's layers, width and dropout
        (``ModelConfig``'s decoder defaults for an inner-product model), over one member's embedding."""
        return cls(config.latent_channels, layers=config.decoder_layers, width=config.decoder_width,
                   dropout=config.decoder_dropout)

    @property
    def generator(self) -> torch.Generator | None:
        return self.mlp.generator

    @generator.setter
    def generator(self, generator: torch.Generator | None) -> None:
        self.mlp.generator = generator

    def forward(self, z: Tensor) -> Tensor:
        return self.mlp(z).squeeze(-1)

    def loss(self, z: Tensor, target: Tensor) -> Tensor:
        """Mean squared error of the estimates against ``target`` (``reconstructed_degree``)."""
        return torch.nn.functional.mse_loss(self(z), target)


def reconstructed_degree(pairs: Tensor, num_nodes: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Each node's degree in the undirected graph of ``pairs`` ``[2, P]`` (each edge listed once):
    an edge counts once at each end. MaskGAE masks each direction of its doubled edge list and counts
    the masked edges' targets, the same count in expectation."""
    return torch.bincount(pairs.reshape(-1), minlength=num_nodes).to(dtype)
