"""The best trial of a search as a self-contained bundle, and loading a bundle back safely.

A bundle (``<search>/best/`` by default) is a folder of plain files, nanoGPT-style: weights as a
state_dict plus the JSON config that rebuilds the model (``build_model(ModelConfig(**model))``):

- ``model.pt``       the best-validation-epoch ``state_dict`` (tensors only: ``weights_only=True``)
- ``config.json``    model + training config, data source, split seed and hash, trial, versions
- ``metrics.json``   validation metrics from the search; test metrics, computed once, here
- ``embeddings.pt``  ``[num_nodes, latent]`` node embeddings (mu for a VGAE) on the training graph
- ``split.pt``       the link split as ``[2, E]`` long tensors (train graph, val/test pos/neg)
- ``encoder.pt``     TorchScript: ``(raw x, edge_index) -> embeddings``, needs only torch to load
- ``MODEL_CARD.md``  what was searched, how the model was selected, metrics, how to load it

Loading never unpickles code: every ``.pt`` file is read with ``torch.load(weights_only=True)``,
and every problem with a bundle is a one-line ``TuneGAEError`` that says how to fix it.
"""
from __future__ import annotations

import json
import math
import shutil
import time
import uuid
import warnings
from dataclasses import asdict, dataclass, fields
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from tune_gae.config import RUN_KEYS, DataConfig, ModelConfig, TrainConfig, run_config_from_dict
from tune_gae.errors import TuneGAEError

if TYPE_CHECKING:
    from torch_geometric.nn import GAE

    from tune_gae.data import LinkSplit

__all__ = [
    "BUNDLE_FORMAT",
    "FORMAT_VERSION",
    "PortableEncoder",
    "bundle_data_config",
    "bundle_model_config",
    "bundle_train_config",
    "export_best",
    "load_bundle_split",
    "load_embeddings",
    "load_model",
    "read_bundle_config",
    "rebuild_split",
]

BUNDLE_FORMAT = "tune-gae-bundle"
FORMAT_VERSION = 1
BEST_DIR = "best"
MODEL_FILE = "model.pt"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
EMBEDDINGS_FILE = "embeddings.pt"
SPLIT_FILE = "split.pt"
ENCODER_FILE = "encoder.pt"
CARD_FILE = "MODEL_CARD.md"
BUNDLE_FILES = (MODEL_FILE, CONFIG_FILE, METRICS_FILE, EMBEDDINGS_FILE, SPLIT_FILE, ENCODER_FILE, CARD_FILE)
SPLIT_KEYS = ("train_edge_index", "val_pos", "val_neg", "test_pos", "test_neg")
CHECKPOINT_FILE = "trainer.pt"  # what tune_gae.trainable writes into each checkpoint folder
METRICS = ("val_auc", "val_ap")
# Distribution names of the packages whose versions a bundle records.
PACKAGES = {"torch": "torch", "torch_geometric": "torch-geometric", "ray": "ray", "optuna": "optuna",
            "tune_gae": "tune-gae"}
# The portable encoder must reproduce the model's embeddings to this tolerance (float32 sums).
PORTABLE_ATOL = 1e-4


# --------------------------------------------------------------------------- export


@dataclass(frozen=True)
class _Selected:
    """The trial a bundle is exported from, with its checkpoint read back."""

    row: dict[str, Any]
    checkpoint: Path
    state: dict[str, Any]
    value: float


