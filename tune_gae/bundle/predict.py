"""Using an exported bundle: node embeddings for a graph, link scores, likely new neighbours.

Scores are the bundle's own decoder's (``tune_gae.nn.decoders``): ``sigmoid(decoder.logits(z, pairs))``
with ``z`` the bundle's embeddings (mu for a VGAE) on its training graph (``embeddings.pt``) and,
for a decoder that reads a graph (``ncn``), that training graph (``split.pt``).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from tune_gae.bundle.reader import (
    bundle_model_config,
    load_bundle_split,
    load_embeddings,
    load_model,
    read_bundle_config,
    rebuild_split,
)
from tune_gae.errors import TuneGAEError

EMBEDDING_SUFFIXES = (".pt", ".npy")
# Pairs are scored in chunks of at most this many (pair, neighbour) entries: the ncn decoder
# gathers both ends' neighbours of every pair, and --node pairs one node (a hub, maybe) with all.
CHUNK_ENTRIES = 1 << 24


def embed_graph(
    bundle: str | Path,
    *,
    graph: str | Path | None = None,
    features: str | Path | None = None,
    data_root: str | None = None,
    device: str = "cpu",
) -> Tensor:
    """Embeddings ``[N, latent]`` from the bundle's model.

    Without ``graph``: the bundle's own training graph, rebuilt from its data source (the split
    hash must match). With ``graph`` (an edge-list file) and ``features`` (one row per node, as
    many columns as the model's input): a new graph, all its edges used for message passing.
    """
    from tune_gae.nn.encoders import embed

    config = read_bundle_config(bundle)
    model_config = bundle_model_config(config)
    in_channels = model_config.in_channels
    if graph is None:
        if features is not None:
            raise TuneGAEError("--features describes the nodes of --graph: give --graph too, or neither.")
        split = rebuild_split(bundle, data_root=data_root)
        # The bundle's node encoding, rebuilt from its training edges (as at training time).
        split = split.with_encoding(model_config.node_encoding, model_config.encoding_dims)
        x, edge_index = split.x, split.train_edge_index
    else:
        from tune_gae.data.features import node_inputs
        from tune_gae.data.sources import load_edge_list, unique_pairs

        data = load_edge_list(Path(graph), features=Path(features) if features is not None else None)
        x, edge_index = data.x, data.edge_index
        if model_config.node_encoding != "features":
            # Structural parts come from the new graph's edges; an embedding needs the same node ids.
            x = node_inputs(
                model_config.node_encoding,
                features=x if x.size(1) else None,
                train_pos=unique_pairs(edge_index, int(data.num_nodes)),
                num_nodes=int(data.num_nodes),
                spectral_dims=model_config.encoding_dims,
            )
        if x.size(1) != in_channels:
            given = f"{features} has" if features is not None else "without --features the graph gets"
            raise TuneGAEError(
                f"{given} {x.size(1)} feature columns but the model takes {in_channels} "
                f"(config.json in_channels): give --features with {in_channels} columns per node."
            )
    model = load_model(bundle, device=device)
    return embed(model, x.to(device), edge_index.to(device)).cpu()


def save_embeddings(z: Tensor, out: str | Path) -> Path:
    """Write ``z`` as a torch tensor (``.pt``) or a NumPy array (``.npy``)."""
    path = Path(out).expanduser()
    suffix = path.suffix.lower()
    if suffix not in EMBEDDING_SUFFIXES:
        raise TuneGAEError(f"--out must end in .pt or .npy but got {path.name!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".pt":
        torch.save(z.contiguous(), path)
    else:
        import numpy as np

        np.save(path, z.numpy(), allow_pickle=False)
    return path


def read_pairs(path: str | Path, num_nodes: int) -> Tensor:
    """Node pairs ``[2, P]`` from a CSV/TSV file of two integer columns (a header row is allowed)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise TuneGAEError(f"pairs file {path} does not exist: check the path given to --pairs.")
    from tune_gae.data.sources import read_id_pairs

    pairs = read_id_pairs(path, num_nodes=num_nodes, graph="the bundle's graph")
    if not pairs:
        raise TuneGAEError(f"pairs file {path} holds no pairs: write lines of 'source,target' node ids.")
    return torch.tensor(pairs, dtype=torch.long).t()


def link_probabilities(bundle: str | Path, pairs: Tensor) -> Tensor:
    """Link probabilities of node pairs ``[2, P]``: the sigmoid of the bundle's decoder's logits
    over ``embeddings.pt`` (and its training graph, for a decoder that reads one)."""
    return torch.sigmoid(_logits(bundle, pairs, load_bundle_split(bundle)["train_edge_index"]))


def _logits(bundle: str | Path, pairs: Tensor, train_edges: Tensor) -> Tensor:
    """The bundle's decoder's logits of ``pairs`` over ``embeddings.pt``, in chunks of at most
    ``CHUNK_ENTRIES`` neighbours (``train_edges``: the bundle's training graph)."""
    decoder, z = load_model(bundle).decoder, load_embeddings(bundle)
    most = int(torch.bincount(train_edges[0], minlength=z.size(0)).max()) if train_edges.numel() else 0
    chunk = max(1, CHUNK_ENTRIES // (1 + 2 * most))
    with torch.no_grad():
        return torch.cat([z.new_zeros(0), *(decoder.logits(z, part) for part in pairs.split(chunk, dim=1))])


def top_k_links(bundle: str | Path, node: int, k: int) -> list[tuple[int, int, float]]:
    """The ``k`` most likely new neighbours of ``node``: ``(node, other, probability)``, best first.

    Scores every other node with the bundle's decoder; excludes ``node`` itself and its
    neighbours in the training graph (the edges the model saw). Ties: the smaller node id first.
    """
    num_nodes = int(read_bundle_config(bundle)["num_nodes"])
    if not 0 <= node < num_nodes:
        raise TuneGAEError(f"--node {node} is out of range: the bundle's graph has nodes 0..{num_nodes - 1}.")
    if k < 1:
        raise TuneGAEError(f"--top-k must be at least 1 but got {k}.")
    edges = load_bundle_split(bundle)["train_edge_index"]
    allowed = torch.ones(num_nodes, dtype=torch.bool)
    allowed[edges[1][edges[0] == node]] = False
    allowed[edges[0][edges[1] == node]] = False
    allowed[node] = False
    candidates = torch.nonzero(allowed).flatten()
    scores = torch.sigmoid(_logits(bundle, torch.stack([torch.full_like(candidates, node), candidates]), edges))
    # Stable sort of candidates (ascending ids) by descending score: ties keep the smaller id first.
    order = torch.sort(scores, descending=True, stable=True).indices[:k]
    return [(node, int(candidates[i]), float(scores[i])) for i in order]
