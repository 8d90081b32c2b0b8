"""cluster.yaml: Ray's own launcher validation, plus the properties this project relies on.

`ray up` first merges the provider's defaults (``prepare_config``) and then checks the result
against Ray's JSON schema and cross-field rules (``validate_config``); both run offline. What it
does next (``bootstrap_aws``: key pair, IAM role, subnets, AMI) needs AWS credentials and is not
exercised here.
"""
from __future__ import annotations

import copy
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER_YAML = Path(__file__).resolve().parent.parent / "cluster.yaml"
REPO_MOUNT = "~/tune-gae"
TOKEN_PATH = "~/.ray/auth_token"


def load_config() -> dict[str, Any]:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def validate_like_ray_up(config: dict[str, Any]) -> dict[str, Any]:
    """Ray's offline checks in `ray up` order; returns the merged config it would launch."""
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


@pytest.fixture(scope="module")
def prepared() -> dict[str, Any]:
    return validate_like_ray_up(load_config())


def all_commands(config: dict[str, Any]) -> list[str]:
    """Every shell command a node runs (setup lists are merged by prepare_config)."""
    keys = ("initialization_commands", "head_setup_commands", "worker_setup_commands",
            "head_start_ray_commands", "worker_start_ray_commands")
    return [command for key in keys for command in config.get(key, [])]


def test_cluster_yaml_passes_ray_validation(prepared: dict[str, Any]) -> None:
    assert prepared["cluster_name"] == "tune-gae"
    assert prepared["provider"]["type"] == "aws"
    assert prepared["head_node_type"] in prepared["available_node_types"]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(config: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node[key]
        node[last] = value
    return mutate


BROKEN = {
    "unknown top-level key": _set("dashboard_host", "127.0.0.1"),
    "misspelled top-level key": _set("idle_timeout_minute", 5),
    "unknown node-type key": _set("available_node_types.gpu_worker.gpus", 1),
    "fractional GPU resource": _set("available_node_types.gpu_worker.resources", {"GPU": 0.5}),
    "head type not defined": _set("head_node_type", "cpu_head"),
    "min_workers above max_workers": _set("available_node_types.gpu_worker.min_workers", 9),
}


@pytest.mark.parametrize("mutate", BROKEN.values(), ids=BROKEN.keys())
def test_broken_config_fails_the_same_validation(mutate: Callable[[dict[str, Any]], None]) -> None:
    config = load_config()
    mutate(config)
    with pytest.raises((jsonschema.ValidationError, ValueError)):
        validate_like_ray_up(config)


def test_dashboard_is_bound_to_loopback(prepared: dict[str, Any]) -> None:
    head_start = " ".join(prepared["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start
    assert re.findall(r"--dashboard-host[= ](\S+)", head_start) == ["127.0.0.1"]
    for command in all_commands(prepared):
        assert "0.0.0.0" not in command, command
        assert "--bind_all" not in command, command


def test_every_ray_start_uses_token_auth(prepared: dict[str, Any]) -> None:
    starts = [c for c in all_commands(prepared) if "ray start" in c]
    assert len(starts) == 2
    for command in starts:
        assert "RAY_AUTH_MODE=token ray start" in command, command
    assert prepared["file_mounts"][TOKEN_PATH] == TOKEN_PATH


def test_gpu_worker_type_exists(prepared: dict[str, Any]) -> None:
    head = prepared["head_node_type"]
    gpu_types = {
        name: spec for name, spec in prepared["available_node_types"].items()
        if name != head and spec["resources"].get("GPU", 0) >= 1
    }
    assert gpu_types, "no worker node type advertises a GPU"
    for spec in gpu_types.values():
        assert spec["max_workers"] >= 1
        assert spec["resources"].get("CPU", 0) >= 1


def test_every_node_installs_tune_gae_from_the_synced_checkout(prepared: dict[str, Any]) -> None:
    assert prepared["file_mounts"][REPO_MOUNT] == "."
    pyproject = (CLUSTER_YAML.parent / "pyproject.toml").read_text()
    assert re.search(r'^name = "tune-gae"$', pyproject, re.MULTILINE)
    for key in ("head_setup_commands", "worker_setup_commands"):
        installs = [c for c in prepared[key] if re.search(rf"pip install {re.escape(REPO_MOUNT)}\b", c)]
        assert installs, f"{key} does not pip install {REPO_MOUNT}"
        torch = next(i for i, c in enumerate(prepared[key]) if '"torch>=' in c)
        assert torch < prepared[key].index(installs[0]), "torch must be installed before tune-gae"


def test_results_go_to_shared_storage(prepared: dict[str, Any]) -> None:
    setup = " ".join(prepared["worker_setup_commands"])
    assert re.search(r"mount -t nfs4 .* /mnt/shared\b", setup)


def test_every_command_is_valid_bash(prepared: dict[str, Any]) -> None:
    for command in all_commands(prepared):
        checked = subprocess.run(["bash", "-n", "-c", command], capture_output=True, text=True)
        assert checked.returncode == 0, f"{command}\n{checked.stderr}"


def test_every_key_is_commented() -> None:
    """Each mapping key has a comment on its line or on the line(s) just above it."""
    lines = CLUSTER_YAML.read_text().splitlines()
    key = re.compile(r"^\s*(- )?[\"']?[\w~./-]+[\"']?:(\s|$)")
    uncommented = []
    for number, line in enumerate(lines):
        if not key.match(line) or "#" in line:
            continue
        above = number - 1
        while above >= 0 and not lines[above].strip():
            above -= 1
        if above < 0 or not lines[above].lstrip().startswith("#"):
            uncommented.append(f"{number + 1}: {line.strip()}")
    assert not uncommented, "keys without a comment:\n" + "\n".join(uncommented)
