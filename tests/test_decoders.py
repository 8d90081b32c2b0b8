"""The decoders (``tune_gae.nn.decoders``): each logit against a hand computation, the common
neighbours against a brute-force set intersection, the training graph as the only graph."""
from __future__ import annotations

import math

import pytest
import torch

from tune_gae.config import DataConfig, ModelConfig, TrainConfig
from tune_gae.data.split import LinkSplit, load_split
from tune_gae.nn.decoders import (
    CommonNeighbours,
    EnsembleDecoder,
    HadamardMLPDecoder,
    NCNDecoder,
    build_decoder,
)
from tune_gae.nn.portable_scorer import common_neighbour_entries
from tune_gae.rules import CN_WEIGHTINGS
from tune_gae.train.trainer import Trainer, validation_metrics

NODES = 12
# Both directions, a duplicate (0-1 twice), a self loop (3-3) and an isolated node (11).
EDGES = torch.tensor([
    [0, 1, 0, 0, 2, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9, 1, 4, 0, 10, 3],
    [1, 0, 2, 3, 3, 2, 4, 4, 5, 5, 6, 7, 8, 9, 10, 3, 1, 1, 4, 3],
])
# Edges, non-edges, a pair with itself, pairs with the isolated node.
PAIRS = torch.tensor([
    [0, 1, 2, 3, 0, 4, 5, 6, 11, 0, 3, 10, 2],
    [1, 3, 5, 0, 4, 0, 7, 8, 0, 11, 3, 3, 2],
])


def _neighbours() -> list[set[int]]:
    found: list[set[int]] = [set() for _ in range(NODES)]
    for a, b in EDGES.t().tolist():
        if a != b:
            found[a].add(b)
            found[b].add(a)
    return found


def _weight(weighting: str, degree: int) -> float:
    """c_w by hand: 1, 1 / log deg, 1 / deg."""
    return {"count": 1.0, "adamic_adar": 1 / math.log(degree) if degree > 1 else 0.0,
            "resource_allocation": 1 / degree if degree else 0.0}[weighting]


