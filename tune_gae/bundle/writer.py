"""The best trial of a search as a self-contained bundle, and loading a bundle back safely.

A bundle (``<search>/best/`` by default) is a folder of plain files, nanoGPT-style: weights as a
state_dict plus the JSON config that rebuilds the model (``build_model(ModelConfig(**model))``):

- ``model.pt``       the best-validation-epoch ``state_dict`` (tensors only: ``weights_only=True``)
- ``config.json``    model + training config, data source, split seed and hash, trial, versions
- ``metrics.json``   validation metrics from the search; test metrics, computed once, here
- ``embeddings.pt``  ``[num_nodes, latent]`` node embeddings (mu for a VGAE) on the training graph
- ``split.pt``       the link split as ``[2, E]`` long tensors (train graph, val/test pos/neg)
- ``encoder.pt2``    a torch.export program: ``(raw x, edge_index) -> embeddings``, needs only torch
- ``scorer.pt2``     a torch.export program: ``(z, pairs, train_edge_index) -> logits``, the decoder
- ``MODEL_CARD.md``  what was searched, how the model was selected, metrics, how to load it
"""
from __future__ import annotations

import json
import shutil
import time
import uuid
import warnings
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from tune_gae.bundle.card import _model_card
from tune_gae.bundle.files import (
    BEST_DIR,
    BUNDLE_FORMAT,
    CARD_FILE,
    CONFIG_FILE,
    EMBEDDINGS_FILE,
    ENCODER_FILE,
    FORMAT_VERSION,
    METRICS_FILE,
    MODEL_FILE,
    SCORER_FILE,
    SPLIT_FILE,
)
from tune_gae.bundle.reader import load_model
from tune_gae.config import (
    RUN_KEYS,
    DataConfig,
    ModelConfig,
    TrainConfig,
    run_config_from_dict,
)
from tune_gae.errors import TuneGAEError
from tune_gae.nn.portable import write_portable_encoder
from tune_gae.rules import VALIDATION_METRICS
from tune_gae.search.results import SearchFolder
from tune_gae.search.selection import SelectedTrial, named_trial, reselected_winner, select_trial
from tune_gae.search.settings import METRICS

if TYPE_CHECKING:

    from tune_gae.data.split import LinkSplit


# Distribution names of the packages whose versions a bundle records.
PACKAGES = {"torch": "torch", "torch_geometric": "torch-geometric", "ray": "ray", "optuna": "optuna",
            "tune_gae": "tune-gae"}


# --------------------------------------------------------------------------- export


def export_best(
    path: str | Path, *, metric: str | None = None, out: str | Path | None = None, data_root: str | None = None,
    trial: str | None = None,
) -> Path:
    """Export the best finished trial of the search in ``path`` to ``out`` (default ``<path>/best``;
    ``<path>/picked-<trial>`` for a ``trial`` named by hand).

    The trial is the one whose checkpointed best-validation weights score highest on ``metric``
    (default: the search's metric), or the one ``trial`` names (picked by hand, e.g. a point of a
    multi-objective search's Pareto front). Test edges are used here, once, for the exported weights.
    ``data_root`` overrides where the search's dataset is looked for. Returns the bundle folder.
    """
    from tune_gae.data.split import load_split
    from tune_gae.report.tables import read_trials

    search = SearchFolder.open(path)
    folder = search.path
    rows, metric = read_trials(search, metric)  # one-line errors: not a search / not finished
    if metric not in METRICS:
        raise TuneGAEError(f"metric must be one of {', '.join(METRICS)} but got {metric!r}.")
    record = search.record()
    settings = search.settings()
    if trial is not None:
        selected = named_trial(folder, rows, trial, metric)
    else:
        selected = select_trial(folder, rows, metric)  # (also: no finished trial at all -> its one-line error)
        if metric == settings.metric and record.get("winner") and record.get("reselection"):
            selected = reselected_winner(folder, rows, record, metric)
    default = folder / (BEST_DIR if trial is None else f"picked-{selected.row['trial']}")  # never best/ by hand
    target = Path(out).expanduser().resolve() if out is not None else default
    _check_target(target)

    data_config = DataConfig(**{**asdict(settings.data), **({"root": data_root} if data_root else {})})
    graph_split = load_split(data_config)
    search.check_split(graph_split.split_hash, fix="restore the original dataset files (or pass --data-root to where they are) to export.")
    model_config = ModelConfig(**selected.state["model_config"])
    split = graph_split.with_encoding(model_config.node_encoding, model_config.encoding_dims)
    if model_config.in_channels != split.num_features:
        raise TuneGAEError(
            f"{selected.checkpoint} was trained on {model_config.in_channels} input features but the "
            f"dataset has {split.num_features}: export from the data the search used."
        )
    if selected.hyper is not None:
        _, train_config = run_config_from_dict(selected.hyper, in_channels=model_config.in_channels)
    else:
        train_config = _train_config(selected, model_config, settings.seed)

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}-{uuid.uuid4().hex[:12]}")
    staging.mkdir()  # (mkdtemp would make it private: 0700)
    try:
        _write_bundle(staging, folder, record, settings, rows, selected, metric, split, model_config, train_config,
                      baselines=_baselines(graph_split))
        _replace_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _show_in_tensorboard(folder, target)
    return target


