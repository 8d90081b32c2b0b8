import io
import math
from pathlib import Path

import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch_geometric.nn import GAE, VGAE

from tune_gae.config import DataConfig, ModelConfig, run_config_from_dict
from tune_gae.data.split import load_split
from tune_gae.errors import TuneGAEError
from tune_gae.nn.encoders import build_model, embed
from tune_gae.nn.pairs import score_pairs
from tune_gae.train.trainer import DivergedError, Trainer, train


@pytest.fixture(scope="module")
def synthetic():
    return load_split(DataConfig("synthetic:nodes=400,communities=4,seed=1"))


def test_build_model_shapes() -> None:
    gae = build_model(ModelConfig(in_channels=10, hidden_channels=(32, 16), latent_channels=8))
    vgae = build_model(ModelConfig(in_channels=10, model="vgae", latent_channels=8))
    linear = build_model(ModelConfig(in_channels=10, encoder="linear", hidden_channels=(64,), latent_channels=8))
    assert type(gae) is GAE and type(vgae) is VGAE
    assert len(gae.encoder.hidden) == 2 and len(linear.encoder.hidden) == 0
    x = torch.randn(5, 10)
    edges = torch.tensor([[0, 1, 2], [1, 2, 3]])
    assert embed(gae, x, edges).shape == (5, 8)
    assert embed(vgae, x, edges).shape == (5, 8)


def test_feature_normalisation_matches_pyg(synthetic) -> None:
    from torch_geometric.data import Data
    from torch_geometric.transforms import NormalizeFeatures

    from tune_gae.nn.encoders import normalize_features

    expected = NormalizeFeatures()(Data(x=synthetic.x.clone())).x
    assert torch.allclose(normalize_features(synthetic.x), expected)
    # The model applies it itself: the same weights on raw features == on pre-normalised ones.
    config = ModelConfig(in_channels=synthetic.num_features, normalize_features=True)
    torch.manual_seed(0)
    with_norm = build_model(config)
    torch.manual_seed(0)
    prenormalised = build_model(config, inputs_normalized=True)
    edges = synthetic.train_edge_index
    assert torch.allclose(embed(with_norm, synthetic.x, edges), embed(prenormalised, expected, edges), atol=1e-6)


def test_strict_config_rejects_unknown_key_with_hint() -> None:
    with pytest.raises(TuneGAEError, match="unknown hyperparameter 'latnet_channels' \\(did you mean 'latent_channels'\\?\\)"):
        run_config_from_dict({"latnet_channels": 16}, in_channels=3)
    model, training = run_config_from_dict({"hidden_channels": "64-32", "epochs": 5.0}, in_channels=3)
    assert model.hidden_channels == (64, 32) and training.epochs == 5


def test_training_learns_and_selects_on_validation(synthetic) -> None:
    model_config, train_config = run_config_from_dict({"epochs": 60, "lr": 0.01}, in_channels=synthetic.num_features)
    result, model = train(synthetic, model_config, train_config)
    assert result.val_auc > 0.75 and result.test_auc > 0.75  # chance is 0.5
    assert result.val_auc == max(row["val_auc"] for row in result.history)
    assert result.history[result.best_epoch - 1]["val_auc"] == result.val_auc
    # The returned model holds the best-validation weights: its val AUC equals the recorded one.
    z = embed(model, synthetic.x, synthetic.train_edge_index)
    pos, neg = score_pairs(z, synthetic.val_pos), score_pairs(z, synthetic.val_neg)
    labels = [1] * pos.numel() + [0] * neg.numel()
    assert roc_auc_score(labels, torch.cat([pos, neg]).numpy()) == pytest.approx(result.val_auc, abs=1e-6)


