import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tune_gae.config import DataConfig
from tune_gae.data.sources import load_graph
from tune_gae.data.split import load_split, split_edges
from tune_gae.errors import TuneGAEError


def _keys(pairs: torch.Tensor, n: int) -> set[int]:
    low = torch.minimum(pairs[0], pairs[1])
    high = torch.maximum(pairs[0], pairs[1])
    return set((low * n + high).tolist())


@pytest.fixture(scope="module")
def cora(data_root: Path):
    return load_split(DataConfig("Cora", root=str(data_root)))


def test_cora_split_sizes_follow_85_5_10(cora) -> None:
    assert cora.num_nodes == 2708 and cora.num_features == 1433
    total = cora.train_pos.size(1) + cora.val_pos.size(1) + cora.test_pos.size(1)
    assert total == 5278  # Cora's undirected edges, no self loops
    assert cora.val_pos.size(1) == int(0.05 * 5278) == cora.val_neg.size(1)
    assert cora.test_pos.size(1) == int(0.10 * 5278) == cora.test_neg.size(1)


def test_split_has_no_leak(cora) -> None:
    n = cora.num_nodes
    train, val, test = (_keys(t, n) for t in (cora.train_pos, cora.val_pos, cora.test_pos))
    assert not train & val and not train & test and not val & test
    message = _keys(cora.train_edge_index, n)
    assert message == train  # the message-passing graph is exactly the train positives
    assert not message & test and not message & val
    val_neg, test_neg = _keys(cora.val_neg, n), _keys(cora.test_neg, n)
    assert len(val_neg) == cora.val_neg.size(1) and len(test_neg) == cora.test_neg.size(1)
    assert not val_neg & test_neg
    assert not (val_neg | test_neg) & (train | val | test)  # negatives are true non-edges
    assert (cora.val_neg[0] != cora.val_neg[1]).all()


def test_same_seed_same_hash_other_seed_other_split(data_root: Path, cora) -> None:
    again = load_split(DataConfig("Cora", root=str(data_root)))
    assert again.split_hash == cora.split_hash
    assert torch.equal(again.test_neg, cora.test_neg)
    other = load_split(DataConfig("Cora", root=str(data_root), split_seed=1))
    assert other.split_hash != cora.split_hash
    assert not torch.equal(other.test_pos, cora.test_pos)


def test_test_graph_adds_exactly_the_validation_edges_and_never_a_test_edge(cora) -> None:
    n = cora.num_nodes
    train, val, test = (_keys(t, n) for t in (cora.train_pos, cora.val_pos, cora.test_pos))
    assert torch.equal(cora.known_pos("train"), cora.train_pos)
    assert torch.equal(cora.known_edge_index("train"), cora.train_edge_index)
    known = cora.known_pos("train+val")
    assert known.size(1) == len(train) + len(val) and _keys(known, n) == train | val
    messages = cora.known_edge_index("train+val")
    assert messages.size(1) == 2 * known.size(1) and _keys(messages, n) == train | val
    assert not _keys(messages, n) & test
    with pytest.raises(ValueError, match="unknown test graph 'all': use one of train, train\\+val"):
        cora.known_pos("all")


def test_without_test_drops_test_edges(cora) -> None:
    trial_copy = cora.without_test()
    assert trial_copy.test_pos is None and trial_copy.test_neg is None
    assert set(trial_copy.edge_tensors()) == {"train_edge_index", "val_pos", "val_neg"}


def test_features_come_back_raw(cora) -> None:
    assert set(cora.x.unique().tolist()) == {0.0, 1.0}  # Cora's binary bag of words


def test_citeseer_loads(data_root: Path) -> None:
    data = load_graph(DataConfig("citeseer", root=str(data_root)))  # case-insensitive
    assert data.name == "CiteSeer" and data.num_nodes == 3327 and data.x.size(1) == 3703


def test_synthetic_is_seeded_and_assortative() -> None:
    a = load_split(DataConfig("synthetic:nodes=500,communities=4,seed=3"))
    b = load_split(DataConfig("synthetic:nodes=500,communities=4,seed=3"))
    c = load_split(DataConfig("synthetic:nodes=500,communities=4,seed=4"))
    assert a.split_hash == b.split_hash != c.split_hash
    graph = load_graph(DataConfig("synthetic:nodes=500,communities=4,p_in=0.9"))
    same = (graph.y[graph.edge_index[0]] == graph.y[graph.edge_index[1]]).float().mean()
    assert same > 0.85  # ~0.9 + 0.1/4 of edges inside communities


