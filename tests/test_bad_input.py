"""Bad input is refused with a one-line error naming the fix, exit code 2, before anything starts.

"Before anything starts": Ray is never joined or started (``connect_ray`` is replaced by a
function that fails the test), no results folder appears, and an earlier search is left
byte-identical. Export errors (no finished trial, corrupt bundle) are covered by the export tests.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result

import tune_gae.search.cluster as cluster_module
import tune_gae.search.runner as runner_module
from tune_gae.cli import main
from tune_gae.search.cluster import GPU_DEVICE_GLOBS, connect_ray
from tune_gae.search.results import SEARCH_FILE
from tune_gae.search.settings import SearchSettings

SMALL = ["--dataset", "synthetic:nodes=300", "--num-samples", "2", "--max-epochs", "5"]
FAST_FAIL_S = 5.0


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Fail the test if a command tries to start or join Ray; returns the addresses it tried."""
    calls: list[str | None] = []

    def refuse(address: str | None) -> bool:
        calls.append(address)
        raise AssertionError("Ray was started for an input that should have been refused")

    monkeypatch.setattr(runner_module, "connect_ray", refuse)
    return calls


def _invoke(args: list[str]) -> Result:
    return CliRunner().invoke(main, args)


def _assert_refused(result: Result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [f"Error: {message}"]


def _tree_digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its content hash (and every folder, as "dir")."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        for path in sorted(folder.rglob("*"))
    }


def _fake_search(folder: Path) -> dict[str, str]:
    """An earlier search's folder (the files a real one holds), returned as its digest."""
    (folder / "trial_0001" / "checkpoint_000000").mkdir(parents=True)
    (folder / "trial_0001" / "checkpoint_000000" / "trainer.pt").write_bytes(b"weights")
    (folder / "trial_0001" / "progress.csv").write_text("epoch,val_auc\n1,0.8\n")
    (folder / SEARCH_FILE).write_text(json.dumps({"settings": {"metric": "val_auc"}, "split_hash": "abc"}))
    (folder / "trials.csv").write_text("trial,state\ntrial_0001,TERMINATED\n")
    return _tree_digest(folder)


# --------------------------------------------------------------------------- search spaces


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("parameters:\n  model: {choice: [gae, vgae]\n  lr: 0.01\n",
         "{path}:3:3: invalid YAML (while parsing a flow mapping, expected ',' or '}}', but got '<scalar>'): "
         "fix the syntax there (indent with spaces, quote odd strings)."),
        ("parameters:\n  latnet_channels: {choice: [8, 16]}\n",
         "unknown parameter 'latnet_channels' in {path}:2 (did you mean 'latent_channels'?)."),
        ("parameters:\n  lr: {loguniform: [0.1, 0.01]}\n",
         "'lr' in {path}:2: loguniform low 0.1 is above high 0.01: write [low, high]."),
        ("parameters:\n  lr: {loguniform: [0.0, 0.01]}\n",
         "'lr' in {path}:2: loguniform bounds must be positive but got 0: use uniform, or a choice that includes it."),
    ],
    ids=["malformed YAML", "unknown parameter", "reversed range", "log range from zero"],
)
def test_bad_space_is_refused(tmp_path: Path, no_ray: list[str | None], text: str, message: str) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(text)
    result = _invoke(["search", str(space), *SMALL, "--results-dir", str(tmp_path / "results")])
    _assert_refused(result, message.format(path=space))
    assert not (tmp_path / "results").exists() and no_ray == []


def test_yaml_is_read_safely(tmp_path: Path, no_ray: list[str | None]) -> None:
    """A YAML tag that would run code is an error, and the code does not run."""
    marker = tmp_path / "ran"
    space = tmp_path / "evil.yaml"
    space.write_text(f'parameters:\n  lr: !!python/object/apply:os.system ["touch {marker}"]\n')
    result = _invoke(["search", str(space), *SMALL, "--results-dir", str(tmp_path / "results")])
    _assert_refused(
        result,
        f"{space}:2:7: invalid YAML (could not determine a constructor for the tag "
        f"'tag:yaml.org,2002:python/object/apply:os.system'): fix the syntax there "
        f"(indent with spaces, quote odd strings).",
    )
    assert not marker.exists()


# --------------------------------------------------------------------------- data


