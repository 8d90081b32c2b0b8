"""The trained decoder as a ``torch.export`` program: ``(z, pairs, edge_index) -> logits``, a bundle
file (``scorer.pt2``) that scores node pairs with torch alone (no tune-gae, no PyG, no SciPy) and
unpickles no code, for every decoder of ``tune_gae.nn.decoders``.

The MLPs are the decoder's own modules, traced in eval mode. The ncn decoder's common
neighbours come from ``edge_index`` in plain torch ops instead of SciPy (``CommonNeighbours``):
the edges, both directions, are sorted by the key ``src * N + dst``; each pair's lower-degree
end ``u`` has its neighbours expanded (``repeat_interleave``: the expansion's length, the sum of
those degrees, is a data-dependent size that ``torch.export`` keeps symbolic); each neighbour
``w`` is a common neighbour when the key ``v * N + w`` is found by ``searchsorted``; the weighted
``z_w`` are summed with ``index_add``. Memory is O(E + sum over pairs of min degree), never a
dense ``[P, N]`` matrix, so it scores pairs of graphs of any size.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from tune_gae.errors import TuneGAEError
from tune_gae.nn.decoders import (
    EnsembleDecoder,
    HadamardMLPDecoder,
    InnerProduct,
    NCNDecoder,
    build_decoder,
    decoder_members,
)
from tune_gae.nn.portable import PORTABLE_ATOL, PORTABLE_FORMAT, pickled_members

if TYPE_CHECKING:
    from tune_gae.config import ModelConfig

__all__ = [
    "PortableScorer",
    "common_neighbour_entries",
    "export_scorer",
    "write_portable_scorer",
]

DECODER_PREFIX = "decoder."
# The example the program is traced on: sizes other than 0 and 1 (torch.export specialises
# those) and all different (equal sizes could be taken for one).
_EXAMPLE_NODES = 5
_EXAMPLE_PAIRS = 3
_EXAMPLE_EDGES = 6


def common_neighbour_entries(pairs: Tensor, edge_index: Tensor, num_nodes: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The common neighbours of node pairs ``[2, P]`` on the undirected graph ``edge_index``
    (either or both directions; duplicates and self loops ignored), in plain torch ops.

    Returns ``(pair, node, is_common, degree)``: entry ``i`` says node ``node[i]`` is a common
    neighbour of pair ``pair[i]`` where ``is_common[i]`` (a float 0/1 mask over the expanded
    neighbours of each pair's lower-degree end); ``degree`` is every node's degree ``[N]``.
    """
    src = torch.cat([edge_index[0], edge_index[1]])
    dst = torch.cat([edge_index[1], edge_index[0]])
    keys, order = torch.sort(src * num_nodes + dst)
    src, dst = src.index_select(0, order), dst.index_select(0, order)
    first = torch.ones_like(keys, dtype=torch.bool)
    first[1:] = keys[1:] != keys[:-1]  # a duplicate edge counts once
    valid = first & (src != dst)
    degree = torch.zeros(num_nodes, dtype=torch.float32, device=keys.device).index_add(0, src, valid.float())
    # Where each node's neighbours start in the sorted keys (row pointers, N + 1 of them).
    starts = torch.searchsorted(keys, torch.arange(num_nodes + 1, dtype=keys.dtype, device=keys.device) * num_nodes)
    u, v = pairs[0], pairs[1]
    swap = degree.index_select(0, u) > degree.index_select(0, v)  # expand the end with fewer neighbours
    u, v = torch.where(swap, v, u), torch.where(swap, u, v)
    counts = starts.index_select(0, u + 1) - starts.index_select(0, u)
    pair = torch.repeat_interleave(torch.arange(u.size(0), device=u.device), counts)
    offsets = torch.cumsum(counts, 0) - counts
    position = (starts.index_select(0, u).index_select(0, pair) - offsets.index_select(0, pair)
                + torch.arange(pair.size(0), device=u.device))
    node = dst.index_select(0, position)
    partner = v.index_select(0, pair)
    wanted = partner * num_nodes + node
    found = torch.searchsorted(keys, wanted).clamp(max=max(keys.size(0) - 1, 0))
    hit = keys.index_select(0, found) == wanted
    is_common = valid.index_select(0, position) & hit & (partner != node)
    return pair, node, is_common.float(), degree


def _node_weights(degree: Tensor) -> dict[str, Tensor]:
    """``c_w`` of each weighting (as ``CommonNeighbours.node_weights``)."""
    return {
        "count": torch.ones_like(degree),
        "adamic_adar": torch.where(degree > 1, 1.0 / torch.log(degree.clamp(min=2)), torch.zeros_like(degree)),
        "resource_allocation": torch.where(degree > 0, 1.0 / degree.clamp(min=1), torch.zeros_like(degree)),
    }


