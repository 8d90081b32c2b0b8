"""Search spaces: YAML validation messages, the shipped spaces, Optuna define-by-run sampling."""
from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from click.testing import CliRunner

from tune_gae.cli import main
from tune_gae.config import RUN_KEYS, run_config_from_dict
from tune_gae.errors import TuneGAEError
from tune_gae.search.catalog import resolve_space_path, shipped_spaces
from tune_gae.search.space import HIDDEN_LAYERS_KEY, SearchSpace, resolve_trial_config
from tune_gae.search.space_parser import load_space

optuna.logging.set_verbosity(optuna.logging.WARNING)


def write(tmp_path: Path, text: str, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def sample(
    space: SearchSpace, n: int, *, seed: int = 0, max_epochs: int | None = None, graph: str | None = "features"
) -> list[dict[str, Any]]:
    """``n`` trial configs from a real TPE study, each told a score so TPE leaves its random start."""
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=5))
    define_by_run = space.define_by_run(max_epochs=max_epochs, graph=graph)
    configs = []
    for _ in range(n):
        trial = study.ask()
        config = define_by_run(trial)
        assert trial.params == {k: v for k, v in config.items() if k in trial.params}
        study.tell(trial, config["lr"] if "lr" in config else 0.0)
        configs.append(config)
    return configs


# --------------------------------------------------------------------------- bad inputs

BAD_SPACES = [
    ("parameters:\n  latnet_channels: 16\n",
     ["unknown parameter 'latnet_channels' in", "(did you mean 'latent_channels'?)"]),
    ("parameters:\n  foo: 1\n", ["unknown parameter 'foo'", "parameters are: model, encoder"]),
    ("parameters:\n  dropout: {unifrom: [0.0, 0.5]}\n",
     ["unknown keyword 'unifrom' for 'dropout'", "(did you mean 'uniform'?)"]),
    ("description: x\n", ["has no 'parameters:' mapping"]),
    ("", ["is empty", "'parameters:'"]),
    ("parametres:\n  lr: 0.01\n", ["unknown top-level key 'parametres'", "(did you mean 'parameters'?)"]),
    ("parameters: {}\n", ["'parameters:' in", "must be a non-empty mapping"]),
    ("parameters:\n  dropout: {uniform: [0.5, 0.1]}\n", ["'dropout' in", "uniform low 0.5 is above high 0.1"]),
    ("parameters:\n  lr: {loguniform: [0.0, 0.1]}\n", ["'lr'", "loguniform bounds must be positive but got 0"]),
    ("parameters:\n  latent_channels: {logint: [0, 64]}\n", ["logint bounds must be positive but got 0"]),
    ("parameters:\n  lr: {choice: []}\n", ["'lr'", "choice is empty"]),
    ("parameters:\n  lr: {uniform: [0.1]}\n", ["uniform takes [low, high] but got [0.1]"]),
    ("parameters:\n  lr: {uniform: [0.1, 0.2, 0.3]}\n", ["uniform takes [low, high]"]),
    ("parameters:\n  model: {choice: [gae, gea]}\n",
     ["'model'", "must be one of gae, vgae but got 'gea'", "(did you mean 'gae'?)"]),
    ("parameters:\n  encoder: gnc\n", ["'encoder'", "must be one of gcn, linear but got 'gnc'"]),
    ("parameters:\n  dropout: {uniform: [0.0, 1.0]}\n", ["'dropout'", "uniform high must be below 1 but got 1"]),
    ("parameters:\n  dropout: 1.0\n", ["'dropout'", "value must be below 1 but got 1"]),
    ("parameters:\n  epochs: {uniform: [10, 20]}\n", ["'epochs'", "takes integer values", "not uniform"]),
    ("parameters:\n  seed: 3\n", ["'seed'", "a space cannot set seed"]),
    ("parameters:\n  kl_weight: {uniform: [0.0, 1.0], when: {model: vgae}}\n"
     "  model: {choice: [gae, vgae]}\n",
     ["'kl_weight'", "when refers to 'model', which is defined later: move 'model' above 'kl_weight'"]),
    ("parameters:\n  model: {choice: [gae, vgae]}\n  kl_weight: {uniform: [0.0, 1.0], when: {modle: vgae}}\n",
     ["when refers to unknown parameter 'modle'", "(did you mean 'model'?)"]),
    ("parameters:\n  kl_weight: {uniform: [0.0, 1.0], when: {model: vgae}}\n",
     ["when refers to 'model', which this space does not set"]),
    ("parameters:\n  model: gae\n  kl_weight: {uniform: [0.0, 1.0], when: {model: vgae}}\n",
     ["when model is vgae, but model is never vgae"]),
    ("parameters:\n  model: {choice: [gae, vgae]}\n  kl_weight: {uniform: [0.0, 1.0], when: {model: vgea}}\n",
     ["when model: must be one of gae, vgae but got 'vgea'", "(did you mean 'vgae'?)"]),
    ("parameters:\n  lr: {uniform: [0.001, 0.01], choice: [0.1]}\n", ["give exactly one of", "uniform and choice"]),
    ("parameters:\n  hidden_channels: {layers: {int: [0, 2]}}\n", ["'hidden_channels'", "add width"]),
    ("parameters:\n  hidden_channels: {layers: {int: [0, 2]}, width: {choise: [32]}}\n",
     ["unknown keyword 'choise' for 'hidden_channels' width", "(did you mean 'choice'?)"]),
    ("parameters:\n  hidden_channels: {layers: {int: [0, 2]}, width: {choice: [0, 32]}}\n",
     ["width choice must be at least 1 but got 0"]),
    ("parameters:\n  hidden_channels: {uniform: [16, 64]}\n", ["takes a list of widths, not a uniform range"]),
    ("parameters:\n  hidden_channels: {choice: [[32], [-4]]}\n", ["width must be at least 1 but got -4"]),
    ("parameters:\n  hidden_layers: {int: [0, 2]}\n", ["write hidden_channels: {layers:"]),
    ("parameters:\n  lr:\n", ["'lr'", "has no value"]),
    ("parameters:\n  degree_loss: {uniform: [-0.1, 0.1]}\n", ["'degree_loss'", "uniform low must be at least 0 but got -0.1"]),
    ("parameters:\n  grad_clip: -1\n", ["'grad_clip'", "value must be at least 0 but got -1"]),
    ("parameters:\n  embedding_activation: {choice: [none, elu, relu]}\n",
     ["'embedding_activation'", "must be one of none, elu but got 'relu'"]),
]


