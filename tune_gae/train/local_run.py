"""One training run with its TensorBoard log: what ``tune-gae train`` calls."""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from tune_gae.config import DataConfig, run_config_from_dict
from tune_gae.data.sources import safe_name
from tune_gae.data.split import encode_for_run, load_split
from tune_gae.errors import TuneGAEError
from tune_gae.train.baselines import baseline_line, baseline_metrics
from tune_gae.train.logger import RunLogger
from tune_gae.train.trainer import pick_device, train


def train_run(
    data_config: DataConfig,
    hyperparameters: Mapping[str, Any],
    *,
    results_dir: str | Path = "results",
    name: str | None = None,
    device: str = "auto",
    metric: str = "val_auc",
    test_graph: str = "train",
    echo: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Load + split the data, train, log to TensorBoard, return a JSON-ready summary. The test
    edges are scored once, model and baselines reading ``test_graph``'s links (``rules.TEST_GRAPHS``)."""
    graph_split = load_split(data_config)
    split, hyperparameters = encode_for_run(graph_split, hyperparameters)
    model_config, train_config = run_config_from_dict(hyperparameters, in_channels=split.num_features)
    if echo is not None:
        for note in split.notes:
            echo(note)
        echo(split.describe_inputs(model_config.encoding_dims))
    try:
        torch_device = pick_device(device)
    except RuntimeError as exc:
        raise TuneGAEError(f"bad --device {device!r} ({exc}): use auto, cpu or cuda.") from None
    if torch_device.type == "cuda" and not torch.cuda.is_available():
        raise TuneGAEError("--device cuda was asked for but no CUDA GPU is visible: use --device cpu.")
    name = name or f"{safe_name(split.name)}-{model_config.model}-{time.strftime('%Y%m%d-%H%M%S')}"
    log_dir = Path(results_dir).expanduser().resolve() / name
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TuneGAEError(f"cannot create {log_dir} ({exc.strerror}): pass a writable --results-dir.") from None
    logger = RunLogger(log_dir, {**model_config.to_dict(), **vars(train_config)})
    result, _ = train(split, model_config, train_config, device=torch_device, metric=metric,
                      on_epoch=logger.log_epoch, test_graph=test_graph)
    summary = {
        "dataset": split.name,
        **result.metrics,  # val_auc ... val_hits@100, test_auc ... test_hits@100
        "negatives": split.negatives,
        "best_epoch": result.best_epoch,
        "epochs": result.epochs,
        "seconds": round(result.seconds, 3),
        "split_hash": result.split_hash,
        "selected_by": metric,
        "test_graph": test_graph,
        "log_dir": str(log_dir),
        "config": {**model_config.to_dict(), **vars(train_config)},
    }
    # Classic baselines on this very split, so the test numbers have something to stand beside.
    summary["baselines"] = baseline_metrics(graph_split, features=graph_split.x if graph_split.features_given else None,
                                            test_graph=test_graph)
    summary["baseline_line"] = baseline_line(float(result.test_auc), summary["baselines"],
                                             decoder=model_config.decoder)
    logger.finish({(f"best_{k}" if k.startswith("val_") else k): v for k, v in result.metrics.items()})
    return summary
