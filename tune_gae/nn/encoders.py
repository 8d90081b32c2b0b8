"""GCN encoders (plain and variational) composed into PyG's GAE / VGAE.

Kipf & Welling, "Variational Graph Auto-Encoders" (2016): a GCN encoder, an inner-product
decoder. The linear encoder is Salha et al.'s one-hop linear GAE (2020).

Each layer computes what PyG's ``GCNConv`` computes (its weights live in ``GCNConv`` modules, so
checkpoints keep PyG's layout), but as sparse-dense products: the symmetric-normalised adjacency
``D^-1/2 (A + I) D^-1/2`` is built once per graph as a CSR matrix, and bag-of-words features
(Cora: 98.7 % zeros) enter the first layer as a CSR matrix too. Products (and their backward
passes, ``M^T @ grad``) run as weighted ``embedding_bag`` sums over CSR rows. On CPU this is
5-20x faster than dense ``x @ W`` plus scatter-based message passing.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor
from torch_geometric.nn import GAE, VGAE, GCNConv
from torch_geometric.nn.models.autoencoder import MAX_LOGSTD

from tune_gae.config import ModelConfig
from tune_gae.nn.decoders import build_decoder
from tune_gae.nn.sparse import (
    GCNGraph,
    SparseOperator,
    _csr_rows,
    _dense_to_csr,
    _with_values,
)

# Features with at most this share of non-zeros enter the first layer as a CSR matrix: a
# sparse-dense product costs about 2-3x a dense one per non-zero on CPU, so this keeps a margin.
SPARSE_FEATURES_MAX_DENSITY = 0.25
BATCH_NORM_EPS = 1e-5  # the encoder's batch norms' epsilon (torch's default; the portable encoder folds it)
GRAPH_CACHE_SIZE = 2  # graphs an encoder keeps (by edge_index tensor), most recent first


def normalize_features(x: Tensor) -> Tensor:
    """PyG's ``NormalizeFeatures``: shift to non-negative, then rows sum to one (at least 1).

    A CSR matrix stays CSR (and keeps its sparsity) unless it has negative entries.
    """
    if x.layout == torch.sparse_csr:
        return _normalize_sparse_features(x)
    x = x - x.min()
    return x / x.sum(dim=-1, keepdim=True).clamp(min=1.0)


def _normalize_sparse_features(x: Tensor) -> Tensor:
    values = x.values()
    low = values.min() if values.numel() else values.new_zeros(())
    if values.numel() < x.size(0) * x.size(1):
        low = low.clamp(max=0.0)  # implicit zeros take part in the minimum
    if low < 0:
        return normalize_features(x.to_dense())  # the shift fills every implicit zero
    values = values - low
    rows = _csr_rows(x)
    sums = torch.zeros(x.size(0), dtype=values.dtype, device=values.device).index_add_(0, rows, values)
    return _with_values(x, values / sums.clamp(min=1.0)[rows])


def prepare_features(x: Tensor, *, normalize: bool) -> Tensor:
    """The encoder input for repeated use: CSR when mostly zeros, then normalised (once)."""
    if x.layout == torch.strided and x.dim() == 2 and x.numel() > 0:
        density = torch.count_nonzero(x).item() / x.numel()
        if density <= SPARSE_FEATURES_MAX_DENSITY:
            x = _dense_to_csr(x)  # before normalising: no dense temporaries of x's size
    return normalize_features(x) if normalize else x


# --------------------------------------------------------------------------- encoder


class GCNEncoder(torch.nn.Module):
    """GCN layers of the given hidden widths, then a GCN layer (or two: mu, logstd) to latent.

    Takes dense or CSR features. The ``GCNConv`` modules hold the weights; the forward pass
    uses them through sparse-dense products (see the module docstring).
    """

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
        embedding_norm: float = 0.0,
        norm: str = "none",
        activation: str = "none",
        hops: int = 1,
    ) -> None:
        super().__init__()
        # hops > 1: the last layer's output g (bias included) and A_hat g, ... averaged over hops (_last_layer).
        self.hops = hops
        self.normalize_input = normalize_input
        # activation="elu": the embedding goes through an ELU after its batch norm (MaskGAE's encoder).
        self.activation = activation
        self.embedding_norm = embedding_norm
        widths = [in_channels, *hidden_channels]
        self.hidden = torch.nn.ModuleList(GCNConv(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.dropout = dropout
        self.variational = variational
        self.cached = cached
        self.conv_mu = GCNConv(widths[-1], latent_channels)
        self.conv_logstd = GCNConv(widths[-1], latent_channels) if variational else None
        # norm="batch": a batch norm after every layer, the embedding's (a VGAE's mu) included, as
        # MaskGAE's encoder has (Li et al., KDD 2023); whole-graph batches, running statistics in eval.
        self.norms = (torch.nn.ModuleList(torch.nn.BatchNorm1d(w, eps=BATCH_NORM_EPS) for w in [*hidden_channels, latent_channels])
                      if norm == "batch" else None)
        # The training run's own random stream for dropout (Trainer sets it); None: torch's global one.
        self.generator: torch.Generator | None = None
        # (tensor, its _version, operator): graphs and sparse features seen, most recent first.
        self._graphs: list[tuple[Tensor, int, GCNGraph]] = []
        self._features: list[tuple[Tensor, SparseOperator]] = []

    def forward(
        self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None
    ) -> Tensor | tuple[Tensor, Tensor]:
        return self.encode_inputs(*self.inputs(x, edge_index, edge_weight))

    def share_caches(self, other: GCNEncoder) -> None:
        """Read (and fill) ``other``'s cached graph operators and sparse features: they depend on
        the inputs only, so a copy of the same model (a weight average) needs no second set."""
        self._graphs, self._features = other._graphs, other._features

    def inputs(
        self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None
    ) -> tuple[Tensor | SparseOperator, SparseOperator]:
        """The first layer's input (sparse features as an operator) and the normalised adjacency."""
        if self.normalize_input:
            x = normalize_features(x)
        adjacency = self._graph(edge_index, x.size(0), x.dtype).operator(edge_weight)
        return (self._sparse_features(x) if x.layout == torch.sparse_csr else x), adjacency

    def encode_inputs(
        self, h: Tensor | SparseOperator, adjacency: SparseOperator
    ) -> Tensor | tuple[Tensor, Tensor]:
        """The layers over ``inputs``' output: the embedding (a VGAE: mu and logstd)."""
        for i, conv in enumerate(self.hidden):
            h = self._normed(i, self._layer(self._dropout(h), conv.lin.weight, conv.bias, adjacency)).relu()
        h = self._dropout(h)
        if self.conv_logstd is None:
            return self._embedding(self._last_layer(h, self.conv_mu.lin.weight, self.conv_mu.bias, adjacency))
        # mu and logstd share their input: one product with both weight matrices side by side.
        weight = torch.cat([self.conv_mu.lin.weight, self.conv_logstd.lin.weight])
        bias = torch.cat([self.conv_mu.bias, self.conv_logstd.bias])
        out = self._last_layer(h, weight, bias, adjacency)
        latent = self.conv_mu.lin.weight.size(0)
        return self._embedding(out[:, :latent]), out[:, latent:]

    def _embedding(self, h: Tensor) -> Tensor:
        """The last layer's output as the embedding: batch norm, activation, rescaling (each if set)."""
        h = self._normed(-1, h)
        if self.activation == "elu":
            h = torch.nn.functional.elu(h)
        return self._rescale(h)

    def _normed(self, layer: int, h: Tensor) -> Tensor:
        """``h`` through the layer's batch norm (unchanged without ``norm="batch"``)."""
        return h if self.norms is None else self.norms[layer](h)

    def _rescale(self, z: Tensor) -> Tensor:
        """Each row to length ``embedding_norm`` (unchanged when 0): a scaled-cosine decoder."""
        if not self.embedding_norm:
            return z
        return self.embedding_norm * torch.nn.functional.normalize(z, dim=-1)

    def _layer(self, h: Tensor | SparseOperator, weight: Tensor, bias: Tensor, adjacency: SparseOperator) -> Tensor:
        """``GCNConv``: ``A_hat @ (h @ W^T) + b``, multiplying in the cheaper order."""
        if isinstance(h, SparseOperator):
            return adjacency @ (h @ weight.t()) + bias
        if weight.size(1) < weight.size(0):  # widening layer: propagate the narrower input
            return torch.nn.functional.linear(adjacency @ h, weight, bias)
        return adjacency @ torch.nn.functional.linear(h, weight) + bias

    def _last_layer(self, h: Tensor | SparseOperator, weight: Tensor, bias: Tensor,
                    adjacency: SparseOperator) -> Tensor:
        """The embedding's layer ``g = _layer(h)``; with ``hops`` > 1 ``mean_k(A_hat^(k-1) g)``, k = 1..hops."""
        hop = self._layer(h, weight, bias, adjacency)
        total = hop
        for _ in range(self.hops - 1):
            hop = adjacency @ hop
            total = total + hop
        return total if self.hops == 1 else total / self.hops

    def _dropout(self, h: Tensor | SparseOperator) -> Tensor | SparseOperator:
        if not (self.training and self.dropout > 0):
            return h
        if isinstance(h, SparseOperator):  # implicit zeros stay zero, as in dense dropout
            return h.with_values(self._drop(h.matrix.values()))
        return self._drop(h)

    def _drop(self, t: Tensor) -> Tensor:
        """Inverted dropout, drawn from ``self.generator`` when the run has its own stream."""
        if self.generator is None:
            return torch.nn.functional.dropout(t, self.dropout, True)
        keep = torch.empty_like(t).bernoulli_(1.0 - self.dropout, generator=self.generator)
        return t * keep / (1.0 - self.dropout)

    def _graph(self, edge_index: Tensor, num_nodes: int, dtype: torch.dtype) -> GCNGraph:
        # Tensor._version (torch's in-place counter, private): an edited edge list is a new graph.
        # tests/test_models.py::test_cached_graph_is_keyed_by_the_edge_tensor fails if it stops counting.
        for i, (seen, version, graph) in enumerate(self._graphs):
            if (
                seen is edge_index
                and version == edge_index._version
                and graph.num_nodes == num_nodes
                and graph.dtype == dtype
            ):
                if i:
                    self._graphs.insert(0, self._graphs.pop(i))
                return graph
        graph = GCNGraph(edge_index, num_nodes, dtype=dtype)
        if self.cached:
            self._graphs.insert(0, (edge_index, edge_index._version, graph))
            del self._graphs[GRAPH_CACHE_SIZE:]
        return graph

    def _sparse_features(self, x: Tensor) -> SparseOperator:
        for seen, operator in self._features:
            if seen is x:
                return operator
        operator = SparseOperator(x)
        self._features[:] = [(x, operator)]  # one feature matrix per model
        return operator


