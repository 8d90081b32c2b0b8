"""The fast encoder equals PyG's GCNConv: sparse features, CSR propagation, edge weights, caches."""
import copy

import pytest
import torch
from torch_geometric.nn import GAE, GCNConv

from tune_gae.config import DataConfig, ModelConfig, TrainConfig, run_config_from_dict
from tune_gae.data.split import load_split
from tune_gae.nn.encoders import (
    build_model,
    embed,
    encode_from,
    normalize_features,
    prepare_features,
)
from tune_gae.nn.pairs import recon_loss, score_pairs
from tune_gae.nn.sparse import GCNGraph
from tune_gae.train.trainer import Trainer

CONFIGS = [
    {},
    {"model": "vgae"},
    {"encoder": "linear"},
    {"model": "vgae", "encoder": "linear"},
    {"hidden_channels": (16, 64)},  # a widening layer: propagated before its product
    {"encoder_norm": "batch", "hidden_channels": (16, 8)},
    {"model": "vgae", "encoder": "linear", "encoder_norm": "batch"},
    # MaskGAE's encoder: ELU(BN(GCNConv(x))), the embedding included
    {"encoder_norm": "batch", "embedding_activation": "elu", "hidden_channels": (16,)},
    {"model": "vgae", "encoder": "linear", "encoder_norm": "batch", "embedding_activation": "elu"},
    {"encoder": "linear", "embedding_activation": "elu"},
]


@pytest.fixture(scope="module")
def synthetic():
    return load_split(DataConfig("synthetic:nodes=300,communities=3,features=200,seed=2"))


def _reference_encoder(model: GAE, x: torch.Tensor, edge_index: torch.Tensor, edge_weight=None):
    """The encoder's layers run through PyG's own GCNConv.forward (the seed implementation)."""
    enc = model.encoder

    def normed(layer: int, h: torch.Tensor) -> torch.Tensor:  # torch's functional batch norm
        if enc.norms is None:
            return h
        norm = enc.norms[layer]
        return torch.nn.functional.batch_norm(h, norm.running_mean.clone(), norm.running_var.clone(), norm.weight,
                                              norm.bias, training=enc.training, eps=norm.eps)

    h = x
    for i, conv in enumerate(enc.hidden):
        h = normed(i, conv(h, edge_index, edge_weight)).relu()
    mu = normed(-1, enc.conv_mu(h, edge_index, edge_weight))
    if enc.activation == "elu":
        mu = torch.nn.functional.elu(mu)
    if enc.conv_logstd is None:
        return mu
    return mu, enc.conv_logstd(h, edge_index, edge_weight)


def _flat(out):
    return torch.cat(out, dim=1) if isinstance(out, tuple) else out


def _grads(model: GAE, out) -> list[torch.Tensor]:
    return torch.autograd.grad(_flat(out).square().sum(), list(model.parameters()))


@pytest.mark.parametrize("config", CONFIGS)
def test_sparse_and_dense_features_equal_gcnconv(synthetic, config) -> None:
    model = build_model(ModelConfig(in_channels=synthetic.num_features, **config), inputs_normalized=True)
    dense = normalize_features(synthetic.x)
    sparse = prepare_features(synthetic.x, normalize=True)
    assert sparse.layout == torch.sparse_csr  # ~10 % non-zeros
    edges = synthetic.train_edge_index
    expected = _reference_encoder(model, dense, edges)
    expected_grads = _grads(model, expected)
    for x in (dense, sparse):
        got = model.encoder(x, edges)
        assert torch.allclose(_flat(got), _flat(expected), atol=1e-5)
        for g, e in zip(_grads(model, got), expected_grads):
            # A batch norm divides by small per-channel spreads: float32 sums differ more after it.
            # (a bias before a batch norm has a zero gradient in exact arithmetic: noise here)
            scale = 1e-3 * max(float(x.abs().max()) for x in expected_grads) if config.get("encoder_norm") else 1e-5
            assert torch.allclose(g, e, rtol=1e-4, atol=scale)


@pytest.mark.parametrize("config", [{"encoder": "linear", "encoder_norm": "batch"},
                                    {"model": "vgae", "hidden_channels": (16,), "encoder_norm": "batch", "ensemble": 2}])