@pytest.mark.parametrize("decoder", ["inner_product", "ncn"])
def test_test_edges_scored_on_train_plus_val_read_the_validation_edges(synthetic, decoder) -> None:
    from tune_gae.train.trainer import score_test_edges

    model_config, train_config = run_config_from_dict(
        {"epochs": 20, "lr": 0.01, "decoder": decoder}, in_channels=synthetic.num_features)
    result, model = train(synthetic, model_config, train_config, test_graph="train+val")
    # Independently: encode over train + validation edges (both directions), the decoder reading them too.
    edges = torch.cat([synthetic.train_pos, synthetic.val_pos], dim=1)
    edges = torch.cat([edges, edges.flip(0)], dim=1)
    model.decoder.attach_graph(edges, synthetic.num_nodes)
    z = embed(model, synthetic.x, edges)
    model.decoder.eval()
    with torch.no_grad():
        pos, neg = model.decoder.logits_of(z, [synthetic.test_pos, synthetic.test_neg])
    labels = [1] * pos.numel() + [0] * neg.numel()
    expected = roc_auc_score(labels, torch.cat([pos, neg]).numpy())
    assert result.test_auc == pytest.approx(expected, abs=1e-6)
    assert score_test_edges(model, synthetic) != score_test_edges(model, synthetic, test_graph="train+val")


def test_vgae_trains_with_kl_weight(synthetic) -> None:
    model_config, train_config = run_config_from_dict(
        {"model": "vgae", "epochs": 60, "kl_weight": 0.5, "neg_ratio": 2, "edge_dropout": 0.1,
         "normalize_features": False},
        in_channels=synthetic.num_features,
    )
    result, _ = train(synthetic, model_config, train_config)
    assert result.val_auc > 0.7


def straight_and_resumed(split, config, epochs: int, cut: int) -> tuple[Trainer, list[dict], Trainer, list[dict]]:
    """One run straight through ``epochs``, and one stopped after ``cut`` and resumed from its
    checkpoint (saved and loaded as bytes, as a checkpoint file is) for the rest: each trainer
    with its rows."""
    straight = Trainer(split, *config)
    rows = [straight.step() for _ in range(epochs)]
    first = Trainer(split, *config)
    for _ in range(cut):
        first.step()
    saved = io.BytesIO()
    torch.save(first.state_dict(), saved)
    saved.seek(0)
    resumed = Trainer(split, *config)
    resumed.load_state_dict(torch.load(saved, weights_only=False))
    return straight, rows, resumed, [resumed.step() for _ in range(epochs - cut)]


def test_resume_from_state_dict_continues_exactly(synthetic) -> None:
    config = run_config_from_dict({"epochs": 20, "dropout": 0.2}, in_channels=synthetic.num_features)
    straight, rows, resumed, later = straight_and_resumed(synthetic, config, 20, 12)
    assert [r["epoch"] for r in later] == list(range(13, 21))
    assert later[-1]["val_auc"] == pytest.approx(rows[-1]["val_auc"], abs=1e-9)
    assert resumed.best == straight.best


def test_patience_stops_after_no_improvement(synthetic) -> None:
    model_config, train_config = run_config_from_dict(
        {"epochs": 400, "patience": 5, "lr": 0.05, "normalize_features": False}, in_channels=synthetic.num_features
    )
    result, _ = train(synthetic, model_config, train_config)
    assert result.epochs < 400
    assert result.epochs == result.best_epoch + 5  # exactly `patience` epochs past the best
    assert all(row["val_auc"] <= result.val_auc for row in result.history[result.best_epoch:])


def test_nan_loss_raises_diverged(synthetic) -> None:
    model_config, train_config = run_config_from_dict({"epochs": 5, "lr": 1e30}, in_channels=synthetic.num_features)
    trainer = Trainer(synthetic, model_config, train_config)
    with pytest.raises(DivergedError, match="loss became"):
        for _ in range(5):
            trainer.step()


