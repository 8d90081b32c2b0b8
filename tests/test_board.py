"""The search's TensorBoard board: run names, stop reasons, ranks, and the HParams entry the
driver writes for every trial, read back as TensorBoard reads it."""
from __future__ import annotations

import csv
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2, metadata

from tune_gae.search.board import (
    board_metrics,
    ranks,
    run_dir,
    run_dirs,
    run_name,
    sampled_hparams,
    stop_code,
    trial_of_run,
    write_board,
    write_test_metrics,
)
from tune_gae.search.settings import SearchSettings
from tune_gae.search.space_parser import load_space, parse_space
from tune_gae.search.stopping import STOP_REASONS

SPACE = """
parameters:
  model: {choice: [gae, vgae]}
  encoder: linear
  latent_channels: {choice: [16, 256]}
  lr: {loguniform: [0.001, 0.1]}
  normalize_features: {choice: [false, true]}
  kl_weight: {uniform: [0.1, 1.0], when: {model: vgae}}
  epochs: {int: [5, 50]}
"""


def test_run_names_say_what_the_trial_is_and_lead_back_to_it() -> None:
    linear = {"model": "gae", "encoder": "linear", "hidden_channels": [64], "latent_channels": 256, "lr": 0.01}
    assert run_name("trial_4b5e1c2a", linear) == "trial_4b5e1c2a-gae-linear-l256"  # a linear encoder has no hidden
    gcn = {"model": "vgae", "encoder": "gcn", "hidden_channels": "128-64", "latent_channels": 16}
    assert run_name("trial_0a1b2c3d", gcn) == "trial_0a1b2c3d-vgae-gcn-h128-64-l16"
    assert run_name("trial_0a1b2c3d", {"model": "gae", "hidden_channels": [32]}) == "trial_0a1b2c3d-gae-h32"
    assert trial_of_run("trial_0a1b2c3d-vgae-gcn-h128-64-l16") == "trial_0a1b2c3d"


def test_run_dir_finds_a_trial_by_its_id_alone(tmp_path: Path) -> None:
    (tmp_path / "trial_aaaa1111-gae-l16").mkdir()
    (tmp_path / "trial_aaaa11112-gae-l16").mkdir()  # a longer id with the same start is another trial
    assert run_dir(tmp_path, "trial_aaaa1111") == tmp_path / "trial_aaaa1111-gae-l16"
    assert run_dir(tmp_path, "trial_bbbb2222") is None


def test_run_dirs_maps_every_trial_to_its_first_run_folder_from_one_listing(tmp_path: Path) -> None:
    for name in ("trial_aaaa1111-vgae-l16", "trial_aaaa1111-gae-l16", "trial_aaaa11112-gae-l16"):
        (tmp_path / name).mkdir()
    (tmp_path / "trial_cccc3333-gae-l16").write_text("a file, not a run")
    assert run_dirs(tmp_path) == {"trial_aaaa1111": tmp_path / "trial_aaaa1111-gae-l16",
                                  "trial_aaaa11112": tmp_path / "trial_aaaa11112-gae-l16"}
    assert run_dirs(tmp_path / "absent") == {}


def test_stop_codes_follow_the_trial_tables_reasons() -> None:
    assert [stop_code({"stop_reason": reason}) for reason in STOP_REASONS] == list(range(1, len(STOP_REASONS) + 1))
    assert stop_code({"stop_reason": ""}) == 0  # not ended


