"""Shared fixtures: a writable copy of the Planetoid data, one Ray runtime for the session."""
from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ray_cluster import LocalRayCluster

# PyG 2.8 runs torch.jit.script on two classes when it is imported (torch_geometric/nn/pool/
# select/base.py and connect/base.py), which torch >= 2.9 reports as deprecated. That one warning
# is PyG's and is silenced here, once; tune-gae uses no torch.jit (the portable encoder is a
# torch.export program), so any other use still warns, and fails under -W error::DeprecationWarning.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=DeprecationWarning)
    import torch_geometric.nn  # noqa: F401

# Data tests never skip: missing data fails them, saying what to set.
PLANETOID_NEEDED = ("Cora", "CiteSeer")


@pytest.fixture(scope="session", autouse=True)
def no_service_of_yours(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests' searches start their own Ray: a service `tune-gae up` started on this machine is not
    joined (its record is looked for in an empty folder; tests/test_service.py starts its own)."""
    os.environ["TUNE_GAE_SERVICE_DIR"] = str(tmp_path_factory.mktemp("no-service"))


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``$TUNE_GAE_DATA`` when set (CI points it at a writable copy), else a writable copy of the
    Planetoid raw files shipped in the package (``tune_gae/data/planetoid``)."""
    from tune_gae.data.sources import DATA_ROOT_ENV, SHIPPED_PLANETOID

    if os.environ.get(DATA_ROOT_ENV):
        root = Path(os.environ[DATA_ROOT_ENV])
        for name in PLANETOID_NEEDED:
            if not (root / "Planetoid" / name / "raw").is_dir():
                pytest.fail(f"{DATA_ROOT_ENV}={root} holds no Planetoid/{name}/raw: point {DATA_ROOT_ENV} at a "
                            f"writable folder laid out as <root>/Planetoid/<Name>/raw, or unset it to use the "
                            f"raw files shipped in {SHIPPED_PLANETOID}.")
        return root
    if not all((SHIPPED_PLANETOID / name / "raw").is_dir() for name in PLANETOID_NEEDED):
        pytest.fail(f"the shipped Planetoid raw files are missing from {SHIPPED_PLANETOID}: restore them "
                    f"(git checkout) or set {DATA_ROOT_ENV} to a folder holding Planetoid/<Name>/raw.")
    root = tmp_path_factory.mktemp("data")
    shutil.copytree(SHIPPED_PLANETOID, root / "Planetoid")
    return root


@pytest.fixture(scope="module")
def two_node_cluster() -> Iterator[LocalRayCluster]:
    """A real head + one worker node (1 CPU each) on this machine, token auth on.

    Module-scoped: a fault test that kills the worker only spoils its own module's cluster.
    Drivers run as subprocesses with ``env=two_node_cluster.env``.
    """
    with LocalRayCluster(num_nodes=2, cpus_per_node=1) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray runtime (2 CPUs, no dashboard) for the session; ``run_search`` reuses it.

    Workers' output is not sent to this process: a late worker line would otherwise land in a
    later test's captured CLI output (tests that check what a search prints run it in a process).
    """
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(include_dashboard=False, num_cpus=2, log_to_driver=False)
    yield
    if started:
        ray.shutdown()


@pytest.fixture(scope="session")
def smoke_search(ray_session: None, data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ONE real smoke search on Cora (4 trials, <= 30 epochs, ASHA grace 10): its folder.

    One trial at a time: ASHA compares a trial with those that reached the rung before it, so with two
    at once the order (and whether any trial is stopped) follows the machine's timing. In this order
    the last two trials are stopped at epoch 10 (0.77 and 0.73 against 0.84 and 0.83), every run.
    Shared by every module: treat it as read-only (export to your own --out, copy it to edit it).
    """
    from tune_gae import DataConfig, SearchSettings, run_search

    results = tmp_path_factory.mktemp("smoke-search")
    outcome = run_search(SearchSettings(
        space="smoke", data=DataConfig("Cora", root=str(data_root)), num_samples=4, max_epochs=30,
        grace_period=10, max_concurrent=1, results_dir=str(results), name="smoke",
    ))
    return outcome.path


@pytest.fixture(scope="session")
def smoke_bundle(smoke_search: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke search's best trial exported once (outside the search folder): read-only."""
    from tune_gae import export_best

    return export_best(smoke_search, out=tmp_path_factory.mktemp("bundle") / "best")


# A small graph with features, and one tiny search per learned decoder (the space fixes the decoder).
DECODER_GRAPH = "synthetic:nodes=300,communities=3,features=24,seed=3"
DECODER_SPACES = {
    # A seed ensemble of two Hadamard MLPs with batch norm: members' mean, running statistics.
    "hadamard_mlp": "  decoder: hadamard_mlp\n  decoder_norm: batch\n  decoder_width: 16\n  ensemble: 2\n",
    "ncn": "  decoder: ncn\n  decoder_width: 16\n  cn_weighting: adamic_adar\n",
}


@pytest.fixture(scope="session")
def decoder_bundles(ray_session: None, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``bundle(decoder)``: the exported winner of a 2-trial search on DECODER_GRAPH whose space
    fixes that decoder (made once per session, on first use; the ncn search re-selects over one
    fresh seed). Read-only."""
    from tune_gae import DataConfig, SearchSettings, export_best, run_search

    made: dict[str, Path] = {}

    def bundle(decoder: str) -> Path:
        if decoder not in made:
            folder = tmp_path_factory.mktemp(f"search-{decoder}")
            space = folder / "space.yaml"
            space.write_text("parameters:\n  model: {choice: [gae, vgae]}\n  hidden_channels: [16]\n"
                             "  latent_channels: 8\n  lr: 0.01\n  epochs: 6\n" + DECODER_SPACES[decoder])
            outcome = run_search(SearchSettings(
                space=str(space), data=DataConfig(DECODER_GRAPH), num_samples=2, max_epochs=6, scheduler="fifo",
                results_dir=str(folder), name=decoder, reselect_top=2 if decoder == "ncn" else 0,
                reselect_seeds=1,
            ))
            made[decoder] = export_best(outcome.path, out=folder / "bundle")
        return made[decoder]

    return bundle
