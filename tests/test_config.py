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


def test_a_misspelt_dataset_is_refused_with_a_hint_before_torch_is_imported() -> None:
    """`--dataset Corra` fails in a fraction of a second: no torch, no PyG, no Ray loaded first."""
    import subprocess
    import sys

    code = ("import sys\nfrom click.testing import CliRunner\nfrom tune_gae.cli import main\n"
            "for command in ('search', 'train'):\n"
            "    result = CliRunner().invoke(main, [command, '--dataset', 'Corra'])\n"
            "    print(result.exit_code, result.output.strip())\n"
            "print(sorted(m for m in ('torch', 'torch_geometric', 'ray') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    message = ("Error: unknown dataset 'Corra' (did you mean 'Cora'?): use one of Cora, CiteSeer, PubMed, "
               "'synthetic:nodes=N,communities=K', or a path to an edge-list file.")
    assert out.stdout.splitlines() == [f"2 {message}", f"2 {message}", "[]"]
