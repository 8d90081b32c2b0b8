"""Classic link-prediction baselines, scored on the same split as the tuned model.

Heuristics (Liben-Nowell & Kleinberg 2007; Adamic & Adar 2003; Zhou et al. 2009) read the
TRAINING graph only, so a held-out edge never counts towards its own score:

- common neighbours ``|N(u) & N(v)|``
- Adamic-Adar ``sum_{w in N(u) & N(v)} 1 / log deg(w)``
- resource allocation ``sum_{w in N(u) & N(v)} 1 / deg(w)``

They are computed as sparse row products (scipy CSR), in chunks of pairs, so a graph of 1e7
edges costs seconds and memory in proportion to the pairs' neighbourhoods, never ``N x N``.

``features_only`` (graphs with node features only): the tuned model's inner-product decoder over
an MLP of the raw features, with no message passing: ``z = W2 relu(W1 x + b1) + b2`` (64 hidden,
32 out), trained full-batch with Adam (lr 0.005) on the training edges against as many uniform
random non-pairs each epoch (binary cross-entropy, as ``GAE.recon_loss``), for at most 200
epochs, the epoch with the best validation AUC kept (patience 20), then scored once on the test
edges. It tells whether message passing adds anything over the features alone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from tune_gae.data.negatives import training_adjacency
from tune_gae.train.metrics import auc_ap

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

__all__ = [
    "FEATURES_ONLY",
    "HEURISTICS",
    "FeaturesOnlySettings",
    "baseline_line",
    "baseline_metrics",
    "best_baseline",
    "features_only_metrics",
    "heuristic_metrics",
    "heuristic_scores",
]

HEURISTICS = ("common_neighbours", "adamic_adar", "resource_allocation")
FEATURES_ONLY = "features_only"
LABELS = {
    "common_neighbours": "common neighbours",
    "adamic_adar": "Adamic-Adar",
    "resource_allocation": "resource allocation",
    FEATURES_ONLY: "features-only MLP",
}
PAIR_CHUNK = 1 << 16  # pairs per sparse row product: bounds the temporaries on hub-heavy graphs


@dataclass(frozen=True)
class FeaturesOnlySettings:
    """The fixed recipe of the features-only baseline (see the module docstring)."""

    hidden: int = 64
    latent: int = 32
    lr: float = 0.005
    epochs: int = 200
    patience: int = 20
    seed: int = 0


def heuristic_scores(adjacency: csr_matrix, pairs: Tensor) -> dict[str, Tensor]:
    """Common-neighbour, Adamic-Adar and resource-allocation scores of node pairs ``[2, P]``."""
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    # A common neighbour has degree >= 2, so log(degree) > 0 wherever a weight is used.
    with np.errstate(divide="ignore"):
        weights = np.stack(
            [np.ones_like(degree), np.where(degree > 1, 1.0 / np.log(np.maximum(degree, 2)), 0.0),
             np.where(degree > 0, 1.0 / np.maximum(degree, 1), 0.0)],
            axis=1,
        )
    u_all = pairs[0].cpu().numpy()
    v_all = pairs[1].cpu().numpy()
    out = np.zeros((u_all.size, len(HEURISTICS)), dtype=np.float64)
    for start in range(0, u_all.size, PAIR_CHUNK):
        stop = start + PAIR_CHUNK
        shared = adjacency[u_all[start:stop]].multiply(adjacency[v_all[start:stop]])
        out[start:stop] = np.asarray(shared @ weights)
    return {name: torch.from_numpy(out[:, i].copy()) for i, name in enumerate(HEURISTICS)}


def heuristic_metrics(
    train_pos: Tensor, num_nodes: int, pos: Tensor, neg: Tensor, *, prefix: str = "test"
) -> dict[str, dict[str, float]]:
    """``{heuristic: {"<prefix>_auc", "<prefix>_ap"}}`` on the given positive/negative pairs."""
    adjacency = training_adjacency(train_pos, num_nodes)
    pos_scores = heuristic_scores(adjacency, pos)
    neg_scores = heuristic_scores(adjacency, neg)
    out = {}
    for name in HEURISTICS:
        metrics = auc_ap(pos_scores[name], neg_scores[name])
        out[name] = {f"{prefix}_auc": metrics["auc"], f"{prefix}_ap": metrics["ap"]}
    return out


def features_only_metrics(
    x: Tensor,
    train_pos: Tensor,
    val_pos: Tensor,
    val_neg: Tensor,
    pos: Tensor,
    neg: Tensor,
    *,
    prefix: str = "test",
    settings: FeaturesOnlySettings = FeaturesOnlySettings(),
) -> dict[str, float]:
    """The features-only MLP baseline: selected on validation, scored once on ``pos``/``neg``."""
    from tune_gae.nn.encoders import prepare_features
    from tune_gae.nn.pairs import score_pairs
    from tune_gae.nn.sparse import SparseOperator
    from tune_gae.train.trainer import sample_negatives

    generator_state = torch.get_rng_state()
    torch.manual_seed(settings.seed)
    try:
        first = torch.nn.Linear(x.size(1), settings.hidden)
        mlp = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(settings.hidden, settings.latent))
        # Bag-of-words features (Cora: 98.7 % zeros) enter as CSR, as they do in the encoders:
        # the first layer is then a sparse-dense product (~20x less work than a dense one).
        features = prepare_features(x.float() if x.layout == torch.strided else x, normalize=False)
        sparse = SparseOperator(features) if features.layout != torch.strided else None

        def embed_nodes() -> Tensor:
            hidden = sparse @ first.weight.t() + first.bias if sparse is not None else first(features)
            return mlp(hidden)

        optimizer = torch.optim.Adam([*first.parameters(), *mlp.parameters()], lr=settings.lr)
        best_auc, best_state, best_epoch = -1.0, None, 0
        for epoch in range(1, settings.epochs + 1):
            mlp.train()
            optimizer.zero_grad(set_to_none=True)
            z = embed_nodes()
            negatives = sample_negatives(x.size(0), train_pos.size(1), x.device)
            logits = torch.cat([score_pairs(z, train_pos), score_pairs(z, negatives)])
            labels = torch.cat([torch.ones(train_pos.size(1)), torch.zeros(negatives.size(1))])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                mlp.eval()
                z = embed_nodes()
                val_auc = auc_ap(score_pairs(z, val_pos), score_pairs(z, val_neg))["auc"]
            if val_auc > best_auc:
                best_auc, best_epoch = val_auc, epoch
                best_state = {k: v.clone() for k, v in [*first.state_dict(prefix="first.").items(),
                                                        *mlp.state_dict(prefix="mlp.").items()]}
            elif epoch - best_epoch >= settings.patience:
                break
        assert best_state is not None
        first.load_state_dict({k[len("first."):]: v for k, v in best_state.items() if k.startswith("first.")})
        mlp.load_state_dict({k[len("mlp."):]: v for k, v in best_state.items() if k.startswith("mlp.")})
        with torch.no_grad():
            mlp.eval()
            z = embed_nodes()
            metrics = auc_ap(score_pairs(z, pos), score_pairs(z, neg))
    finally:
        torch.set_rng_state(generator_state)
    return {f"{prefix}_auc": metrics["auc"], f"{prefix}_ap": metrics["ap"]}


def baseline_metrics(
    split: object, *, features: Tensor | None = None, prefix: str = "test", test_graph: str = "train"
) -> dict[str, dict[str, float]]:
    """Every baseline on a split's test edges (``prefix="val"``: its validation edges).

    ``split`` is a ``LinkSplit`` (test edges present for ``prefix="test"``). ``features``: the
    graph's own node features, or ``None`` for a graph without any (then no features-only row:
    a structural encoding is not a feature a user brought). ``test_graph`` (test edges only,
    ``rules.TEST_GRAPHS``): the links the heuristics count on, as the tuned model reads them; the
    features-only MLP reads no graph and keeps training on the training edges alone.
    """
    if prefix != "test" and test_graph != "train":
        raise ValueError("validation edges are scored on the training graph only.")
    train_pos: Tensor = split.train_pos  # type: ignore[attr-defined]
    known_pos: Tensor = split.known_pos(test_graph)  # type: ignore[attr-defined]
    num_nodes = int(split.num_nodes)  # type: ignore[attr-defined]
    pos = getattr(split, f"{prefix}_pos")
    neg = getattr(split, f"{prefix}_neg")
    if pos is None or neg is None:
        raise ValueError(f"this split carries no {prefix} edges.")
    # Hard negatives are [2, P, K] (each positive its own): AUC/AP pool them, as for the model.
    neg, val_neg = neg.reshape(2, -1), split.val_neg.reshape(2, -1)  # type: ignore[attr-defined]
    out = heuristic_metrics(known_pos, num_nodes, pos, neg, prefix=prefix)
    if features is not None:
        out[FEATURES_ONLY] = features_only_metrics(
            features, train_pos, split.val_pos, val_neg, pos, neg, prefix=prefix  # type: ignore[attr-defined]
        )
    return out


def best_baseline(baselines: dict[str, dict[str, float]], *, key: str = "test_auc") -> tuple[str, float]:
    """The baseline scoring highest on ``key`` (ties: the first in HEURISTICS order)."""
    name = max(baselines, key=lambda n: (baselines[n].get(key, -math.inf), -list(baselines).index(n)))
    return name, float(baselines[name][key])


def baseline_line(model_auc: float, baselines: dict[str, dict[str, float]], *, key: str = "test_auc",
                  decoder: str | None = None) -> str:
    """``tuned model (hadamard_mlp decoder) test AUC 0.9612 vs best baseline (Adamic-Adar) 0.9580:
    +0.0032`` for summaries; ``decoder`` names the model's link scorer."""
    name, value = best_baseline(baselines, key=key)
    split_name, _, metric = key.partition("_")
    what = f"{'validation' if split_name == 'val' else split_name} {metric.upper()}"
    model = f"tuned model ({decoder} decoder)" if decoder else "tuned model"
    return (
        f"{model} {what} {model_auc:.4f} vs best baseline ({LABELS.get(name, name)}) "
        f"{value:.4f}: {model_auc - value:+.4f}"
    )