def test_best_is_finite_checks_the_best_weights_embedding(synthetic) -> None:
    # Both validation paths: the forward pass kept for training (no dropout) and a separate one.
    for config in ({"model": "gae"}, {"model": "vgae", "dropout": 0.3}):
        model_config, train_config = run_config_from_dict({"epochs": 6, **config}, in_channels=synthetic.num_features)
        trainer = Trainer(synthetic, model_config, train_config)
        assert not trainer.best_is_finite()  # no best yet
        while not trainer.done:
            trainer.step()
        # What it checks without a forward pass is the best weights' embedding.
        expected = embed(trainer.best_model(), synthetic.x, synthetic.train_edge_index)
        assert torch.allclose(trainer._best_z, expected, atol=1e-5)
        assert trainer.best_is_finite()
        # Restored from a checkpoint whose best weights embed nodes as inf: found by a forward pass.
        state = trainer.state_dict()
        state["best_state"] = {k: torch.full_like(v, math.inf) if k.endswith("weight") else v
                               for k, v in state["best_state"].items()}
        restored = Trainer(synthetic, model_config, train_config)
        restored.load_state_dict(state)
        assert not restored.best_is_finite()


def test_cora_gae_paper_setting_reaches_published_auc(data_root: Path) -> None:
    split = load_split(DataConfig("Cora", root=str(data_root)))
    model_config, train_config = run_config_from_dict({"epochs": 200}, in_channels=split.num_features)
    result, _ = train(split, model_config, train_config)
    assert result.test_auc >= 0.90 and result.test_ap >= 0.90


def _one_masked_epoch(synthetic, monkeypatch, config) -> dict[str, torch.Tensor]:  # noqa: ANN001
    """One ``train_epoch`` from torch's seed 0: the edge weights the encoder got, the loss's positives."""
    import tune_gae.train.trainer as trainer_module

    model = build_model(ModelConfig(in_channels=synthetic.num_features, encoder="linear", latent_channels=8))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    seen: dict[str, torch.Tensor] = {}
    encode = model.encoder.forward

    def spy_encode(x, edge_index, edge_weight=None):  # noqa: ANN001, ANN202
        seen["weight"] = edge_weight
        return encode(x, edge_index, edge_weight)

    def spy_loss(z, pos, neg):  # noqa: ANN001, ANN202
        seen["pos"] = pos
        return (z.sum() * 0.0) + 1.0

    monkeypatch.setattr(model.encoder, "forward", spy_encode)
    monkeypatch.setattr(trainer_module, "recon_loss", spy_loss)
    torch.manual_seed(0)
    trainer_module.train_epoch(model, optimizer, synthetic.x, synthetic.train_edge_index, synthetic.train_pos, config)
    return seen


@pytest.mark.parametrize("kind", ["edge", "path"])
def test_masked_edges_are_hidden_from_messages_and_are_exactly_the_positives(synthetic, monkeypatch, kind) -> None:
    """mask_ratio: the edges given zero message weight are the positives the loss reconstructs;
    mask_kind path: they are the edges walked by tune_gae.train.masks.path_mask."""
    from tune_gae.config import TrainConfig

    seen = _one_masked_epoch(synthetic, monkeypatch, TrainConfig(mask_ratio=0.5, mask_kind=kind))
    message_edges = synthetic.train_edge_index
    num_edges = message_edges.size(1) // 2
    hidden = seen["weight"][:num_edges] == 0
    assert torch.equal(seen["weight"][num_edges:], seen["weight"][:num_edges])  # both directions together
    if kind == "edge":
        assert 0.4 < hidden.float().mean().item() < 0.6
    else:
        from tune_gae.train.masks import path_mask

        torch.manual_seed(0)  # the same draws again
        assert torch.equal(hidden, path_mask(message_edges, synthetic.num_nodes, 0.5, None))
    assert torch.equal(seen["pos"], synthetic.train_pos[:, hidden])


def test_directed_masking_hides_edges_masked_both_ways_and_reconstructs_every_masked_direction(
        synthetic, monkeypatch) -> None:
    """mask_kind directed (MaskGAE's MaskEdge): the encoder loses an edge only when both of its
    directions are masked; the positives are all masked directions, some still visible."""
    from tune_gae.config import TrainConfig
    from tune_gae.train.masks import directed_mask

    seen = _one_masked_epoch(synthetic, monkeypatch, TrainConfig(mask_ratio=0.5, mask_kind="directed"))
    message_edges = synthetic.train_edge_index
    num_edges = message_edges.size(1) // 2
    torch.manual_seed(0)  # the same draws again
    both, directions = directed_mask(num_edges, 0.5, torch.device("cpu"), None)
    assert torch.equal(seen["weight"][:num_edges] == 0, both)
    assert torch.equal(seen["weight"][num_edges:], seen["weight"][:num_edges])
    assert torch.equal(seen["pos"], message_edges[:, directions])
    visible = {tuple(sorted(e)) for e in synthetic.train_pos[:, ~both].t().tolist()}
    positives = {tuple(sorted(e)) for e in seen["pos"].t().tolist()}
    assert positives & visible and positives - visible  # some positives visible, some hidden


