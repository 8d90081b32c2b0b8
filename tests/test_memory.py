"""The memory estimate of a space's largest trial (``tune_gae.search.memory``)."""
from pathlib import Path

import pytest

from tune_gae.config import DataConfig
from tune_gae.data.split import load_split
from tune_gae.search.memory import largest_trial_bytes
from tune_gae.search.space_parser import load_space

SPACES = Path(__file__).resolve().parent.parent / "search_spaces"


@pytest.fixture(scope="module")
def split():
    return load_split(DataConfig("synthetic:nodes=400,communities=4,features=300,seed=1"))


def test_an_ensemble_space_is_estimated_larger_but_shares_its_input(split, tmp_path) -> None:
    """default.yaml with 3-member ensembles: more memory than one model, less than three separate
    ones (the members read one copy of the features and the graph)."""
    text = (SPACES / "default.yaml").read_text()
    assert "\n  ensemble: 1\n" in text
    (tmp_path / "ensembles.yaml").write_text(text.replace("\n  ensemble: 1\n", "\n  ensemble: 3\n"))
    single = largest_trial_bytes(load_space(SPACES / "default.yaml"), split)
    ensemble = largest_trial_bytes(load_space(tmp_path / "ensembles.yaml"), split)
    assert single < ensemble < 3 * single


def _space(tmp_path, decoder: str, width: int = 64) -> object:
    path = tmp_path / f"{decoder.replace(', ', '-')}-{width}.yaml"
    path.write_text("parameters:\n  hidden_channels: [32]\n  latent_channels: 16\n"
                    f"  decoder: {decoder}\n  decoder_width: {width}\n")
    return load_space(path)


def test_a_learned_decoder_adds_its_mlp_over_the_pairs_and_ncn_its_graph(split, tmp_path) -> None:
    inner, hadamard, ncn = (largest_trial_bytes(_space(tmp_path, d), split)
                            for d in ("inner_product", "hadamard_mlp", "ncn"))
    assert inner < hadamard < ncn
    # A space that can pick ncn is estimated at ncn's size.
    assert largest_trial_bytes(_space(tmp_path, "{choice: [inner_product, ncn]}"), split) == ncn
    # The MLP over P pairs x width: the extra memory grows linearly with the width.
    extra = {w: largest_trial_bytes(_space(tmp_path, "hadamard_mlp", w), split) - inner for w in (32, 64, 128)}
    assert extra[32] < extra[64] < extra[128]
    assert extra[128] - extra[64] == pytest.approx(2 * (extra[64] - extra[32]), abs=2)


def test_directed_masking_is_estimated_with_its_extra_positives(split, tmp_path) -> None:
    """mask_kind directed reconstructs every masked direction: up to 2 x mask_ratio positives per edge."""
    def estimate(mask: str) -> int:
        path = tmp_path / f"mask-{abs(hash(mask))}.yaml"
        path.write_text(f"parameters:\n  latent_channels: 16\n  decoder: hadamard_mlp\n{mask}")
        return largest_trial_bytes(load_space(path), split)

    plain = estimate("")
    assert estimate("  mask_ratio: 0.5\n  mask_kind: edge\n") == plain
    assert estimate("  mask_ratio: 0.5\n  mask_kind: directed\n") == plain  # 2 x 0.5 = one per edge
    at_07 = estimate("  mask_ratio: 0.7\n  mask_kind: directed\n")
    assert at_07 > plain
    assert estimate("  mask_ratio: 0.7\n  mask_kind: {choice: [edge, directed]}\n") == at_07


def test_common_neighbour_entries_count_both_ends_rows() -> None:
    import torch

    from tune_gae.search.memory import common_neighbour_entries

    edges = torch.tensor([[0, 0, 0, 1, 2], [1, 2, 3, 2, 4]])  # degrees 3, 2, 3, 1, 1
    degree = [3, 2, 3, 1, 1]
    positives = sum(degree[u] + degree[v] for u, v in edges.t().tolist())
    negatives = 2 * 5 * 2 * (2 * 5 / 5)  # neg_ratio 2, 5 edges, both ends at the mean degree
    assert common_neighbour_entries(edges, 5, neg_ratio=2) == positives + negatives


def test_a_per_graph_entry_is_estimated_for_the_graph_at_hand(split, tmp_path) -> None:
    """``latent_channels: {choice: [16], featureless: {choice: [512]}}`` on a graph with features
    is estimated as latent 16 (not the merged 16-or-512 a reader without the graph sees)."""
    def estimate(latent: str) -> int:
        path = tmp_path / f"latent-{abs(hash(latent))}.yaml"
        path.write_text(f"parameters:\n  hidden_channels: [32]\n  latent_channels: {latent}\n")
        return largest_trial_bytes(load_space(path), split)

    assert split.features_given
    assert estimate("{choice: [16], featureless: {choice: [512]}}") == estimate("16") < estimate("512")
    assert estimate("{choice: [16], features: {choice: [512]}}") == estimate("512")


def test_weight_ema_is_estimated_with_one_more_copy_of_the_weights(split, tmp_path) -> None:
    """weight_ema keeps a moving average of the weights (not of the graph operators, which it
    shares): the estimate grows by one float per weight, with the safety margin."""
    from tune_gae.search.memory import FLOAT, SAFETY

    def estimate(line: str) -> int:
        path = tmp_path / f"ema-{abs(hash(line))}.yaml"
        path.write_text(f"parameters:\n  hidden_channels: [32]\n  latent_channels: 16\n{line}")
        return largest_trial_bytes(load_space(path), split)

    weights = (300 * 32 + 32) + (32 * 16 + 16)  # the two GCN layers of the 300-feature graph
    plain = estimate("")
    assert estimate("  weight_ema: 0.0\n") == plain
    assert estimate("  weight_ema: 0.9\n") - plain == pytest.approx(SAFETY * FLOAT * weights, abs=1)
    assert estimate("  weight_ema: {choice: [0.0, 0.9]}\n") == estimate("  weight_ema: 0.9\n")
