"""Node inputs for any graph: its own features, learnable embeddings, structural encodings.

An encoding is named by its parts joined with ``+`` (``embedding+degree``):

- ``features``: the node features the user brought (only for graphs that have them);
- ``embedding``: a learnable vector per node (an embedding table: one-hot node ids through the
  first layer's weights, as a sparse identity block, so it never materialises ``N x N``);
- ``degree``: one-hot log2-degree buckets (``DEGREE_BUCKETS`` columns);
- ``spectral``: the leading eigenvectors of the GCN-normalised adjacency ``D^-1/2 (A+I) D^-1/2``
  (Laplacian positional encodings, Belkin & Niyogi 2003; Dwivedi et al. 2020), ``spectral_dims``
  columns, signs fixed so that each vector's largest entry is positive.

Structural parts are computed from the TRAINING edges only: no validation or test edge can
shape a node's input (the split's ``train_pos`` is the only graph these functions see).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor

from tune_gae.errors import TuneGAEError, did_you_mean
from tune_gae.rules import ENCODING_PARTS

__all__ = [
    "DEGREE_BUCKETS",
    "ENCODING_PARTS",
    "SPECTRAL_DIMS",
    "degree_encoding",
    "describe_encoding",
    "encoding_parts",
    "node_inputs",
    "spectral_encoding",
]

DEGREE_BUCKETS = 32
SPECTRAL_DIMS = 16  # default size of the spectral encoding
SPECTRAL_DIMS_MAX = 64
SPECTRAL_DENSE_MAX_NODES = 2000  # below this a dense eigendecomposition is cheaper and exact
SPECTRAL_SEED = 0


def encoding_parts(encoding: str, *, has_features: bool) -> tuple[str, ...]:
    """The parts of an encoding name, checked: ``"embedding+degree"`` -> ``("embedding", "degree")``."""
    parts = tuple(part.strip() for part in encoding.split("+") if part.strip())
    if not parts:
        raise TuneGAEError(f"node_encoding cannot be empty: use parts of {', '.join(ENCODING_PARTS)} joined by '+'.")
    for part in parts:
        if part not in ENCODING_PARTS:
            raise TuneGAEError(
                f"unknown node_encoding part {part!r}{did_you_mean(part, ENCODING_PARTS)}: use "
                f"{', '.join(ENCODING_PARTS)} joined by '+', e.g. embedding+degree."
            )
    if len(set(parts)) != len(parts):
        raise TuneGAEError(f"node_encoding {encoding!r} repeats a part.")
    if "features" in parts and not has_features:
        raise TuneGAEError(
            f"node_encoding {encoding!r} uses node features but this graph has none: pass --features, "
            f"or use embedding, degree or spectral."
        )
    return tuple(p for p in ENCODING_PARTS if p in parts)  # one canonical order


def describe_encoding(encoding: str, width: int, *, spectral_dims: int = SPECTRAL_DIMS) -> str:
    """One line for a person: what the encoding is and how many input columns it makes."""
    words = {
        "features": "the graph's node features",
        "embedding": "a learnable embedding per node",
        "degree": f"one-hot log-degree ({DEGREE_BUCKETS} dims)",
        "spectral": f"Laplacian eigenvectors ({spectral_dims} dims)",
    }
    parts = [words[p] for p in encoding.split("+") if p in words]
    return f"node encoding {encoding}: {' + '.join(parts)}, {width} input columns, structure from training edges only"


def _training_degree(train_pos: Tensor, num_nodes: int) -> Tensor:
    return torch.bincount(train_pos.flatten(), minlength=num_nodes).float()


def degree_encoding(train_pos: Tensor, num_nodes: int) -> Tensor:
    """One-hot ``floor(log2(degree + 1))`` buckets of the training graph, ``[N, DEGREE_BUCKETS]``."""
    degree = _training_degree(train_pos, num_nodes)
    bucket = torch.log2(degree + 1).floor().clamp(max=DEGREE_BUCKETS - 1).long()
    return torch.nn.functional.one_hot(bucket, DEGREE_BUCKETS).float()


def spectral_encoding(train_pos: Tensor, num_nodes: int, dims: int = SPECTRAL_DIMS) -> Tensor:
    """The ``dims`` leading eigenvectors of the training graph's ``D^-1/2 (A+I) D^-1/2``, ``[N, dims]``.

    Dense below ``SPECTRAL_DENSE_MAX_NODES`` nodes, else ARPACK (``scipy.sparse.linalg.eigsh``)
    from a seeded start vector: the same graph gives the same encoding. Columns beyond N - 1
    (tiny graphs) are zero.
    """
    from scipy.sparse import coo_matrix, identity
    from scipy.sparse.linalg import eigsh

    if not 1 <= dims <= SPECTRAL_DIMS_MAX:
        raise TuneGAEError(f"spectral_dims must be between 1 and {SPECTRAL_DIMS_MAX} but got {dims}.")
    u, v = train_pos[0].numpy(), train_pos[1].numpy()
    adjacency = coo_matrix(
        (np.ones(2 * u.size), (np.concatenate([u, v]), np.concatenate([v, u]))), shape=(num_nodes, num_nodes)
    ).tocsr()
    adjacency.data[:] = 1.0
    adjacency = adjacency + identity(num_nodes, format="csr")
    inv_sqrt = 1.0 / np.sqrt(np.asarray(adjacency.sum(axis=1)).ravel())
    normalized = adjacency.multiply(inv_sqrt[:, None]).multiply(inv_sqrt[None, :]).tocsr()
    k = min(dims, num_nodes)
    if num_nodes <= SPECTRAL_DENSE_MAX_NODES:
        values, vectors = np.linalg.eigh(normalized.toarray())
        vectors = vectors[:, np.argsort(-values)[:k]]
    else:
        start = np.random.default_rng(SPECTRAL_SEED).standard_normal(num_nodes)
        values, vectors = eigsh(normalized, k=k, which="LA", v0=start, tol=1e-6)
        vectors = vectors[:, np.argsort(-values)]
    # An eigenvector's sign is arbitrary: fix it so that its largest-magnitude entry is positive.
    signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(vectors.shape[1])])
    vectors = vectors * np.where(signs == 0, 1.0, signs)
    out = torch.zeros(num_nodes, dims)
    out[:, : vectors.shape[1]] = torch.from_numpy(vectors).float()
    return out


def node_inputs(
    encoding: str,
    *,
    features: Tensor | None,
    train_pos: Tensor,
    num_nodes: int,
    spectral_dims: int = SPECTRAL_DIMS,
) -> Tensor:
    """The encoder's input matrix for ``encoding``: ``[N, width]``, dense or CSR.

    With a learnable embedding the result is CSR (an identity block after the other columns), so
    a graph of 1e6 nodes costs N stored entries for it, not N^2.
    """
    parts = encoding_parts(encoding, has_features=features is not None)
    blocks: list[Tensor] = []
    if "features" in parts:
        assert features is not None
        blocks.append(features.to_dense() if features.layout != torch.strided else features)
    if "degree" in parts:
        blocks.append(degree_encoding(train_pos, num_nodes))
    if "spectral" in parts:
        blocks.append(spectral_encoding(train_pos, num_nodes, spectral_dims))
    dense = torch.cat(blocks, dim=1).float() if blocks else torch.zeros(num_nodes, 0)
    if "embedding" not in parts:
        return dense
    return _append_identity(dense)


def _append_identity(dense: Tensor) -> Tensor:
    """``[dense | I]`` as a CSR matrix (dense's zeros not stored)."""
    num_nodes, width = dense.shape
    mask = dense != 0
    rows, cols = mask.nonzero(as_tuple=True)
    values = dense[rows, cols]
    ids = torch.arange(num_nodes)
    rows = torch.cat([rows, ids])
    cols = torch.cat([cols, ids + width])
    values = torch.cat([values, torch.ones(num_nodes)])
    order = torch.argsort(rows * (width + num_nodes) + cols)
    rows, cols, values = rows[order], cols[order], values[order]
    crow = torch.zeros(num_nodes + 1, dtype=torch.long)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=num_nodes), 0)
    with warnings.catch_warnings():  # "CSR support is in beta": the encoder relies on it anyway
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, cols, values, (num_nodes, width + num_nodes))