def export_best(
    path: str | Path, *, metric: str | None = None, out: str | Path | None = None, data_root: str | None = None
) -> Path:
    """Export the best finished trial of the search in ``path`` to ``out`` (default ``<path>/best``).

    The trial is the one whose checkpointed best-validation weights score highest on ``metric``
    (default: the search's metric). Test edges are used here, once, for the exported weights.
    ``data_root`` overrides where the search's dataset is looked for. Returns the bundle folder.
    """
    from tune_gae.data import load_split
    from tune_gae.report import read_trials
    from tune_gae.search import SearchSettings

    folder = Path(path).expanduser().resolve()
    rows, metric = read_trials(folder, metric)  # one-line errors: not a search / not finished
    if metric not in METRICS:
        raise TuneGAEError(f"metric must be one of {', '.join(METRICS)} but got {metric!r}.")
    record = json.loads((folder / "search.json").read_text())
    settings = SearchSettings.from_json(record["settings"])
    selected = _select_trial(folder, rows, metric)
    target = Path(out).expanduser().resolve() if out is not None else folder / BEST_DIR
    _check_target(target)

    data_config = DataConfig(**{**asdict(settings.data), **({"root": data_root} if data_root else {})})
    split = load_split(data_config)
    if split.split_hash != record["split_hash"]:
        raise TuneGAEError(
            f"the data changed since the search ran (split {split.split_hash} != {record['split_hash']}): "
            f"restore the original dataset files (or pass --data-root to where they are) to export."
        )
    model_config = ModelConfig(**selected.state["model_config"])
    if model_config.in_channels != split.num_features:
        raise TuneGAEError(
            f"{selected.checkpoint} was trained on {model_config.in_channels} input features but the "
            f"dataset has {split.num_features}: export from the data the search used."
        )
    train_config = _train_config(selected, model_config, settings.seed)

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}-{uuid.uuid4().hex[:12]}")
    staging.mkdir()  # (mkdtemp would make it private: 0700)
    try:
        _write_bundle(staging, folder, record, settings, rows, selected, metric, split, model_config, train_config)
        _replace_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _select_trial(folder: Path, rows: list[dict[str, Any]], metric: str) -> _Selected:
    """The finished trial whose checkpointed best weights score highest on ``metric``.

    ``rows`` come best first by the value each trial last reported; a checkpoint can only hold
    that value or an earlier (lower) best, so reading checkpoints stops once no later row can win.
    """
    key = f"best_{metric}"
    candidates = [
        (row, checkpoint) for row in rows
        if row.get("state") == "TERMINATED" and _finite(row.get(key))
        and (checkpoint := _checkpoint_file(folder, row)) is not None
    ]
    if not candidates:
        states: dict[str, int] = {}
        for row in rows:
            states[str(row.get("state") or "?")] = states.get(str(row.get("state") or "?"), 0) + 1
        seen = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "no trial at all"
        raise TuneGAEError(
            f"no finished trial with a checkpoint in {folder} ({seen}): resume it with "
            f"`tune-gae resume {folder}` or run a new search."
        )
    best: _Selected | None = None
    for row, checkpoint in candidates:
        if best is not None and float(row[key]) <= best.value:
            break
        state = _read_checkpoint(checkpoint)
        value = float(state["best"][metric])
        if best is None or value > best.value:
            best = _Selected(row, checkpoint, state, value)
    assert best is not None
    return best


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _checkpoint_file(folder: Path, row: dict[str, Any]) -> Path | None:
    """The trial's ``trainer.pt``; found inside ``folder`` too when the search folder was moved."""
    recorded = str(row.get("checkpoint") or "")
    if not recorded:
        return None
    recorded_path = Path(recorded)
    for candidate in (recorded_path, folder / recorded_path.parent.name / recorded_path.name):
        if (candidate / CHECKPOINT_FILE).is_file():
            return candidate / CHECKPOINT_FILE
    return None


def _read_checkpoint(path: Path) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means the same thing to the user
        raise TuneGAEError(
            f"cannot read checkpoint {path} ({type(exc).__name__}: {_first_line(exc)}): "
            f"the search folder is damaged; resume it or run a new search."
        ) from None
    missing = [k for k in ("best", "best_state", "model_config") if k not in state]
    if missing:
        raise TuneGAEError(f"checkpoint {path} lacks {', '.join(missing)}: it was not written by tune-gae.")
    return state


def _train_config(selected: _Selected, model_config: ModelConfig, seed: int) -> TrainConfig:
    """The trial's training settings, from Ray's ``params.json`` (typed) or else its trials.csv row."""
    from tune_gae.spaces import resolve_trial_config

    params_file = selected.checkpoint.parent.parent / "params.json"
    if params_file.is_file():
        config = json.loads(params_file.read_text())
    else:
        config = {k: _csv_value(v) for k, v in selected.row.items() if k in RUN_KEYS and v != ""}
    hyper = {"seed": seed, **resolve_trial_config(config)}
    _, train_config = run_config_from_dict(hyper, in_channels=model_config.in_channels)
    return train_config


