"""The model card lists what applies to the model, and the searched space line by line."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tune_gae.bundle.card import _model_card, _space_lines, applicable_hyperparameters


def test_a_space_line_names_each_kind_once(tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("parameters:\n  model: {choice: [gae, vgae]}\n"
                     "  hidden_channels: {layers: {int: [1, 2]}, width: {choice: [32, 64]}}\n"
                     "  lr: {loguniform: [0.001, 0.01]}\n  epochs: {int: [50, 100]}\n")
    assert _space_lines(str(space), max_epochs=80) == [
        "  - `model`: choice gae, vgae",
        "  - `hidden_channels`: layers int [1, 2]; width choice 32, 64",
        "  - `lr`: loguniform [0.001, 0.01]",
        "  - `epochs`: int [50, 100] (capped at 80)",
    ]


@pytest.mark.parametrize(("model", "encoder", "absent", "present"), [
    ("gae", "gcn", {"kl_weight"}, {"hidden_channels", "lr"}),
    ("vgae", "gcn", set(), {"kl_weight", "hidden_channels"}),
    ("gae", "linear", {"kl_weight", "hidden_channels"}, {"latent_channels"}),
])
def test_only_hyperparameters_that_apply_are_listed(model: str, encoder: str, absent: set[str],
                                                     present: set[str]) -> None:
    chosen = applicable_hyperparameters(
        {"model": model, "encoder": encoder, "in_channels": 1433, "hidden_channels": [32], "latent_channels": 16},
        {"lr": 0.01, "epochs": 200, "kl_weight": 1.0, "seed": 0},
    )
    assert not absent & set(chosen) and present <= set(chosen)
    assert not {"in_channels", "seed"} & set(chosen)


@pytest.mark.parametrize(("decoder", "present"), [
    ("inner_product", set()),
    ("hadamard_mlp", {"decoder_layers", "decoder_width", "decoder_dropout", "decoder_norm"}),
    ("ncn", {"decoder_layers", "decoder_width", "decoder_dropout", "decoder_norm", "cn_weighting"}),
])
def test_only_the_decoders_own_settings_are_listed(decoder: str, present: set[str]) -> None:
    options = {"decoder_layers": 2, "decoder_width": 64, "decoder_dropout": 0.0, "decoder_norm": "none",
               "cn_weighting": "count"}
    chosen = applicable_hyperparameters({"model": "gae", "encoder": "gcn", "decoder": decoder, **options}, {})
    assert chosen["decoder"] == decoder
    assert set(chosen) & set(options) == present


def test_the_exported_card_lists_no_kl_weight_for_a_gae(smoke_bundle: Path) -> None:
    config = json.loads((smoke_bundle / "config.json").read_text())
    metrics = json.loads((smoke_bundle / "metrics.json").read_text())
    for model in ("gae", "vgae"):
        edited = {**config, "model": {**config["model"], "model": model}}
        card = _model_card(edited, metrics, [], "note", "scorer note")
        chosen = next(line for line in card.splitlines() if line.startswith("- Chosen hyperparameters: "))
        assert ("kl_weight=" in chosen) == (model == "vgae"), chosen
        assert "layers layers" not in card
