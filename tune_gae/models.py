"""GCN encoders (plain and variational) composed into PyG's GAE / VGAE.

Kipf & Welling, "Variational Graph Auto-Encoders" (2016): a GCN encoder, an inner-product
decoder. The linear encoder is Salha et al.'s one-hop linear GAE (2020).
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.nn import GAE, VGAE, GCNConv

from tune_gae.config import ModelConfig


def normalize_features(x: Tensor) -> Tensor:
    """PyG's ``NormalizeFeatures``: shift to non-negative, then rows sum to one (at least 1)."""
    x = x - x.min()
    return x / x.sum(dim=-1, keepdim=True).clamp(min=1.0)


class GCNEncoder(torch.nn.Module):
    """GCN layers of the given hidden widths, then a GCN layer (or two: mu, logstd) to latent."""

    def __init__(
        self,
        in_channels: int,
        hidden_channels: tuple[int, ...],
        latent_channels: int,
        *,
        dropout: float = 0.0,
        variational: bool = False,
        cached: bool = False,
        normalize_input: bool = False,
    ) -> None:
        super().__init__()
        self.normalize_input = normalize_input
        widths = [in_channels, *hidden_channels]
        self.hidden = torch.nn.ModuleList(
            GCNConv(a, b, cached=cached) for a, b in zip(widths[:-1], widths[1:])
        )
        self.dropout = dropout
        self.variational = variational
        self.conv_mu = GCNConv(widths[-1], latent_channels, cached=cached)
        self.conv_logstd = (
            GCNConv(widths[-1], latent_channels, cached=cached) if variational else None
        )

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        if self.normalize_input:
            x = normalize_features(x)
        for conv in self.hidden:
            x = torch.nn.functional.dropout(x, self.dropout, self.training)
            x = conv(x, edge_index).relu()
        x = torch.nn.functional.dropout(x, self.dropout, self.training)
        mu = self.conv_mu(x, edge_index)
        if self.conv_logstd is None:
            return mu
        return mu, self.conv_logstd(x, edge_index)


def build_model(config: ModelConfig, *, cached: bool = False, inputs_normalized: bool = False) -> GAE:
    """``GAE`` or ``VGAE`` around a GCN encoder, as the config says; it takes raw features.

    Training-only switches (same weights either way): ``cached=True`` caches the GCN
    normalisation of the first graph seen (a fixed graph only); ``inputs_normalized=True``
    skips feature normalisation because the caller did it once up front.
    """
    hidden = () if config.encoder == "linear" else config.hidden_channels
    variational = config.model == "vgae"
    encoder = GCNEncoder(
        config.in_channels,
        hidden,
        config.latent_channels,
        dropout=config.dropout,
        variational=variational,
        cached=cached,
        normalize_input=config.normalize_features and not inputs_normalized,
    )
    return VGAE(encoder) if variational else GAE(encoder)


@torch.no_grad()
def embed(model: GAE, x: Tensor, edge_index: Tensor) -> Tensor:
    """Node embeddings in eval mode (mu for a VGAE)."""
    was_training = model.training
    model.eval()
    z = model.encode(x, edge_index)
    model.train(was_training)
    return z