def _csv_value(value: Any) -> Any:
    return {"True": True, "False": False}.get(value, value) if isinstance(value, str) else value


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
    selected: _Selected,
    metric: str,
    split: LinkSplit,
    model_config: ModelConfig,
    train_config: TrainConfig,
) -> None:
    from tune_gae.models import embed
    from tune_gae.training import test_metrics

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
        },
        "trial": {
            "id": row["trial"],
            "best_epoch": int(best["epoch"]),
            "epochs_run": int(state.get("epoch", row.get("epochs_run") or 0)),
            "selected_by": metric,
            "checkpoint": str(selected.checkpoint.parent),
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
            "num_trials": len(rows),
        },
        "versions": _versions(),
    }
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")

    # Everything below goes through the bundle just written, as a user would load it.
    model = load_model(out)
    tested = test_metrics(model, split)  # the one and only use of the test edges
    embeddings = embed(model, split.x, split.train_edge_index).contiguous()
    torch.save(embeddings, out / EMBEDDINGS_FILE)
    torch.save(edges, out / SPLIT_FILE)
    encoder_note = _write_portable_encoder(out / ENCODER_FILE, model_config, weights, split, embeddings)
    metrics = {
        "trial": row["trial"],
        "epoch": int(best["epoch"]),
        "selected_by": metric,
        "val_auc": float(best["val_auc"]),
        "val_ap": float(best["val_ap"]),
        "test_auc": tested["test_auc"],
        "test_ap": tested["test_ap"],
        "split_hash": split.split_hash,
        "num_val_edges": int(split.val_pos.size(1)),
        "num_test_edges": int(split.test_pos.size(1)) if split.test_pos is not None else 0,
    }
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    (out / CARD_FILE).write_text(_model_card(config, metrics, rows, encoder_note))


# --------------------------------------------------------------------------- portable encoder


class _GCNLayer(torch.nn.Module):
    """One GCN layer, ``A_hat @ (h @ W^T) + b``, as a gather + ``index_add_`` (scriptable)."""

    def __init__(self, weight: Tensor, bias: Tensor) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(weight.detach().clone(), requires_grad=False)
        self.bias = torch.nn.Parameter(bias.detach().clone(), requires_grad=False)

    def forward(self, h: Tensor, src: Tensor, dst: Tensor, norm: Tensor) -> Tensor:
        hw = torch.nn.functional.linear(h, self.weight)
        out = torch.zeros_like(hw).index_add_(0, dst, hw.index_select(0, src) * norm.unsqueeze(-1))
        return out + self.bias