def test_rank_one_is_the_best_trial_that_left_a_model() -> None:
    rows = [
        {"trial": "trial_err", "state": "ERROR", "best_val_auc": 0.99, "checkpoint": "/c/0"},  # crashed after reporting
        {"trial": "trial_b", "state": "TERMINATED", "best_val_auc": 0.80, "checkpoint": "/c/1"},
        {"trial": "trial_nan", "state": "TERMINATED", "best_val_auc": 0.0, "checkpoint": ""},  # diverged, no model
        {"trial": "trial_a", "state": "TERMINATED", "best_val_auc": 0.90, "checkpoint": "/c/2"},
    ]
    assert ranks(rows, "val_auc") == {"trial_a": 1, "trial_b": 2, "trial_err": 3, "trial_nan": 4}
    # Re-selection chose trial_b (best mean over fresh seeds): export takes it, so it ranks first.
    assert ranks(rows, "val_auc", winner="trial_b") == {"trial_b": 1, "trial_a": 2, "trial_err": 3, "trial_nan": 4}


def test_metrics_follow_the_trial_table_so_new_validation_metrics_appear() -> None:
    rows = [{"trial": "t", "best_val_auc": 0.9, "best_val_ap": 0.8, "best_val_mrr": 0.3}]
    keys = [m.key for m in board_metrics(rows, "val_ap")]
    assert keys == ["rank", "best_val_ap", "best_val_auc", "best_val_mrr", "stop_reason", "epochs_run",
                    "best_epoch", "test_ap", "test_auc", "test_mrr"]


def test_only_sampled_hyperparameters_in_file_order_those_every_trial_has_first() -> None:
    space = parse_space(yaml.safe_load(SPACE))
    assert [h.key for h in sampled_hparams(space)] == ["model", "latent_channels", "lr", "normalize_features",
                                                       "kl_weight", "epochs"]  # constants left out
    rows = [{"model": "vgae", "latent_channels": 16, "lr": 0.01, "normalize_features": True, "kl_weight": 0.5,
             "epochs": 9},
            {"model": "gae", "latent_channels": 16, "lr": 0.02, "normalize_features": False, "epochs": 7}]
    # kl_weight last: TensorBoard ticks the first five and draws only trials with all of them.
    assert [h.key for h in sampled_hparams(space, rows)] == ["model", "latent_channels", "lr",
                                                             "normalize_features", "epochs", "kl_weight"]
    default = load_space(Path(__file__).resolve().parent.parent / "search_spaces" / "default.yaml")
    names = [h.name for h in sampled_hparams(default)]
    assert names == sorted(names)  # TensorBoard sorts by name: the numbers keep the order
    assert "seed" not in {h.key for h in sampled_hparams(default)}
    sampled_once = [{"encoder": "linear", "model": "gae"}]  # what no trial sampled stays out
    assert [h.key for h in sampled_hparams(default, sampled_once)] == ["model", "encoder"]


