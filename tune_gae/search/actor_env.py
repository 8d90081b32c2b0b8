"""Trial actors start in Ray's prestarted workers: the one place tune-gae edits Ray Tune's actor defaults.

Ray Tune gives its trial actor class ``runtime_env={"env_vars": {"PL_DISABLE_FORK": "1"}}`` (for
PyTorch Lightning, which tune-gae does not use). A worker pool only hands an actor a worker started
with the same runtime env, so every trial actor waited for a new process to import torch, PyG and
Ray Tune (about 6 s of an 8 x 300-epoch Cora search on 2 cores) while the prestarted workers
(``preload_python_modules``) sat idle. Without that default the runtime env is empty and the
prestarted workers take the actors.

Ray offers no public switch for it: the default lives in the private module-level dict
``ray.tune.execution.class_cache.DEFAULT_ENV_VARS``. ``trial_actors_without_runtime_env`` empties
it while a search runs and restores it after; ``tests/test_actor_env.py`` fails the day Ray moves,
renames or changes that default (the search then still runs, its actors in fresh workers).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

# What Ray Tune 2.60 puts in every trial actor's runtime env, and where.
CLASS_CACHE_MODULE = "ray.tune.execution.class_cache"
EXPECTED_DEFAULTS = {"PL_DISABLE_FORK": "1"}


@contextlib.contextmanager
def trial_actors_without_runtime_env() -> Iterator[None]:
    """Trial actor classes made inside the block carry no runtime env of Ray Tune's (restored after)."""
    import importlib

    try:
        class_cache = importlib.import_module(CLASS_CACHE_MODULE)
    except ImportError:  # another Ray layout: nothing to change (the test says so)
        yield
        return
    defaults = getattr(class_cache, "DEFAULT_ENV_VARS", None)
    if not isinstance(defaults, dict):
        yield
        return
    saved = dict(defaults)
    for key in EXPECTED_DEFAULTS:
        defaults.pop(key, None)
    try:
        yield
    finally:
        defaults.clear()
        defaults.update(saved)