class PortableEncoder(torch.nn.Module):
    """The trained GCN encoder in plain torch ops, for TorchScript: ``(raw x, edge_index) -> mu``.

    PyG's ``GCNConv`` scripts but its saved code does not load back (torch 2.13, PyG 2.8: a
    ``SparseTensor`` branch fails type checking), and tune_gae's encoder uses sparse autograd
    functions that neither script nor trace. This re-states the same maths (Kipf & Welling's
    ``D^-1/2 (A + I) D^-1/2`` propagation, PyG's ``NormalizeFeatures``) with the exported weights;
    export checks it reproduces the model's embeddings. Inference only (no dropout).
    """

    def __init__(self, layers: list[tuple[Tensor, Tensor]], *, normalize_input: bool) -> None:
        super().__init__()
        self.hidden = torch.nn.ModuleList([_GCNLayer(w, b) for w, b in layers[:-1]])
        self.out = _GCNLayer(*layers[-1])
        self.normalize_input = normalize_input

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        x = x.to(self.out.weight.dtype)
        if self.normalize_input:
            x = x - x.min()
            x = x / x.sum(dim=-1, keepdim=True).clamp(min=1.0)
        num_nodes = x.size(0)
        src, dst = edge_index[0], edge_index[1]
        keep = src != dst  # existing self loops are replaced by one unit loop per node
        loops = torch.arange(num_nodes, dtype=edge_index.dtype, device=edge_index.device)
        src = torch.cat([src[keep], loops])
        dst = torch.cat([dst[keep], loops])
        degree = torch.zeros(num_nodes, dtype=x.dtype, device=x.device)
        degree = degree.index_add_(0, dst, torch.ones(dst.size(0), dtype=x.dtype, device=x.device))
        inv_sqrt = degree.pow(-0.5)
        norm = inv_sqrt[src] * inv_sqrt[dst]
        h = x
        for layer in self.hidden:
            h = layer(h, src, dst, norm).relu()
        return self.out(h, src, dst, norm)

    @classmethod
    def from_state_dict(cls, config: ModelConfig, state: dict[str, Tensor]) -> "PortableEncoder":
        """Built from a bundle's ``model.pt`` (PyG's ``GCNConv`` layout: ``lin.weight``, ``bias``)."""
        depth = 0 if config.encoder == "linear" else len(config.hidden_channels)
        names = [f"encoder.hidden.{i}" for i in range(depth)] + ["encoder.conv_mu"]
        layers = [(state[f"{name}.lin.weight"], state[f"{name}.bias"]) for name in names]
        return cls(layers, normalize_input=config.normalize_features)


def _write_portable_encoder(
    path: Path, config: ModelConfig, weights: dict[str, Tensor], split: LinkSplit, embeddings: Tensor
) -> str:
    """Script the portable encoder, check it against ``embeddings``, save it; returns a note."""
    encoder = PortableEncoder.from_state_dict(config, weights).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated in torch 2.9+
        scripted = torch.jit.script(encoder)
        with torch.no_grad():
            got = scripted(split.x, split.train_edge_index)
        if got.shape != embeddings.shape or not torch.allclose(got, embeddings, atol=PORTABLE_ATOL, rtol=1e-4):
            worst = (got - embeddings).abs().max().item() if got.shape == embeddings.shape else math.inf
            raise TuneGAEError(
                f"the TorchScript encoder does not reproduce the model's embeddings (max difference "
                f"{worst:.3g}): the encoder changed its maths; update tune_gae.export.PortableEncoder."
            )
        scripted.save(str(path))
    worst = (got - embeddings).abs().max().item()
    return f"TorchScript (torch.jit.script); reproduces embeddings.pt to {worst:.1e}"


# --------------------------------------------------------------------------- model card