def test_mask_ratio_zero_trains_exactly_as_before(synthetic) -> None:
    histories = []
    for extra in ({}, {"mask_ratio": 0.0}):
        model_config, train_config = run_config_from_dict({"epochs": 4, "edge_dropout": 0.2, **extra},
                                                          in_channels=synthetic.num_features)
        torch.manual_seed(3)
        histories.append([row["loss"] for row in train(synthetic, model_config, train_config)[0].history])
    assert histories[0] == histories[1]


def test_masked_training_learns(synthetic) -> None:
    model_config, train_config = run_config_from_dict({"epochs": 40, "mask_ratio": 0.5, "encoder": "linear"},
                                                      in_channels=synthetic.num_features)
    result, _ = train(synthetic, model_config, train_config)
    assert result.val_auc > result.history[0]["val_auc"] + 0.05  # learned from the masked edges alone


def test_a_run_is_the_same_alone_or_beside_another_in_threads(synthetic) -> None:
    """Each Trainer draws dropout, masks, negatives and a VGAE's samples from its own generator,
    so a run beside another (re-selection trains runs in the driver's threads) gives the weights
    it gives alone; with torch's one global generator their draws would interleave."""
    import threading

    hyper = {"epochs": 15, "model": "vgae", "dropout": 0.5, "edge_dropout": 0.2, "mask_ratio": 0.5, "seed": 4}

    def run(seed: int) -> dict[str, torch.Tensor]:
        model_config, train_config = run_config_from_dict({**hyper, "seed": seed}, in_channels=synthetic.num_features)
        trainer = Trainer(synthetic, model_config, train_config)
        while not trainer.done:
            trainer.step()
        return {k: v.clone() for k, v in trainer.model.state_dict().items()}

    alone = run(4)
    results: dict[int, dict[str, torch.Tensor]] = {}
    threads = [threading.Thread(target=lambda s=s: results.__setitem__(s, run(s))) for s in (4, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(results) == {4, 5}
    assert all(torch.equal(alone[k], results[4][k]) for k in alone)
    assert not all(torch.equal(results[4][k], results[5][k]) for k in alone)  # the seeds do differ


def test_grad_clip_bounds_every_optimised_gradient_as_torch_clips_it(synthetic) -> None:
    """grad_clip: the step's gradients (model and degree head alike) are the unclipped ones through
    torch's clip_grad_norm_, so their total norm is the bound."""
    from tune_gae.config import TrainConfig

    model_config = ModelConfig(in_channels=synthetic.num_features, encoder="linear", latent_channels=16,
                               encoder_norm="batch", decoder="hadamard_mlp", dropout=0.3)

    def first_step_grads(grad_clip: float) -> list[torch.Tensor]:
        trainer = Trainer(synthetic, model_config, TrainConfig(grad_clip=grad_clip, degree_loss=0.5, mask_ratio=0.5))
        trainer.step()
        return [p.grad.clone() for group in trainer.optimizer.param_groups for p in group["params"]]

    raw = first_step_grads(0.0)
    raw_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in raw])).item()
    bound = raw_norm / 4
    clipped = first_step_grads(bound)
    holders = [torch.nn.Parameter(torch.zeros_like(g)) for g in raw]  # the raw gradients, clipped by torch
    for holder, g in zip(holders, raw):
        holder.grad = g.clone()
    torch.nn.utils.clip_grad_norm_(holders, bound)
    model_parameters = len(list(Trainer(synthetic, model_config, TrainConfig()).model.parameters()))
    assert len(clipped) == len(raw) > model_parameters  # the degree head's parameters are clipped too
    for got, want in zip(clipped, holders):
        assert torch.allclose(got, want.grad, rtol=1e-5, atol=1e-8)
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in clipped])).item()
    assert total == pytest.approx(bound, rel=1e-4)