def _brute_force(z: torch.Tensor, weighting: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of c_w z_w over the common neighbours of each pair, and [log(1 + CN), AA, RA]."""
    nb = _neighbours()
    sums, heuristics = [], []
    for u, v in PAIRS.t().tolist():
        common = nb[u] & nb[v]
        sums.append(sum((_weight(weighting, len(nb[w])) * z[w] for w in common), torch.zeros(z.size(1))))
        heuristics.append([math.log1p(len(common)), sum(_weight("adamic_adar", len(nb[w])) for w in common),
                           sum(_weight("resource_allocation", len(nb[w])) for w in common)])
    return torch.stack(sums), torch.tensor(heuristics)


def _set_weights(module: torch.nn.Module, seed: int = 0) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for value in module.parameters():
            value.copy_(torch.randn(value.shape, generator=generator) * 0.5)


@pytest.mark.parametrize("weighting", CN_WEIGHTINGS)
def test_common_neighbours_equal_a_brute_force_set_intersection(weighting: str) -> None:
    z = torch.randn(NODES, 3, generator=torch.Generator().manual_seed(1))
    want_sum, want_heuristics = _brute_force(z, weighting)
    # The training-time operator (SciPy) ...
    operator, heuristics = CommonNeighbours(EDGES, NODES).of(PAIRS, weighting)
    assert torch.allclose(operator @ z, want_sum, atol=1e-6)
    assert torch.allclose(heuristics, want_heuristics, atol=1e-6)
    # ... and the portable scorer's (plain torch ops from the edge list).
    pair, node, is_common, degree = common_neighbour_entries(PAIRS, EDGES, NODES)
    c = is_common * torch.tensor([_weight(weighting, int(d)) for d in degree.tolist()])[node]
    got = torch.zeros(PAIRS.size(1), 3).index_add(0, pair, z[node] * c.unsqueeze(-1))
    assert torch.allclose(got, want_sum, atol=1e-6)
    assert degree.tolist() == [len(n) for n in _neighbours()]


def test_hadamard_logits_are_an_mlp_of_the_hadamard_product() -> None:
    decoder = HadamardMLPDecoder(4, layers=2, width=3, dropout=0.5, norm="layer").eval()
    _set_weights(decoder)
    z = torch.randn(NODES, 4, generator=torch.Generator().manual_seed(2))
    lin0, lin1, norm = decoder.mlp.lins[0], decoder.mlp.lins[1], decoder.mlp.norms[0]
    for (u, v), got in zip(PAIRS.t().tolist(), decoder.logits(z, PAIRS)):
        h = [z[u, i].item() * z[v, i].item() for i in range(4)]
        hidden = [sum(lin0.weight[j, i].item() * h[i] for i in range(4)) + lin0.bias[j].item() for j in range(3)]
        mean = sum(hidden) / 3
        var = sum((x - mean) ** 2 for x in hidden) / 3
        hidden = [max(0.0, (x - mean) / math.sqrt(var + 1e-5) * norm.weight[j].item() + norm.bias[j].item())
                  for j, x in enumerate(hidden)]
        want = sum(lin1.weight[0, j].item() * hidden[j] for j in range(3)) + lin1.bias[0].item()
        assert got.item() == pytest.approx(want, abs=1e-5)
    # PyG's interface: forward(z, edge_index) gives probabilities.
    assert torch.allclose(decoder(z, PAIRS), torch.sigmoid(decoder.logits(z, PAIRS)))


def test_ncn_logits_compose_the_two_branches_and_the_heuristics() -> None:
    decoder = NCNDecoder(3, layers=2, width=4, dropout=0.0, norm="none", weighting="resource_allocation").eval()
    _set_weights(decoder, seed=3)
    decoder.attach_graph(EDGES, NODES)
    z = torch.randn(NODES, 3, generator=torch.Generator().manual_seed(4))
    common, heuristics = _brute_force(z, "resource_allocation")
    hadamard = z[PAIRS[0]] * z[PAIRS[1]]
    # layers=2: each branch is one linear layer (to width), the output an MLP of two.
    branch = lambda mlp, x: x @ mlp.lins[0].weight.T + mlp.lins[0].bias  # noqa: E731
    joined = decoder.beta * branch(decoder.common_mlp, common) + branch(decoder.pair_mlp, hadamard)
    out = decoder.out.lins
    hidden = (torch.cat([joined, heuristics], dim=1) @ out[0].weight.T + out[0].bias).relu()
    want = (hidden @ out[1].weight.T + out[1].bias).squeeze(-1)
    assert torch.allclose(decoder.logits(z, PAIRS), want, atol=1e-5)


def test_ncn_needs_its_graph() -> None:
    decoder = NCNDecoder(3, layers=2, width=4, dropout=0.0, norm="none", weighting="count")
    with pytest.raises(RuntimeError, match="call attach_graph"):
        decoder.logits(torch.zeros(NODES, 3), PAIRS)


def test_an_ensembles_logit_is_its_members_mean() -> None:
    members = [HadamardMLPDecoder(3, layers=2, width=5, dropout=0.0, norm="none") for _ in range(2)]
    for seed, member in enumerate(members):
        _set_weights(member, seed)
    ensemble = EnsembleDecoder(members).eval()
    z = torch.randn(NODES, 6, generator=torch.Generator().manual_seed(5))
    # Each member scores its own block of columns, unscaled from the ensemble's 1/sqrt(2).
    own = [z[:, :3] * 2**0.5, z[:, 3:] * 2**0.5]
    want = (members[0].logits(own[0], PAIRS) + members[1].logits(own[1], PAIRS)) / 2
    assert torch.allclose(ensemble.logits(z, PAIRS), want, atol=1e-6)


@pytest.mark.parametrize("kind", ["hadamard_mlp", "ncn"])
def test_scoring_sets_together_equals_scoring_each_alone_without_batch_norm(kind: str) -> None:
    config = ModelConfig(4, latent_channels=3, decoder=kind, decoder_norm="layer", decoder_layers=3)
    decoder = build_decoder(config)
    _set_weights(decoder, 6)
    decoder.attach_graph(EDGES, NODES)
    z = torch.randn(NODES, 3, generator=torch.Generator().manual_seed(7))
    pos, neg = PAIRS[:, :5], PAIRS[:, 5:]
    for mode in (True, False):  # dropout is 0: training mode scores the same
        decoder.train(mode)
        together = decoder.logits_of(z, [pos, neg])
        assert torch.allclose(together[0], decoder.logits(z, pos), atol=1e-6)
        assert torch.allclose(together[1], decoder.logits(z, neg), atol=1e-6)
    # With batch norm in training mode the batch's statistics differ: the sets do not score alone.
    batch = build_decoder(ModelConfig(4, latent_channels=3, decoder=kind, decoder_norm="batch",
                                      decoder_layers=3)).train()
    batch.attach_graph(EDGES, NODES)
    assert not torch.allclose(batch.logits_of(z, [pos, neg])[0], batch.logits(z, pos), atol=1e-4)


@pytest.fixture(scope="module")
def split() -> LinkSplit:
    return load_split(DataConfig("synthetic:nodes=150,communities=3,features=20,seed=2"))


def _keys(edges: torch.Tensor, num_nodes: int) -> set[int]:
    low, high = torch.minimum(edges[0], edges[1]), torch.maximum(edges[0], edges[1])
    return set((low * num_nodes + high).tolist())


def test_validation_and_test_edges_never_enter_the_ncn_graph(split: LinkSplit) -> None:
    config = ModelConfig(split.num_features, hidden_channels=(8,), latent_channels=4, decoder="ncn",
                         decoder_width=8)
    trainer = Trainer(split, config, TrainConfig(epochs=2, seed=0))
    trainer.step()
    n = split.num_nodes

    def graph_keys(decoder: torch.nn.Module) -> set[int]:
        adjacency = decoder.graph.adjacency.tocoo()
        return set((adjacency.row * n + adjacency.col).tolist())

    train = _keys(split.train_pos, n)
    both_ways = train | {(k % n) * n + k // n for k in train}
    # Exactly the training edges, both directions; not one validation or test positive.
    seen = graph_keys(trainer.model.decoder)
    assert seen == both_ways
    assert not _keys(split.val_pos, n) & seen and not _keys(split.test_pos, n) & seen
    # Scoring test edges (export, evaluate) reads the same training graph.
    model = trainer.best_model()
    validation_metrics(model, split.x, split.train_edge_index, split.test_pos, split.test_neg)
    assert graph_keys(model.decoder) == both_ways
