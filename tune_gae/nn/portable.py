"""The trained GCN encoder in plain torch ops, saved as a ``torch.export`` program: a bundle file
that runs with torch alone (no tune-gae, no PyG) and unpickles no code.

``torch.jit`` is deprecated (torch 2.9+), so a bundle's portable encoder is an ExportedProgram
saved with ``torch.export.save`` (a ``.pt2`` zip archive: the graph as JSON, weights as raw
bytes). Anyone with torch loads it with ``torch.export.load(path).module()``; the number of
nodes and edges are dynamic, so it embeds any graph with the trained feature width.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from tune_gae.errors import TuneGAEError

if TYPE_CHECKING:
    from tune_gae.config import ModelConfig

__all__ = [
    "PORTABLE_ATOL",
    "PORTABLE_FORMAT",
    "PortableEncoder",
    "export_encoder",
    "pickled_members",
    "write_portable_encoder",
]

# The portable encoder must reproduce the model's embeddings to this tolerance (float32 sums).
PORTABLE_ATOL = 1e-4
PORTABLE_FORMAT = "torch.export program (.pt2 archive)"
# The example graph the program is traced on: small, so the archive's saved sample inputs stay
# small, and of sizes other than 0 and 1 (torch.export specialises those).
_EXAMPLE_NODES = 3
_EXAMPLE_EDGES = 4


class _GCNLayer(torch.nn.Module):
    """One GCN layer, ``g = A_hat @ (h @ W^T) + b``, as a gather and an ``index_add``; with ``hops`` > 1
    ``mean_k(A_hat^(k-1) g)`` over k = 1..hops (GCNEncoder's last layer); then ``offset`` (a folded
    batch norm's shift, which comes after the propagation)."""

    def __init__(self, weight: Tensor, bias: Tensor, offset: Tensor | None = None, hops: int = 1) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(weight.detach().clone(), requires_grad=False)
        self.bias = torch.nn.Parameter(bias.detach().clone(), requires_grad=False)
        self.offset = torch.nn.Parameter((torch.zeros_like(bias) if offset is None else offset).detach().clone(),
                                         requires_grad=False)
        self.hops = hops

    def forward(self, h: Tensor, src: Tensor, dst: Tensor, norm: Tensor) -> Tensor:
        hop = self._propagate(torch.nn.functional.linear(h, self.weight), src, dst, norm) + self.bias
        total = hop
        for _ in range(self.hops - 1):
            hop = self._propagate(hop, src, dst, norm)
            total = total + hop
        return (total if self.hops == 1 else total / self.hops) + self.offset

    @staticmethod
    def _propagate(h: Tensor, src: Tensor, dst: Tensor, norm: Tensor) -> Tensor:
        return torch.zeros_like(h).index_add(0, dst, h.index_select(0, src) * norm.unsqueeze(-1))


class PortableEncoder(torch.nn.Module):
    """The trained GCN encoder in plain torch ops: ``(raw x, edge_index) -> mu``.

    tune_gae's encoder uses sparse autograd functions that do not export, so this re-states the
    same maths (Kipf & Welling's ``D^-1/2 (A + I) D^-1/2`` propagation, PyG's
    ``NormalizeFeatures``) with the exported weights; export checks that it reproduces the
    model's embeddings. No shape depends on the data (existing self loops get weight 0 rather
    than being filtered out), so one program serves every graph size. Inference only.
    """

    def __init__(self, layers: list[tuple[Tensor, Tensor, Tensor]], *, normalize_input: bool,
                 embedding_norm: float = 0.0, members: int = 1, embedding_activation: str = "none",
                 hops: int = 1) -> None:
        super().__init__()
        self.embedding_norm = embedding_norm
        self.elu = embedding_activation == "elu"  # GCNEncoder.activation, after the (folded) batch norm
        self.members = members  # a seed ensemble's members, as one block-diagonal stack of layers
        self.hidden = torch.nn.ModuleList([_GCNLayer(w, b + offset) for w, b, offset in layers[:-1]])
        self.out = _GCNLayer(*layers[-1], hops=hops)
        self.normalize_input = normalize_input

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        x = x.to(self.out.weight.dtype)
        if self.normalize_input:
            x = x - x.min()
            x = x / x.sum(dim=-1, keepdim=True).clamp(min=1.0)
        num_nodes = x.size(0)
        src, dst = edge_index[0], edge_index[1]
        loops = torch.arange(num_nodes, dtype=edge_index.dtype, device=edge_index.device)
        # Existing self loops count 0; every node gets one unit self loop (GCNConv's add_self_loops).
        weight = torch.cat([(src != dst).to(x.dtype), torch.ones(num_nodes, dtype=x.dtype, device=x.device)])
        src = torch.cat([src, loops])
        dst = torch.cat([dst, loops])
        degree = torch.zeros(num_nodes, dtype=x.dtype, device=x.device).index_add(0, dst, weight)
        inv_sqrt = degree.pow(-0.5)
        norm = inv_sqrt[src] * inv_sqrt[dst] * weight
        h = x
        for layer in self.hidden:
            h = layer(h, src, dst, norm).relu()
        z = self.out(h, src, dst, norm)
        if self.elu:
            z = torch.nn.functional.elu(z)
        blocks = z.view(num_nodes, self.members, -1)  # one block of columns per ensemble member
        if self.embedding_norm:  # GCNEncoder.embedding_norm: each member's row rescaled to this length
            blocks = self.embedding_norm * torch.nn.functional.normalize(blocks, dim=-1)
        return (blocks * self.members**-0.5).reshape(num_nodes, -1)  # EnsembleEncoder's scaling

    @classmethod
    def from_state_dict(cls, config: ModelConfig, state: dict[str, Tensor]) -> PortableEncoder:
        """Built from a bundle's ``model.pt`` (PyG's ``GCNConv`` layout: ``lin.weight``, ``bias``)."""
        depth = 0 if config.encoder == "linear" else len(config.hidden_channels)
        names = [f"hidden.{i}" for i in range(depth)] + ["conv_mu"]
        prefixes = ["encoder."] if config.ensemble == 1 else [f"encoder.members.{m}." for m in range(config.ensemble)]
        layers = []
        for i, name in enumerate(names):
            folded = [_fold_batch_norm(state, prefix, name, i, config.encoder_norm == "batch") for prefix in prefixes]
            # Members share the input: the first layer stacks their weights; later layers see only
            # their own member's columns (block-diagonal), so the stack computes each member alone.
            weights = [weight for weight, _, _ in folded]
            weight = torch.cat(weights) if i == 0 else torch.block_diag(*weights)
            layers.append((weight, torch.cat([bias for _, bias, _ in folded]), torch.cat([off for _, _, off in folded])))
        return cls(layers, normalize_input=config.normalize_features, embedding_norm=config.embedding_norm,
                   members=config.ensemble, embedding_activation=config.embedding_activation,
                   hops=config.propagation_hops)


def _fold_batch_norm(state: dict[str, Tensor], prefix: str, name: str, layer: int,
                     normed: bool) -> tuple[Tensor, Tensor, Tensor]:
    """A GCN layer's ``(weight, bias, offset)``, with its batch norm (eval mode) folded in when ``normed``:
    ``BN(P(A h W^T + b)) = P(A h (s W)^T + s b) + beta - s mean``, ``s = gamma / sqrt(var + eps)``, for
    any linear propagation ``P`` that keeps columns apart (the identity, or propagation_hops' mean of hops)."""
    weight, bias = state[f"{prefix}{name}.lin.weight"], state[f"{prefix}{name}.bias"]
    if not normed:
        return weight, bias, torch.zeros_like(bias)
    from tune_gae.nn.encoders import BATCH_NORM_EPS

    norm = f"{prefix}norms.{layer}."
    scale = state[f"{norm}weight"] / torch.sqrt(state[f"{norm}running_var"] + BATCH_NORM_EPS)
    return weight * scale.unsqueeze(-1), bias * scale, state[f"{norm}bias"] - state[f"{norm}running_mean"] * scale


def export_encoder(encoder: PortableEncoder) -> torch.export.ExportedProgram:
    """``encoder`` as an ExportedProgram whose node and edge counts are dynamic."""
    in_channels = encoder.hidden[0].weight.size(1) if len(encoder.hidden) else encoder.out.weight.size(1)
    example_x = torch.zeros(_EXAMPLE_NODES, in_channels, dtype=encoder.out.weight.dtype)
    example_edges = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]], dtype=torch.long)
    assert example_edges.size(1) == _EXAMPLE_EDGES
    nodes = torch.export.Dim("num_nodes", min=1)
    edges = torch.export.Dim("num_edges", min=0)
    return torch.export.export(
        encoder.eval(), (example_x, example_edges),
        dynamic_shapes={"x": {0: nodes}, "edge_index": {1: edges}}, strict=False,
    )


