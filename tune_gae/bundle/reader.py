"""Loading a bundle back safely: every ``.pt`` file with ``torch.load(weights_only=True)``, every
problem a one-line ``TuneGAEError`` that says how to fix it.
"""
from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from tune_gae.bundle.files import (
    BEST_DIR,
    BUNDLE_FORMAT,
    CONFIG_FILE,
    EMBEDDINGS_FILE,
    FORMAT_VERSION,
    MODEL_FILE,
    SPLIT_FILE,
    SPLIT_KEYS,
)
from tune_gae.config import (
    DataConfig,
    ModelConfig,
    TrainConfig,
)
from tune_gae.errors import TuneGAEError
from tune_gae.rules import GRAPH_DECODERS
from tune_gae.search.results import is_search_dir, require_same_split

if TYPE_CHECKING:
    from torch_geometric.nn import GAE

    from tune_gae.data.split import LinkSplit


# --------------------------------------------------------------------------- loading


def _bundle_dir(bundle: str | Path) -> Path:
    folder = Path(bundle).expanduser().resolve()
    if not folder.exists():
        raise TuneGAEError(
            f"bundle folder {folder} does not exist: pass the folder `tune-gae export` wrote (e.g. results/<name>/best)."
        )
    if not folder.is_dir():
        raise TuneGAEError(f"{folder} is a file, not a bundle folder: pass the folder that holds {CONFIG_FILE}.")
    if not (folder / CONFIG_FILE).exists() and is_search_dir(folder):
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


def bundle_decoder(bundle: str | Path) -> str:
    """The bundle's decoder (link scorer): ``inner_product``, ``hadamard_mlp`` or ``ncn``."""
    return bundle_model_config(read_bundle_config(bundle)).decoder


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
        if got.is_floating_point() != want.is_floating_point():  # (a batch norm counts its batches in int64)
            kind = "floats" if want.is_floating_point() else f"{want.dtype} values"
            raise TuneGAEError(f"{path}: {key} holds {got.dtype} values, not {kind}: re-export the bundle.")


def load_model(bundle: str | Path, device: str | torch.device = "cpu") -> GAE:
    """The bundle's GAE/VGAE with its best-validation weights, in eval mode on ``device``.

    Checks the bundle first (missing files, bad JSON, format version, weights that do not fit
    the config) and refuses a ``model.pt`` that contains pickled objects. A decoder that reads
    a graph (``ncn``) gets the bundle's training graph (``split.pt``'s ``train_edge_index``), so
    ``model.decoder.logits(z, pairs)`` scores pairs as the bundle's metrics were computed.
    """
    from tune_gae.nn.encoders import build_model

    config = read_bundle_config(bundle)
    folder = _bundle_dir(bundle)
    model_config = bundle_model_config(config)
    model = build_model(model_config)
    state = _load_tensors(folder, MODEL_FILE)
    _check_state_dict(folder / MODEL_FILE, state, model.state_dict())
    model.load_state_dict(state)
    if model_config.decoder in GRAPH_DECODERS:
        model.decoder.attach_graph(load_bundle_split(folder)["train_edge_index"], int(config["num_nodes"]))
    return model.to(device).eval()


def load_embeddings(bundle: str | Path) -> Tensor:
    """``embeddings.pt``: float ``[num_nodes, latent]`` (mu for a VGAE) on the training graph."""
    config = read_bundle_config(bundle)
    folder = _bundle_dir(bundle)
    z = _load_tensors(folder, EMBEDDINGS_FILE)
    latent = bundle_model_config(config).embedding_dim
    if not isinstance(z, Tensor) or z.dim() != 2 or not z.is_floating_point():
        raise TuneGAEError(f"{folder / EMBEDDINGS_FILE} is not a float matrix: re-export the bundle.")
    if tuple(z.shape) != (config["num_nodes"], latent):
        raise TuneGAEError(
            f"{folder / EMBEDDINGS_FILE} has shape {list(z.shape)} but config.json says "
            f"[{config['num_nodes']}, {latent}]: re-export the bundle."
        )
    return z


def load_bundle_split(bundle: str | Path) -> dict[str, Tensor]:
    """``split.pt``: ``train_edge_index`` (both directions), ``val_pos/neg``, ``test_pos/neg``
    (negatives ``[2, N]`` shared, or ``[2, P, K]`` per positive with ``--negatives hard``)."""
    config = read_bundle_config(bundle)
    folder = _bundle_dir(bundle)
    edges = _load_tensors(folder, SPLIT_FILE)
    path = folder / SPLIT_FILE
    if not isinstance(edges, dict) or sorted(edges) != sorted(SPLIT_KEYS):
        found = sorted(edges) if isinstance(edges, dict) else type(edges).__name__
        raise TuneGAEError(f"{path} must hold {', '.join(SPLIT_KEYS)} but holds {found}: re-export the bundle.")
    num_nodes = int(config["num_nodes"])
    hard = config.get("split", {}).get("negatives") == "hard"
    for key, tensor in edges.items():
        # Hard negatives are per positive: [2, P, K] (positive i's own in [:, i]).
        dims, shape = (3, "[2, P, K]") if hard and key.endswith("_neg") else (2, "[2, E]")
        if not isinstance(tensor, Tensor) or tensor.dim() != dims or tensor.size(0) != 2 or tensor.dtype != torch.long:
            raise TuneGAEError(f"{path}: {key} must be a {shape} long tensor: re-export the bundle.")
        if tensor.numel() and (int(tensor.min()) < 0 or int(tensor.max()) >= num_nodes):
            raise TuneGAEError(f"{path}: {key} has node ids outside 0..{num_nodes - 1}: re-export the bundle.")
    return edges


def rebuild_split(bundle: str | Path, *, data_root: str | None = None) -> LinkSplit:
    """The bundle's split recomputed from its data source; must hash the same as at export."""
    from tune_gae.data.split import load_split

    config = read_bundle_config(bundle)
    split = load_split(bundle_data_config(config, data_root=data_root))
    require_same_split(split.split_hash, config["split"].get("hash"), since="export",
                       fix="point --data-root at the dataset the bundle was trained on.")
    return split