def test_elu_embedding_is_the_elu_of_the_linear_one(synthetic, config) -> None:
    """embedding_activation elu changes only the embedding: ELU of what the same weights give without it."""
    outputs = {}
    for activation in ("none", "elu"):
        torch.manual_seed(5)
        model = build_model(ModelConfig(in_channels=synthetic.num_features, embedding_activation=activation,
                                        normalize_features=False, **config))
        # (inputs scaled up: in eval mode a fresh batch norm passes its input through almost unchanged)
        outputs[activation] = embed(model, synthetic.x * 50.0, synthetic.train_edge_index)
    assert (outputs["none"] < -0.5).any()  # the activation has something to change
    assert torch.allclose(outputs["elu"], torch.nn.functional.elu(outputs["none"] * 2**0.5) / 2**0.5
                          if config.get("ensemble") else torch.nn.functional.elu(outputs["none"]), atol=1e-6)


@pytest.mark.parametrize("config", [{"encoder": "linear", "propagation_hops": 3},
                                    {"model": "vgae", "hidden_channels": (16,), "propagation_hops": 2}])
def test_propagation_hops_average_the_last_layers_powers_of_the_gcn_adjacency(synthetic, config) -> None:
    """propagation_hops K: the last layer is mean_k(A_hat^(k-1) g), g = A_hat h W^T + b, k = 1..K, with A_hat PyG's
    gcn_norm of the graph (self loops, symmetric), as a dense matrix; its weights and layout stay a GCNConv's."""
    from torch_geometric.nn.conv.gcn_conv import gcn_norm
    from torch_geometric.utils import to_dense_adj

    torch.manual_seed(3)
    hops = config["propagation_hops"]
    model = build_model(ModelConfig(in_channels=synthetic.num_features, normalize_features=False, **config)).eval()
    plain = build_model(ModelConfig(in_channels=synthetic.num_features, normalize_features=False,
                                    **{**config, "propagation_hops": 1})).eval()
    assert sorted(model.state_dict()) == sorted(plain.state_dict())
    x, edges = synthetic.x, synthetic.train_edge_index
    index, weight = gcn_norm(edges, num_nodes=x.size(0))
    a_hat = to_dense_adj(index, edge_attr=weight, max_num_nodes=x.size(0))[0].t()  # row i gathers from its sources
    enc = model.encoder
    h = x
    for conv in enc.hidden:
        h = (a_hat @ h @ conv.lin.weight.t() + conv.bias).relu()

    def last(weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        g = a_hat @ h @ weight.t() + bias
        return torch.stack([torch.linalg.matrix_power(a_hat, k) @ g for k in range(hops)]).mean(0)

    got = model.encoder(x, edges)
    expected = last(enc.conv_mu.lin.weight, enc.conv_mu.bias)
    assert torch.allclose(_flat(got)[:, :expected.size(1)], expected, atol=1e-5)
    if enc.conv_logstd is not None:
        assert torch.allclose(got[1], last(enc.conv_logstd.lin.weight, enc.conv_logstd.bias), atol=1e-5)
    plain.load_state_dict(model.state_dict())
    assert not torch.allclose(_flat(plain.encoder(x, edges)), _flat(got), atol=1e-3)  # the hops change it


def test_checkpoint_layout_is_pygs() -> None:
    model = build_model(ModelConfig(in_channels=8, model="vgae", hidden_channels=(4,), latent_channels=2))
    assert sorted(model.state_dict()) == [
        "encoder.conv_logstd.bias", "encoder.conv_logstd.lin.weight",
        "encoder.conv_mu.bias", "encoder.conv_mu.lin.weight",
        "encoder.hidden.0.bias", "encoder.hidden.0.lin.weight",
    ]
    assert all(isinstance(m, GCNConv) for m in model.encoder.hidden)


def test_general_graph_with_weights_loops_and_duplicates_equals_gcnconv() -> None:
    gen = torch.Generator().manual_seed(0)
    edges = torch.randint(0, 40, (2, 200), generator=gen)  # directed, with duplicates
    edges = torch.cat([edges, torch.tensor([[5, 5, 9], [5, 5, 9]])], dim=1)  # self loops
    weight = torch.rand(edges.size(1), generator=gen)
    weight[::4] = 0.0
    h = torch.randn(40, 6, generator=gen, requires_grad=True)
    conv = GCNConv(6, 3)
    graph = GCNGraph(edges, 40)
    for w in (None, weight):
        expected = conv(h, edges, w)
        got = graph.operator(w) @ torch.nn.functional.linear(h, conv.lin.weight) + conv.bias
        assert torch.allclose(got, expected, atol=1e-5)
        g_expected = torch.autograd.grad(expected.square().sum(), h)[0]
        g_got = torch.autograd.grad(got.square().sum(), h)[0]
        assert torch.allclose(g_got, g_expected, atol=1e-5)


def test_zero_edge_weights_equal_dropped_edges(synthetic) -> None:
    model = build_model(ModelConfig(in_channels=synthetic.num_features), cached=True)
    edges = synthetic.train_edge_index
    keep = torch.rand(edges.size(1) // 2, generator=torch.Generator().manual_seed(3)) >= 0.3
    half = edges[:, : edges.size(1) // 2][:, keep]
    dropped = torch.cat([half, half.flip(0)], dim=1)
    expected = embed(model, synthetic.x, dropped)
    with torch.no_grad():
        got = model.eval().encode(synthetic.x, edges, keep.repeat(2).float())
    assert torch.allclose(got, expected, atol=1e-5)


def test_cached_graph_is_keyed_by_the_edge_tensor(synthetic) -> None:
    model = build_model(ModelConfig(in_channels=synthetic.num_features), cached=True)
    uncached = build_model(ModelConfig(in_channels=synthetic.num_features))
    uncached.load_state_dict(model.state_dict())
    x, edges = synthetic.x, synthetic.train_edge_index.clone()
    embed(model, x, edges)
    other = edges[:, : edges.size(1) // 2].repeat(1, 2)  # another graph: must not reuse the cache
    assert torch.allclose(embed(model, x, other), embed(uncached, x, other), atol=1e-6)
    edges[:, :10] = edges[:, 10:20].clone()  # modified in place: must not reuse the cache
    assert torch.allclose(embed(model, x, edges), embed(uncached, x, edges), atol=1e-6)


def test_sparse_normalisation_equals_dense() -> None:
    x = (torch.rand(50, 30) < 0.1).float() * torch.rand(50, 30) * 3
    got = normalize_features(x.to_sparse_csr())
    assert got.layout == torch.sparse_csr
    assert torch.allclose(got.to_dense(), normalize_features(x))
    negative = x - 0.5 * (x > 0).float()  # negative entries: the shift fills every zero
    assert torch.allclose(normalize_features(negative.to_sparse_csr()), normalize_features(negative))


def test_prepare_features_keeps_dense_inputs_dense() -> None:
    assert prepare_features(torch.rand(20, 5), normalize=True).layout == torch.strided
    assert prepare_features(torch.eye(20), normalize=False).layout == torch.sparse_csr


def test_sparse_input_dropout_zeroes_and_rescales_like_dense(synthetic) -> None:
    model = build_model(ModelConfig(in_channels=synthetic.num_features, encoder="linear", dropout=0.5),
                        inputs_normalized=True).train()
    x = prepare_features(synthetic.x, normalize=True)
    operator = model.encoder._sparse_features(x)
    torch.manual_seed(0)
    dropped = model.encoder._dropout(operator)
    kept = dropped.matrix.values() != 0
    assert 0.4 < kept.float().mean() < 0.6
    assert torch.allclose(dropped.matrix.values()[kept], 2 * x.values()[kept])
    # The backward pass sees the same dropped matrix: X_d^T (built without a sort) == dense X_d^T.
    dense = dropped.matrix.to_dense()
    assert torch.equal(dropped.transpose.to_dense(), dense.t())
    weight = torch.randn(4, x.size(1), requires_grad=True)
    (dropped @ weight.t()).square().sum().backward()
    expected = torch.autograd.grad((dense @ weight.t()).square().sum(), weight)[0]
    assert torch.allclose(weight.grad, expected, rtol=1e-4, atol=1e-5)


def test_encode_from_matches_encode(synthetic) -> None:
    model = build_model(ModelConfig(in_channels=synthetic.num_features, model="vgae")).train()
    x, edges = synthetic.x, synthetic.train_edge_index
    torch.manual_seed(5)
    expected = model.encode(x, edges)
    expected_kl = model.kl_loss()
    encoded = model.encoder(x, edges)
    torch.manual_seed(5)
    assert torch.equal(encode_from(model, encoded), expected)
    assert torch.equal(model.kl_loss(), expected_kl)


def test_recon_loss_equals_pygs(synthetic) -> None:
    z = torch.randn(synthetic.num_nodes, 8)
    neg = torch.randint(0, synthetic.num_nodes, (2, 2 * synthetic.train_pos.size(1)))
    expected = GAE(torch.nn.Identity()).recon_loss(z, synthetic.train_pos, neg)
    assert torch.allclose(recon_loss(z, synthetic.train_pos, neg), expected)
    assert torch.equal(score_pairs(z, synthetic.val_pos), (z[synthetic.val_pos[0]] * z[synthetic.val_pos[1]]).sum(-1))


@pytest.mark.parametrize("config", [{"model": "gae"}, {"model": "vgae", "kl_weight": 0.5}])
def test_reused_forward_pass_changes_nothing(synthetic, config) -> None:
    """Trainer.step reuses the validation forward pass for the next epoch: same history as without."""
    model_config, train_config = run_config_from_dict({"epochs": 15, **config}, in_channels=synthetic.num_features)
    fast = Trainer(synthetic, model_config, train_config)
    assert fast._reuse_forward
    fast_rows = [fast.step() for _ in range(15)]
    plain = Trainer(synthetic, model_config, train_config)  # (re-seeds the global RNG)
    plain._reuse_forward = False
    plain_rows = [plain.step() for _ in range(15)]
    for a, b in zip(fast_rows, plain_rows):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-6)
        assert a["val_auc"] == pytest.approx(b["val_auc"], abs=1e-6)
    # Weights changed outside step() (another run's checkpoint loaded): the kept pass is dropped.
    other = Trainer(synthetic, model_config, TrainConfig(lr=0.05, seed=7, **{k: v for k, v in vars(train_config).items() if k not in ("lr", "seed")}))
    for _ in range(5):
        other.step()
    state = copy.deepcopy(other.state_dict())  # state_dict() holds live views
    expected = other.step()
    fast.load_state_dict(state)
    got = fast.step()
    assert got["loss"] == pytest.approx(expected["loss"], abs=1e-6)
    assert got["val_auc"] == pytest.approx(expected["val_auc"], abs=1e-6)


def test_trainer_uses_sparse_features_and_fused_adam(synthetic) -> None:
    model_config, train_config = run_config_from_dict({"epochs": 2}, in_channels=synthetic.num_features)
    trainer = Trainer(synthetic, model_config, train_config)
    assert trainer.x.layout == torch.sparse_csr
    assert trainer.optimizer.param_groups[0]["fused"]
    best = trainer.best_state
    trainer.step()
    assert best is not trainer.best_state  # a copy per improvement, never the live weights
    assert all(torch.equal(trainer.best_state[k], v) for k, v in trainer.model.state_dict().items())


def test_float64_model_runs() -> None:
    model = build_model(ModelConfig(in_channels=6, hidden_channels=(4,), latent_channels=2)).double()
    x = torch.rand(10, 6, dtype=torch.float64)
    edges = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    assert embed(model, x, edges).dtype == torch.float64


def test_sorted_pair_set_equals_plain_scores_and_gradients() -> None:
    from tune_gae.nn.pairs import PairSet

    gen = torch.Generator().manual_seed(4)
    z = torch.randn(500, 8, generator=gen, requires_grad=True)
    pos = torch.randint(0, 500, (2, 3000), generator=gen)
    neg = torch.randint(0, 500, (2, 7000), generator=gen)
    expected = GAE(torch.nn.Identity()).recon_loss(z, pos, neg)
    got = recon_loss(z, PairSet(pos, 500), PairSet(neg, 500))
    assert torch.allclose(got, expected, atol=1e-6)
    g_expected = torch.autograd.grad(expected, z)[0]
    g_got = torch.autograd.grad(got, z)[0]
    assert torch.allclose(g_got, g_expected, atol=1e-7)
    pair_set = PairSet(pos, 500)  # the same pairs, sorted by their first node
    assert torch.equal(pair_set.pairs[0], pos[0].sort().values)
    assert sorted(map(tuple, pair_set.pairs.t().tolist())) == sorted(map(tuple, pos.t().tolist()))


def _sorted_then_plain_history(monkeypatch, split, hyper: dict, switch_off: str) -> list[dict]:
    """8 epochs with sorted pairs, then 8 with ``training.<switch_off>`` raised so they are not
    used: both histories must agree. Returns the sorted run's rows."""
    import tune_gae.nn.pairs as training

    model_config, train_config = run_config_from_dict({"epochs": 8, **hyper}, in_channels=split.num_features)
    fast = Trainer(split, model_config, train_config)
    assert isinstance(fast._train_pairs, training.PairSet)
    fast_rows = [fast.step() for _ in range(8)]
    monkeypatch.setattr(training, switch_off, 10**9)
    plain = Trainer(split, model_config, train_config)
    assert not isinstance(plain._train_pairs, training.PairSet)
    plain_rows = [plain.step() for _ in range(8)]
    for a, b in zip(fast_rows, plain_rows):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
        assert a["val_auc"] == pytest.approx(b["val_auc"], abs=1e-4)
    return fast_rows


def test_trainer_on_a_large_graph_uses_sorted_pairs_with_the_same_history(monkeypatch) -> None:
    import tune_gae.nn.pairs as training

    split = load_split(DataConfig("synthetic:nodes=5000,degree=10,seed=3"))
    assert split.train_pos.size(1) >= training.SORTED_PAIRS_MIN
    rows = _sorted_then_plain_history(monkeypatch, split, {}, "SORTED_PAIRS_MIN")
    assert rows[-1]["val_auc"] > 0.6


def test_wide_embeddings_use_sorted_pairs_with_the_same_history(monkeypatch) -> None:
    import tune_gae.nn.pairs as training

    split = load_split(DataConfig("synthetic:nodes=2000,degree=10,seed=3"))
    pairs = split.train_pos.size(1)
    assert pairs < training.SORTED_PAIRS_MIN  # only the width rule applies
    assert pairs * 64 >= training.SORTED_PAIR_ENTRIES_MIN
    _sorted_then_plain_history(monkeypatch, split, {"latent_channels": 64, "neg_ratio": 2}, "WIDE_EMBEDDING")
    model_config, train_config = run_config_from_dict({"epochs": 1, "latent_channels": 16}, in_channels=split.num_features)
    assert not isinstance(Trainer(split, model_config, train_config)._train_pairs, training.PairSet)


def test_best_embedding_equals_the_best_model_on_raw_inputs(synthetic) -> None:
    for config in ({"model": "gae"}, {"model": "vgae", "normalize_features": False}):
        model_config, train_config = run_config_from_dict({"epochs": 5, **config}, in_channels=synthetic.num_features)
        trainer = Trainer(synthetic, model_config, train_config)
        for _ in range(5):
            trainer.step()
        expected = embed(trainer.best_model(), synthetic.x, synthetic.train_edge_index)
        assert torch.allclose(trainer.best_embedding(), expected, atol=1e-5)


# --------------------------------------------------------------------------- issue #14 options


@pytest.mark.parametrize("config", [{}, {"model": "vgae"}, {"encoder": "linear", "ensemble": 3}])
def test_embedding_norm_gives_every_node_that_length(synthetic, config) -> None:
    """embedding_norm: every node's embedding (a VGAE's mu; an ensemble's whole row) has L2 length s."""
    model = build_model(ModelConfig(in_channels=synthetic.num_features, embedding_norm=2.5, **config))
    z = embed(model, synthetic.x, synthetic.train_edge_index)
    assert torch.allclose(z.norm(dim=1), torch.full((z.size(0),), 2.5), atol=1e-5)
    plain = build_model(ModelConfig(in_channels=synthetic.num_features, **config))
    plain.load_state_dict(model.state_dict())  # the same weights without the rescaling
    raw = embed(plain, synthetic.x, synthetic.train_edge_index)
    assert not torch.allclose(raw.norm(dim=1), z.norm(dim=1), atol=1e-2)


@pytest.mark.parametrize("config", [{"encoder": "linear"}, {"hidden_channels": (16, 8), "embedding_norm": 2.0},
                                    {"model": "vgae", "encoder": "linear"}])
def test_an_ensembles_inner_product_is_the_mean_of_its_members(synthetic, config) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(in_channels=synthetic.num_features, ensemble=3, **config))
    x, edges = synthetic.x, synthetic.train_edge_index
    z = embed(model, x, edges)
    assert z.shape == (synthetic.num_nodes, 3 * model.encoder.members[0].conv_mu.out_channels)
    member_scores = []
    for member in model.encoder.members:
        out = member.eval()(x, edges)
        member_z = out[0] if isinstance(out, tuple) else out
        member_scores.append(member_z @ member_z.t())
    assert torch.allclose(z @ z.t(), torch.stack(member_scores).mean(0), atol=1e-4)
    # Members are drawn independently: no two start with the same weights.
    first = [m.conv_mu.lin.weight for m in model.encoder.members]
    assert not torch.allclose(first[0], first[1])


def test_ensemble_members_learn_from_their_own_scores_only(synthetic) -> None:
    """Each member's gradient is that of its own loss: changing member 1 leaves member 0's unchanged
    (a loss on the averaged score would couple them)."""
    from tune_gae.train.trainer import train_epoch

    torch.manual_seed(0)
    model = build_model(ModelConfig(in_channels=synthetic.num_features, encoder="linear", ensemble=2))
    x, edges = synthetic.x, synthetic.train_edge_index
    config = TrainConfig(neg_ratio=2)

    def member0_grad() -> torch.Tensor:
        model.encoder.generator = torch.Generator().manual_seed(5)  # the same negatives each call
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
        train_epoch(model, optimizer, x, edges, synthetic.train_pos, config)
        return model.encoder.members[0].conv_mu.lin.weight.grad.clone()

    before = member0_grad()
    with torch.no_grad():
        model.encoder.members[1].conv_mu.lin.weight.mul_(3.0)
    assert torch.allclose(member0_grad(), before)
    # ... and it IS the gradient of member 0's loss alone.
    model.encoder.generator = torch.Generator().manual_seed(5)
    gen = model.encoder.generator
    from tune_gae.train.trainer import sample_negatives
    neg = sample_negatives(x.size(0), 2 * synthetic.train_pos.size(1), x.device, gen)
    member = model.encoder.members[0]
    member.generator = None
    alone = recon_loss(member.train()(x, edges), synthetic.train_pos, neg)
    (grad,) = torch.autograd.grad(alone, [member.conv_mu.lin.weight])
    assert torch.allclose(grad, before, atol=1e-6)


@pytest.mark.parametrize("config", [{"hidden_channels": (16, 8), "ensemble": 3, "embedding_norm": 2.0},
                                    {"model": "vgae", "encoder": "linear", "ensemble": 2},
                                    {"encoder": "linear", "embedding_norm": 3.0},
                                    {"hidden_channels": (16,), "encoder_norm": "batch", "ensemble": 2},
                                    {"model": "vgae", "encoder": "linear", "encoder_norm": "batch"},
                                    {"encoder": "linear", "encoder_norm": "batch", "embedding_activation": "elu"},
                                    {"hidden_channels": (16,), "encoder_norm": "batch", "embedding_activation": "elu",
                                     "ensemble": 2, "embedding_norm": 2.0},
                                    {"encoder": "linear", "encoder_norm": "batch", "propagation_hops": 3, "ensemble": 2},
                                    {"model": "vgae", "hidden_channels": (16,), "propagation_hops": 2}])
def test_portable_encoder_reproduces_ensembles_and_rescaled_embeddings(synthetic, config, tmp_path) -> None:
    from tune_gae.nn.portable import write_portable_encoder

    torch.manual_seed(1)
    model_config = ModelConfig(in_channels=synthetic.num_features, **config)
    model = build_model(model_config)
    x, edges = synthetic.x, synthetic.train_edge_index
    if model_config.encoder_norm == "batch":  # running statistics away from their (0, 1) start
        model.train()
        for _ in range(3):
            model.encoder(x * 3.0 + 0.5, edges)
        assert model.encoder.state_dict()[next(k for k in model.encoder.state_dict() if "running_mean" in k)].abs().sum() > 0
    z = embed(model, x, edges)
    note = write_portable_encoder(tmp_path / "encoder.pt2", model_config, model.state_dict(), x, edges, z)
    assert "reproduces" in note
    program = torch.export.load(tmp_path / "encoder.pt2").module()
    assert torch.allclose(program(x, edges), z, atol=1e-5)
