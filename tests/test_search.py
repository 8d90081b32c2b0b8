"""End-to-end searches on a real Ray runtime: results folder, TensorBoard, clusters."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tune_gae.cli import main
from tune_gae.config import DataConfig
from tune_gae.data.split import load_split
from tune_gae.search.board import run_dir, run_name
from tune_gae.search.cluster import gpu_sharing_note, trial_slots
from tune_gae.search.settings import SearchSettings, asha_rungs

pytestmark = pytest.mark.slow


def _rows(path: Path) -> list[dict[str, str]]:
    with (path / "trials.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_trial_slots_count_what_every_node_fits() -> None:
    two_small_nodes = [{"CPU": 1.0}, {"CPU": 1.0}]
    assert trial_slots(SearchSettings(cpus_per_trial=1), two_small_nodes) == 2
    assert trial_slots(SearchSettings(cpus_per_trial=0.5), two_small_nodes) == 4
    assert trial_slots(SearchSettings(cpus_per_trial=2), [{"CPU": 3.0}, {"CPU": 1.0}]) == 1
    assert trial_slots(SearchSettings(cpus_per_trial=1, max_concurrent=1), two_small_nodes) == 1
    gpu_node = [{"CPU": 16.0, "GPU": 1.0}, {"CPU": 4.0}]
    assert trial_slots(SearchSettings(cpus_per_trial=1, gpus_per_trial=0.25), gpu_node) == 4
    assert trial_slots(SearchSettings(cpus_per_trial=1), gpu_node) == 20
    assert trial_slots(SearchSettings(cpus_per_trial=1, gpus_per_trial=1), [{"CPU": 8.0}]) == 1  # never 0


def test_the_banner_says_how_trials_share_a_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fractional GPUs without NVIDIA MPS are time-sliced: the search says so and how to fix it;
    with MPS's control pipe present it says trials share through MPS; whole GPUs need no line."""
    monkeypatch.setenv("CUDA_MPS_PIPE_DIRECTORY", str(tmp_path))
    assert gpu_sharing_note(SearchSettings(gpus_per_trial=0)) is None
    assert gpu_sharing_note(SearchSettings(gpus_per_trial=1)) is None
    line = gpu_sharing_note(SearchSettings(gpus_per_trial=0.125))
    assert line is not None and "time-slices unless NVIDIA MPS" in line and "nvidia-cuda-mps-control -d" in line
    (tmp_path / "control").touch()
    assert gpu_sharing_note(SearchSettings(gpus_per_trial=0.125)) == (
        f"GPU sharing: 8 trials per GPU through NVIDIA MPS ({tmp_path}).")


def test_asha_rungs() -> None:
    assert asha_rungs(10, 3, 100) == (10, 30, 90)
    assert asha_rungs(25, 2, 400) == (25, 50, 100, 200)
    assert asha_rungs(20, 3, 20) == ()


