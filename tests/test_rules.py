"""Every limit is declared once (tune_gae.rules): the library and the CLI refuse the same values in the same words."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from tune_gae.cli import main
from tune_gae.config import TRAIN_KEYS, ModelConfig, TrainConfig
from tune_gae.errors import TuneGAEError
from tune_gae.rules import RULES, SEARCH_RULES
from tune_gae.search.settings import SearchSettings


@pytest.mark.parametrize(("flag", "field", "value"), [
    ("--num-samples", "num_samples", 0),
    ("--reduction-factor", "reduction_factor", 1),
    ("--max-failures", "max_failures", -1),
    ("--report-interval", "report_interval_s", -0.5),
    ("--cpus-per-trial", "cpus_per_trial", 0.0),
    ("--time-budget", "time_budget_s", 0.5),
])
def test_search_flag_and_settings_refuse_in_the_same_words(flag: str, field: str, value: float) -> None:
    with pytest.raises(TuneGAEError) as library:
        SearchSettings(**{field: value})
    result = CliRunner().invoke(main, ["search", "smoke", flag, str(value)])
    assert result.exit_code == 2
    assert str(library.value) in result.output.replace("\n", " ")
    assert str(library.value).startswith(f"{flag} must be")


@pytest.mark.parametrize(("flag", "field", "value"), [
    ("--lr", "lr", 0.0), ("--epochs", "epochs", 0), ("--dropout", "dropout", 1.0), ("--weight-decay", "weight_decay", -1.0),
    ("--grad-clip", "grad_clip", -1.0), ("--degree-loss", "degree_loss", -0.002),
    ("--embedding-activation", "embedding_activation", "relu"), ("--propagation-hops", "propagation_hops", 0),
    ("--propagation-hops", "propagation_hops", 9), ("--weight-ema", "weight_ema", 1.0),
])
def test_train_flag_and_config_refuse_in_the_same_words(flag: str, field: str, value: float | str) -> None:
    with pytest.raises(TuneGAEError) as library:
        TrainConfig(**{field: value}) if field in TRAIN_KEYS else ModelConfig(in_channels=4, **{field: value})
    result = CliRunner().invoke(main, ["train", flag, str(value)])
    assert result.exit_code == 2
    name, words = str(library.value).split(" ", 1)  # "lr must be ...": the CLI names the flag instead
    assert name == field and f"{flag} {words}" in result.output.replace("\n", " ")


def test_grace_period_is_never_clamped_silently() -> None:
    assert SearchSettings(max_epochs=5).grace_period == 5  # the declared default: min(20, max_epochs)
    assert SearchSettings(max_epochs=400).grace_period == 20
    with pytest.raises(TuneGAEError, match=r"^--grace-period \(10\) cannot exceed --max-epochs \(5\)\.$"):
        SearchSettings(max_epochs=5, grace_period=10)
    result = CliRunner().invoke(main, ["search", "smoke", "--max-epochs", "5", "--grace-period", "10"])
    assert result.exit_code == 2
    assert result.output.strip() == "Error: --grace-period (10) cannot exceed --max-epochs (5)."


def test_every_config_field_has_one_rule() -> None:
    from dataclasses import fields

    hyper = {f.name for cls in (ModelConfig, TrainConfig) for f in fields(cls)} - {"in_channels", "hidden_channels"}
    assert hyper == set(RULES)
    assert set(SEARCH_RULES) <= {f.name for f in fields(SearchSettings)}
