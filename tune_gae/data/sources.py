"""Where graphs come from: Planetoid names, a user's edge-list file (with optional node features),
or ``synthetic:nodes=2000,communities=5`` (a seeded stochastic block model).
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import sys
from pathlib import Path

import torch
from torch import Tensor
from torch_geometric.data import Data

from tune_gae.config import SYNTHETIC_PREFIX, DataConfig, looks_like_path, planetoid_name
from tune_gae.data.edge_file import check_feature_file, edge_list_name, read_edge_file
from tune_gae.errors import TuneGAEError
from tune_gae.logs import library_chatter_shown

PLANETOID_RAW_SUFFIXES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
DATA_ROOT_ENV = "TUNE_GAE_DATA"
SYNTHETIC_DEFAULTS = {
    "nodes": 2000,
    "communities": 5,
    "degree": 8.0,  # mean node degree
    "p_in": 0.8,  # probability that an edge stays inside its community
    "features": 64,
    "seed": 0,
}


SYNTHETIC_TOPIC_SHARE = 0.2  # share of words that are a community's topic words
SYNTHETIC_TOPIC_PROB = 0.3  # chance a node uses one of its community's topic words
SYNTHETIC_BACKGROUND_PROB = 0.03  # chance it uses any other word


# --------------------------------------------------------------------------- loading


def default_data_root() -> Path:
    """``$TUNE_GAE_DATA``, else the user cache folder (``$XDG_CACHE_HOME/tune-gae``)."""
    if os.environ.get(DATA_ROOT_ENV):
        return Path(os.environ[DATA_ROOT_ENV]).expanduser().resolve()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return (Path(cache) / "tune-gae").resolve()


# Cora's and CiteSeer's Planetoid raw files (1.6 MB, as PyG downloads them) ship with the package:
# a fresh install works offline. PubMed (33 MB) is downloaded, or read from --data-root.
SHIPPED_PLANETOID = Path(__file__).resolve().parent / "planetoid"


def seed_shipped_raw_files(name: str, root: Path) -> None:
    """Copy the shipped raw files of ``name`` into ``root`` when it lacks them (PyG writes its
    processed files next to them, so they cannot be read from the package folder itself)."""
    shipped = SHIPPED_PLANETOID / name / "raw"
    raw_dir = root / "Planetoid" / name / "raw"
    if not shipped.is_dir():
        return
    for source in shipped.iterdir():
        target = raw_dir / source.name
        if not target.exists():
            raw_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)


def load_graph(config: DataConfig) -> Data:
    """Load the graph named by ``config.dataset`` as a PyG ``Data`` (x, edge_index, name).

    Edges come back undirected (both directions), without self loops or duplicates. Features
    come back raw: normalising them is a model hyperparameter (``ModelConfig.normalize_features``).
    """
    source = config.dataset.strip()
    if source.lower().startswith(SYNTHETIC_PREFIX):
        data = synthetic_graph(source)
    elif looks_like_path(source):
        data = load_edge_list(Path(source), features=Path(config.features) if config.features else None)
    else:
        root = Path(config.root).expanduser().resolve() if config.root else default_data_root()
        if not config.root and not os.environ.get(DATA_ROOT_ENV):  # the default cache: seed it
            seed_shipped_raw_files(planetoid_name(source), root)
        data = load_planetoid(source, root)
    return data


def load_planetoid(name: str, root: Path) -> Data:
    """Cora/CiteSeer/PubMed from ``<root>/Planetoid/<Name>/raw`` (PyG downloads it if online)."""
    from torch_geometric.datasets import Planetoid

    name = planetoid_name(name)
    raw_dir = root / "Planetoid" / name / "raw"
    wanted = [f"ind.{name.lower()}.{suffix}" for suffix in PLANETOID_RAW_SUFFIXES]
    missing = [f for f in wanted if not (raw_dir / f).exists()]
    try:
        # PyG prints "Processing..." and "Done!": on stderr with --verbose, else nowhere
        # (stdout stays clean for --json either way).
        shown = sys.stderr if library_chatter_shown() else io.StringIO()
        with contextlib.redirect_stdout(shown), contextlib.redirect_stderr(shown):
            dataset = Planetoid(str(root / "Planetoid"), name)
    except Exception as exc:  # download (offline) or processing failure
        if missing:
            raise TuneGAEError(
                f"{name} raw files not found in {raw_dir} (missing {', '.join(missing)}) and the "
                f"download failed ({type(exc).__name__}): copy the Planetoid raw files there, or "
                f"pass --data-root / set {DATA_ROOT_ENV} to a folder holding Planetoid/{name}/raw/."
            ) from None
        raise TuneGAEError(
            f"could not process {name} raw files in {raw_dir} ({type(exc).__name__}: {exc}): "
            f"check the folder is writable and the files are the original Planetoid ones."
        ) from None
    graph = dataset[0]
    data = Data(x=graph.x, edge_index=_undirected(graph.edge_index, graph.num_nodes))
    data.num_nodes = graph.num_nodes
    data.name = name
    return data


def load_edge_list(path: Path, *, features: Path | None = None) -> Data:
    """An edge-list file (``tune_gae.data.edge_file`` says what it may hold) as an undirected graph."""
    pairs = read_edge_file(path)
    edge_index = torch.tensor(pairs, dtype=torch.long).t()
    num_nodes = int(edge_index.max()) + 1
    notes: list[str] = []
    if features is not None:
        x = load_features(features)
        if x.size(0) < num_nodes:
            raise TuneGAEError(
                f"node id {num_nodes - 1} in {path} is out of range for {features}, which has "
                f"{x.size(0)} feature rows: give one feature row per node id 0..N-1."
            )
        if x.size(0) > num_nodes:
            notes.append(
                f"{features} has {x.size(0)} feature rows but {path.name}'s largest node id is {num_nodes - 1}: "
                f"nodes {num_nodes}..{x.size(0) - 1} ({x.size(0) - num_nodes}) have no edges."
            )
        num_nodes = x.size(0)
    else:
        # No features: each run builds its node encoding from the split's TRAINING edges
        # (tune_gae.data.features), never from this full edge list.
        x = torch.zeros(num_nodes, 0)
    data = Data(x=x, edge_index=_undirected(edge_index, num_nodes))
    data.num_nodes = num_nodes
    data.name = edge_list_name(path)  # a search folder's default name starts with it
    data.notes = notes
    return data


def load_features(path: Path) -> Tensor:
    """Node features from ``.npy``, ``.pt`` (a tensor) or CSV (one row per node)."""
    check_feature_file(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            import numpy as np

            x = torch.from_numpy(np.load(path, allow_pickle=False))
        elif suffix == ".pt":
            x = torch.load(path, weights_only=True)
        else:
            import numpy as np

            x = torch.from_numpy(np.loadtxt(path, delimiter="," if suffix == ".csv" else None, ndmin=2))
    except Exception as exc:
        raise TuneGAEError(f"could not read features from {path} ({type(exc).__name__}: {exc}).") from None
    if not isinstance(x, Tensor) or x.dim() != 2:
        raise TuneGAEError(f"features in {path} must be a 2-D matrix [nodes, features].")
    x = x.float()
    bad_rows = (~torch.isfinite(x)).any(dim=1).nonzero().flatten()
    if bad_rows.numel():
        row = int(bad_rows[0])
        column = int((~torch.isfinite(x[row])).nonzero()[0])
        raise TuneGAEError(
            f"{path}: row {row} (node {row}) holds {x[row, column].item()} in column {column}"
            f"{f' (and {bad_rows.numel() - 1} more rows hold NaN/inf)' if bad_rows.numel() > 1 else ''}: "
            f"features must be finite; fill missing values (e.g. with 0) or drop that column."
        )
    return x


def parse_synthetic(spec: str) -> dict[str, float]:
    """``synthetic:nodes=2000,communities=5`` -> settings (unknown keys are errors)."""
    _, _, body = spec.partition(":")
    settings: dict[str, float] = dict(SYNTHETIC_DEFAULTS)
    for item in filter(None, (part.strip() for part in body.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in SYNTHETIC_DEFAULTS:
            raise TuneGAEError(
                f"bad synthetic setting {item!r}: use key=value with keys "
                f"{', '.join(SYNTHETIC_DEFAULTS)}, e.g. synthetic:nodes=2000,communities=5."
            )
        try:
            settings[key] = float(value)
        except ValueError:
            raise TuneGAEError(f"synthetic setting {key} must be a number but got {value!r}.") from None
    if settings["nodes"] < 10 or settings["communities"] < 1 or settings["degree"] <= 0:
        raise TuneGAEError("synthetic graphs need nodes >= 10, communities >= 1 and degree > 0.")
    return settings


def synthetic_graph(spec: str) -> Data:
    """A seeded stochastic block model with binary, community-correlated word features."""
    s = parse_synthetic(spec)
    n, k, dims = int(s["nodes"]), int(s["communities"]), int(s["features"])
    gen = torch.Generator().manual_seed(int(s["seed"]))
    community = torch.randint(0, k, (n,), generator=gen)
    num_edges = int(n * s["degree"] / 2)
    src = torch.randint(0, n, (num_edges,), generator=gen)
    # An intra-community edge picks a random member of src's community; others pick any node.
    order = torch.argsort(community)
    counts = torch.bincount(community, minlength=k)
    starts = torch.cumsum(counts, 0) - counts
    offset = (torch.rand(num_edges, generator=gen) * counts[community[src]]).long()
    intra_dst = order[starts[community[src]] + offset]
    any_dst = torch.randint(0, n, (num_edges,), generator=gen)
    inside = torch.rand(num_edges, generator=gen) < s["p_in"]
    dst = torch.where(inside, intra_dst, any_dst)
    # Binary bag-of-words like Planetoid's: each community favours its own random "topic" words.
    topic = torch.rand(k, dims, generator=gen) < SYNTHETIC_TOPIC_SHARE
    word_prob = torch.where(topic, SYNTHETIC_TOPIC_PROB, SYNTHETIC_BACKGROUND_PROB)
    x = (torch.rand(n, dims, generator=gen) < word_prob[community]).float()
    data = Data(x=x, edge_index=_undirected(torch.stack([src, dst]), n))
    data.num_nodes = n
    data.name = spec
    data.y = community
    return data


def _undirected(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Both directions of every edge, no self loops, no duplicates, sorted."""
    pairs = unique_pairs(edge_index, num_nodes)
    return torch.cat([pairs, pairs.flip(0)], dim=1)


_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(text: str) -> str:
    """A file-system-safe version of a dataset name (for default run names)."""
    return _SAFE_NAME.sub("-", text).strip("-") or "graph"

def unique_pairs(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Each undirected edge once, as (low, high), sorted, self loops dropped."""
    low = torch.minimum(edge_index[0], edge_index[1])
    high = torch.maximum(edge_index[0], edge_index[1])
    keep = low != high
    keys = torch.unique(low[keep] * num_nodes + high[keep])
    return torch.stack([keys // num_nodes, keys % num_nodes])
