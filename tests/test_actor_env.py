"""Ray Tune's trial actor runtime env, emptied while a search runs (``tune_gae.search.actor_env``).

These tests fail the day Ray moves or changes the private default the module edits: the search
would then still run, but every trial actor would wait for a fresh worker process again.
"""
from __future__ import annotations

from typing import Any

from tune_gae.search.actor_env import EXPECTED_DEFAULTS, trial_actors_without_runtime_env


class Trainable:
    """A stand-in trainable class: only its remote wrapper's options are looked at."""


def actor_env_vars() -> dict[str, Any]:
    """The env vars Ray Tune's actor class cache gives a trial actor class made now."""
    from ray.tune.execution.class_cache import _ActorClassCache

    remote_cls = _ActorClassCache().get(Trainable)
    runtime_env = remote_cls._default_options.get("runtime_env") or {}
    return dict(runtime_env.get("env_vars") or {})


def test_ray_tune_still_gives_trial_actors_the_default_this_module_removes() -> None:
    from ray.tune.execution import class_cache

    assert class_cache.DEFAULT_ENV_VARS == EXPECTED_DEFAULTS
    assert actor_env_vars().items() >= EXPECTED_DEFAULTS.items()


def test_inside_the_block_trial_actors_get_no_runtime_env_var_and_it_is_restored_after() -> None:
    with trial_actors_without_runtime_env():
        inside = actor_env_vars()
    assert not set(EXPECTED_DEFAULTS) & set(inside), inside
    assert actor_env_vars().items() >= EXPECTED_DEFAULTS.items()