def _model_card(config: dict[str, Any], metrics: dict[str, Any], rows: list[dict[str, Any]], encoder_note: str) -> str:
    search, trial, model, training = config["search"], config["trial"], config["model"], config["training"]
    states: dict[str, int] = {}
    for row in rows:
        states[str(row.get("state"))] = states.get(str(row.get("state")), 0) + 1
    stopped = sum(str(row.get("stopped_early")) == "True" for row in rows)
    space_lines = _space_lines(search["space"], search["max_epochs"])
    scheduler = (
        f"ASHA (grace period {search['grace_period']} epochs, reduction factor {search['reduction_factor']}, "
        f"max {search['max_epochs']} epochs)" if search["scheduler"] == "asha" else "FIFO (no early stopping)"
    )
    ignored = ("in_channels", "hidden_channels") if model["encoder"] == "linear" else ("in_channels",)
    hyper = {**{k: v for k, v in model.items() if k not in ignored},
             **{k: v for k, v in training.items() if k != "seed"}}
    split = config["split"]
    sizes = split["sizes"]
    return "\n".join([
        f"# {model['model'].upper()} link predictor for {config['dataset']}",
        "",
        f"Exported by tune-gae {config['versions'].get('tune_gae')} on {config['created']} from trial "
        f"`{trial['id']}` of the search `{search['name']}` ({search['path']}).",
        "",
        "## What was searched",
        "",
        f"- Dataset: {config['dataset']} ({config['num_nodes']} nodes, {config['in_channels']} input features; "
        f"source `{config['data']['dataset']}`).",
        f"- Split: seed {split['seed']}, hash `{split['hash']}`: {sizes['train_edge_index'] // 2} training edges, "
        f"{sizes['val_pos']} validation and {sizes.get('test_pos', 0)} test edges, each with as many sampled non-edges.",
        f"- Space: `{search['space']}`" + (":" if space_lines else "."),
        *space_lines,
        f"- {search['num_trials']} trials (" + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
        + f"; {stopped} stopped early), Optuna TPE (seed {search['seed']}) through Ray Tune, scheduler {scheduler}.",
        "",
        "## How this model was selected",
        "",
        f"- The trial with the highest validation {metrics['selected_by'].replace('val_', '').upper()} "
        f"(`{metrics['selected_by']}`), and within it the weights of its best validation epoch "
        f"({trial['best_epoch']} of {trial['epochs_run']} run).",
        "- Trials never received the test edges. The test metrics below were computed once, at export.",
        "- Chosen hyperparameters: " + ", ".join(f"{k}={v}" for k, v in hyper.items()) + ".",
        "- The best of many trials overfits the validation edges a little: run "
        "`tune-gae evaluate <bundle> --seeds 5` for an estimate from fresh re-training.",
        "",
        "## Metrics",
        "",
        "| | AUC | AP |",
        "|---|---|---|",
        f"| validation (search) | {metrics['val_auc']:.4f} | {metrics['val_ap']:.4f} |",
        f"| test (once, at export) | {metrics['test_auc']:.4f} | {metrics['test_ap']:.4f} |",
        "",
        "## How to load",
        "",
        "```python",
        "import torch",
        "from tune_gae import load_model",
        "from tune_gae.export import load_bundle_split, load_embeddings",
        "",
        'model = load_model("path/to/bundle")          # GAE/VGAE in eval mode, weights_only loading',
        'z = load_embeddings("path/to/bundle")         # [num_nodes, latent], on the training graph',
        'edges = load_bundle_split("path/to/bundle")   # train_edge_index, val/test pos/neg',
        "score = torch.sigmoid((z[u] * z[v]).sum())     # probability of a link u-v",
        "```",
        "",
        "Without tune-gae (torch only):",
        "",
        "```python",
        "import torch",
        'encoder = torch.jit.load("path/to/bundle/encoder.pt")',
        "z = encoder(x, edge_index)   # raw features [N, "
        f"{config['in_channels']}], edge_index [2, E] (both directions) -> [N, {model['latent_channels']}]",
        "```",
        "",
        f"`encoder.pt`: {encoder_note}. Command line: `tune-gae embed`, `tune-gae predict`, `tune-gae evaluate`.",
        "",
        "## Files",
        "",
        "`model.pt` (state_dict), `config.json`, `metrics.json`, `embeddings.pt`, `split.pt`, `encoder.pt`, "
        "this card. Versions: " + ", ".join(f"{k} {v}" for k, v in config["versions"].items()) + ".",
        "",
    ])


def _space_lines(space_path: str, max_epochs: int) -> list[str]:
    from tune_gae.spaces import load_space

    try:
        space = load_space(space_path)
    except TuneGAEError:
        return []
    lines = []
    for parameter in space.parameters:
        when = f" (when {parameter.condition()})" if parameter.requires else ""
        text = parameter.describe()
        if parameter.name == "epochs":
            text += f" (capped at {max_epochs})"
        lines.append(f"  - `{parameter.name}`: {parameter.kind} {text}{when}")
    return lines


# --------------------------------------------------------------------------- loading


def _bundle_dir(bundle: str | Path) -> Path:
    folder = Path(bundle).expanduser().resolve()
    if not folder.exists():
        raise TuneGAEError(
            f"bundle folder {folder} does not exist: pass the folder `tune-gae export` wrote (e.g. results/<name>/best)."
        )
    if not folder.is_dir():
        raise TuneGAEError(f"{folder} is a file, not a bundle folder: pass the folder that holds {CONFIG_FILE}.")
    if not (folder / CONFIG_FILE).exists() and (folder / "search.json").is_file():
        raise TuneGAEError(
            f"{folder} is a search folder, not a bundle: use {folder / BEST_DIR} (run `tune-gae export {folder}` first)."
        )
    return folder