def _plugin_content(run: Path) -> tuple[EventAccumulator, dict[str, bytes]]:
    events = EventAccumulator(str(run), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return events, events.PluginTagToContent(metadata.PLUGIN_NAME)


def test_write_board_gives_every_trial_its_entry_and_no_inapplicable_hyperparameter(tmp_path: Path) -> None:
    space_file = tmp_path / "space.yaml"
    space_file.write_text(SPACE)
    settings = SearchSettings(space=str(space_file), max_epochs=40, grace_period=10, reduction_factor=2)
    common = {"encoder": "linear", "normalize_features": False, "checkpoint": "/c", "state": "TERMINATED"}
    rows = [
        {"trial": "trial_aaaa0001", "model": "vgae", "latent_channels": 256, "lr": 0.01, "kl_weight": 0.5,
         "epochs": 40, "best_val_auc": 0.91, "best_val_ap": 0.9, "best_epoch": 38, "epochs_run": 40,
         "stop_reason": "epochs", **common},
        {"trial": "trial_aaaa0002", "model": "gae", "latent_channels": 16, "lr": 0.002, "epochs": 33,
         "best_val_auc": 0.85, "best_val_ap": 0.86, "best_epoch": 9, "epochs_run": 10, "stop_reason": "asha",
         **common},
        {"trial": "trial_aaaa0003", "model": "gae", "latent_channels": 16, "lr": 0.05, "epochs": 33,  # crashed
         "best_val_auc": None, "best_val_ap": None, "best_epoch": None, "epochs_run": 0, "stop_reason": "error",
         **common, "state": "ERROR", "checkpoint": ""},
    ]
    logged = tmp_path / "tensorboard" / "trial_aaaa0001-vgae-linear-l256"  # the trial logged its curves here
    logged.mkdir(parents=True)
    write_board(tmp_path, rows, settings, parse_space(yaml.safe_load(SPACE)))
    write_board(tmp_path, rows, settings, parse_space(yaml.safe_load(SPACE)))  # a rewrite replaces, never adds
    runs = sorted(p.name for p in (tmp_path / "tensorboard").iterdir())
    assert runs == ["trial_aaaa0001-vgae-linear-l256", "trial_aaaa0002-gae-linear-l16", "trial_aaaa0003-gae-linear-l16"]
    expected = {
        "trial_aaaa0001-vgae-linear-l256": {"rank": 1, "stop_reason": STOP_REASONS.index("epochs") + 1,
                                            "best_val_auc": 0.91, "epochs_run": 40, "best_epoch": 38},
        "trial_aaaa0002-gae-linear-l16": {"rank": 2, "stop_reason": STOP_REASONS.index("asha") + 1,
                                          "best_val_auc": 0.85, "epochs_run": 10, "best_epoch": 9},
        # No value is left out: TensorBoard would drop the trial's line.
        "trial_aaaa0003-gae-linear-l16": {"rank": 3, "stop_reason": STOP_REASONS.index("error") + 1,
                                          "best_val_auc": 0.0, "epochs_run": 0, "best_epoch": 0},
    }
    for run, values in expected.items():
        assert len(list((tmp_path / "tensorboard" / run).glob("*tune-gae-hparams"))) == 1
        events, content = _plugin_content(tmp_path / "tensorboard" / run)
        start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
        hparams = {name.split(" ", 1)[1]: value for name, value in start.hparams.items()}
        assert ("kl_weight" in hparams) == run.startswith("trial_aaaa0001")  # GAE trials: no kl_weight
        assert "encoder" not in hparams and "seed" not in hparams  # constants are not hyperparameters here
        for key, value in values.items():
            assert events.Scalars(f"verdict/{key}")[-1].value == pytest.approx(value)
        end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
        assert end.status == (api_pb2.STATUS_FAILURE if run.startswith("trial_aaaa0003") else api_pb2.STATUS_SUCCESS)
    experiment = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
    domains = {info.display_name: info for info in experiment.hparam_infos}
    assert list(domains["model"].domain_discrete) == ["gae", "vgae"]
    assert list(domains["normalize_features"].domain_discrete) == [False, True]
    assert (domains["epochs"].domain_interval.min_value, domains["epochs"].domain_interval.max_value) == (5, 40)

    run = write_test_metrics(tmp_path, "trial_aaaa0001", {"test_auc": 0.88, "test_ap": 0.87, "val_auc": 0.91})
    events, _ = _plugin_content(run)
    assert events.Scalars("verdict/test_auc")[-1].value == pytest.approx(0.88)
    assert "verdict/val_auc" not in events.Tags()["scalars"]
    assert not math.isnan(events.Scalars("verdict/rank")[-1].value)


# --------------------------------------------------------------------------- a real server


ALL_STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]
SERVER_TIMEOUT_S = 90.0


