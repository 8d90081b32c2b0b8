"""``run_search(settings)``: Ray Tune + OptunaSearch + ASHA over one seeded split.

The driver loads and splits the data ONCE, ships the split (without its test edges) to every
trial through Ray's object store, checks the cluster can run one trial before anything starts,
and leaves behind ``<results>/<name>/``: Ray's restorable experiment, ``tensorboard/``,
``trials.csv`` and ``search.json``.

Every check that can fail on the user's input (space, resources, data, results folder) runs
before Ray starts or anything is deleted. A search stopped by Ctrl-C raises ``SearchInterrupted``
once Ray Tune has saved its state; ``resume_search`` continues it (or one whose driver died).
"""
from __future__ import annotations

import contextlib
import csv
import glob
import json
import logging
import math
import os
import shutil
import signal
import tempfile
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from tune_gae.config import DataConfig
from tune_gae.errors import TuneGAEError

if TYPE_CHECKING:  # tune_gae.data imports torch + PyG: seconds that a refused search must not pay
    from tune_gae.data import LinkSplit

SEARCH_FILE = "search.json"
TRIALS_FILE = "trials.csv"
TENSORBOARD_DIR = "tensorboard"
METRICS = ("val_auc", "val_ap")
SCHEDULERS = ("asha", "fifo")
# Seconds between a trial's reports to Ray Tune (besides those at checkpoints, ASHA rungs and
# its last epoch). One report is a round trip through the driver, ~3 ms on 2 busy CPUs: more
# than a Cora epoch (2-10 ms), so reporting every epoch would cost a third of a search.
REPORT_INTERVAL_S = 0.1
TRIAL_PREFIX = "trial_"
# Device files whose absence means a local Ray would offer no GPU (NVIDIA, AMD ROCm).
GPU_DEVICE_GLOBS = ("/dev/nvidia[0-9]*", "/dev/kfd")

Echo = Callable[[str], None]


class SearchInterrupted(Exception):
    """The search stopped before all its trials finished (Ctrl-C); its state is saved to resume."""

    def __init__(self, path: Path, finished: int | None, total: int) -> None:
        self.path, self.finished, self.total = path, finished, total
        done = f" with {finished} of {total} trials finished" if finished is not None else ""
        super().__init__(
            f"search stopped{done}; its state is saved. Continue it with: tune-gae resume {path}"
        )