def test_degree_loss_target_counts_the_masked_edges_and_adds_its_weighted_error(synthetic, monkeypatch) -> None:
    """degree_loss: the head regresses each node's degree over exactly the edges the loss
    reconstructs (the masked ones), and the loss grows by degree_loss times its squared error."""
    import copy

    import tune_gae.train.trainer as trainer_module
    from tune_gae.config import TrainConfig
    from tune_gae.nn.degree import DegreeDecoder

    model = build_model(ModelConfig(in_channels=synthetic.num_features, encoder="linear", latent_channels=8))
    head = DegreeDecoder(8, layers=2, width=16, dropout=0.0)
    seen: dict[str, torch.Tensor] = {}
    recon = trainer_module.recon_loss

    def spy_recon(z, pos, neg):  # noqa: ANN001, ANN202
        seen["pos"] = pos.pairs if hasattr(pos, "pairs") else pos
        return recon(z, pos, neg)

    def spy_head_loss(z, target):  # noqa: ANN001, ANN202
        seen["z"], seen["target"] = z.detach(), target
        value = DegreeDecoder.loss(head, z, target)
        seen["head_loss"] = value.detach()
        return value

    monkeypatch.setattr(trainer_module, "recon_loss", spy_recon)
    monkeypatch.setattr(head, "loss", spy_head_loss)
    losses = {}
    for weight in (0.0, 0.3):
        copy_of = copy.deepcopy(model)
        optimizer = torch.optim.Adam(copy_of.parameters(), lr=0.01)  # the head stays as it was: checked below
        torch.manual_seed(0)
        losses[weight] = trainer_module.train_epoch(copy_of, optimizer, synthetic.x, synthetic.train_edge_index,
                                                    synthetic.train_pos, TrainConfig(mask_ratio=0.5, degree_loss=weight),
                                                    degree_decoders=[head])
    brute = torch.zeros(synthetic.num_nodes)
    for u, v in seen["pos"].t().tolist():
        brute[u] += 1
        brute[v] += 1
    assert 0 < seen["pos"].size(1) < synthetic.train_pos.size(1)  # a masked share, not every edge
    assert torch.equal(seen["target"], brute)
    assert seen["head_loss"].item() == pytest.approx(((head(seen["z"]) - brute) ** 2).mean().item(), rel=1e-5)
    assert losses[0.3] - losses[0.0] == pytest.approx(0.3 * seen["head_loss"].item(), rel=1e-4)


def test_degree_heads_leave_the_models_initial_weights_and_resume_exactly(synthetic) -> None:
    """The degree heads are drawn after the model (its weights do not depend on degree_loss), step
    with it, and a checkpoint carries them: a resumed run continues exactly."""
    hyper = {"epochs": 12, "dropout": 0.3, "mask_ratio": 0.5, "decoder": "hadamard_mlp", "encoder": "linear"}
    plain = Trainer(synthetic, *run_config_from_dict(hyper, in_channels=synthetic.num_features))
    config = run_config_from_dict({**hyper, "degree_loss": 0.01, "grad_clip": 1.0}, in_channels=synthetic.num_features)
    fresh = Trainer(synthetic, *config)
    assert len(fresh.degree_decoders) == 1 and not len(plain.degree_decoders)
    assert all(torch.equal(a, b) for a, b in zip(plain.model.state_dict().values(), fresh.model.state_dict().values()))
    straight, rows, resumed, later = straight_and_resumed(synthetic, config, 12, 7)
    assert [r["loss"] for r in later] == [r["loss"] for r in rows[7:]]
    assert all(torch.equal(a, b) for a, b in zip(resumed.degree_decoders.state_dict().values(),
                                                 straight.degree_decoders.state_dict().values()))


