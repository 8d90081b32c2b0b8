"""The trained GCN encoder restated in plain torch ops, for a bundle file that loads without tune-gae."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from tune_gae.config import (
    ModelConfig,
)

if TYPE_CHECKING:

    pass


# The portable encoder must reproduce the model's embeddings to this tolerance (float32 sums).
PORTABLE_ATOL = 1e-4


# --------------------------------------------------------------------------- portable encoder


class _GCNLayer(torch.nn.Module):
    """One GCN layer, ``A_hat @ (h @ W^T) + b``, as a gather + ``index_add_`` (scriptable)."""

    def __init__(self, weight: Tensor, bias: Tensor) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(weight.detach().clone(), requires_grad=False)
        self.bias = torch.nn.Parameter(bias.detach().clone(), requires_grad=False)

    def forward(self, h: Tensor, src: Tensor, dst: Tensor, norm: Tensor) -> Tensor:
        hw = torch.nn.functional.linear(h, self.weight)
        out = torch.zeros_like(hw).index_add_(0, dst, hw.index_select(0, src) * norm.unsqueeze(-1))
        return out + self.bias


class PortableEncoder(torch.nn.Module):
    """The trained GCN encoder in plain torch ops, for TorchScript: ``(raw x, edge_index) -> mu``.

    PyG's ``GCNConv`` scripts but its saved code does not load back (torch 2.13, PyG 2.8: a
    ``SparseTensor`` branch fails type checking), and tune_gae's encoder uses sparse autograd
    functions that neither script nor trace. This re-states the same maths (Kipf & Welling's
    ``D^-1/2 (A + I) D^-1/2`` propagation, PyG's ``NormalizeFeatures``) with the exported weights;
    export checks it reproduces the model's embeddings. Inference only (no dropout).
    """

    def __init__(self, layers: list[tuple[Tensor, Tensor]], *, normalize_input: bool) -> None:
        super().__init__()
        self.hidden = torch.nn.ModuleList([_GCNLayer(w, b) for w, b in layers[:-1]])
        self.out = _GCNLayer(*layers[-1])
        self.normalize_input = normalize_input

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        x = x.to(self.out.weight.dtype)
        if self.normalize_input:
            x = x - x.min()
            x = x / x.sum(dim=-1, keepdim=True).clamp(min=1.0)
        num_nodes = x.size(0)
        src, dst = edge_index[0], edge_index[1]
        keep = src != dst  # existing self loops are replaced by one unit loop per node
        loops = torch.arange(num_nodes, dtype=edge_index.dtype, device=edge_index.device)
        src = torch.cat([src[keep], loops])
        dst = torch.cat([dst[keep], loops])
        degree = torch.zeros(num_nodes, dtype=x.dtype, device=x.device)
        degree = degree.index_add_(0, dst, torch.ones(dst.size(0), dtype=x.dtype, device=x.device))
        inv_sqrt = degree.pow(-0.5)
        norm = inv_sqrt[src] * inv_sqrt[dst]
        h = x
        for layer in self.hidden:
            h = layer(h, src, dst, norm).relu()
        return self.out(h, src, dst, norm)

    @classmethod
    def from_state_dict(cls, config: ModelConfig, state: dict[str, Tensor]) -> PortableEncoder:
        """Built from a bundle's ``model.pt`` (PyG's ``GCNConv`` layout: ``lin.weight``, ``bias``)."""
        depth = 0 if config.encoder == "linear" else len(config.hidden_channels)
        names = [f"encoder.hidden.{i}" for i in range(depth)] + ["encoder.conv_mu"]
        layers = [(state[f"{name}.lin.weight"], state[f"{name}.bias"]) for name in names]
        return cls(layers, normalize_input=config.normalize_features)