@dataclass(frozen=True)
class SearchSettings:
    """Everything one search needs; recorded in ``search.json`` so it can be resumed."""

    space: str = "default"
    data: DataConfig = field(default_factory=DataConfig)
    num_samples: int = 24
    max_epochs: int = 400
    grace_period: int = 20
    reduction_factor: int = 3
    metric: str = "val_auc"
    scheduler: str = "asha"
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int | None = None
    address: str | None = None
    name: str | None = None
    results_dir: str = "results"
    seed: int = 0
    checkpoint_every: int = 50
    max_failures: int = 2
    overwrite: bool = False
    time_budget_s: float | None = None  # stop starting/running trials after this long
    report_interval_s: float = REPORT_INTERVAL_S  # 0: report every epoch to Ray Tune

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise TuneGAEError(f"--metric must be one of {', '.join(METRICS)} but got {self.metric!r}.")
        if self.scheduler not in SCHEDULERS:
            raise TuneGAEError(f"--scheduler must be one of {', '.join(SCHEDULERS)} but got {self.scheduler!r}.")
        for name in ("num_samples", "max_epochs", "grace_period", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise TuneGAEError(f"--{name.replace('_', '-')} must be at least 1 but got {getattr(self, name)}.")
        if self.reduction_factor < 2:
            raise TuneGAEError(f"--reduction-factor must be at least 2 but got {self.reduction_factor}.")
        if self.grace_period > self.max_epochs:
            raise TuneGAEError(
                f"--grace-period ({self.grace_period}) cannot exceed --max-epochs ({self.max_epochs})."
            )
        if self.cpus_per_trial <= 0:
            raise TuneGAEError(f"--cpus-per-trial must be positive but got {self.cpus_per_trial}.")
        if self.gpus_per_trial < 0:
            raise TuneGAEError(f"--gpus-per-trial cannot be negative but got {self.gpus_per_trial}.")
        if self.gpus_per_trial > 1 and self.gpus_per_trial != int(self.gpus_per_trial):
            raise TuneGAEError(
                f"--gpus-per-trial above 1 must be a whole number but got {self.gpus_per_trial}."
            )
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise TuneGAEError(f"--max-concurrent must be at least 1 but got {self.max_concurrent}.")
        if self.max_failures < 0:
            raise TuneGAEError(f"--max-failures cannot be negative but got {self.max_failures}.")
        if self.report_interval_s < 0:
            raise TuneGAEError(f"--report-interval cannot be negative but got {self.report_interval_s}.")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> "SearchSettings":
        values = dict(values)
        values["data"] = DataConfig(**values["data"])
        return cls(**values)


@dataclass(frozen=True)
class SearchOutcome:
    """Where a finished search lives and how it went."""

    path: Path
    best_trial: str | None
    best: dict[str, Any]
    trials: list[dict[str, Any]]
    split_hash: str
    seconds: float


# --------------------------------------------------------------------------- helpers


def asha_rungs(grace_period: int, reduction_factor: int, max_t: int) -> tuple[int, ...]:
    """The epochs at which ASHA may stop a trial: grace * rf^k below max_t."""
    rungs, t = [], grace_period
    while t < max_t:
        rungs.append(t)
        t *= reduction_factor
    return tuple(rungs)


def experiment_path(settings: SearchSettings, split: LinkSplit, space_path: Path) -> Path:
    from tune_gae.data import safe_name

    name = settings.name or f"{safe_name(split.name)}-{space_path.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    return Path(settings.results_dir).expanduser().resolve() / name


def is_search_dir(path: Path) -> bool:
    return (path / SEARCH_FILE).is_file()


def _not_writable(path: Path, reason: str) -> TuneGAEError:
    return TuneGAEError(f"results folder {path} is not writable ({reason}): pass a writable --results-dir.")


def check_results_dir(path: Path, *, overwrite: bool) -> None:
    """Refuse to clobber an earlier search unless asked, and a folder that cannot be written.

    Changes nothing (a probe folder is created and removed): the earlier search stays
    byte-identical when refused, and ``--overwrite`` deletes only once everything else passed,
    and only a folder that holds a search.
    """
    if path.is_file():
        raise _not_writable(path, "it is a file")
    if path.is_dir() and any(path.iterdir()):
        if is_search_dir(path) and not overwrite:
            raise TuneGAEError(
                f"{path} already holds a search: use `tune-gae resume {path}`, pick another --name, "
                f"or pass --overwrite to delete it."
            )
        if not is_search_dir(path):
            raise TuneGAEError(
                f"{path} exists, is not empty and holds no search: pick another --name or --results-dir "
                f"(--overwrite only replaces an earlier search)."
            )
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise _not_writable(path, f"{existing} is a file")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".tune-gae-probe-", dir=existing))
    except OSError as exc:
        raise _not_writable(path, exc.strerror or type(exc).__name__) from None