def test_weight_ema_validates_and_keeps_the_moving_average_of_the_live_weights(synthetic) -> None:
    """weight_ema: after each epoch the validated weights are decay * previous + (1 - decay) * live
    (the first epoch's live weights to start), batch-norm statistics included; the reported AUC is
    that averaged model's, and the best epoch's averaged weights are what the run keeps."""
    decay = 0.6
    hyper = {"epochs": 6, "dropout": 0.2, "encoder": "linear", "encoder_norm": "batch", "decoder": "hadamard_mlp",
             "weight_ema": decay}
    model_config, train_config = run_config_from_dict(hyper, in_channels=synthetic.num_features)
    trainer = Trainer(synthetic, model_config, train_config)
    expected: dict[str, torch.Tensor] = {}
    for _ in range(6):
        row = trainer.step()
        live = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
        expected = {k: v.float() if not expected else decay * expected[k] + (1 - decay) * v.float()
                    for k, v in live.items()}
        averaged = build_model(model_config, inputs_normalized=True)
        averaged.load_state_dict({k: v.to(live[k].dtype) for k, v in expected.items()
                                  if not k.endswith("num_batches_tracked")}, strict=False)
        averaged.decoder.attach_graph(synthetic.train_edge_index, synthetic.num_nodes)
        z = embed(averaged, trainer.x, synthetic.train_edge_index)
        averaged.eval()
        scores = torch.cat(averaged.decoder.logits_of(z, [synthetic.val_pos, synthetic.val_neg]))
        labels = [1] * synthetic.val_pos.size(1) + [0] * synthetic.val_neg.size(1)
        assert row["val_auc"] == pytest.approx(roc_auc_score(labels, scores.detach().numpy()), abs=1e-6)
        if row["best_epoch"] == row["epoch"]:
            kept = {k: v.float() for k, v in expected.items()}
    for key, value in trainer.best_state.items():
        if not key.endswith("num_batches_tracked"):
            assert torch.allclose(value.float(), kept[key], atol=1e-6), key
    live_params = dict(trainer.model.named_parameters())
    assert any(not torch.allclose(trainer.best_state[k], live_params[k]) for k in live_params)


def test_weight_ema_resumes_exactly(synthetic) -> None:
    """A checkpoint carries the moving average: a resumed run validates the same weights."""
    hyper = {"epochs": 10, "dropout": 0.2, "weight_ema": 0.8}
    config = run_config_from_dict(hyper, in_channels=synthetic.num_features)
    straight, rows, resumed, later = straight_and_resumed(synthetic, config, 10, 6)
    assert [r["val_auc"] for r in later] == pytest.approx([r["val_auc"] for r in rows[6:]], abs=1e-9)
    assert resumed.best == straight.best


@pytest.mark.parametrize("decoder", ["inner_product", "ncn"])
def test_weight_ema_builds_no_second_graph(synthetic, monkeypatch, decoder) -> None:
    """The averaged copy reads the live model's normalised adjacency and common-neighbour graph:
    a run with weight_ema builds each exactly as often as one without (memory, on large graphs)."""
    import tune_gae.nn.decoders as decoders
    import tune_gae.nn.encoders as encoders

    built: list[str] = []

    def counting(cls, name):
        class Counted(cls):
            def __init__(self, *args, **kwargs) -> None:
                built.append(name)
                super().__init__(*args, **kwargs)
        return Counted

    monkeypatch.setattr(encoders, "GCNGraph", counting(encoders.GCNGraph, "adjacency"))
    monkeypatch.setattr(decoders, "CommonNeighbours", counting(decoders.CommonNeighbours, "common neighbours"))
    counts = []
    for weight_ema in (0.0, 0.9):
        built.clear()
        hyper = {"epochs": 3, "decoder": decoder, "ensemble": 2, "weight_ema": weight_ema}
        trainer = Trainer(synthetic, *run_config_from_dict(hyper, in_channels=synthetic.num_features))
        for _ in range(3):
            trainer.step()
        counts.append(sorted(built))
    assert counts[0] == counts[1] and "adjacency" in counts[0]
    assert ("common neighbours" in counts[0]) == (decoder == "ncn")