def write_portable_encoder(
    path: Path, config: ModelConfig, weights: dict[str, Tensor], x: Tensor, edge_index: Tensor, embeddings: Tensor
) -> str:
    """Export the encoder, check it reproduces ``embeddings`` on ``(x, edge_index)``, save it.

    Returns a one-line note for the model card. The program is traced on a tiny example graph
    and checked on the real one, so a size baked into it would fail here, not at a user's.
    """
    program = export_encoder(PortableEncoder.from_state_dict(config, weights))
    with torch.no_grad():
        got = program.module()(x, edge_index)
    if got.shape != embeddings.shape or not torch.allclose(got, embeddings, atol=PORTABLE_ATOL, rtol=1e-4):
        worst = (got - embeddings).abs().max().item() if got.shape == embeddings.shape else float("inf")
        raise TuneGAEError(
            f"the exported encoder does not reproduce the model's embeddings (max difference {worst:.3g}): "
            f"the encoder changed its maths; update tune_gae.nn.portable.PortableEncoder."
        )
    torch.export.save(program, path)
    pickled = pickled_members(path)
    if pickled:  # torch pickles only tensor subclasses and script objects; ours are plain tensors
        path.unlink()
        raise TuneGAEError(f"the exported encoder would hold pickled objects ({', '.join(pickled)}): not written.")
    worst = (got - embeddings).abs().max().item()
    return f"{PORTABLE_FORMAT}; reproduces embeddings.pt to {worst:.1e}"


def pickled_members(path: Path) -> list[str]:
    """Members of a ``.pt2`` archive that ``torch.export.load`` would unpickle beyond plain tensors.

    Weights and constants flagged ``use_pickle`` (or stored in the legacy pickled ``.pt`` form)
    are read with ``weights_only=False``; sample inputs fall back to it when a plain-tensor read
    fails. An empty list means loading the archive runs no pickled code.
    """
    found: list[str] = []
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            parts = name.split("/")
            if name.endswith("_config.json") and "data" in parts:
                entries = json.loads(archive.read(name)).get("config", {})
                found += [f"{name}:{key}" for key, meta in entries.items()
                          if meta.get("use_pickle") or not str(meta.get("path_name", "")).startswith(("weight_", "tensor_"))]
            elif name.endswith(".pt") and ("weights" in parts or "constants" in parts):
                found.append(name)  # the legacy format: one pickled state_dict
            elif "sample_inputs" in parts:
                try:
                    torch.load(io.BytesIO(archive.read(name)), weights_only=True)
                except Exception:  # noqa: BLE001 - any failure means torch would retry with full unpickling
                    found.append(name)
    return found