def _show_in_tensorboard(search: Path, bundle: Path) -> None:
    """The exported trial's test metrics into its TensorBoard run: the winner, in HParams."""
    from tune_gae.search.board import write_test_metrics

    metrics = json.loads((bundle / METRICS_FILE).read_text())
    try:
        write_test_metrics(search, str(metrics["trial"]), metrics, step=int(metrics["epoch"]))
    except OSError as exc:  # a read-only search folder: the bundle is what counts
        warnings.warn(f"the test metrics were not added to {search}'s TensorBoard ({exc.strerror})", stacklevel=2)


def _train_config(selected: SelectedTrial, model_config: ModelConfig, seed: int) -> TrainConfig:
    """The trial's training settings, from Ray's ``params.json`` (typed) or else its trials.csv row."""
    from tune_gae.search.space import resolve_trial_config

    params_file = selected.checkpoint.parent.parent / "params.json"
    if params_file.is_file():
        config = json.loads(params_file.read_text())
    else:
        config = {k: v for k, v in selected.row.items() if k in RUN_KEYS and v != ""}
    hyper = {"seed": seed, **resolve_trial_config(config)}
    _, train_config = run_config_from_dict(hyper, in_channels=model_config.in_channels)
    return train_config


def _check_target(target: Path) -> None:
    """Refuse to replace a folder that is not an earlier bundle."""
    if not target.exists():
        return
    if not target.is_dir():
        raise TuneGAEError(f"{target} is a file: pass a folder path to --out.")
    if any(target.iterdir()) and not (target / CONFIG_FILE).is_file():
        raise TuneGAEError(f"{target} exists and is not a tune-gae bundle: pick another --out or empty it.")


