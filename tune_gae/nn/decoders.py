"""Link scorers (decoders): node pairs in, logits out, composed as PyG's ``GAE(encoder, decoder)``.

One interface for every decoder: ``logits(z, pairs)`` for pairs ``[2, P]``, and PyG's
``forward(z, edge_index, sigmoid=True)`` on top of it, so ``GAE.decode`` works unchanged. A decoder
that reads the graph (``ncn``) is given the TRAINING graph once with ``attach_graph``; the loss,
the metrics, ``predict``, the model card and the portable scorer all call this interface.

- ``inner_product``: ``z_u . z_v`` (Kipf & Welling 2016; PyG's ``InnerProductDecoder``).
- ``hadamard_mlp``: an MLP over ``z_u * z_v`` (MaskGAE's edge decoder, Li et al., KDD 2023,
  ``maskgae/model.py``; the tuned-GAE decoder of Ma et al. 2024, arXiv 2411.03845).
- ``ncn``: Neural Common Neighbour (Wang et al., ICLR 2024, ``CNLinkPredictor``):
  ``MLP_out(beta * MLP_cn(sum_{w in N(u) & N(v)} c_w z_w) + MLP_ij(z_u * z_v), heuristics)``, the
  common neighbours taken from the training graph only. ``c_w`` is 1 (NCN), ``1 / log deg w``
  (Adamic-Adar) or ``1 / deg w`` (resource allocation), and the pair's common-neighbour count,
  Adamic-Adar and resource-allocation scores enter the output layer as three more inputs, so the
  decoder can at least learn what those heuristics know. A pair's own edge never counts towards its
  own common neighbours (neither end is its own neighbour), so scoring a training edge sees what
  scoring a held-out edge sees.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch_geometric.nn.models.autoencoder import InnerProductDecoder

from tune_gae.config import ModelConfig
from tune_gae.nn.pairs import score_pairs
from tune_gae.nn.sparse import SparseOperator, _csr

__all__ = [
    "CommonNeighbours",
    "EnsembleDecoder",
    "HadamardMLPDecoder",
    "InnerProduct",
    "NCNDecoder",
    "build_decoder",
    "decoder_members",
    "is_inner_product",
]

# Pair sets whose common neighbours a graph keeps (by tensor object): validation/test positives and
# negatives and the training positives are scored every epoch; sampled negatives are new each time.
PAIR_CACHE_SIZE = 6
HEURISTIC_INPUTS = 3  # log(1 + common neighbours), Adamic-Adar, resource allocation


class InnerProduct(InnerProductDecoder):
    """``z_u . z_v``: PyG's ``InnerProductDecoder`` with the shared ``logits`` interface."""

    def logits(self, z: Tensor, pairs: Tensor) -> Tensor:
        return score_pairs(z, pairs)

    def logits_of(self, z: Tensor, pair_sets: list[Tensor]) -> list[Tensor]:
        return [score_pairs(z, pairs) for pairs in pair_sets]

    def attach_graph(self, edge_index: Tensor, num_nodes: int) -> None:
        """Nothing to attach: the inner product reads the embeddings alone."""


class CommonNeighbours:
    """The training graph's common neighbours of node pairs, as a sparse ``[P, N]`` operator.

    Row ``p`` holds ``c_w`` for each common neighbour ``w`` of pair ``p``; ``operator @ z`` is the
    weighted sum of their embeddings (autograd flows into ``z``). The heuristics come alongside.
    """

    def __init__(self, edge_index: Tensor, num_nodes: int) -> None:
        from scipy.sparse import coo_matrix

        src, dst = edge_index[0].cpu().numpy(), edge_index[1].cpu().numpy()
        keep = src != dst
        adjacency = coo_matrix((np.ones(int(keep.sum()), dtype=np.float32), (src[keep], dst[keep])),
                               shape=(num_nodes, num_nodes)).tocsr()
        adjacency.data[:] = 1.0  # duplicates count once
        adjacency = (adjacency + adjacency.T).tocsr()  # undirected, whatever direction the list gave
        adjacency.data[:] = 1.0
        self.adjacency = adjacency
        self.num_nodes = num_nodes
        degree = np.asarray(adjacency.sum(axis=1)).ravel()
        with np.errstate(divide="ignore"):
            self.node_weights = {
                "count": np.ones(num_nodes, dtype=np.float32),
                # A common neighbour has degree >= 2, so log(degree) > 0 wherever it is used.
                "adamic_adar": np.where(degree > 1, 1.0 / np.log(np.maximum(degree, 2)), 0.0).astype(np.float32),
                "resource_allocation": np.where(degree > 0, 1.0 / np.maximum(degree, 1), 0.0).astype(np.float32),
            }
        # (the pairs tensor, kept alive so its memory is not reused, its key, the result)
        self._cache: list[tuple[Tensor, tuple, tuple[SparseOperator, Tensor]]] = []

    def of(self, pairs: Tensor, weighting: str) -> tuple[SparseOperator, Tensor]:
        """``(operator [P, N] of c_w, heuristics [P, 3])`` for pairs ``[2, P]``.

        Cached by the pairs' memory (a view of the same pairs hits too): the fixed pair sets
        (training positives, validation and test pairs) are intersected once per run.
        """
        key = (pairs.data_ptr(), tuple(pairs.shape), pairs.stride(), weighting)
        for i, (_, seen, value) in enumerate(self._cache):
            if seen == key:
                if i:
                    self._cache.insert(0, self._cache.pop(i))
                return value
        value = self._compute(pairs, weighting)
        self._cache.insert(0, (pairs, key, value))
        del self._cache[PAIR_CACHE_SIZE:]
        return value

    def _compute(self, pairs: Tensor, weighting: str) -> tuple[SparseOperator, Tensor]:
        u, v = pairs[0].cpu().numpy(), pairs[1].cpu().numpy()
        common = self.adjacency[u].multiply(self.adjacency[v]).tocsr()  # 1 where w is a common neighbour
        common.sort_indices()
        heuristics = np.stack([
            np.log1p(np.asarray(common.sum(axis=1)).ravel()),
            common @ self.node_weights["adamic_adar"],
            common @ self.node_weights["resource_allocation"],
        ], axis=1).astype(np.float32)
        values = self.node_weights[weighting][common.indices]
        device = pairs.device
        matrix = _csr(torch.from_numpy(common.indptr.astype(np.int64)).to(device),
                      torch.from_numpy(common.indices.astype(np.int64)).to(device),
                      torch.from_numpy(values).to(device), (len(u), self.num_nodes))
        return SparseOperator(matrix), torch.from_numpy(heuristics).to(device)