def prepare_results_dir(path: Path, *, overwrite: bool) -> None:
    """Create the search folder (after ``check_results_dir``), deleting an earlier one if asked."""
    check_results_dir(path, overwrite=overwrite)
    if path.is_dir() and any(path.iterdir()):
        shutil.rmtree(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _not_writable(path, exc.strerror or type(exc).__name__) from None


def _node_resources() -> list[dict[str, float]]:
    import ray

    return [node["Resources"] for node in ray.nodes() if node.get("Alive")]


def check_resources(
    settings: SearchSettings, nodes: list[dict[str, float | None]], *, where: str = "the Ray cluster"
) -> None:
    """Fail now, not after trials sit PENDING forever, when no node can host one trial.

    A resource given as ``None`` is unknown and not checked (``local_resources`` on a machine
    with GPU device files leaves the count to Ray).
    """
    cpus, gpus = settings.cpus_per_trial, settings.gpus_per_trial

    def has(node: dict[str, float | None], key: str, amount: float) -> bool:
        value = node.get(key, 0.0)
        return value is None or value >= amount

    if any(has(n, "CPU", cpus) and has(n, "GPU", gpus) for n in nodes):
        return
    best_cpu = max((n.get("CPU") or 0.0 for n in nodes), default=0.0)
    best_gpu = max((n.get("GPU") or 0.0 for n in nodes), default=0.0)
    if gpus > 0 and not any(has(n, "GPU", gpus) for n in nodes):
        have = "no GPU" if best_gpu == 0 else f"at most {best_gpu:g} GPU per node"
        raise TuneGAEError(
            f"--gpus-per-trial {gpus:g} cannot be met: {where} has {have}. "
            f"Use --gpus-per-trial 0 (CPU) or --address a cluster with GPU nodes."
        )
    node = "this machine" if where == "this machine" else "the largest Ray node"
    raise TuneGAEError(
        f"--cpus-per-trial {cpus:g} cannot be met: {node} has {best_cpu:g} CPUs. "
        f"Lower --cpus-per-trial or --address a larger cluster."
    )


def local_resources() -> dict[str, float | None]:
    """What a local Ray started here would offer, known without importing torch or Ray.

    GPUs: 0 when the machine has no GPU device file (Ray would find none either), else unknown
    (Ray counts them once it starts, and the search checks again then).
    """
    has_gpu_devices = any(glob.glob(pattern) for pattern in GPU_DEVICE_GLOBS)
    return {"CPU": float(os.cpu_count() or 1), "GPU": None if has_gpu_devices else 0.0}


def connect_ray(address: str | None) -> bool:
    """Start a local Ray (dashboard off) or join ``address``; True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
            configure_logging=True,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or "a local Ray runtime"
        raise TuneGAEError(
            f"could not connect to {where} ({str(exc).splitlines()[0][:160]}): check --address "
            f"(e.g. 127.0.0.1:6379 or 'auto' on a cluster node) and that the cluster is up."
        ) from None
    return True


# Driver-side Ray Tune switches, set only while a search runs:
RAY_TUNE_ENV = {
    # Trials write their own TensorBoard events; keep Ray's TBX copy out of the folder.
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    # Our ProgressView replaces Ray's experiment banner and status tables.
    "RAY_AIR_NEW_OUTPUT": "0",
    # Snapshots forced by checkpoint pruning are expected with per-rung checkpoints.
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
}
# Defaults the user may override: how often (s) the driver snapshots the experiment state that
# `resume` restores after a killed driver. Ray's "auto" waits at least 10 s, so a killed driver
# loses up to 10 s of trial bookkeeping (trials re-run from older checkpoints); a snapshot of a
# search this size takes milliseconds.
RAY_TUNE_ENV_DEFAULTS = {"TUNE_GLOBAL_CHECKPOINT_S": "2"}


def trial_slots(settings: SearchSettings, nodes: list[dict[str, float]]) -> int:
    """How many trials the cluster runs at once (at least 1), capped by ``--max-concurrent``."""
    slots = 0
    for node in nodes:
        fits = node.get("CPU", 0.0) // settings.cpus_per_trial
        if settings.gpus_per_trial:
            fits = min(fits, node.get("GPU", 0.0) // settings.gpus_per_trial)
        slots += int(fits)
    if settings.max_concurrent:
        slots = min(slots, settings.max_concurrent)
    return max(1, slots)


@contextlib.contextmanager
def _ray_tune_env(settings: SearchSettings) -> Iterator[None]:
    """Ray Tune's switches for this search, set only while it runs (Ray must be connected).

    With a searcher, Ray Tune keeps ONE trial pending by default: a second trial's actor (a new
    process importing torch + PyG, ~5 s) is still starting when the first trial ends, the first
    actor is reused, and the search runs one trial at a time whatever the cluster offers. One
    pending trial per slot starts every slot's actor at once.
    """
    pending = {"TUNE_MAX_PENDING_TRIALS_PG": str(trial_slots(settings, _node_resources()))}
    values = {**{k: os.environ.get(k, v) for k, v in {**RAY_TUNE_ENV_DEFAULTS, **pending}.items()},
              **RAY_TUNE_ENV}
    with environment(values):
        yield


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set these environment variables inside the block; restore (or remove) them after."""
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def trial_name(trial: Any) -> str:
    """Short trial names: ``trial_<id>`` (Ray's default embeds the whole config)."""
    return f"trial_{trial.trial_id}"


# --------------------------------------------------------------------------- progress


