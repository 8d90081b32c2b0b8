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


def test_an_ensemble_space_is_estimated_larger_but_shares_its_input(split) -> None:
    """strong.yaml is default.yaml with 3-member ensembles: more memory than one model, less than
    three separate ones (the members read one copy of the features and the graph)."""
    single = largest_trial_bytes(load_space(SPACES / "default.yaml"), split)
    ensemble = largest_trial_bytes(load_space(SPACES / "strong.yaml"), split)
    assert single < ensemble < 3 * single