def _key_line(text: str, message: str) -> int | None:
    """The 1-based line of the first key quoted in ``message`` that starts a line of ``text``."""
    for name in re.findall(r"'([^']+)'", message):
        for number, line in enumerate(text.splitlines(), start=1):
            if re.match(rf"\s*{re.escape(name.rstrip(':'))}:", line):
                return number
    return None


@pytest.mark.parametrize(("text", "expected"), BAD_SPACES, ids=[e[0] for _, e in BAD_SPACES])
def test_a_bad_entry_is_named_with_its_file_and_line(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TuneGAEError) as caught:
        load_space(path)
    message = str(caught.value)
    line = _key_line(text, message)
    if line is None:  # a problem of the whole file (empty, no parameters:): the file alone
        assert message.startswith(f"{path} ")
    else:
        assert f"{path}:{line}" in message, message


@pytest.mark.parametrize(("text", "expected"), BAD_SPACES, ids=[e[0] for _, e in BAD_SPACES])
def test_bad_space_gives_this_message(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TuneGAEError) as caught:
        load_space(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    for part in expected:
        assert part in message


def test_invalid_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "parameters:\n  model: {choice: [gae, vgae]}\n  lr: {uniform: [0.001, 0.1]\n  epochs: 5\n")
    with pytest.raises(TuneGAEError) as caught:
        load_space(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:4:3: invalid YAML (")
    assert "\n" not in message


def test_cli_check_bad_space_exits_2_with_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "parameters:\n  latnet_channels: 16\n")
    result = CliRunner().invoke(main, ["spaces", "check", str(path)])
    assert result.exit_code == 2
    assert result.output == (
        f"Error: unknown parameter 'latnet_channels' in {path}:2 (did you mean 'latent_channels'?).\n"
    )


def test_cli_check_bad_yaml_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, "parameters:\n\tlr: 0.01\n")
    result = CliRunner().invoke(main, ["spaces", "check", str(path)])
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {path}:2:1: invalid YAML (")
    assert result.output.count("\n") == 1


def test_cli_check_unknown_name_lists_shipped() -> None:
    result = CliRunner().invoke(main, ["spaces", "check", "smok"])
    assert result.exit_code == 2
    assert "no search space 'smok'" in result.output
    assert "(did you mean 'smoke'?)" in result.output
    assert "shipped spaces: default, paper, smoke" in result.output


# --------------------------------------------------------------------------- shipped spaces and the CLI


def test_shipped_spaces_load() -> None:
    shipped = shipped_spaces()
    assert {"default", "paper", "smoke"} <= set(shipped)
    for path in shipped.values():
        space = load_space(path)
        assert space.path == str(path.resolve())
        assert space.summary
        assert "seed" not in space.param_names
    default = load_space(shipped["default"])
    assert set(default.param_names) == set(RUN_KEYS) - {"seed"}  # every tunable knob is covered
    # Sampled in the file's order: the decoder and its options come right after the encoder.
    assert default.config_keys[:4] == ("model", "encoder", "decoder", "decoder_layers")
    assert default.config_keys.index(HIDDEN_LAYERS_KEY) < default.config_keys.index("latent_channels")


def test_resolve_space_path(tmp_path: Path) -> None:
    smoke = shipped_spaces()["smoke"]
    assert resolve_space_path("smoke") == smoke
    assert resolve_space_path("smoke.yaml") == smoke
    own = write(tmp_path, "parameters:\n  lr: 0.01\n", "own.yaml")
    assert resolve_space_path(str(own)) == own.resolve()
    with pytest.raises(TuneGAEError, match="shipped spaces: default, paper, smoke"):
        resolve_space_path(str(tmp_path / "missing.yaml"))


def test_cli_lists_shipped_spaces() -> None:
    result = CliRunner().invoke(main, ["spaces"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert any(line.startswith("smoke ") and "Tiny and fast" in line for line in lines)
    assert any(line.startswith("paper ") and "Kipf & Welling" in line for line in lines)
    assert any(line.startswith("default ") for line in lines)


def test_cli_check_prints_parameters() -> None:
    result = CliRunner().invoke(main, ["spaces", "check", str(shipped_spaces()["default"])])
    assert result.exit_code == 0, result.output
    assert f"valid, {len(yaml.safe_load(shipped_spaces()['default'].read_text())['parameters'])} parameters" in result.output
    rows = {line.split()[0]: line for line in result.output.splitlines() if line.startswith("  ")}
    assert rows["lr"].split()[1:] == ["loguniform", "[0.001,", "0.03]"]
    assert rows["kl_weight"].rstrip().endswith("when model = vgae")
    assert "layers int [1, 2]; width choice 64, 128, 256" in rows["hidden_channels"]
    result = CliRunner().invoke(main, ["spaces", "check", "smoke"])
    assert result.exit_code == 0
    assert "[16], [32]" in result.output


# --------------------------------------------------------------------------- sampling


def test_default_space_samples_inside_bounds_with_real_conditionals() -> None:
    path = shipped_spaces()["default"]
    declared = yaml.safe_load(path.read_text())["parameters"]

    def inside(name: str, value: Any) -> bool:
        entry = declared[name]
        if "choice" in entry:
            return value in entry["choice"]
        low, high = next(entry[k] for k in ("uniform", "loguniform", "int", "logint") if k in entry)
        return float(low) <= value <= float(high)

    # two seeded studies: TPE, told lr as the score, narrows down fast after its 5 random trials
    configs = sample(load_space(path), 40) + sample(load_space(path), 40, seed=1)
    hidden = declared["hidden_channels"]
    for config in configs:
        for name in ("model", "encoder", "latent_channels", "lr", "epochs", "dropout", "edge_dropout",
                     "neg_ratio", "weight_decay", "normalize_features", "patience"):
            assert inside(name, config[name]), (name, config[name])
        assert "node_encoding" not in config  # a graph with features reads its features
        assert ("kl_weight" in config) == (config["model"] == "vgae")
        if "kl_weight" in config:
            assert inside("kl_weight", config["kl_weight"])
        assert (HIDDEN_LAYERS_KEY in config) == (config["encoder"] == "gcn")
        depth = config.get(HIDDEN_LAYERS_KEY, 0)
        if config["encoder"] == "gcn":
            assert hidden["layers"]["int"][0] <= depth <= hidden["layers"]["int"][1]
        widths = [config[f"hidden_width_{i}"] for i in range(1, depth + 1)]
        assert all(w in hidden["width"]["choice"] for w in widths)
        assert not any(f"hidden_width_{i}" in config for i in range(depth + 1, 4))

        run = resolve_trial_config(config)
        assert set(run) <= set(RUN_KEYS)
        model, train = run_config_from_dict(run, in_channels=10)
        assert model.model == config["model"]
        if config["encoder"] == "gcn":
            assert model.hidden_channels == tuple(widths)
        assert train.lr == config["lr"]
    # both sides of each condition were reached
    assert {c["model"] for c in configs} == {"gae", "vgae"}
    assert {c["encoder"] for c in configs} == {"gcn", "linear"}
    assert None in {c.get(HIDDEN_LAYERS_KEY) for c in configs} and len({c.get(HIDDEN_LAYERS_KEY) for c in configs}) >= 2


def test_smoke_and_paper_configs_run() -> None:
    for config in sample(load_space(shipped_spaces()["smoke"]), 12):
        assert config["hidden_channels"] in ("16", "32")
        assert 10 <= config["epochs"] <= 30
        assert 0.005 <= config["lr"] <= 0.02
        model, train = run_config_from_dict(resolve_trial_config(config), in_channels=10)
        assert model.hidden_channels in ((16,), (32,))
    for config in sample(load_space(shipped_spaces()["paper"]), 6):
        model, train = run_config_from_dict(resolve_trial_config(config), in_channels=10)
        assert (model.encoder, model.hidden_channels, model.latent_channels) == ("gcn", (32,), 16)
        assert (train.lr, train.epochs, model.dropout) == (0.01, 200, 0.0)
        assert ("kl_weight" in config) == (model.model == "vgae")


def test_fixed_trial_gives_exact_config(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, """
parameters:
  model: {choice: [gae, vgae]}
  hidden_channels: {choice: [[64, 32], [32], []]}
  lr: {loguniform: [1e-3, 1.0e-1]}          # 1e-3 without a dot: PyYAML reads text; still a float
  kl_weight: {value: 0.5, when: {model: [vgae]}}
"""))
    define_by_run = space.define_by_run()
    config = define_by_run(optuna.trial.FixedTrial({"model": "vgae", "hidden_channels": "64-32", "lr": 0.01}))
    assert config == {"model": "vgae", "hidden_channels": "64-32", "lr": 0.01, "kl_weight": 0.5}
    assert resolve_trial_config(config)["hidden_channels"] == [64, 32]
    config = define_by_run(optuna.trial.FixedTrial({"model": "gae", "hidden_channels": "none", "lr": 0.001}))
    assert config == {"model": "gae", "hidden_channels": "none", "lr": 0.001}
    assert run_config_from_dict(resolve_trial_config(config), in_channels=10)[0].hidden_channels == ()


def test_maskgae_training_options_are_searchable(tmp_path: Path) -> None:
    """embedding_activation, grad_clip and degree_loss: set or sampled by a space, they reach the configs."""
    space = load_space(write(tmp_path, """
parameters:
  embedding_activation: {choice: [none, elu]}
  grad_clip: 1.0
  degree_loss: {choice: [0.0, 2.0e-3]}
"""))
    config = space.define_by_run()(optuna.trial.FixedTrial({"embedding_activation": "elu", "degree_loss": 2e-3}))
    model, training = run_config_from_dict(resolve_trial_config(config), in_channels=10)
    assert (model.embedding_activation, training.grad_clip, training.degree_loss) == ("elu", 1.0, 2e-3)


def test_max_epochs_caps_range_and_constant(tmp_path: Path) -> None:
    default = load_space(shipped_spaces()["default"])
    assert all(100 <= c["epochs"] <= 300 for c in sample(default, 15, max_epochs=300))
    assert {c["epochs"] for c in sample(default, 5, max_epochs=50)} == {50}  # lo > cap: clamped too
    paper = load_space(shipped_spaces()["paper"])
    assert {c["epochs"] for c in sample(paper, 3, max_epochs=150)} == {150}
    assert {c["epochs"] for c in sample(paper, 3, max_epochs=1000)} == {200}
    no_epochs = load_space(write(tmp_path, "parameters:\n  lr: {choice: [0.01, 0.02]}\n"))
    assert {c["epochs"] for c in sample(no_epochs, 3, max_epochs=40)} == {40}  # the default, capped
    assert "epochs" not in sample(no_epochs, 1)[0]
    choice = load_space(write(tmp_path, "parameters:\n  epochs: {choice: [50, 200, 400]}\n", "c.yaml"))
    assert {c["epochs"] for c in sample(choice, 10, max_epochs=100)} <= {50, 100}
    with pytest.raises(TuneGAEError, match="max_epochs must be a positive integer but got 0"):
        default.define_by_run(max_epochs=0)


def test_same_seed_same_configs() -> None:
    space = load_space(shipped_spaces()["default"])
    first = sample(space, 12, seed=3)
    assert sample(space, 12, seed=3) == first
    assert sample(space, 12, seed=4) != first


def test_resolve_trial_config() -> None:
    assert resolve_trial_config({"hidden_channels": "64-32", "lr": 0.1}) == {"hidden_channels": [64, 32], "lr": 0.1}
    assert resolve_trial_config({"hidden_channels": "none"}) == {"hidden_channels": []}
    assert resolve_trial_config({"hidden_channels": [16]}) == {"hidden_channels": [16]}
    layered = {"model": "gae", HIDDEN_LAYERS_KEY: 2, "hidden_width_1": 128, "hidden_width_2": 64, "lr": 0.1}
    assert resolve_trial_config(layered) == {"model": "gae", "hidden_channels": [128, 64], "lr": 0.1}
    assert resolve_trial_config({HIDDEN_LAYERS_KEY: 0}) == {"hidden_channels": []}
    with pytest.raises(TuneGAEError, match="hidden_layers=2 but no 'hidden_width_2'"):
        resolve_trial_config({HIDDEN_LAYERS_KEY: 2, "hidden_width_1": 32})
    with pytest.raises(TuneGAEError, match="both 'hidden_layers' and 'hidden_channels'"):
        resolve_trial_config({HIDDEN_LAYERS_KEY: 0, "hidden_channels": "32"})
    with pytest.raises(TuneGAEError, match="expected widths like '64-32'"):
        resolve_trial_config({"hidden_channels": "wide"})


# --------------------------------------------------------------------------- Ray's OptunaSearch


def test_ray_optuna_search_suggests_resolvable_configs(tmp_path: Path) -> None:
    from ray.tune.search.optuna import OptunaSearch

    space = load_space(shipped_spaces()["default"])
    searcher = OptunaSearch(space=space.define_by_run(max_epochs=200), metric="val_auc", mode="max", seed=0)
    config = searcher.suggest("t1")
    assert all(not isinstance(v, dict) for v in config.values())  # no "/" keys, nothing nested
    model, train = run_config_from_dict(resolve_trial_config(config), in_channels=10)
    assert 100 <= train.epochs <= 200
    searcher.on_trial_complete("t1", {"val_auc": 0.9, "training_iteration": 1})

    # Tune checkpoints the searcher by pickling it; a restored one keeps suggesting.
    searcher.save(str(tmp_path / "searcher.pkl"))
    restored = OptunaSearch()
    restored.restore(str(tmp_path / "searcher.pkl"))
    run_config_from_dict(resolve_trial_config(restored.suggest("t2")), in_channels=10)


def test_define_by_run_pickles() -> None:
    space = load_space(shipped_spaces()["default"])
    define_by_run = space.define_by_run(max_epochs=120, graph="features")
    copy = pickle.loads(pickle.dumps(define_by_run))
    assert copy == define_by_run
    params = {"model": "vgae", "encoder": "gcn", HIDDEN_LAYERS_KEY: 1, "hidden_width_1": 64, "latent_channels": 64,
              "lr": 0.01, "epochs": 120, "dropout": 0.1, "weight_decay": 0.0, "kl_weight": 0.2, "neg_ratio": 1,
              "edge_dropout": 0.0, "normalize_features": False, "patience": 20, "mask_ratio": 0.5,
              "embedding_norm": 2.0, "decoder": "ncn", "decoder_layers": 2, "decoder_width": 64,
              "decoder_dropout": 0.1, "decoder_norm": "batch", "cn_weighting": "resource_allocation"}
    constants = {"embedding_activation": "none", "mask_kind": "edge", "grad_clip": 0.0,
                 "degree_loss": 0.0, "weight_ema": 0.0, "ensemble": 1, "propagation_hops": 1}
    assert copy(optuna.trial.FixedTrial(params)) == {**params, **constants}  # constants come back too


def test_default_space_searches_encodings_for_featureless_graphs_only() -> None:
    space = load_space(shipped_spaces()["default"])
    declared = yaml.safe_load(shipped_spaces()["default"].read_text())["parameters"]
    configs = sample(space, 30, graph="featureless")
    assert {c["node_encoding"] for c in configs} <= set(declared["node_encoding"]["choice"])
    assert len({c["node_encoding"] for c in configs}) > 1
    for config in configs:
        assert "normalize_features" not in config  # only a user's features are normalised
        assert ("encoding_dims" in config) == ("spectral" in config["node_encoding"])
    # Without knowing the graph, graph-conditioned entries are never sampled.
    assert all("node_encoding" not in c for c in sample(space, 3, graph=None))


def test_default_space_batch_normalises_the_encoder_on_featureless_graphs_only() -> None:
    """The encoder's batch norm was shaped on featureless graphs (USAir, E.coli): Cora's searches keep none."""
    space = load_space(shipped_spaces()["default"])
    assert {c["encoder_norm"] for c in sample(space, 30, graph="featureless")} == {"none", "batch"}
    featured = sample(space, 3, graph="features")
    assert all("encoder_norm" not in c for c in featured)
    model, _ = run_config_from_dict(resolve_trial_config(featured[0]), in_channels=8)
    assert model.encoder_norm == "none"


def test_an_entry_can_sample_otherwise_on_graphs_without_features(tmp_path: Path) -> None:
    """``featureless: {...}`` inside an entry: each kind of graph samples its own values; a reader
    that does not know the graph sees both merged (HParams domains, importance)."""
    path = write(tmp_path, "parameters:\n  patience: {choice: [10, 20], featureless: {choice: [10, 200]}}\n"
                           "  lr: {loguniform: [1.0e-3, 1.0e-2], features: {loguniform: [1.0e-2, 1.0e-1]}}\n")
    space = load_space(path)
    featureless = sample(space, 30, graph="featureless")
    featured = sample(space, 30, graph="features")
    assert {c["patience"] for c in featureless} == {10, 200}
    assert {c["patience"] for c in featured} == {10, 20}
    assert all(1e-3 <= c["lr"] <= 1e-2 for c in featureless) and all(1e-2 <= c["lr"] <= 1e-1 for c in featured)
    patience, lr = space.parameters
    assert patience.distribution.options == (10, 20, 200) and (lr.distribution.low, lr.distribution.high) == (1e-3, 1e-1)
    assert space.for_graph("featureless").parameters[0].distribution.options == (10, 200)
    assert patience.describe() == "graphs with features: 10, 20; graphs without features: 10, 200"


@pytest.mark.parametrize("entry, problem", [
    ("{choice: [10, 20], featureless: {int: [10, 200]}}", "featureless takes a choice like the entry's own, not int"),
    ("{choice: [10], featureless: {choice: [20]}, features: {choice: [30]}}",
     "give features or featureless, not both: the entry itself is the other kind's"),
    ("{choice: [10], featureless: [20]}", "featureless takes one entry like {choice: [...]} (no when) but got [20]"),
    ("{choice: [10], featureless: {choice: [-1]}}", "featureless choice must be"),
])
def test_a_bad_per_graph_entry_exits_2_naming_it(tmp_path: Path, entry: str, problem: str) -> None:
    path = write(tmp_path, f"parameters:\n  patience: {entry}\n")
    result = CliRunner().invoke(main, ["spaces", "check", str(path)])
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: 'patience' in {path}:2: {problem}")
    assert result.output.count("\n") == 1


def test_default_space_trains_long_on_featureless_graphs_only() -> None:
    """patience 200 was shaped on graphs without features; Cora's README search keeps 10/20/40."""
    space = load_space(shipped_spaces()["default"])
    assert {c["patience"] for c in sample(space, 40, graph="features")} <= {10, 20, 40}
    assert 200 in {c["patience"] for c in sample(space, 40, graph="featureless")}


def test_when_graph_takes_features_or_featureless(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("parameters:\n  lr: {choice: [0.01], when: {graph: tiny}}\n")
    with pytest.raises(TuneGAEError, match="when graph takes features or featureless but got tiny"):
        load_space(bad)


def test_strong_space_propagates_two_hops_on_graphs_with_features_only() -> None:
    """strong.yaml's two hops were measured on Cora and CiteSeer: featureless graphs keep one."""
    space = load_space(shipped_spaces()["strong"])
    assert {c["propagation_hops"] for c in sample(space, 3, graph="features")} == {2}
    featureless = sample(space, 3, graph="featureless")
    assert all("propagation_hops" not in c for c in featureless)
    model, _ = run_config_from_dict(resolve_trial_config(featureless[0]), in_channels=8)
    assert model.propagation_hops == 1