class ProgressView:
    """A compact live view: one line when a trial ends, a heartbeat while they run."""

    def __init__(self, echo: Echo, metric: str, num_samples: int, every_s: float = 10.0) -> None:
        from ray.tune import Callback

        view = self

        class _Callback(Callback):
            # Pickled into tuner.pkl with the run config, so a resumed search restores it too.
            def setup(self, **info):  # noqa: ANN001, ANN003
                view.restart()

            def on_trial_result(self, iteration, trials, trial, result, **info):  # noqa: ANN001
                view.on_result(trial, result, trials)

            def on_trial_complete(self, iteration, trials, trial, **info):  # noqa: ANN001
                view.on_end(trial, trials, "done")

            def on_trial_error(self, iteration, trials, trial, **info):  # noqa: ANN001
                view.on_end(trial, trials, "error")

        self.callback = _Callback()
        self.echo = echo
        self.metric = f"best_{metric}"
        self.label = metric
        self.num_samples = num_samples
        self.every_s = every_s
        self.started = time.monotonic()
        self.last_print = self.started
        self.best: tuple[float, str] = (-math.inf, "")
        self.last: dict[str, dict[str, Any]] = {}

    def restart(self) -> None:
        """Time from now (a resumed search's view was pickled when the search began)."""
        self.started = self.last_print = time.monotonic()

    def on_result(self, trial: Any, result: dict[str, Any], trials: list[Any]) -> None:
        self.last[trial.trial_id] = result
        value = result.get(self.metric)
        if value is not None and value > self.best[0]:
            self.best = (float(value), trial_name(trial))
        now = time.monotonic()
        if now - self.last_print >= self.every_s:
            self.last_print = now
            self.echo(self._status(trials))

    def on_end(self, trial: Any, trials: list[Any], how: str) -> None:
        # A trial resumed from its final checkpoint reports nothing new: show what it had.
        result = self.last.get(trial.trial_id) or getattr(trial, "last_result", None) or {}
        epoch = result.get("epoch", 0)
        value = result.get(self.metric)
        shown = f"{value:.4f}" if isinstance(value, float) else "-"
        self.echo(f"  {trial_name(trial)} {how} after {epoch} epochs, {self.label} {shown}. {self._status(trials)}")

    def _status(self, trials: list[Any]) -> str:
        done = sum(t.status in ("TERMINATED", "ERROR") for t in trials)
        running = sum(t.status == "RUNNING" for t in trials)
        best = f"{self.best[0]:.4f} ({self.best[1]})" if self.best[1] else "-"
        elapsed = time.monotonic() - self.started
        return f"[{elapsed:5.0f}s] {done}/{self.num_samples} done, {running} running, best {self.label} {best}"


# --------------------------------------------------------------------------- the search


def _trainable(split: LinkSplit, settings: SearchSettings, path: Path):  # noqa: ANN202
    from ray import tune

    from tune_gae.trainable import TrialSettings, train_trial, trial_copy

    trial_settings = TrialSettings(
        metric=settings.metric,
        tensorboard_dir=str(path / TENSORBOARD_DIR),
        seed=settings.seed,
        cpus_per_trial=settings.cpus_per_trial,
        gpus_per_trial=settings.gpus_per_trial,
        checkpoint_every=settings.checkpoint_every,
        report_interval_s=settings.report_interval_s,
        checkpoint_epochs=asha_rungs(settings.grace_period, settings.reduction_factor, settings.max_epochs)
        if settings.scheduler == "asha" else (),
    )
    with_data = tune.with_parameters(train_trial, split=trial_copy(split), settings=trial_settings)
    return tune.with_resources(with_data, {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial})