def _require(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise TuneGAEError(
            f"bundle {folder} is missing {name} (a partial copy?): copy the whole folder or re-export it "
            f"with `tune-gae export <search>`."
        )
    return path


def read_bundle_config(bundle: str | Path) -> dict[str, Any]:
    """The bundle's ``config.json``, checked: JSON, format, version, required sections."""
    folder = _bundle_dir(bundle)
    path = _require(folder, CONFIG_FILE)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TuneGAEError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}; truncated or "
            f"edited?): re-export the bundle with `tune-gae export <search>`."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TuneGAEError(f"cannot read {path} ({_first_line(exc)}): re-export the bundle.") from None
    if not isinstance(config, dict) or config.get("format") != BUNDLE_FORMAT:
        raise TuneGAEError(
            f"{path} is not a tune-gae bundle config (no \"format\": \"{BUNDLE_FORMAT}\"): "
            f"pass a folder written by `tune-gae export`."
        )
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        written = (config.get("versions") or {}).get("tune_gae")
        raise TuneGAEError(
            f"bundle {folder} has format version {version!r} but this tune-gae reads version {FORMAT_VERSION}: "
            f"re-export it with this tune-gae" + (f" (it was written by tune-gae {written})." if written else ".")
        )
    missing = [k for k in ("model", "training", "data", "split", "num_nodes") if k not in config]
    if missing:
        raise TuneGAEError(f"{path} lacks {', '.join(repr(k) for k in missing)}: re-export the bundle.")
    return config


def bundle_model_config(config: dict[str, Any]) -> ModelConfig:
    """The ``ModelConfig`` a bundle's config describes (strict: unknown keys are errors)."""
    return _dataclass_from(ModelConfig, config.get("model"), "model")


def bundle_train_config(config: dict[str, Any]) -> TrainConfig:
    """The training settings the exported trial used (what ``tune-gae evaluate`` re-trains with)."""
    return _dataclass_from(TrainConfig, config.get("training"), "training")


def bundle_data_config(config: dict[str, Any], *, data_root: str | None = None) -> DataConfig:
    """The bundle's data source and split settings; ``data_root`` overrides where data is looked for."""
    data = _dataclass_from(DataConfig, config.get("data"), "data")
    return DataConfig(**{**asdict(data), "root": data_root}) if data_root else data


def _dataclass_from(cls: type, values: Any, section: str) -> Any:
    if not isinstance(values, dict):
        raise TuneGAEError(f"bundle config's {section!r} must be a mapping: re-export the bundle.")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise TuneGAEError(
            f"bundle config's {section!r} has unknown key {unknown[0]!r}: it was written by another "
            f"tune-gae version; re-export it with this one."
        )
    try:
        return cls(**values)
    except TypeError as exc:
        raise TuneGAEError(f"bundle config's {section!r} is incomplete ({exc}): re-export the bundle.") from None
    except TuneGAEError as exc:
        raise TuneGAEError(f"bundle config's {section!r} is invalid: {exc}") from None


def _load_tensors(folder: Path, name: str, device: str | torch.device = "cpu") -> Any:
    """``torch.load(weights_only=True)`` with one-line errors; pickled code is refused, never run."""
    path = _require(folder, name)
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a damaged file
        text = _first_line(exc)
        if "Weights only load failed" in text:
            raise TuneGAEError(
                f"refused to load {path}: it holds pickled Python objects, not only tensors (loading it "
                f"could run code); a bundle's {name} is a plain tensor file: re-export it with `tune-gae export`."
            ) from None
        raise TuneGAEError(
            f"{path} is corrupt or truncated ({type(exc).__name__}: {text or 'unexpected end of file'}): "
            f"re-export the bundle with `tune-gae export <search>`."
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else ""


def _check_state_dict(path: Path, state: Any, expected: dict[str, Tensor]) -> None:
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items()):
        raise TuneGAEError(f"{path} is not a state_dict (a mapping of names to tensors): re-export the bundle.")
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unexpected {', '.join(unexpected)}"] if unexpected else [])
        raise TuneGAEError(
            f"{path} does not match config.json's model ({'; '.join(parts)}): the two files come from "
            f"different models; re-export the bundle."
        )
    for key, want in expected.items():
        got = state[key]
        if tuple(got.shape) != tuple(want.shape):
            raise TuneGAEError(
                f"{path}: {key} has shape {list(got.shape)} but config.json's model needs "
                f"{list(want.shape)}: the two files come from different models; re-export the bundle."
            )
        if not got.is_floating_point():
            raise TuneGAEError(f"{path}: {key} holds {got.dtype} values, not floats: re-export the bundle.")