def _norm(kind: str, width: int) -> torch.nn.Module:
    if kind == "batch":
        return torch.nn.BatchNorm1d(width)
    if kind == "layer":
        return torch.nn.LayerNorm(width)
    return torch.nn.Identity()


class _MLP(torch.nn.Module):
    """``layers`` linear layers (the hidden ones ``width`` wide: linear, norm, ReLU, dropout)."""

    def __init__(self, in_channels: int, width: int, out_channels: int, *, layers: int, dropout: float,
                 norm: str, final_activation: bool = False) -> None:
        super().__init__()
        dims = [in_channels, *([width] * (layers - 1)), out_channels]
        self.lins = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.norms = torch.nn.ModuleList(_norm(norm, w) for w in dims[1:-1])
        self.dropout = dropout
        self.final_activation = final_activation
        self.generator: torch.Generator | None = None

    def forward(self, h: Tensor) -> Tensor:
        for lin, norm in zip(self.lins[:-1], self.norms):
            h = _dropout(norm(lin(h)).relu(), self.dropout, self.training, self.generator)
        h = self.lins[-1](h)
        return h.relu() if self.final_activation else h


def _dropout(h: Tensor, p: float, training: bool, generator: torch.Generator | None) -> Tensor:
    """Inverted dropout, from the run's own stream when it has one (as the encoder's)."""
    if not training or p <= 0:
        return h
    if generator is None:
        return torch.nn.functional.dropout(h, p, True)
    keep = torch.empty_like(h).bernoulli_(1.0 - p, generator=generator)
    return h * keep / (1.0 - p)