class EnsembleEncoder(torch.nn.Module):
    """A seed ensemble: ``GCNEncoder`` members, each initialised from its own draws and trained on
    its own loss (``member_blocks``), side by side.

    A node's embedding is the members' embeddings concatenated and scaled by ``1/sqrt(M)``, so the
    inner product of two nodes is the MEAN of the members' inner products: still an inner-product
    decoder over one embedding per node. For a VGAE, logstd is shifted by ``log(1/sqrt(M))``
    so that a sample is the members' samples concatenated and scaled alike.
    """

    def __init__(self, members: list[GCNEncoder]) -> None:
        super().__init__()
        self.members = torch.nn.ModuleList(members)
        self.variational = members[0].variational

    @property
    def generator(self) -> torch.Generator | None:
        return self.members[0].generator

    @generator.setter
    def generator(self, generator: torch.Generator | None) -> None:
        for member in self.members:  # one stream, drawn by each member in turn
            member.generator = generator

    def forward(
        self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None
    ) -> Tensor | tuple[Tensor, Tensor]:
        # One input and one normalised adjacency for all: the members differ in weights only.
        h, adjacency = self.members[0].inputs(x, edge_index, edge_weight)
        outputs = [member.encode_inputs(h, adjacency) for member in self.members]
        scale = len(self.members) ** -0.5
        if self.variational:
            mu = torch.cat([mu for mu, _ in outputs], dim=-1) * scale
            return mu, torch.cat([logstd for _, logstd in outputs], dim=-1) + math.log(scale)
        return torch.cat(outputs, dim=-1) * scale