class PortableScorer(torch.nn.Module):
    """A bundle's decoder as plain torch ops: ``(z [N, D], pairs [2, P], edge_index [2, E]) -> logits [P]``.

    ``z`` is the bundle's ``embeddings.pt`` (or the portable encoder's output); ``edge_index`` is
    the graph common neighbours are read from (the bundle's training graph, ``split.pt``'s
    ``train_edge_index``); decoders that read no graph ignore it. Inference only (eval mode).
    """

    def __init__(self, decoder: torch.nn.Module) -> None:
        """Takes ``decoder``'s modules as its own (and puts them in eval mode): pass a fresh one,
        as ``from_state_dict`` does. An ncn member's attached graph is not used: ``edge_index`` is."""
        super().__init__()
        self.ensemble = isinstance(decoder, EnsembleDecoder)
        self.members = torch.nn.ModuleList(decoder_members(decoder))
        for member in self.members:
            if not isinstance(member, (InnerProduct, HadamardMLPDecoder, NCNDecoder)):
                raise TuneGAEError(f"no portable scorer for the decoder {type(member).__name__}: "
                                   "add it to tune_gae.nn.portable_scorer.PortableScorer.")
        self.eval()

    @classmethod
    def from_state_dict(cls, config: ModelConfig, state: dict[str, Tensor]) -> PortableScorer:
        """Built from a bundle's ``model.pt`` (the ``decoder.*`` entries) and its model config."""
        decoder = build_decoder(config)
        decoder.load_state_dict({k[len(DECODER_PREFIX):]: v for k, v in state.items() if k.startswith(DECODER_PREFIX)})
        return cls(decoder)

    @property
    def reads_graph(self) -> bool:
        return any(isinstance(m, NCNDecoder) for m in self.members)

    def forward(self, z: Tensor, pairs: Tensor, edge_index: Tensor) -> Tensor:
        count = len(self.members)
        # Each ensemble member scores its own block of columns, unscaled (encoders.member_blocks).
        blocks = (z * count**0.5).chunk(count, dim=-1) if self.ensemble else (z,)
        graph = None
        if self.reads_graph:
            pair, node, is_common, degree = common_neighbour_entries(pairs, edge_index, z.size(0))
            weights = _node_weights(degree)
            size = pairs.size(1)

            def pair_sum(values: Tensor) -> Tensor:
                return torch.zeros(size, dtype=values.dtype, device=values.device).index_add(0, pair, values)

            heuristics = torch.stack([
                torch.log1p(pair_sum(is_common)),
                pair_sum(is_common * weights["adamic_adar"].index_select(0, node)),
                pair_sum(is_common * weights["resource_allocation"].index_select(0, node)),
            ], dim=1)
            graph = (pair, node, is_common, weights, heuristics)
        scores = [self._member_logits(m, b, pairs, graph) for m, b in zip(self.members, blocks)]
        return scores[0] if len(scores) == 1 else torch.stack(scores).mean(dim=0)

    @staticmethod
    def _member_logits(member: torch.nn.Module, z: Tensor, pairs: Tensor, graph: tuple | None) -> Tensor:
        hadamard = z.index_select(0, pairs[0]) * z.index_select(0, pairs[1])
        if isinstance(member, InnerProduct):
            return hadamard.sum(dim=-1)
        if isinstance(member, HadamardMLPDecoder):
            return member.score(hadamard)
        assert graph is not None
        pair, node, is_common, weights, heuristics = graph
        c = (is_common * weights[member.weighting].index_select(0, node)).to(z.dtype)
        common = torch.zeros(pairs.size(1), z.size(1), dtype=z.dtype, device=z.device).index_add(
            0, pair, z.index_select(0, node) * c.unsqueeze(-1))
        return member.score(common, hadamard, heuristics.to(z.dtype))


def export_scorer(scorer: PortableScorer, channels: int) -> torch.export.ExportedProgram:
    """``scorer`` as an ExportedProgram whose node, pair and edge counts are dynamic."""
    example_z = torch.linspace(-1.0, 1.0, _EXAMPLE_NODES * channels).view(_EXAMPLE_NODES, channels)
    example_pairs = torch.tensor([[0, 1, 2], [3, 4, 0]], dtype=torch.long)
    example_edges = torch.tensor([[0, 1, 1, 2, 3, 0], [1, 0, 2, 3, 4, 3]], dtype=torch.long)
    assert example_pairs.size(1) == _EXAMPLE_PAIRS and example_edges.size(1) == _EXAMPLE_EDGES
    nodes = torch.export.Dim("num_nodes", min=1)
    pairs = torch.export.Dim("num_pairs", min=0)
    edges = torch.export.Dim("num_edges", min=0)
    return torch.export.export(
        scorer.eval(), (example_z, example_pairs, example_edges),
        dynamic_shapes={"z": {0: nodes}, "pairs": {1: pairs}, "edge_index": {1: edges}}, strict=False,
    )


def write_portable_scorer(
    path: Path, config: ModelConfig, weights: dict[str, Tensor], z: Tensor, pairs: Tensor, edge_index: Tensor,
    logits: Tensor,
) -> str:
    """Export the decoder, check it reproduces the model's ``logits`` of ``pairs`` (on ``z`` and
    the graph ``edge_index``), save it. Returns a one-line note for the model card."""
    program = export_scorer(PortableScorer.from_state_dict(config, weights), z.size(1))
    with torch.no_grad():
        got = program.module()(z, pairs, edge_index)
    if got.shape != logits.shape or not torch.allclose(got, logits, atol=PORTABLE_ATOL, rtol=1e-4):
        worst = (got - logits).abs().max().item() if got.shape == logits.shape and got.numel() else float("inf")
        raise TuneGAEError(
            f"the exported scorer does not reproduce the model's link scores (max difference {worst:.3g}): "
            f"the decoder changed its maths; update tune_gae.nn.portable_scorer.PortableScorer."
        )
    torch.export.save(program, path)
    pickled = pickled_members(path)
    if pickled:
        path.unlink()
        raise TuneGAEError(f"the exported scorer would hold pickled objects ({', '.join(pickled)}): not written.")
    worst = (got - logits).abs().max().item() if got.numel() else 0.0
    return f"{PORTABLE_FORMAT}; reproduces the model's logits of {got.numel()} validation pairs to {worst:.1e}"