class _GraphFree(torch.nn.Module):
    """PyG's decoder calls over ``logits``; ``generator`` reaches every dropout."""

    def forward(self, z: Tensor, edge_index: Tensor, sigmoid: bool = True) -> Tensor:
        logits = self.logits(z, edge_index)
        return torch.sigmoid(logits) if sigmoid else logits

    def attach_graph(self, edge_index: Tensor, num_nodes: int) -> None:
        """Nothing to attach: this decoder reads the embeddings alone."""

    @property
    def generator(self) -> torch.Generator | None:
        return next((m.generator for m in self.modules() if isinstance(m, _MLP)), None)

    @generator.setter
    def generator(self, generator: torch.Generator | None) -> None:
        for module in self.modules():
            if isinstance(module, _MLP):
                module.generator = generator

    def logits(self, z: Tensor, pairs: Tensor) -> Tensor:
        return self.logits_of(z, [pairs])[0]

    def logits_of(self, z: Tensor, pair_sets: list[Tensor]) -> list[Tensor]:
        """Logits of several pair sets scored as ONE batch (a batch norm sees positives and
        negatives together, as in training; each set's graph features stay cached)."""
        inputs = [self.pair_inputs(z, pairs) for pairs in pair_sets]
        joined = tuple(torch.cat(parts) for parts in zip(*inputs))
        return list(self.score(*joined).split([int(p.size(-1)) for p in pair_sets]))

    def pair_inputs(self, z: Tensor, pairs: Tensor) -> tuple[Tensor, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def score(self, *inputs: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class HadamardMLPDecoder(_GraphFree):
    """``MLP(z_u * z_v)``: MaskGAE's edge decoder (128 -> 64 -> 1 there: ``layers=2, width=64``)."""

    def __init__(self, channels: int, *, layers: int, width: int, dropout: float, norm: str) -> None:
        super().__init__()
        self.mlp = _MLP(channels, width, 1, layers=layers, dropout=dropout, norm=norm)

    def pair_inputs(self, z: Tensor, pairs: Tensor) -> tuple[Tensor, ...]:
        return (z.index_select(0, pairs[0]) * z.index_select(0, pairs[1]),)

    def score(self, hadamard: Tensor) -> Tensor:  # type: ignore[override]
        return self.mlp(hadamard).squeeze(-1)


class NCNDecoder(_GraphFree):
    """Neural Common Neighbour over the attached training graph (see the module docstring)."""

    def __init__(self, channels: int, *, layers: int, width: int, dropout: float, norm: str,
                 weighting: str) -> None:
        super().__init__()
        self.weighting = weighting
        hidden = max(1, layers - 1)  # the branches' depth; the output layer comes on top
        self.pair_mlp = _MLP(channels, width, width, layers=hidden, dropout=dropout, norm=norm)
        self.common_mlp = _MLP(channels, width, width, layers=hidden, dropout=dropout, norm=norm)
        self.beta = torch.nn.Parameter(torch.ones(1))
        self.out = _MLP(width + HEURISTIC_INPUTS, width, 1, layers=2, dropout=dropout, norm="none")
        self.graph: CommonNeighbours | None = None
        self._graph_key: tuple[Tensor, int] | None = None

    def attach_graph(self, edge_index: Tensor, num_nodes: int) -> None:
        """Score pairs on this graph from now on (the training graph; built once per tensor)."""
        if self._graph_key is not None and self._graph_key[0] is edge_index and self._graph_key[1] == num_nodes:
            return
        self.graph = CommonNeighbours(edge_index, num_nodes)
        self._graph_key = (edge_index, num_nodes)

    def share_graph(self, other: NCNDecoder) -> None:
        """Use ``other``'s attached graph (an ensemble's members share one)."""
        self.graph, self._graph_key = other.graph, other._graph_key

    def pair_inputs(self, z: Tensor, pairs: Tensor) -> tuple[Tensor, ...]:
        if self.graph is None:
            raise RuntimeError("the ncn decoder scores pairs on a graph: call attach_graph(training edges) first.")
        operator, heuristics = self.graph.of(pairs, self.weighting)
        hadamard = z.index_select(0, pairs[0]) * z.index_select(0, pairs[1])
        return operator @ z, hadamard, heuristics.to(z.dtype)

    def score(self, common: Tensor, hadamard: Tensor, heuristics: Tensor) -> Tensor:  # type: ignore[override]
        joined = self.beta * self.common_mlp(common) + self.pair_mlp(hadamard)
        return self.out(torch.cat([joined, heuristics], dim=-1)).squeeze(-1)


class EnsembleDecoder(_GraphFree):
    """A seed ensemble's decoders, one per member: a pair's logit is the members' mean, each member
    scoring its own block of the ensemble's embedding (``encoders.member_blocks``)."""

    def __init__(self, members: list[torch.nn.Module]) -> None:
        super().__init__()
        self.members = torch.nn.ModuleList(members)

    def attach_graph(self, edge_index: Tensor, num_nodes: int) -> None:
        first = self.members[0]
        first.attach_graph(edge_index, num_nodes)
        for member in self.members[1:]:
            if isinstance(member, NCNDecoder) and isinstance(first, NCNDecoder):
                member.share_graph(first)
            else:
                member.attach_graph(edge_index, num_nodes)

    def logits_of(self, z: Tensor, pair_sets: list[Tensor]) -> list[Tensor]:
        from tune_gae.nn.encoders import member_blocks

        blocks = member_blocks(z, len(self.members))
        scored = [d.logits_of(b, pair_sets) for d, b in zip(self.members, blocks)]
        return [torch.stack(per_member).mean(dim=0) for per_member in zip(*scored)]


def decoder_members(decoder: torch.nn.Module) -> list[torch.nn.Module]:
    """The decoder of each ensemble member (``[decoder]`` for a single model)."""
    return list(decoder.members) if isinstance(decoder, EnsembleDecoder) else [decoder]


def _one_decoder(config: ModelConfig) -> torch.nn.Module:
    if config.decoder == "inner_product":
        return InnerProduct()
    options = dict(layers=config.decoder_layers, width=config.decoder_width, dropout=config.decoder_dropout,
                   norm=config.decoder_norm)
    if config.decoder == "hadamard_mlp":
        return HadamardMLPDecoder(config.latent_channels, **options)
    return NCNDecoder(config.latent_channels, weighting=config.cn_weighting, **options)


def build_decoder(config: ModelConfig) -> torch.nn.Module:
    """The config's decoder; a seed ensemble with a learned decoder gets one per member.

    The inner product of an ensemble's concatenated embedding already is its members' mean score
    (``EnsembleEncoder``), so it stays one ``InnerProduct``.
    """
    if config.ensemble == 1 or config.decoder == "inner_product":
        return _one_decoder(config)
    return EnsembleDecoder([_one_decoder(config) for _ in range(config.ensemble)])


def is_inner_product(decoder: torch.nn.Module) -> bool:
    """Whether scores are plain inner products (the loss then takes its sorted-pairs fast path)."""
    return isinstance(decoder, InnerProduct)