class Served:
    """`tune-gae tensorboard SEARCH` on a free localhost port, queried as its web page does."""

    def __init__(self, search: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tune_gae.cli", "tensorboard", str(search), "--port", str(self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def get(self, route: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{route}", timeout=10) as response:
            return json.loads(response.read())

    def post(self, route: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{route}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def experiment(self) -> dict[str, Any]:
        return self.post("/data/plugin/hparams/experiment", {"experimentName": "", "includeMetrics": True})

    def session_groups(self, experiment: dict[str, Any]) -> list[dict[str, Any]]:
        columns = [{"hparam": h["name"], "includeInResult": True} for h in experiment["hparamInfos"]]
        columns += [{"metric": m["name"], "includeInResult": True} for m in experiment["metricInfos"]]
        body = {"experimentName": "", "allowedStatuses": ALL_STATUSES, "colParams": columns,
                "startIndex": 0, "sliceSize": 1000}
        return self.post("/data/plugin/hparams/session_groups", body).get("sessionGroups", [])

    def close(self) -> str:
        """Stop the command and the TensorBoard it started (one process group); its output."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        output, _ = self.process.communicate(timeout=30)
        return output


def _loaded(served: Served, trials: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The experiment and session groups once the server has read every trial (it loads in the
    background), or what it had after SERVER_TIMEOUT_S."""
    deadline = time.monotonic() + SERVER_TIMEOUT_S
    experiment: dict[str, Any] = {}
    groups: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        assert served.process.poll() is None, served.close()
        try:
            experiment = served.experiment()
            groups = served.session_groups(experiment) if experiment.get("metricInfos") else []
        except OSError:
            pass
        untested = [m for m in experiment.get("metricInfos", []) if not m["name"]["tag"].startswith("verdict/test_")]
        if len(groups) == trials and all(len(g.get("metricValues", [])) >= len(untested) for g in groups):
            return experiment, groups
        time.sleep(1.0)
    return experiment, groups


def test_tensorboard_shows_every_trial_of_a_search_with_asha_stops(smoke_search: Path, smoke_bundle: Path) -> None:
    """The done-when of issue #15, through what TensorBoard's web page calls."""
    with (smoke_search / "trials.csv").open(newline="") as handle:
        rows = {row["trial"]: row for row in csv.DictReader(handle)}
    asha = STOP_REASONS.index("asha") + 1
    exported = json.loads((smoke_bundle / "metrics.json").read_text())
    served = Served(smoke_search)
    try:
        experiment, groups = _loaded(served, len(rows))
        runs = served.get("/data/runs")
        final_points = {
            (run, tag): served.get(f"/data/plugin/scalars/scalars?run={run}&tag={tag}")
            for run in runs for tag in ("verdict/rank", "verdict/best_val_auc")
        }
    finally:
        served.close()

    # Only what the smoke space samples, in its file's order; constants and derived keys absent.
    assert [h["displayName"] for h in experiment["hparamInfos"]] == [
        "model", "hidden_channels", "latent_channels", "lr", "epochs"]
    declared = [m["name"]["tag"] for m in experiment["metricInfos"]]
    from tune_gae.rules import TEST_METRICS, VALIDATION_METRICS

    # rank, every validation metric the search records, how the trial ended, the winner's test metrics
    assert declared == ["verdict/" + key for key in ("rank", *(f"best_{m}" for m in VALIDATION_METRICS),
                                                   "stop_reason", "epochs_run", "best_epoch", *TEST_METRICS)]

    assert len(groups) == len(rows)
    by_trial = {trial_of_run(g["name"]): g for g in groups}
    assert set(by_trial) == set(rows)
    assert not any(name.startswith("tensorboard/") for name in runs)
    for trial, group in by_trial.items():
        row = rows[trial]
        assert group["name"] == run_name(trial, row)
        values = {v["name"]["tag"][len("verdict/"):]: v["value"] for v in group["metricValues"]}
        # Every trial, stopped or not, has every metric; test metrics only the exported one.
        untested = {key.split("/", 1)[1] for key in declared if not key.startswith("verdict/test_")}
        assert untested <= set(values), f"{trial} lacks {untested - set(values)}"
        assert values["best_val_auc"] == pytest.approx(float(row["best_val_auc"]), abs=1e-6)
        assert values["epochs_run"] == int(row["epochs_run"])
        assert values["stop_reason"] == STOP_REASONS.index(row["stop_reason"]) + 1
        assert ("test_auc" in values) == (trial == exported["trial"])
        assert "seed" not in str(group["hparams"]) and "normalize_features" not in str(group["hparams"])
    assert any(int(g_values["value"]) == asha for g in groups for g_values in g["metricValues"]
               if g_values["name"]["tag"] == "verdict/stop_reason"), "the smoke search had no ASHA-stopped trial"

    # The winner: rank 1 is the exported trial, with the test metrics export scored.
    ranked = sorted(by_trial.items(), key=lambda item: next(
        v["value"] for v in item[1]["metricValues"] if v["name"]["tag"] == "verdict/rank"))
    assert ranked[0][0] == exported["trial"]
    winner = {v["name"]["tag"]: v["value"] for v in ranked[0][1]["metricValues"]}
    assert winner["verdict/test_auc"] == pytest.approx(exported["test_auc"], abs=1e-6)
    assert winner["verdict/test_ap"] == pytest.approx(exported["test_ap"], abs=1e-6)

    # No step-0 points: the summary values sit at the trial's last epoch.
    for (run, _), points in final_points.items():
        assert [step for _, step, _ in points] == [int(rows[trial_of_run(run)]["epochs_run"])]


DECODER_SPACE = """
parameters:
  decoder: {choice: [inner_product, hadamard_mlp, ncn]}
  decoder_width: {choice: [16, 64]}
  cn_weighting: {choice: [count, resource_allocation], when: {decoder: ncn}}
  lr: {loguniform: [0.001, 0.1]}
"""


def _hparams_of(run: Path) -> dict[str, Any]:
    _, content = _plugin_content(run)
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    return {name.split(" ", 1)[1]: value for name, value in start.hparams.items()}


def test_hparams_name_each_trials_decoder_and_only_the_options_it_uses(tmp_path: Path) -> None:
    space_file = tmp_path / "space.yaml"
    space_file.write_text(DECODER_SPACE)
    settings = SearchSettings(space=str(space_file), max_epochs=10, grace_period=5)
    done = {"model": "gae", "encoder": "gcn", "best_val_auc": 0.9, "best_val_ap": 0.9, "best_epoch": 5,
            "epochs_run": 10, "stop_reason": "epochs", "state": "TERMINATED", "checkpoint": "/c"}
    rows = [
        {"trial": "trial_dec00001", "decoder": "inner_product", "decoder_width": 64, "lr": 0.01, **done},
        {"trial": "trial_dec00002", "decoder": "hadamard_mlp", "decoder_width": 16, "lr": 0.02, **done},
        {"trial": "trial_dec00003", "decoder": "ncn", "decoder_width": 16, "cn_weighting": "count", "lr": 0.03,
         **done},
    ]
    write_board(tmp_path, rows, settings, parse_space(yaml.safe_load(DECODER_SPACE)))
    shown = {row["trial"]: _hparams_of(run_dir(tmp_path / "tensorboard", row["trial"])) for row in rows}
    assert {k: v.string_value for k, v in shown["trial_dec00001"].items() if k != "lr"} == {"decoder": "inner_product"}
    assert shown["trial_dec00002"]["decoder_width"].number_value == 16 and "cn_weighting" not in shown["trial_dec00002"]
    assert shown["trial_dec00003"]["cn_weighting"].string_value == "count"
    assert shown["trial_dec00003"]["decoder"].string_value == "ncn"
    # A space that fixes the decoder: no column for it, the experiment's description names it.
    fixed = "parameters:\n  decoder: ncn\n  lr: {loguniform: [0.001, 0.1]}\n"
    space_file.write_text(fixed)
    for row in rows:
        row.update(decoder="ncn")
    write_board(tmp_path, rows, settings, parse_space(yaml.safe_load(fixed)))
    _, content = _plugin_content(run_dir(tmp_path / "tensorboard", "trial_dec00001"))
    experiment = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
    assert experiment.description == "3 trials of space, ranked by best val_auc; decoder ncn"
    assert "decoder" not in _hparams_of(run_dir(tmp_path / "tensorboard", "trial_dec00001"))