def _replace_dir(staging: Path, target: Path) -> None:
    """Move the finished bundle into place, so a reader never sees a half-written one."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}-old-{time.time_ns()}")
        target.rename(old)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name, dist in PACKAGES.items():
        try:
            versions[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _write_bundle(
    out: Path,
    folder: Path,
    record: dict[str, Any],
    settings: Any,
    rows: list[dict[str, Any]],
    selected: SelectedTrial,
    metric: str,
    split: LinkSplit,
    model_config: ModelConfig,
    train_config: TrainConfig,
    *,
    baselines: dict[str, dict[str, float]],
) -> None:
    from tune_gae.nn.encoders import embed
    from tune_gae.train.trainer import score_test_edges

    row, state = selected.row, selected.state
    best = state["best"]
    weights = {k: v.detach().cpu().contiguous().clone() for k, v in state["best_state"].items()}
    torch.save(weights, out / MODEL_FILE)
    edges = {k: v.contiguous().clone() for k, v in split.edge_tensors().items()}
    config = {
        "format": BUNDLE_FORMAT,
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "model": model_config.to_dict(),
        "training": asdict(train_config),
        "in_channels": model_config.in_channels,
        "num_nodes": split.num_nodes,
        "dataset": split.name,
        "data": asdict(DataConfig(**record["settings"]["data"])),
        "split": {
            "seed": settings.data.split_seed,
            "hash": split.split_hash,
            "val_ratio": settings.data.val_ratio,
            "test_ratio": settings.data.test_ratio,
            "sizes": {k: int(v.size(1)) for k, v in edges.items()},
            "negatives": split.negatives,
            "negatives_per_positive": int(split.val_neg.size(2)) if split.negatives == "hard" else None,
        },
        "trial": {
            "id": row["trial"],
            "best_epoch": int(best["epoch"]),
            "epochs_run": int(state.get("epoch", row.get("epochs_run") or 0)),
            "selected_by": metric,
            "picked_by_hand": selected.by_hand,  # export --trial: named by the user, not by a rule
            "checkpoint": str(selected.checkpoint.parent if selected.reselected is None else selected.checkpoint),
            "reselection": None if selected.reselected is None else {
                "rule": selected.reselected["rule"], "seed": selected.reselected["seed"],
                "mean": selected.reselected["entry"]["mean"], "std": selected.reselected["entry"]["std"],
                "values": selected.reselected["entry"]["values"],
                "candidates": len(record.get("reselection") or []),
            },
        },
        "search": {
            "path": str(folder),
            "name": folder.name,
            "space": record["settings"]["space"],
            "metric": settings.metric,
            "scheduler": settings.scheduler,
            "num_samples": settings.num_samples,
            "max_epochs": settings.max_epochs,
            "grace_period": settings.grace_period,
            "reduction_factor": settings.reduction_factor,
            "seed": settings.seed,
            "objectives": list(settings.objectives) if settings.objectives else None,
            "num_trials": len(rows),
        },
        "versions": _versions(),
    }
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")

    # Everything below goes through the bundle just written, as a user would load it.
    torch.save(edges, out / SPLIT_FILE)  # (before load_model: an ncn decoder reads its training graph)
    model = load_model(out)
    tested = score_test_edges(model, split)  # the one and only use of the test edges
    embeddings = embed(model, split.x, split.train_edge_index).contiguous()
    torch.save(embeddings, out / EMBEDDINGS_FILE)
    encoder_note = _write_portable_encoder(out / ENCODER_FILE, model_config, weights, split, embeddings)
    scorer_note = _write_portable_scorer(out / SCORER_FILE, model, model_config, weights, split, embeddings)
    metrics = {
        "trial": row["trial"],
        "epoch": int(best["epoch"]),
        "selected_by": metric,
        "picked_by_hand": selected.by_hand,
        "negatives": split.negatives,
        **{name: float(best[name]) for name in VALIDATION_METRICS if name in best},
        **tested,  # test_auc ... test_hits@100: the one use of the test edges
        "split_hash": split.split_hash,
        "num_val_edges": int(split.val_pos.size(1)),
        "num_test_edges": int(split.test_pos.size(1)) if split.test_pos is not None else 0,
        "baselines": baselines,
    }
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    (out / CARD_FILE).write_text(_model_card(config, metrics, rows, encoder_note, scorer_note))


def _baselines(graph_split: LinkSplit) -> dict[str, dict[str, float]]:
    """Classic baselines on the bundle's own split and test edges (features-only: with features)."""
    from tune_gae.train.baselines import baseline_metrics

    return baseline_metrics(graph_split, features=graph_split.x if graph_split.features_given else None)


def _write_portable_scorer(
    path: Path, model: torch.nn.Module, config: ModelConfig, weights: dict[str, Tensor], split: LinkSplit,
    embeddings: Tensor,
) -> str:
    """Export the portable scorer, checked against the model's own logits of the validation pairs."""
    from tune_gae.nn.portable_scorer import write_portable_scorer

    pairs = torch.cat([split.val_pos, split.val_neg.reshape(2, -1)], dim=1)
    with torch.no_grad():
        logits = model.decoder.logits(embeddings, pairs)
    return write_portable_scorer(path, config, weights, embeddings, pairs, split.train_edge_index, logits)


PORTABLE_DENSE_CHECK_MAX = 50_000_000  # input entries the portable encoder is checked on


def _write_portable_encoder(
    path: Path, config: ModelConfig, weights: dict[str, Tensor], split: LinkSplit, embeddings: Tensor
) -> str:
    """Export the portable encoder, check it against ``embeddings``, save it; returns a note."""
    if split.x.layout != torch.strided and split.x.size(0) * split.x.size(1) > PORTABLE_DENSE_CHECK_MAX:
        # A learnable embedding on a large graph: the portable encoder's dense input would not fit
        # here; it is saved unchecked, and the PyG model (load_model) is what this bundle is for.
        from tune_gae.nn.portable import PORTABLE_FORMAT, PortableEncoder, export_encoder

        torch.export.save(export_encoder(PortableEncoder.from_state_dict(config, weights)), path)
        return (f"{PORTABLE_FORMAT}; takes a dense [N, {split.x.size(1)}] input, not checked here (too large "
                f"to densify): use load_model for this bundle")
    x = split.x.to_dense() if split.x.layout != torch.strided else split.x  # (an embedding block is CSR)
    return write_portable_encoder(path, config, weights, x, split.train_edge_index, embeddings)
