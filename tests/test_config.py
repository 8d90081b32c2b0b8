"""ModelConfig says what the model is: a linear encoder has no hidden widths."""
from __future__ import annotations

from tune_gae.config import ModelConfig, run_config_from_dict
from tune_gae.nn.encoders import build_model


def test_a_linear_encoder_has_no_hidden_widths() -> None:
    config = ModelConfig(in_channels=10, encoder="linear", hidden_channels=(32,))
    assert config.hidden_channels == () and config.to_dict()["hidden_channels"] == []
    # A bundle written before (linear with the default [32]) loads as the same model.
    old = ModelConfig(**{**config.to_dict(), "hidden_channels": [32]})
    assert old == config
    assert set(build_model(old).state_dict()) == {"encoder.conv_mu.bias", "encoder.conv_mu.lin.weight"}


def test_a_gcn_encoder_keeps_its_widths() -> None:
    model_config, _ = run_config_from_dict({"encoder": "gcn", "hidden_channels": [64, 32]}, in_channels=10)
    assert model_config.hidden_channels == (64, 32)
