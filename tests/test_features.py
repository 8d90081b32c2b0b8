"""Node encodings: built from training edges only, right shapes, clear errors."""
from __future__ import annotations

import re
from pathlib import Path

import networkx as nx
import pytest
import torch

from tune_gae.data.features import (
    DEGREE_BUCKETS,
    degree_encoding,
    encoding_parts,
    node_inputs,
    spectral_encoding,
)
from tune_gae.data.sources import load_edge_list
from tune_gae.data.split import split_edges
from tune_gae.errors import TuneGAEError


def _write_edges(path: Path, pairs: torch.Tensor) -> Path:
    path.write_text("source,target\n" + "".join(f"{u},{v}\n" for u, v in pairs.t().tolist()))
    return path


@pytest.mark.parametrize("encoding", ["degree", "spectral", "degree+spectral", "embedding+degree"])
def test_no_held_out_edge_reaches_the_encoding(tmp_path: Path, encoding: str) -> None:
    """The encoding of a split equals the one built from a file holding only its training edges."""
    graph = nx.powerlaw_cluster_graph(300, 3, 0.3, seed=1)
    full = _write_edges(tmp_path / "full.csv", torch.tensor(list(graph.edges())).t())
    split = split_edges(load_edge_list(full), val_ratio=0.1, test_ratio=0.2, seed=0)
    # The same node ids, only the training edges (node 299 kept in range by its own row count).
    train_only = load_edge_list(_write_edges(tmp_path / "train.csv", split.train_pos))
    num_nodes = split.num_nodes
    train_only_pairs = train_only.edge_index[:, train_only.edge_index[0] < train_only.edge_index[1]]
    from_split = split.with_encoding(encoding).x  # what a run's encoder reads
    from_file = node_inputs(encoding, features=None, train_pos=train_only_pairs, num_nodes=num_nodes)
    assert torch.equal(from_split.to_dense(), from_file.to_dense())
    # ... and differs from one built on the full edge list (the leak the old code had).
    every_pair = torch.tensor(list(graph.edges())).t()
    leaky = node_inputs(encoding, features=None, train_pos=every_pair, num_nodes=num_nodes)
    assert not torch.equal(from_split.to_dense(), leaky.to_dense())


def test_degree_buckets_count_training_edges() -> None:
    train_pos = torch.tensor([[0, 0, 0, 1], [1, 2, 3, 2]])  # degrees 3, 2, 2, 1, 0
    x = degree_encoding(train_pos, 5)
    assert x.shape == (5, DEGREE_BUCKETS)
    assert x.argmax(dim=1).tolist() == [2, 1, 1, 1, 0]  # floor(log2(d + 1))


def test_spectral_vectors_are_eigenvectors_of_the_training_graph() -> None:
    graph = nx.karate_club_graph()
    pairs = torch.tensor(list(graph.edges())).t()
    x = spectral_encoding(pairs, 34, dims=8).double()
    a = torch.tensor(nx.to_numpy_array(graph, weight=None)) + torch.eye(34, dtype=torch.float64)
    inv_sqrt = a.sum(1).rsqrt()
    normalized = inv_sqrt[:, None] * a * inv_sqrt[None, :]
    eigenvalues = torch.linalg.eigvalsh(normalized).flip(0)[:8]
    assert torch.allclose(normalized @ x, x * eigenvalues, atol=1e-5)
    assert (x.abs().argmax(0) == x.argmax(0)).all()  # signs fixed: largest entry positive


def test_spectral_large_graph_path_matches_the_dense_one() -> None:
    graph = nx.random_regular_graph(4, 2500, seed=0)
    pairs = torch.tensor(list(graph.edges())).t()
    sparse = spectral_encoding(pairs, 2500, dims=4)  # ARPACK path (above the dense limit)
    assert sparse.shape == (2500, 4)
    assert torch.allclose(sparse.norm(dim=0), torch.ones(4), atol=1e-4)


def test_learnable_embedding_is_a_sparse_identity_block() -> None:
    train_pos = torch.tensor([[0, 1], [1, 2]])
    x = node_inputs("embedding+degree", features=None, train_pos=train_pos, num_nodes=4)
    assert x.layout == torch.sparse_csr and x.shape == (4, DEGREE_BUCKETS + 4)
    dense = x.to_dense()
    assert torch.equal(dense[:, DEGREE_BUCKETS:], torch.eye(4))
    assert torch.equal(dense[:, :DEGREE_BUCKETS], degree_encoding(train_pos, 4))
    only = node_inputs("embedding", features=None, train_pos=train_pos, num_nodes=4)
    assert only._nnz() == 4  # N stored entries, never N^2


def test_features_combine_with_embeddings() -> None:
    features = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    x = node_inputs("features+embedding", features=features, train_pos=torch.tensor([[0], [1]]), num_nodes=3)
    assert torch.equal(x.to_dense(), torch.cat([features, torch.eye(3)], dim=1))


@pytest.mark.parametrize(
    ("encoding", "has_features", "message"),
    [
        ("features", False, "uses node features but this graph has none: pass --features"),
        ("embeding", False, "unknown node_encoding part 'embeding' (did you mean 'embedding'?)"),
        ("degree+degree", False, "repeats a part"),
    ],
)
def test_bad_encodings_say_what_to_do(encoding: str, has_features: bool, message: str) -> None:
    with pytest.raises(TuneGAEError, match=re.escape(message)):
        encoding_parts(encoding, has_features=has_features)