def ensemble_size(model: GAE) -> int:
    """How many members the model's encoder holds (1: a single encoder)."""
    return len(model.encoder.members) if isinstance(model.encoder, EnsembleEncoder) else 1


def build_model(config: ModelConfig, *, cached: bool = False, inputs_normalized: bool = False) -> GAE:
    """``GAE`` or ``VGAE`` composing a GCN encoder and the config's decoder (``nn.decoders``); it
    takes raw features. A decoder that reads the graph needs ``model.decoder.attach_graph(...)``.

    Training-only switches (same weights either way): ``cached=True`` keeps the normalised
    adjacency of the graphs it is given (keyed by the ``edge_index`` tensor object, so pass the
    same tensor each epoch); ``inputs_normalized=True`` skips feature normalisation because the
    caller did it once up front (see ``prepare_features``).
    """
    hidden = () if config.encoder == "linear" else config.hidden_channels
    variational = config.model == "vgae"
    members = [
        GCNEncoder(
            config.in_channels,
            hidden,
            config.latent_channels,
            dropout=config.dropout,
            variational=variational,
            cached=cached,
            normalize_input=config.normalize_features and not inputs_normalized,
            embedding_norm=config.embedding_norm,
            norm=config.encoder_norm,
            activation=config.embedding_activation,
            hops=config.propagation_hops,
        )
        for _ in range(config.ensemble)
    ]
    encoder = members[0] if config.ensemble == 1 else EnsembleEncoder(members)
    decoder = build_decoder(config)
    return VGAE(encoder, decoder) if variational else GAE(encoder, decoder)


def encode_from(model: GAE, encoded: Tensor | tuple[Tensor, Tensor]) -> Tensor:
    """What ``model.encode`` returns once its encoder gave ``encoded`` (PyG's ``GAE``/``VGAE.encode``).

    For a VGAE: clamp logstd, keep mu/logstd for ``kl_loss``, sample z (mu in eval mode), from the
    encoder's own random stream when it has one (``GCNEncoder.generator``).
    """
    if isinstance(model, VGAE):
        mu, logstd = encoded
        model.__mu__, model.__logstd__ = mu, logstd.clamp(max=MAX_LOGSTD)
        generator = getattr(model.encoder, "generator", None)
        if model.training and generator is not None:
            noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            return mu + noise * torch.exp(model.__logstd__)
        return model.reparametrize(model.__mu__, model.__logstd__)
    return encoded


@torch.no_grad()
def embed(model: GAE, x: Tensor, edge_index: Tensor) -> Tensor:
    """Node embeddings in eval mode (mu for a VGAE)."""
    was_training = model.training
    model.eval()
    z = model.encode(x, edge_index)
    model.train(was_training)
    return z