def test_unknown_dataset_is_refused(tmp_path: Path, no_ray: list[str | None]) -> None:
    result = _invoke(["search", "smoke", "--dataset", "Cra", "--results-dir", str(tmp_path)])
    _assert_refused(
        result,
        "unknown dataset 'Cra' (did you mean 'Cora'?): use one of Cora, CiteSeer, PubMed, 'synthetic:nodes=N,communities=K', "
        "or a path to an edge-list file.",
    )
    assert list(tmp_path.iterdir()) == []


# A bad dataset is found while Ray starts (the data loads meanwhile): the command still exits 2
# with one line, writes nothing, and shuts down the Ray it started, workers included. Checked on
# real processes: everything the command starts inherits a marker in its environment.


def _processes_with(marker: str) -> list[str]:
    """Live processes whose environment holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                found.append(f"{entry.name}: {command[:120]}")
        except OSError:  # gone meanwhile
            continue
    return found


def _refused_search(tmp_path: Path, args: list[str]) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """``tune-gae search ARGS`` as a real process; it and the processes it left alive 15 s after it
    exited (Ray's workers end shortly after their raylet)."""
    marker = uuid.uuid4().hex
    env = {**os.environ, "TUNE_GAE_TEST_RUN": marker, "RAY_ADDRESS": "local"}
    done = subprocess.run([sys.executable, "-m", "tune_gae.cli", "search", "smoke", *args,
                           "--results-dir", str(tmp_path / "results")],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    deadline = time.monotonic() + 15
    while (left := _processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return done, left


def _missing_citeseer(tmp_path: Path) -> tuple[list[str], str]:
    empty = tmp_path / "data"
    raw = empty / "Planetoid" / "CiteSeer" / "raw"
    missing = ", ".join(f"ind.citeseer.{s}" for s in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"))
    return (["--dataset", "CiteSeer", "--data-root", str(empty)],
            f"Error: CiteSeer raw files not found in {raw} (missing {missing}) and the download failed (*): copy "
            f"the Planetoid raw files there, or pass --data-root / set TUNE_GAE_DATA to a folder holding "
            f"Planetoid/CiteSeer/raw/.")


def _malformed_edges(tmp_path: Path) -> tuple[list[str], str]:
    edges = tmp_path / "edges.csv"
    edges.write_text("0,1\n1,2\n2,x\n")
    return ["--dataset", str(edges)], f"Error: {edges}:3: node ids must be integers but got '2', 'x'."


@pytest.mark.slow
@pytest.mark.parametrize("case", [_missing_citeseer, _malformed_edges],
                         ids=["missing data offline", "malformed edge file"])
def test_a_bad_dataset_is_refused_and_leaves_nothing_behind(tmp_path: Path, case) -> None:  # noqa: ANN001
    args, message = case(tmp_path)
    done, left = _refused_search(tmp_path, args)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()  # one line: no Ray warning, no traceback
    head, _, tail = message.partition("*")
    assert line.startswith(head) and line.endswith(tail), line
    assert done.stdout == ""
    assert not (tmp_path / "results").exists()
    assert left == []  # the Ray this command started is gone, its workers included


# --------------------------------------------------------------------------- resources


@pytest.mark.skipif(any(glob.glob(p) for p in GPU_DEVICE_GLOBS), reason="this machine has GPU devices")
def test_gpus_on_a_machine_without_gpu_fail_fast(tmp_path: Path) -> None:
    """A real process, timed: the refusal must not wait for torch, the data or Ray."""
    command = [sys.executable, "-m", "tune_gae.cli", "search", "smoke", *SMALL, "--gpus-per-trial", "1",
               "--results-dir", str(tmp_path)]
    began = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    seconds = time.monotonic() - began
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "Error: --gpus-per-trial 1 cannot be met: this machine has no GPU. "
        "Use --gpus-per-trial 0 (CPU) or --address a cluster with GPU nodes."
    ]
    assert done.stdout == ""
    assert seconds < FAST_FAIL_S, f"took {seconds:.1f} s"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="this torch can use a GPU here")
def test_gpus_with_a_torch_without_cuda_are_refused(tmp_path: Path, no_ray: list[str | None],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """On a machine with GPU device files (Ray would offer GPUs) but a CPU-only torch, trials used
    to train on the CPU without a word: the search is refused before anything starts."""
    monkeypatch.setattr(runner_module, "local_resources", lambda: {"CPU": 2.0, "GPU": None})
    result = _invoke(["search", "smoke", *SMALL, "--gpus-per-trial", "0.5", "--results-dir", str(tmp_path / "r")])
    _assert_refused(
        result,
        f"--gpus-per-trial 0.5 needs CUDA but this torch ({torch.__version__}) was built without it: install a "
        f"CUDA build of torch (https://pytorch.org/get-started/locally/) or use --gpus-per-trial 0.",
    )
    assert not (tmp_path / "r").exists() and no_ray == []


def test_more_cpus_than_the_machine_has_are_refused(tmp_path: Path, no_ray: list[str | None]) -> None:
    import os

    result = _invoke(["search", "smoke", *SMALL, "--cpus-per-trial", "64", "--results-dir", str(tmp_path)])
    _assert_refused(
        result,
        f"--cpus-per-trial 64 cannot be met: this machine has {os.cpu_count()} CPUs. "
        f"Lower --cpus-per-trial or --address a larger cluster.",
    )
    assert list(tmp_path.iterdir()) == []


def test_cluster_resource_check_names_the_cluster() -> None:
    nodes = [{"CPU": 1.0, "GPU": 0.0}, {"CPU": 4.0, "GPU": 0.5}]
    with pytest.raises(cluster_module.TuneGAEError, match=r"^--gpus-per-trial 1 cannot be met: the Ray cluster "
                                                         r"has at most 0.5 GPU per node\. "):
        cluster_module.check_resources(SearchSettings(gpus_per_trial=1), nodes)
    with pytest.raises(cluster_module.TuneGAEError, match=r"^--cpus-per-trial 8 cannot be met: the largest Ray node "
                                                         r"has 4 CPUs\. "):
        cluster_module.check_resources(SearchSettings(cpus_per_trial=8), nodes)
    cluster_module.check_resources(SearchSettings(cpus_per_trial=2, gpus_per_trial=0.5), nodes)


# --------------------------------------------------------------------------- results folder


def test_a_name_that_holds_a_search_is_refused_and_left_intact(tmp_path: Path, no_ray: list[str | None]) -> None:
    earlier = tmp_path / "s1"
    earlier.mkdir()
    before = _fake_search(earlier)
    result = _invoke(["search", "smoke", *SMALL, "--results-dir", str(tmp_path), "--name", "s1"])
    _assert_refused(
        result,
        f"{earlier} already holds a search: use `tune-gae resume {earlier}`, pick another --name, "
        f"or pass --overwrite to delete it.",
    )
    assert _tree_digest(earlier) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s1"]


def test_overwrite_deletes_nothing_when_a_later_check_fails(tmp_path: Path, no_ray: list[str | None]) -> None:
    """--overwrite deletes the earlier search only once every check has passed."""
    earlier = tmp_path / "s1"
    earlier.mkdir()
    before = _fake_search(earlier)
    result = _invoke(["search", "smoke", *SMALL, "--results-dir", str(tmp_path), "--name", "s1",
                      "--overwrite", "--cpus-per-trial", "64"])
    assert result.exit_code == 2 and "--cpus-per-trial 64 cannot be met" in result.output
    assert _tree_digest(earlier) == before


def test_a_results_dir_that_cannot_be_written_is_refused(tmp_path: Path, no_ray: list[str | None]) -> None:
    """Tests run as root, for whom permissions do not stop writes: a path below a file does."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = _invoke(["search", "smoke", *SMALL, "--results-dir", str(blocker / "results"), "--name", "s1"])
    _assert_refused(
        result,
        f"results folder {blocker / 'results' / 's1'} is not writable ({blocker} is a file): "
        f"pass a writable --results-dir.",
    )
    assert blocker.read_text() == "not a folder"


def test_resume_of_a_folder_that_is_not_a_search_is_refused(tmp_path: Path, no_ray: list[str | None]) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    result = _invoke(["resume", str(tmp_path)])
    _assert_refused(
        result, f"{tmp_path} is not a tune-gae search (no search.json): pass a folder made by `tune-gae search`."
    )
    result = _invoke(["resume", str(tmp_path / "missing")])
    _assert_refused(
        result,
        f"{tmp_path / 'missing'} is not a tune-gae search (no search.json): pass a folder made by `tune-gae search`.",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_resume_of_a_search_that_never_started_a_trial_is_refused(tmp_path: Path, no_ray: list[str | None]) -> None:
    folder = tmp_path / "s1"
    folder.mkdir()
    settings = SearchSettings(space="smoke", name="s1", results_dir=str(tmp_path))
    (folder / SEARCH_FILE).write_text(json.dumps({"settings": settings.to_json(), "split_hash": "abc"}))
    before = _tree_digest(folder)
    result = _invoke(["resume", str(folder)])
    _assert_refused(
        result,
        f"{folder} holds no Ray experiment state to resume (it stopped before its first trial): "
        f"start it again with `tune-gae search ... --overwrite`.",
    )
    assert _tree_digest(folder) == before


# --------------------------------------------------------------------------- security defaults


def test_local_ray_starts_with_the_dashboard_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    seen: dict[str, object] = {}
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: seen.update(kwargs))
    assert connect_ray(None) is True
    assert seen["include_dashboard"] is False and seen["address"] == "local"  # never a recorded cluster


def test_tensorboard_serves_on_localhost_by_default() -> None:
    (host,) = [p for p in main.commands["tensorboard"].params if p.name == "host"]
    assert host.default == "127.0.0.1"


def test_overwrite_never_deletes_a_folder_that_is_not_a_search(tmp_path: Path, no_ray: list[str | None]) -> None:
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "chapter1.tex").write_text("years of work")
    before = _tree_digest(folder)
    result = _invoke(["search", "smoke", *SMALL, "--results-dir", str(tmp_path), "--name", "thesis", "--overwrite"])
    _assert_refused(
        result,
        f"{folder} exists, is not empty and holds no search: pick another --name or --results-dir "
        f"(--overwrite only replaces an earlier search).",
    )
    assert _tree_digest(folder) == before


# --------------------------------------------------------------------------- graphs a user brings


def _refused_with(result: Result, message: str) -> None:
    """Exit 2 with one line that holds ``message``."""
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output


def _karate_edges(tmp_path: Path) -> Path:
    import networkx as nx

    path = tmp_path / "karate.csv"
    path.write_text("source,target\n" + "".join(f"{u},{v}\n" for u, v in nx.karate_club_graph().edges()))
    return path


@pytest.mark.parametrize("command", ["search", "train"])
def test_a_graph_too_small_to_rank_trials_is_refused(tmp_path: Path, no_ray: list[str | None], command: str) -> None:
    args = ["--dataset", str(_karate_edges(tmp_path)), "--results-dir", str(tmp_path / "r")]
    if command == "search":
        args = ["search", "smoke", *args, "--num-samples", "2", "--max-epochs", "5"]
    else:
        args = ["train", *args, "--epochs", "5"]
    result = CliRunner().invoke(main, args)
    _refused_with(result, "graph 'karate' has 78 edges: a 5%/10% validation/test split leaves 3 validation "
                            "and 7 test edges, fewer than the 20 each needs")
    _refused_with(result, "use a graph with at least 400 edges")
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_features_with_nan_are_refused_naming_file_and_row(tmp_path: Path, no_ray: list[str | None]) -> None:
    import numpy as np

    edges = tmp_path / "g.csv"
    edges.write_text("".join(f"{i},{(i + d) % 300}\n" for d in (1, 7) for i in range(300)))
    features = np.ones((300, 4), dtype="float32")
    features[42, 2] = np.nan
    np.save(tmp_path / "x.npy", features)
    result = _invoke(["search", "smoke", "--dataset", str(edges), "--features", str(tmp_path / "x.npy"),
                      "--num-samples", "2", "--results-dir", str(tmp_path / "r")])
    _refused_with(result, f"{tmp_path / 'x.npy'}: row 42 (node 42) holds nan in column 2")
    _refused_with(result, "fill missing values (e.g. with 0) or drop that column")


def test_a_search_whose_trials_cannot_fit_in_memory_is_refused(
    tmp_path: Path, no_ray: list[str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner_module, "available_memory_bytes", lambda: 300 * 2**20)
    result = _invoke(["search", "default", *SMALL, "--results-dir", str(tmp_path / "r")])
    _refused_with(result, "the largest trial of this space needs about ")
    _refused_with(result, "but this machine has 300.0 MiB available")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("command", ["search", "train"])
def test_split_ratios_that_leave_no_training_edge_are_refused(tmp_path: Path, no_ray: list[str | None],
                                                              command: str) -> None:
    result = _invoke([command, "--dataset", "synthetic:nodes=300", "--val-ratio", "0.5", "--test-ratio", "0.5",
                      "--results-dir", str(tmp_path / "results")])
    _assert_refused(result, "val_ratio + test_ratio must be below 1 but got 1: leave edges to train on.")
    assert not (tmp_path / "results").exists() and no_ray == []


def test_a_split_ratio_outside_zero_and_one_is_refused_by_its_flag(tmp_path: Path) -> None:
    result = _invoke(["train", "--test-ratio", "0", "--results-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "--test-ratio must be above 0 but got 0." in result.output