def load_model(bundle: str | Path, device: str | torch.device = "cpu") -> GAE:
    """The bundle's GAE/VGAE with its best-validation weights, in eval mode on ``device``.

    Checks the bundle first (missing files, bad JSON, format version, weights that do not fit
    the config) and refuses a ``model.pt`` that contains pickled objects.
    """
    from tune_gae.models import build_model

    config = read_bundle_config(bundle)
    folder = _bundle_dir(bundle)
    model_config = bundle_model_config(config)
    model = build_model(model_config)
    state = _load_tensors(folder, MODEL_FILE)
    _check_state_dict(folder / MODEL_FILE, state, model.state_dict())
    model.load_state_dict(state)
    return model.to(device).eval()


def load_embeddings(bundle: str | Path) -> Tensor:
    """``embeddings.pt``: float ``[num_nodes, latent]`` (mu for a VGAE) on the training graph."""
    config = read_bundle_config(bundle)
    folder = _bundle_dir(bundle)
    z = _load_tensors(folder, EMBEDDINGS_FILE)
    latent = bundle_model_config(config).latent_channels
    if not isinstance(z, Tensor) or z.dim() != 2 or not z.is_floating_point():
        raise TuneGAEError(f"{folder / EMBEDDINGS_FILE} is not a float matrix: re-export the bundle.")
    if tuple(z.shape) != (config["num_nodes"], latent):
        raise TuneGAEError(
            f"{folder / EMBEDDINGS_FILE} has shape {list(z.shape)} but config.json says "
            f"[{config['num_nodes']}, {latent}]: re-export the bundle."
        )
    return z


def load_bundle_split(bundle: str | Path) -> dict[str, Tensor]:
    """``split.pt``: ``train_edge_index`` (both directions), ``val_pos/neg``, ``test_pos/neg``."""
    config = read_bundle_config(bundle)
    folder = _bundle_dir(bundle)
    edges = _load_tensors(folder, SPLIT_FILE)
    path = folder / SPLIT_FILE
    if not isinstance(edges, dict) or sorted(edges) != sorted(SPLIT_KEYS):
        found = sorted(edges) if isinstance(edges, dict) else type(edges).__name__
        raise TuneGAEError(f"{path} must hold {', '.join(SPLIT_KEYS)} but holds {found}: re-export the bundle.")
    num_nodes = int(config["num_nodes"])
    for key, tensor in edges.items():
        if not isinstance(tensor, Tensor) or tensor.dim() != 2 or tensor.size(0) != 2 or tensor.dtype != torch.long:
            raise TuneGAEError(f"{path}: {key} must be a [2, E] long tensor: re-export the bundle.")
        if tensor.numel() and (int(tensor.min()) < 0 or int(tensor.max()) >= num_nodes):
            raise TuneGAEError(f"{path}: {key} has node ids outside 0..{num_nodes - 1}: re-export the bundle.")
    return edges


def rebuild_split(bundle: str | Path, *, data_root: str | None = None) -> LinkSplit:
    """The bundle's split recomputed from its data source; must hash the same as at export."""
    from tune_gae.data import load_split

    config = read_bundle_config(bundle)
    split = load_split(bundle_data_config(config, data_root=data_root))
    expected = config["split"].get("hash")
    if split.split_hash != expected:
        raise TuneGAEError(
            f"the data changed since export (split {split.split_hash} != {expected}): point --data-root "
            f"at the dataset the bundle was trained on."
        )
    return split
