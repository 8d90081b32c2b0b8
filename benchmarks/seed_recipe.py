"""The baseline: PyG's ``examples/autoencoder.py`` (GAE/VGAE on Planetoid), as functions.

A faithful copy of that script's data pipeline, models and loops, so the benchmark can time it
and compare its metrics at equal hyperparameters:

- ``T.NormalizeFeatures()`` then ``T.RandomLinkSplit(num_val=0.05, num_test=0.1,
  is_undirected=True, split_labels=True, add_negative_train_samples=False)``;
- a GCN encoder ``GCNConv(in, 2*out) -> relu -> GCNConv(2*out, out)`` (the width ``2*out`` is
  a parameter here so the search benchmark can run other widths), ``GAE``/``VGAE`` around it;
- Adam(lr=0.01); each epoch ``train()`` (``recon_loss`` with PyG's ``negative_sampling``,
  ``+ 1/N * kl_loss`` for VGAE) then ``test()`` (``GAE.test``: scikit-learn on numpy).

Differences from the script, all in the baseline's favour or neutral: ``GCNConv(cached=True)``
(the script recomputes the GCN normalisation every call); a seed; no printing; the per-epoch
evaluation runs on the validation edges (the script evaluates -- and so selects on -- the
test edges every epoch; same cost).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
import torch_geometric.transforms as T
from torch_geometric.data import Data
from torch_geometric.datasets import Planetoid
from torch_geometric.nn import GAE, VGAE, GCNConv


class GCNEncoder(torch.nn.Module):
    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, cached: bool) -> None:
        super().__init__()
        self.conv1 = GCNConv(in_channels, hidden_channels, cached=cached)
        self.conv2 = GCNConv(hidden_channels, out_channels, cached=cached)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x, edge_index).relu()
        return self.conv2(x, edge_index)


class VariationalGCNEncoder(torch.nn.Module):
    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, cached: bool) -> None:
        super().__init__()
        self.conv1 = GCNConv(in_channels, hidden_channels, cached=cached)
        self.conv_mu = GCNConv(hidden_channels, out_channels, cached=cached)
        self.conv_logstd = GCNConv(hidden_channels, out_channels, cached=cached)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.conv1(x, edge_index).relu()
        return self.conv_mu(x, edge_index), self.conv_logstd(x, edge_index)


def transform() -> T.Compose:
    return T.Compose([
        T.NormalizeFeatures(),
        T.RandomLinkSplit(num_val=0.05, num_test=0.1, is_undirected=True,
                          split_labels=True, add_negative_train_samples=False),
    ])


def load_data(root: str | Path, name: str, *, seed: int) -> tuple[Data, Data, Data]:
    """``Planetoid(root/Planetoid, name, transform=...)[0]``: (train, val, test) of one random split."""
    torch.manual_seed(seed)
    dataset = Planetoid(str(Path(root) / "Planetoid"), name, transform=transform())
    return dataset[0]


def split_graph(data: Data, *, seed: int) -> tuple[Data, Data, Data]:
    """The same transform applied to any graph (``x``, ``edge_index``): for synthetic graphs."""
    torch.manual_seed(seed)
    return transform()(Data(x=data.x, edge_index=data.edge_index, num_nodes=data.num_nodes))


class SeedRecipe:
    """One model of the script with its optimiser; ``train()`` and ``test()`` are the script's."""

    def __init__(
        self,
        train_data: Data,
        *,
        hidden: int = 32,
        latent: int = 16,
        variational: bool = False,
        lr: float = 0.01,
        cached: bool = True,
        seed: int = 0,
    ) -> None:
        torch.manual_seed(seed)
        self.train_data = train_data
        self.variational = variational
        in_channels = train_data.num_features
        if variational:
            self.model: GAE = VGAE(VariationalGCNEncoder(in_channels, hidden, latent, cached))
        else:
            self.model = GAE(GCNEncoder(in_channels, hidden, latent, cached))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)

    def train(self) -> float:
        model, data = self.model, self.train_data
        model.train()
        self.optimizer.zero_grad()
        z = model.encode(data.x, data.edge_index)
        loss = model.recon_loss(z, data.pos_edge_label_index)
        if self.variational:
            loss = loss + (1 / data.num_nodes) * model.kl_loss()
        loss.backward()
        self.optimizer.step()
        return float(loss)

    @torch.no_grad()
    def test(self, data: Data) -> tuple[float, float]:
        model = self.model
        model.eval()
        z = model.encode(data.x, data.edge_index)
        return model.test(z, data.pos_edge_label_index, data.neg_edge_label_index)


def run(
    root: str | Path,
    name: str,
    *,
    epochs: int,
    hidden: int = 32,
    latent: int = 16,
    variational: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """The whole script once (data loading included): final-epoch test AUC/AP and seconds."""
    started = time.perf_counter()
    train_data, val_data, test_data = load_data(root, name, seed=seed)
    recipe = SeedRecipe(train_data, hidden=hidden, latent=latent, variational=variational, seed=seed)
    for _ in range(epochs):
        recipe.train()
        recipe.test(val_data)
    auc, ap = recipe.test(test_data)
    return {"test_auc": float(auc), "test_ap": float(ap), "seconds": time.perf_counter() - started}