def test_edge_list_with_header_and_features(tmp_path: Path) -> None:
    edges = tmp_path / "g.csv"
    rows = ["source,target"] + [f"{i},{(i + 1) % 60}" for i in range(60)] + [f"{i},{(i + 7) % 60}" for i in range(60)]
    edges.write_text("\n".join(rows) + "\n")
    feats = tmp_path / "x.npy"
    np.save(feats, np.random.default_rng(0).random((60, 5)).astype("float32"))
    data = load_graph(DataConfig(str(edges), features=str(feats)))
    assert data.num_nodes == 60 and data.x.shape == (60, 5) and data.edge_index.size(1) == 240
    split = split_edges(data, val_ratio=0.2, test_ratio=0.2, seed=0)
    assert split.test_pos.size(1) == 24


def test_edge_list_without_features_says_so(tmp_path: Path) -> None:
    edges = tmp_path / "g.tsv"
    edges.write_text("".join(f"{i}\t{(i + 1) % 30}\n" for i in range(30)))
    data = load_graph(DataConfig(str(edges)))
    # No features: nothing is built from the full edge list (a run encodes training edges only).
    assert data.x.shape == (30, 0)


@pytest.mark.parametrize(
    ("content", "features", "message"),
    [
        ("0,1\n1,x\n", None, "g.csv:2: node ids must be integers but got '1', 'x'"),
        ("0,1\n2\n", None, "g.csv:2: expected two node ids per line"),
        ("0,1\n-1,2\n", None, "g.csv:2: node ids cannot be negative"),
        ("src,dst\n", None, "holds no edges"),
        ("0,1\n1,9\n", 5, "node id 9 in"),
        ("3,3\n", None, "holds only self loops"),
    ],
)
def test_bad_edge_files(tmp_path: Path, content: str, features: int | None, message: str) -> None:
    edges = tmp_path / "g.csv"
    edges.write_text(content)
    feats = None
    if features:
        feats = tmp_path / "x.npy"
        np.save(feats, np.zeros((features, 3), dtype="float32"))
    with pytest.raises(TuneGAEError, match=re.escape(message)) as info:
        load_graph(DataConfig(str(edges), features=str(feats) if feats else None))
    assert "\n" not in str(info.value)


def test_unknown_dataset_lists_known_ones() -> None:
    with pytest.raises(TuneGAEError, match=r"unknown dataset 'Coraa' \(did you mean 'Cora'\?\): use one of Cora, CiteSeer, PubMed"):
        load_graph(DataConfig("Coraa"))


def test_missing_raw_files_offline_names_files_and_fix(tmp_path: Path) -> None:
    with pytest.raises(TuneGAEError) as info:
        load_graph(DataConfig("Cora", root=str(tmp_path)))
    message = str(info.value)
    assert str(tmp_path / "Planetoid" / "Cora" / "raw") in message
    assert "ind.cora.x" in message and "--data-root" in message and "TUNE_GAE_DATA" in message
    assert "\n" not in message


def test_without_a_data_root_the_shipped_raw_files_are_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh clone, offline, no TUNE_GAE_DATA: Cora and CiteSeer load from the package's copies,
    copied first into the (writable) cache where PyG writes its processed files."""
    from tune_gae.data.sources import DATA_ROOT_ENV, SHIPPED_PLANETOID, load_graph

    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    graph = load_graph(DataConfig("CiteSeer"))
    assert (graph.num_nodes, graph.x.size(1)) == (3327, 3703)
    raw = tmp_path / "cache" / "tune-gae" / "Planetoid" / "CiteSeer" / "raw"
    shipped = SHIPPED_PLANETOID / "CiteSeer" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(p.name for p in shipped.iterdir())
    assert all((raw / p.name).read_bytes() == p.read_bytes() for p in shipped.iterdir())


def test_nodes_without_a_training_edge_are_counted_and_explained(tmp_path: Path) -> None:
    """A ring with 400 leaves: some leaves' only edge is held out. The note counts exactly the nodes
    with an edge but none in the training edges, and says what that means."""
    edges = tmp_path / "leaves.csv"
    ring = [f"{i},{(i + 1) % 100}" for i in range(100)]
    leaves = [f"{i % 100},{100 + i}" for i in range(400)]
    edges.write_text("\n".join(ring + leaves) + "\n")
    split = load_split(DataConfig(str(edges)))
    trained = set(split.train_pos.flatten().tolist())
    untrained = 500 - len(trained)
    assert untrained > 0
    (note,) = [n for n in split.notes if "no training edge" in n]
    assert note.startswith(f"{untrained} of 500 nodes have no training edge (the split held out all their edges for "
                           f"validation/test): the model knows them by their own features or encoding alone")