def _run_config(settings: SearchSettings, path: Path, echo: Echo | None):  # noqa: ANN202
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    callbacks: list[Any] = [JsonLoggerCallback(), CSVLoggerCallback()]
    if echo is not None:
        callbacks.append(ProgressView(echo, settings.metric, settings.num_samples).callback)
    return tune.RunConfig(
        name=path.name,
        storage_path=str(path.parent),
        failure_config=tune.FailureConfig(max_failures=settings.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        callbacks=callbacks,
        verbose=0,
    )


def _tuner(settings: SearchSettings, split: LinkSplit, path: Path, space: Any, echo: Echo | None):  # noqa: ANN202
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search.optuna import OptunaSearch

    # A define-by-run space makes OptunaSearch ignore TuneConfig's metric/mode: pass them here too.
    search_alg = OptunaSearch(
        space=space.define_by_run(max_epochs=settings.max_epochs),
        metric=f"best_{settings.metric}",
        mode="max",
        sampler=optuna.samplers.TPESampler(seed=settings.seed),
    )
    if settings.scheduler == "asha":
        scheduler = ASHAScheduler(
            # Epochs, not reports: a trial reports at every rung (with a checkpoint), so ASHA
            # decides at exactly the epochs it would if every epoch were reported.
            time_attr="epoch",
            max_t=settings.max_epochs,
            grace_period=settings.grace_period,
            reduction_factor=settings.reduction_factor,
        )
    else:
        scheduler = FIFOScheduler()
    return tune.Tuner(
        _trainable(split, settings, path),
        tune_config=tune.TuneConfig(
            metric=f"best_{settings.metric}",
            mode="max",
            search_alg=search_alg,
            scheduler=scheduler,
            num_samples=settings.num_samples,
            max_concurrent_trials=settings.max_concurrent,
            time_budget_s=settings.time_budget_s,
            reuse_actors=True,
            trial_name_creator=trial_name,
            trial_dirname_creator=trial_name,
        ),
        run_config=_run_config(settings, path, echo),
    )


def run_search(settings: SearchSettings, *, echo: Echo | None = None) -> SearchOutcome:
    """Validate everything, load + split once, run the search, write the trial table.

    Bad input raises ``TuneGAEError`` before Ray starts and before anything is written or
    deleted; Ctrl-C raises ``SearchInterrupted`` once Ray Tune has saved the search's state.
    """
    from tune_gae.spaces import load_space, resolve_space_path

    started = time.monotonic()
    space_path = resolve_space_path(settings.space)
    space = load_space(space_path)
    if settings.address is None:
        check_resources(settings, [local_resources()], where="this machine")
    from tune_gae.data import load_split

    split = load_split(settings.data)
    path = experiment_path(settings, split, space_path)
    check_results_dir(path, overwrite=settings.overwrite)
    with _ray_for(settings):
        prepare_results_dir(path, overwrite=settings.overwrite)
    record = {
        "settings": {**settings.to_json(), "space": str(space_path), "name": path.name,
                     "results_dir": str(path.parent)},
        "split_hash": split.split_hash,
        "dataset": split.name,
        "num_nodes": split.num_nodes,
        "num_features": split.num_features,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    (path / SEARCH_FILE).write_text(json.dumps(record, indent=2))
    if echo is not None:
        echo(f"Search {path.name}: {settings.num_samples} trials of {space_path.name} on {split.name} "
             f"(split {split.split_hash}), {settings.scheduler.upper()} on best_{settings.metric}.")
    with _ray_tune_env(settings):
        tuner = _tuner(settings, split, path, space, echo)
        grid = _fit(tuner, path, settings, echo)
    return summarize(path, grid, split.split_hash, time.monotonic() - started, settings.metric)


@contextlib.contextmanager
def _ray_for(settings: SearchSettings) -> Iterator[None]:
    """Join or start Ray and check it can host one trial; shut down a Ray started here on failure."""
    import ray

    started_here = connect_ray(settings.address)
    try:
        check_resources(settings, _node_resources())
        yield
    except BaseException:
        if started_here:
            ray.shutdown()
        raise


def _fit(tuner: Any, path: Path, settings: SearchSettings, echo: Echo | None) -> Any:
    """``tuner.fit()``; SearchInterrupted when it returned (Ctrl-C) before every trial ended.

    Ray Tune's first SIGINT makes ``fit`` save the experiment state and return normally, after
    marking the trials it stopped TERMINATED in memory: the saved state is the one to trust.
    A search that ran out of ``time_budget_s`` ends with fewer trials and is complete.
    """
    total, began = settings.num_samples, time.monotonic()
    try:
        with _keep_signal_handlers(), _quiet_ray_logs(), warnings.catch_warnings():
            # A trial retried from its checkpoint reports its later epochs again; Optuna keeps the first.
            warnings.filterwarnings("ignore", message="The reported value is ignored because this `step")
            grid = tuner.fit()
    except KeyboardInterrupt:  # a second Ctrl-C: Ray Tune's handler is gone, its last snapshot stands
        _record(path, interrupted=time.strftime("%Y-%m-%d %H:%M:%S"))
        raise SearchInterrupted(path, None, total) from None
    statuses = saved_trial_statuses(path)
    _remove_unrecorded_trials(path, set(statuses), echo)
    finished = sum(status in ("TERMINATED", "ERROR") for status in statuses.values())
    out_of_time = settings.time_budget_s is not None and time.monotonic() - began >= settings.time_budget_s
    if finished < total and not out_of_time:
        _record(path, interrupted=time.strftime("%Y-%m-%d %H:%M:%S"))
        raise SearchInterrupted(path, finished, total)
    return grid


def saved_trial_statuses(path: Path) -> dict[str, str]:
    """Trial folder name -> status, from the newest experiment state Ray saved in ``path``."""
    from ray.tune import ExperimentAnalysis

    with _quiet_ray_logs():
        analysis = ExperimentAnalysis(str(path))
    return {Path(trial.path).name: trial.status for trial in analysis.trials}


@contextlib.contextmanager
def _keep_signal_handlers() -> Iterator[None]:
    """Ray Tune leaves its SIGINT/SIGUSR1 handlers installed after ``fit``: put ours back."""
    names = ("SIGINT", "SIGUSR1")
    main_thread = threading.current_thread() is threading.main_thread()
    before = {name: signal.getsignal(getattr(signal, name)) for name in names if hasattr(signal, name)}
    try:
        yield
    finally:
        if main_thread:
            for name, handler in before.items():
                if handler is not None:
                    signal.signal(getattr(signal, name), handler)


def _record(path: Path, **values: Any) -> None:
    record = json.loads((path / SEARCH_FILE).read_text())
    record.update(values)
    (path / SEARCH_FILE).write_text(json.dumps(record, indent=2, default=str))


def _remove_unrecorded_trials(path: Path, known: set[str], echo: Echo | None) -> None:
    """Delete trial folders the experiment state does not know.

    A driver killed between two snapshots of the experiment state leaves the folders of trials
    it started after the last one; the resumed search samples their replacements, so these
    partial runs would otherwise show up twice in TensorBoard and the folder.
    """
    for parent in (path, path / TENSORBOARD_DIR):
        for folder in sorted(parent.glob(f"{TRIAL_PREFIX}*")):
            if folder.is_dir() and folder.name not in known and known:
                shutil.rmtree(folder)
                if echo is not None and parent == path:
                    echo(f"  removed {folder.name}: started after the last saved state, replaced by a new trial.")


def load_search_record(path: str | Path) -> dict[str, Any]:
    """``search.json`` of a search folder, or a one-line error when it is not one."""
    folder = Path(path).expanduser().resolve()
    if not is_search_dir(folder):
        raise TuneGAEError(
            f"{folder} is not a tune-gae search (no {SEARCH_FILE}): pass a folder made by `tune-gae search`."
        )
    try:
        return json.loads((folder / SEARCH_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise TuneGAEError(
            f"{folder / SEARCH_FILE} cannot be read ({type(exc).__name__}): restore it from a copy, "
            f"or start the search again with --overwrite."
        ) from None


def resume_search(path: str | Path, *, echo: Echo | None = None, address: str | None = None) -> SearchOutcome:
    """Continue a search stopped by Ctrl-C or a dead driver: same split, Optuna's state restored.

    Finished trials are kept, unfinished ones continue from their last checkpoint, errored ones
    are retried, and new ones are sampled until the search holds ``num_samples`` trials. Ray's
    experiment state in ``path`` is unpickled: resume only folders you trust.
    """
    from ray import tune

    from tune_gae.data import load_split

    started = time.monotonic()
    folder = Path(path).expanduser().resolve()
    record = load_search_record(folder)
    settings = SearchSettings.from_json(record["settings"])
    if address is not None:
        settings = replace(settings, address=address)
    if not tune.Tuner.can_restore(str(folder)):
        raise TuneGAEError(
            f"{folder} holds no Ray experiment state to resume (it stopped before its first trial): "
            f"start it again with `tune-gae search ... --overwrite`."
        )
    if settings.address is None:
        check_resources(settings, [local_resources()], where="this machine")
    split = load_split(settings.data)
    if split.split_hash != record["split_hash"]:
        raise TuneGAEError(
            f"the data changed since this search started (split {split.split_hash} != "
            f"{record['split_hash']}): restore the original dataset files to resume."
        )
    with _ray_for(settings), _ray_tune_env(settings), _quiet_ray_logs():
        try:
            tuner = tune.Tuner.restore(
                str(folder),
                trainable=_trainable(split, settings, folder),
                resume_unfinished=True,
                resume_errored=True,
            )
        except Exception as exc:  # a damaged tuner.pkl / experiment state
            raise TuneGAEError(
                f"cannot restore the search in {folder} ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:160] if str(exc) else ''}): its Ray state is damaged; "
                f"start it again with `tune-gae search ... --overwrite`."
            ) from None
    if echo is not None:
        done = _finished_before(tuner)
        rest = "the rest continue" if done < settings.num_samples else "nothing left to run"
        echo(f"Resuming {folder.name} (split {split.split_hash}): {done} of {settings.num_samples} "
             f"trials finished before; {rest}.")
    with _ray_tune_env(settings):
        grid = _fit(tuner, folder, settings, echo)
    return summarize(folder, grid, split.split_hash, time.monotonic() - started, settings.metric)


class _DropRayRestoreHint(logging.Filter):
    """Ray's "Resume experiment with: Tuner.restore(...)": `tune-gae resume` is the way here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tuner.restore(" not in record.getMessage()


@contextlib.contextmanager
def _quiet_ray_logs() -> Iterator[None]:
    """Mute Ray's expected warnings about a stopped search: trials that had not reported yet
    ("Failed to fetch metrics") and its own restore hint (SearchInterrupted gives ours)."""
    analysis_logger = logging.getLogger("ray.tune.analysis.experiment_analysis")
    tune_logger = logging.getLogger("ray.tune.tune")
    level, hint = analysis_logger.level, _DropRayRestoreHint()
    analysis_logger.setLevel(logging.ERROR)
    tune_logger.addFilter(hint)
    try:
        yield
    finally:
        analysis_logger.setLevel(level)
        tune_logger.removeFilter(hint)


def _finished_before(tuner: Any) -> int:
    try:
        return int(tuner.get_results().num_terminated)
    except RuntimeError:  # Ray could not read the results back; the count is only informative
        return 0


# --------------------------------------------------------------------------- results


def trial_rows(grid: Any, metric: str) -> list[dict[str, Any]]:
    """One row per trial: config, best validation metrics, epochs run, early stop, state."""
    from tune_gae.spaces import resolve_trial_config
    from tune_gae.tensorboard import hparam_value

    rows = []
    for result in grid:
        metrics = result.metrics or {}
        config = resolve_trial_config(result.config or {})
        epochs_run = int(metrics.get("epoch", 0))
        planned = int(config.get("epochs", 0))
        diverged = bool(metrics.get("diverged", 0))
        row = {
            "trial": f"trial_{metrics.get('trial_id', '')}" if metrics.get("trial_id") else Path(result.path).name,
            "state": "ERROR" if result.error else "TERMINATED",
            "best_val_auc": metrics.get("best_val_auc"),
            "best_val_ap": metrics.get("best_val_ap"),
            "best_epoch": metrics.get("best_epoch"),
            "epochs_run": epochs_run,
            "stopped_early": bool(not diverged and not result.error and planned and epochs_run < planned),
            "diverged": diverged,
            # A diverged trial without a usable best (its weights blew up) has no model to export.
            "checkpoint": result.checkpoint.path if result.checkpoint and not (diverged and not metrics.get("best_epoch"))
            else "",
        }
        row.update({k: hparam_value(v) for k, v in sorted(config.items())})
        rows.append(row)
    key = f"best_{metric}"
    rows.sort(key=lambda r: -(r[key] if isinstance(r[key], (int, float)) and math.isfinite(r[key]) else -1.0))
    return rows


def write_trials_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    with (path / TRIALS_FILE).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def summarize(path: Path, grid: Any, split_hash: str, seconds: float, metric: str) -> SearchOutcome:
    rows = trial_rows(grid, metric)
    write_trials_csv(path, rows)
    finished = [r for r in rows if r["state"] == "TERMINATED" and r["checkpoint"]]
    best = finished[0] if finished else {}
    record = json.loads((path / SEARCH_FILE).read_text())
    record.update(finished=time.strftime("%Y-%m-%d %H:%M:%S"), seconds=round(seconds, 1),
                  best_trial=best.get("trial"), best=best)
    (path / SEARCH_FILE).write_text(json.dumps(record, indent=2, default=str))
    return SearchOutcome(path, best.get("trial"), best, rows, split_hash, seconds)