def test_smoke_search_on_cora_writes_a_complete_results_folder(data_root: Path, tmp_path: Path) -> None:
    args = ["search", "smoke", "--dataset", "Cora", "--data-root", str(data_root), "--num-samples", "6",
            "--max-epochs", "20", "--grace-period", "5", "--results-dir", str(tmp_path), "--name", "smoke",
            "--metric", "val_mrr", "--reselect-top", "0", "--json", "--no-export"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    path = tmp_path / "smoke"
    assert summary["num_trials"] == 6 and Path(summary["path"]) == path

    # One seeded split for the whole search, recorded with the results.
    split = load_split(DataConfig("Cora", root=str(data_root)))
    record = json.loads((path / "search.json").read_text())
    assert record["split_hash"] == summary["split_hash"] == split.split_hash

    rows = _rows(path)
    assert len(rows) == 6 and len({r["trial"] for r in rows}) == 6
    assert all(r["state"] == "TERMINATED" for r in rows)
    best_values = [float(r["best_val_mrr"]) for r in rows]
    assert best_values == sorted(best_values, reverse=True)  # best first, by the chosen metric
    assert record["best_trial"] == rows[0]["trial"] == summary["best_trial"] == summary["winner"]
    assert summary["exported"]["trial"] == summary["winner"]  # the exported trial's own row
    assert summary["exported"]["lr"] == pytest.approx(float(rows[0]["lr"]))
    assert "reselection" not in record  # --reselect-top 0: the single best trial is the winner
    assert all(0 <= float(r["best_val_hits@20"]) <= 1 for r in rows)
    assert all(int(r["epochs_run"]) <= min(int(r["epochs"]), 20) for r in rows)  # --max-epochs caps

    # Per-trial TensorBoard events: curves + an HParams entry, consistent with trials.csv.
    for row in rows:
        run = run_dir(path / "tensorboard", row["trial"])
        assert run is not None and run.name == run_name(row["trial"], row)
        acc = EventAccumulator(str(run), size_guidance={"scalars": 0})
        acc.Reload()
        assert {"loss", "val_auc", "val_ap", "val_mrr", "val_hits@10", "val_hits@100"} <= set(acc.Tags()["scalars"])
        curve = acc.Scalars("val_mrr")
        assert len(curve) == int(row["epochs_run"])
        assert max(e.value for e in curve) == pytest.approx(float(row["best_val_mrr"]), abs=1e-6)
        assert "_hparams_/session_start_info" in acc.PluginTagToContent("hparams")

    # Ray Tune gets fewer reports than epochs (every 0.1 s by default) but one at every ASHA rung
    # and at the last epoch, so ASHA stops trials exactly at rung epochs.
    rungs = asha_rungs(5, 3, 20)
    reported_total = 0
    for row in rows:
        with (path / row["trial"] / "progress.csv").open(newline="") as handle:
            reported = [int(r["epoch"]) for r in csv.DictReader(handle)]
        epochs_run = int(row["epochs_run"])
        assert reported == sorted(set(reported)) and reported[-1] == epochs_run
        assert {r for r in rungs if r <= epochs_run} <= set(reported)
        if row["stopped_early"] == "True":  # the smoke space has no patience: ASHA stopped it
            assert epochs_run in rungs and row["stop_reason"] == "asha"
        else:
            assert row["stop_reason"] == "epochs" and epochs_run == int(row["epochs"])
        reported_total += len(reported)
    assert reported_total < sum(int(r["epochs_run"]) for r in rows)

    # The best trial's checkpoint holds its best-validation weights.
    import torch

    state = torch.load(Path(rows[0]["checkpoint"]) / "trainer.pt", weights_only=True)
    assert state["best"]["val_mrr"] == pytest.approx(float(rows[0]["best_val_mrr"]))
    assert state["best"]["epoch"] == int(rows[0]["best_epoch"])

    report = CliRunner().invoke(main, ["report", str(path)])
    assert report.exit_code == 0 and report.output.splitlines()[1].startswith(rows[0]["trial"])

    # Resuming it says it finished, from the folder alone: no Ray, no torch, well under 2 s.
    record_bytes = (path / "search.json").read_bytes()
    code = ("import sys, time\nfrom click.testing import CliRunner\nfrom tune_gae.cli import main\n"
            f"began = time.monotonic()\nresult = CliRunner().invoke(main, ['resume', {str(path)!r}])\n"
            "print(result.exit_code, round(time.monotonic() - began, 2), 'ray' in sys.modules, 'torch' in sys.modules)\n"
            "print(result.output)")
    resumed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    status, output = resumed.stdout.split("\n", 1)
    code_, seconds, ray_loaded, torch_loaded = status.split()
    assert (code_, ray_loaded, torch_loaded) == ("0", "False", "False") and float(seconds) < 2.0, resumed.stdout
    assert output.startswith(f"smoke already finished: 6 trials in {record['seconds']:.0f} s, best val_mrr "
                             f"{float(rows[0]['best_val_mrr']):.4f} ({rows[0]['trial']}). Nothing to resume.")
    assert (path / "search.json").read_bytes() == record_bytes  # nothing rewritten


@pytest.mark.cluster
def test_search_spreads_trials_over_a_two_node_cluster(two_node_cluster, tmp_path: Path) -> None:
    # Trials must outlast a worker's start (~5 s importing torch), or with actor reuse the first
    # worker runs them all before the second node's worker is up.
    space = tmp_path / "long.yaml"
    space.write_text("parameters:\n  latent_channels: {choice: [8, 16]}\n  epochs: 1500\n")
    env = {**os.environ, **two_node_cluster.env}
    command = [sys.executable, "-m", "tune_gae.cli", "search", str(space), "--dataset", "synthetic:nodes=2000",
               "--num-samples", "4", "--max-epochs", "1500", "--scheduler", "fifo",
               "--address", two_node_cluster.address, "--results-dir", str(tmp_path), "--name", "spread",
               "--json", "--no-export"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    path = tmp_path / "spread"
    assert len(_rows(path)) == 4
    nodes = set()
    for result_file in path.glob("trial_*/result.json"):
        for line in result_file.read_text().splitlines():
            nodes.add(json.loads(line)["node_id"])
    alive = set(two_node_cluster.wait_for_alive_nodes(2))
    assert nodes == alive  # every node ran trials, and nothing ran elsewhere


def test_default_search_on_a_featureless_graph_searches_encodings_and_beats_nothing_silently(tmp_path: Path) -> None:
    """A featureless edge list: the encoding is said, searched, shown per trial, in HParams and the
    bundle; the summary puts the exported model beside the classic baselines on its split."""
    edges = tmp_path / "ring.csv"
    edges.write_text("".join(f"{i},{(i + d) % 400}\n" for d in (1, 3, 17) for i in range(400)))
    result = CliRunner().invoke(main, [
        "search", "default", "--dataset", str(edges), "--num-samples", "3", "--max-epochs", "4",
        "--grace-period", "2", "--results-dir", str(tmp_path), "--name", "s", "--seed", "1",
    ])
    assert result.exit_code == 0, result.output
    out = result.output
    assert ("Node encoding: no node features: trials search node_encoding over embedding, embedding+degree, "
            "embedding+spectral") in out
    header = next(line for line in out.splitlines() if line.startswith("trial "))
    assert "node_encoding" in header
    decoder = json.loads((tmp_path / "s" / "best" / "config.json").read_text())["model"]["decoder"]
    assert f"On its split's test edges: tuned model ({decoder} decoder) test AUC " in out
    rows = list(csv.DictReader((tmp_path / "s" / "trials.csv").open()))
    encodings = {row["node_encoding"] for row in rows}
    assert encodings and encodings <= {"embedding", "embedding+degree", "embedding+spectral"}
    metrics = json.loads((tmp_path / "s" / "best" / "metrics.json").read_text())
    assert set(metrics["baselines"]) == {"common_neighbours", "adamic_adar", "resource_allocation"}
    config = json.loads((tmp_path / "s" / "best" / "config.json").read_text())
    winner = next(row for row in rows if row["trial"] == metrics["trial"])
    assert config["model"]["node_encoding"] == winner["node_encoding"]
    card = (tmp_path / "s" / "best" / "MODEL_CARD.md").read_text()
    assert f"- Node encoding: `{winner['node_encoding']}`" in card and "Tuned model vs best baseline" in card
    from tune_gae.search.board import run_dir

    events = EventAccumulator(str(run_dir(tmp_path / "s" / "tensorboard", metrics["trial"])))
    events.Reload()
    assert winner["node_encoding"].encode() in events.PluginTagToContent("hparams")["_hparams_/session_start_info"]


def test_large_searches_let_ray_space_the_experiment_snapshots_it_rewrites_whole() -> None:
    from tune_gae.search.runner import SNAPSHOT_EVERY_2S_TRIALS, snapshot_period

    # Ray Tune reads TUNE_GLOBAL_CHECKPOINT_S as seconds, or "auto" (its own default).
    assert snapshot_period(8) == snapshot_period(SNAPSHOT_EVERY_2S_TRIALS) == "2"
    assert snapshot_period(SNAPSHOT_EVERY_2S_TRIALS + 1) == snapshot_period(10_000) == "auto"
