"""``run_search(settings)``: Ray Tune + OptunaSearch + ASHA over one seeded split.

The driver loads and splits the data ONCE, ships the split (without its test edges) to every
trial through Ray's object store, checks the cluster can run one trial before anything starts,
and leaves behind ``<results>/<name>/``: Ray's restorable experiment, ``tensorboard/``,
``trials.csv`` and ``search.json``.

Every check that can fail on the user's input runs before anything is deleted or written. The
space, resources and a named results folder are checked before Ray starts; the data is loaded
while Ray starts (and its workers import the trainable), and a bad dataset shuts down the Ray
started here before its one-line error is raised. A search stopped by Ctrl-C raises ``SearchInterrupted``
once Ray Tune has saved its state; ``resume_search`` continues it (or one whose driver died).
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tune_gae.errors import TuneGAEError
from tune_gae.search.actor_env import trial_actors_without_runtime_env
from tune_gae.search.cluster import (
    _node_resources,
    check_cuda,
    check_resources,
    connect_ray,
    gpu_sharing_note,
    joins_cluster,
    local_resources,
    ray_address,
    trial_slots,
)
from tune_gae.search.memory import available_memory_bytes, check_trial_memory, largest_trial_bytes
from tune_gae.search.progress import ProgressView, trial_name
from tune_gae.search.results import (
    TENSORBOARD_DIR,
    SearchFolder,
    check_results_dir,
    experiment_path,
    prepare_results_dir,
    remove_unrecorded_trials,
    trial_rows,
)
from tune_gae.search.settings import (
    METRICS,
    Echo,
    SearchInterrupted,
    SearchOutcome,
    SearchSettings,
    objectives_line,
    search_rungs,
    study_objectives,
)
from tune_gae.search.signals import StopSignals
from tune_gae.search.space import graph_kind
from tune_gae.search.study import WarmStart, check_study_settings, prepare_study, redact, settle, warm_line

if TYPE_CHECKING:  # tune_gae.data imports torch + PyG: seconds that a refused search must not pay
    from tune_gae.data.split import LinkSplit

Loaded = TypeVar("Loaded")


# Driver-side Ray Tune switches, set only while a search runs:
RAY_TUNE_ENV = {
    # Trials write their own TensorBoard events; keep Ray's TBX copy out of the folder.
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    # Our ProgressView replaces Ray's experiment banner and status tables.
    "RAY_AIR_NEW_OUTPUT": "0",
    # Snapshots forced by checkpoint pruning are expected with per-rung checkpoints.
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
}


# How often (s) the driver snapshots the experiment state that `resume` restores after a killed
# driver (TUNE_GLOBAL_CHECKPOINT_S; a value the user set wins). Ray's "auto" waits at least 10 s,
# so a killed driver loses up to 10 s of trial bookkeeping (trials re-run from older checkpoints);
# a snapshot of a few hundred trials takes milliseconds, so every 2 s. But each snapshot rewrites
# every trial the search has run (about 30 kB of JSON each: 90 MB at 3,000 trials), so above
# SNAPSHOT_EVERY_2S_TRIALS trials Ray's "auto" sets the period: 19 times the last snapshot's
# duration, at least 10 s (a fixed 2 s took most of the driver's time late in a large search).
SNAPSHOT_PERIOD_S = "2"
SNAPSHOT_EVERY_2S_TRIALS = 500


def snapshot_period(num_samples: int) -> str:
    """TUNE_GLOBAL_CHECKPOINT_S for a search of ``num_samples`` trials, unless the user set it."""
    return SNAPSHOT_PERIOD_S if num_samples <= SNAPSHOT_EVERY_2S_TRIALS else "auto"


@contextlib.contextmanager
def _ray_tune_env(settings: SearchSettings) -> Iterator[None]:
    """Ray Tune's switches for this search, set only while it runs (Ray must be connected).

    With a searcher, Ray Tune keeps ONE trial pending by default: a second trial's actor (a new
    process importing torch + PyG, ~5 s) is still starting when the first trial ends, the first
    actor is reused, and the search runs one trial at a time whatever the cluster offers. One
    pending trial per slot starts every slot's actor at once.
    """
    defaults = {"TUNE_GLOBAL_CHECKPOINT_S": snapshot_period(settings.num_samples),
                "TUNE_MAX_PENDING_TRIALS_PG": str(trial_slots(settings, _node_resources()))}
    values = {**{k: os.environ.get(k, v) for k, v in defaults.items()}, **RAY_TUNE_ENV}
    with environment(values), trial_actors_without_runtime_env():
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


# --------------------------------------------------------------------------- the search


def _trainable(split: LinkSplit, settings: SearchSettings, path: Path):  # noqa: ANN202
    from ray import tune

    from tune_gae.search.trainable import TrialSettings, train_trial, trial_copy

    trial_settings = TrialSettings(
        metric=settings.metric,
        tensorboard_dir=str(path / TENSORBOARD_DIR),
        seed=settings.seed,
        cpus_per_trial=settings.cpus_per_trial,
        gpus_per_trial=settings.gpus_per_trial,
        checkpoint_every=settings.checkpoint_every,
        report_interval_s=settings.report_interval_s,
        checkpoint_epochs=search_rungs(settings),
    )
    with_data = tune.with_parameters(train_trial, split=trial_copy(split), settings=trial_settings)
    return tune.with_resources(with_data, {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial})


def _run_config(settings: SearchSettings, path: Path, echo: Echo | None):  # noqa: ANN202
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    from tune_gae.search.driver_memory import ReleaseFreedMemory
    from tune_gae.search.pruning import CHECKPOINT_KEEP
    from tune_gae.search.ray_state import TrimFinishedTrials

    callbacks: list[Any] = [JsonLoggerCallback(), CSVLoggerCallback(), TrimFinishedTrials({f"best_{settings.metric}"}),
                            ReleaseFreedMemory()]
    if echo is not None:
        callbacks.append(ProgressView(echo, settings.metric, settings.num_samples).callback)
    return tune.RunConfig(
        name=path.name,
        storage_path=str(path.parent),
        failure_config=tune.FailureConfig(max_failures=settings.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=CHECKPOINT_KEEP),
        callbacks=callbacks,
        verbose=0,
    )


def _define_by_run(settings: SearchSettings, split: LinkSplit, space: Any) -> Any:
    return space.define_by_run(max_epochs=settings.max_epochs, graph=graph_kind(split.features_given))


def _tuner(settings: SearchSettings, split: LinkSplit, path: Path, space: Any, echo: Echo | None,
           warm: WarmStart | None = None):  # noqa: ANN202
    import optuna
    from ray import tune

    from tune_gae.logs import library_log_level
    from tune_gae.search.sampler import WindowedTPESampler
    from tune_gae.search.schedulers import NewestFirstASHA, NewestFirstFIFO
    from tune_gae.search.study_search import StudySearch

    optuna.logging.set_verbosity(library_log_level())  # "A new study created" only with --verbose
    # A define-by-run space makes OptunaSearch ignore TuneConfig's metric/mode: pass them here too.
    metric, mode = study_objectives(settings)
    search_alg = StudySearch(
        space=_define_by_run(settings, split, space),
        metric=metric, mode=mode,
        sampler=WindowedTPESampler(seed=settings.seed),
        storage_url=SearchFolder(path).study_url(settings.storage), study_name=path.name,
        rungs=search_rungs(settings), user_attrs={"split_hash": split.split_hash, "dataset": split.name},
        warm_start=warm,
    )
    if settings.scheduler == "asha":
        scheduler = NewestFirstASHA(
            # Epochs, not reports: a trial reports at every rung (with a checkpoint), so ASHA
            # decides at exactly the epochs it would if every epoch were reported.
            time_attr="epoch",
            max_t=settings.max_epochs,
            grace_period=settings.grace_period,
            reduction_factor=settings.reduction_factor,
        )
    else:
        scheduler = NewestFirstFIFO()
    max_concurrent = settings.max_concurrent
    if settings.reproducible:
        search_alg, scheduler, max_concurrent = _reproducible(settings, search_alg, scheduler)
    return tune.Tuner(
        _trainable(split, settings, path),
        tune_config=tune.TuneConfig(
            metric=f"best_{settings.metric}",
            mode="max",
            search_alg=search_alg,
            scheduler=scheduler,
            num_samples=settings.num_samples,
            max_concurrent_trials=max_concurrent,
            time_budget_s=settings.time_budget_s,
            reuse_actors=True,
            trial_name_creator=trial_name,
            trial_dirname_creator=trial_name,
        ),
        run_config=_run_config(settings, path, echo),
    )


def _reproducible(settings: SearchSettings, search_alg: Any, scheduler: Any) -> tuple[Any, Any, None]:
    """``--reproducible``: batched suggestions (the batch caps concurrency itself) and, with ASHA,
    ``BatchedASHA`` in its place (tune_gae.search.reproducible)."""
    from tune_gae.search.reproducible import BatchedASHA, batched_searcher

    batch = trial_slots(settings, _node_resources())
    if settings.scheduler == "asha":
        scheduler = BatchedASHA(time_attr="epoch", rungs=search_rungs(settings),
                                reduction_factor=settings.reduction_factor, batch_size=batch)
    return batched_searcher(search_alg, batch), scheduler, None


def _reproducible_note(settings: SearchSettings) -> str | None:
    if not settings.reproducible:
        return None
    batch = trial_slots(settings, _node_resources())
    return (f"Reproducible: trials are suggested in batches of {batch} and ASHA compares each with earlier "
            f"batches only (--max-concurrent {batch} gives the same batches on another machine).")


def run_search(settings: SearchSettings, *, echo: Echo | None = None) -> SearchOutcome:
    """Validate everything, load + split once, run the search, write the trial table.

    Bad input raises ``TuneGAEError`` before anything is written or deleted, with no Ray left
    running that this call started; Ctrl-C, SIGTERM or SIGHUP raise ``SearchInterrupted`` once
    Ray Tune has saved the search's state.
    """
    with StopSignals() as stop:
        try:
            return _run_search(settings, echo, stop)
        except KeyboardInterrupt:  # before the trials started (loading data, starting Ray)
            raise SearchInterrupted(None, None, settings.num_samples, stop.received or signal.SIGINT) from None


def _run_search(settings: SearchSettings, echo: Echo | None, stop: StopSignals) -> SearchOutcome:
    from tune_gae.data.edge_file import check_dataset_file
    from tune_gae.search.catalog import resolve_space_path
    from tune_gae.search.space_parser import load_space

    segment = Segment()
    space_path = resolve_space_path(settings.space)
    space = load_space(space_path)
    check_dataset_file(settings.data.dataset, settings.data.features)  # before torch, PyG and Ray load
    if not joins_cluster(settings.address):
        check_resources(settings, [local_resources()], where="this machine")
    else:
        ray_address(settings.address)  # a dead address fails now, not after the data loaded
    check_cuda(settings)
    if settings.name:  # (a default name is new: it holds the time)
        check_results_dir(Path(settings.results_dir).expanduser().resolve() / settings.name,
                          overwrite=settings.overwrite)
    check_study_settings(settings)
    with _ray_for(settings, load=lambda: _load_for_search(settings, space)) as split:
        path = experiment_path(settings, split, space_path)
        check_results_dir(path, overwrite=settings.overwrite)
        warm = prepare_study(settings, path.name, _define_by_run(settings, split, space), split.split_hash)
        prepare_results_dir(path, overwrite=settings.overwrite)
    record = {
        "settings": {**settings.to_json(), "space": str(space_path), "name": path.name,
                     "results_dir": str(path.parent)},
        "split_hash": split.split_hash,
        "node_encoding": encoding_line(space, split),
        "notes": list(split.notes),
        "dataset": split.name,
        "num_nodes": split.num_nodes,
        "num_features": split.num_features,
        "started": segment.started,
        "study": {"storage": redact(SearchFolder(path).study_url(settings.storage)), "name": path.name},
    }
    SearchFolder(path).write_record(record)
    if echo is not None:
        echo(f"Search {path.name}: {settings.num_samples} trials of {space_path.name} on {split.name} "
             f"(split {split.split_hash}), {settings.scheduler.upper()} on best_{settings.metric}.")
        for line in (*split.notes, encoding_line(space, split), gpu_sharing_note(settings), warm_line(warm), objectives_line(settings),
                     _reproducible_note(settings)):
            if line:
                echo(line)
    with _ray_tune_env(settings):
        tuner = _tuner(settings, split, path, space, echo, warm)
        grid = _fit(tuner, path, settings, echo, stop, segment)
    return summarize(path, grid, split, settings, echo, stop)


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Segment:
    """One run of a search's driver (the first, then one per resume), recorded in search.json."""

    started: str = field(default_factory=_now)
    began: float = field(default_factory=time.monotonic)

    def close(self, path: Path, ended_by: str) -> None:
        SearchFolder(path).add_segment(started=self.started, ended=_now(),
                                       seconds=time.monotonic() - self.began, ended_by=ended_by)


def _load_checked(settings: SearchSettings, space: Any) -> LinkSplit:
    """The split, once its largest trial is known to fit (checked here for a local Ray only)."""
    from tune_gae.data.split import load_split

    split = load_split(settings.data)
    if settings.address is None:  # a cluster's nodes are checked by Ray's own memory accounting
        check_trial_memory(
            largest_trial_bytes(space, split), trial_slots(settings, [local_resources()]), available_memory_bytes()
        )
    return split


def encoding_line(space: Any, split: LinkSplit) -> str:
    """What the trials' encoders read: the graph's features, or the encodings the space searches."""
    entry = next((p for p in space.parameters if p.name == "node_encoding"), None)
    graph = "features" if split.features_given else "featureless"
    applies = entry is not None and all(ref != "graph" or graph in ok for ref, ok in entry.requires)
    if split.features_given and not applies:
        return f"Node encoding: the graph's {split.num_features} node features."
    source = "no node features: " if not split.features_given else ""
    if not applies:
        return f"Node encoding: {source}{split.default_encoding} for every trial (structure from training edges only)."
    return (f"Node encoding: {source}trials search node_encoding over {entry.describe()} "
            f"(structure from training edges only; the trial table shows each trial's).")


@contextlib.contextmanager
def _ray_for(settings: SearchSettings, load: Callable[[], Loaded] | None = None) -> Iterator[Loaded | None]:
    """Join or start Ray and check it can host one trial; shut down a Ray started here on failure.

    ``load`` (the data) runs in a thread meanwhile, and a local Ray's worker processes import
    the trainable as they start (``TRIAL_MODULES``): Ray's daemons, the trial processes' imports
    and the driver's loading overlap. A bad input found by ``load`` is reported as before, once
    the Ray started here is shut down again; its one-line error wins over a Ray failure.
    """
    import ray

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tune-gae-load") as pool:
        loading = pool.submit(load or (lambda: None))
        try:
            with environment(_worker_preload(settings)):
                started_here = connect_ray(settings.address)
        except BaseException:
            loading.result()  # a data error is the input's problem: report it first
            raise
        try:
            loaded = loading.result()
            check_resources(settings, _node_resources())
            yield loaded
        except BaseException:
            if started_here:
                ray.shutdown()
            raise


def _load_for_search(settings: SearchSettings, space: Any) -> LinkSplit:
    """The data, loaded, split and checked once; then the driver's own Ray Tune and Optuna
    imports (about a second), all while Ray starts."""
    split = _load_checked(settings, space)
    import optuna  # noqa: F401
    import ray.tune.schedulers  # noqa: F401
    import ray.tune.search.optuna  # noqa: F401

    return split


# What a local Ray's worker processes import as they start, before a trial is placed on them.
TRIAL_MODULES = ("tune_gae.search.trainable",)


def _worker_preload(settings: SearchSettings) -> dict[str, str]:
    """Ray's ``preload_python_modules`` for a Ray started here (a running cluster's workers are
    already started); a value the user set wins."""
    if joins_cluster(settings.address):
        return {}
    return {"RAY_preload_python_modules": os.environ.get("RAY_preload_python_modules", ",".join(TRIAL_MODULES))}


def _fit(tuner: Any, path: Path, settings: SearchSettings, echo: Echo | None, stop: StopSignals,
         segment: Segment) -> Any:
    """``tuner.fit()``; SearchInterrupted when it returned (a stop signal) before every trial ended.

    Ray Tune's first SIGINT makes ``fit`` save the experiment state and return normally, after
    marking the trials it stopped TERMINATED in memory: the saved state is the one to trust.
    SIGTERM and SIGHUP take the same way (``StopSignals``). A search that ran out of
    ``time_budget_s`` ends with fewer trials and is complete.
    """
    from tune_gae.search.ray_state import without_trial_dataframes

    total, began = settings.num_samples, time.monotonic()
    try:
        with _keep_signal_handlers(), _quiet_ray_logs(), without_trial_dataframes(), warnings.catch_warnings():
            # A trial retried from its checkpoint reports its later epochs again; Optuna keeps the first.
            warnings.filterwarnings("ignore", message="The reported value is ignored because this `step")
            grid = tuner.fit()
    except KeyboardInterrupt:  # a second signal: Ray Tune's handler is gone, its last snapshot stands
        stopped_by = stop.received or signal.SIGINT
        SearchFolder(path).update_record(interrupted=_now())
        segment.close(path, stopped_by.name)
        raise SearchInterrupted(path, None, total, stopped_by) from None
    except BaseException:
        segment.close(path, "error")
        raise
    statuses = saved_trial_statuses(path)
    remove_unrecorded_trials(path, set(statuses), echo)
    finished = sum(status in ("TERMINATED", "ERROR") for status in statuses.values())
    out_of_time = settings.time_budget_s is not None and time.monotonic() - began >= settings.time_budget_s
    if finished < total and not out_of_time:
        stopped_by = stop.received or signal.SIGINT
        SearchFolder(path).update_record(interrupted=_now())
        segment.close(path, stopped_by.name)
        raise SearchInterrupted(path, finished, total, stopped_by)
    segment.close(path, "time budget" if out_of_time else "finished")
    return grid


def saved_trial_statuses(path: Path) -> dict[str, str]:
    """Trial folder name -> status, from the newest experiment state Ray saved in ``path``."""
    from tune_gae.search.ray_state import trial_statuses

    return trial_statuses(path)


@dataclass(frozen=True)
class _SavedTrial:
    """A trial as Ray's saved experiment state has it, shaped like a ``ray.tune.Result``."""

    metrics: dict[str, Any]
    config: dict[str, Any]
    error: bool
    path: str
    checkpoint: Any
    state: str


def saved_trial_rows(path: Path, settings: SearchSettings) -> list[dict[str, Any]]:
    """The trial rows of a search that is interrupted or still running, from Ray's newest saved
    state; trials that have not ended have no stop reason yet. Empty before any was saved."""
    from ray.tune import ExperimentAnalysis

    from tune_gae.search.ray_state import without_trial_dataframes

    try:
        with _quiet_ray_logs(), without_trial_dataframes():
            analysis = ExperimentAnalysis(str(path))
    except Exception:  # nothing saved yet (no trial started), or a snapshot being replaced
        return []
    trials = [_SavedTrial(dict(t.last_result or {}), dict(t.config or {}), t.status == "ERROR", str(t.path),
                          t.checkpoint, t.status) for t in analysis.trials]
    return trial_rows(trials, settings.metric, search_rungs(settings))


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


def resume_search(path: str | Path, *, echo: Echo | None = None, address: str | None = None) -> SearchOutcome:
    """Continue a search stopped by a signal or a dead driver: same split, Optuna's state restored.

    Finished trials are kept, unfinished ones continue from their last checkpoint, errored ones
    are retried, and new ones are sampled until the search holds ``num_samples`` trials. Ray's
    experiment state in ``path`` is unpickled: resume only folders you trust. A search that
    already finished comes back as it is (``already_finished``), without starting Ray. SIGTERM
    and SIGHUP stop it as Ctrl-C does (``SearchInterrupted``).
    """
    search_folder = SearchFolder.open(path)
    if search_folder.record().get("finished") and search_folder.has_trials():
        return finished_outcome(search_folder)
    settings = search_folder.settings()
    with StopSignals() as stop:
        try:
            return _resume_search(search_folder, settings, echo, address, stop)
        except KeyboardInterrupt:  # before the trials started (loading data, starting Ray)
            raise SearchInterrupted(search_folder.path, None, settings.num_samples,
                                    stop.received or signal.SIGINT) from None


def finished_outcome(search_folder: SearchFolder) -> SearchOutcome:
    """The outcome of a search that finished, read from its folder (no Ray, no torch)."""
    record = search_folder.record()
    return SearchOutcome(search_folder.path, record.get("best_trial"), record.get("best") or {},
                         search_folder.trials(), record["split_hash"], search_folder.seconds(),
                         already_finished=True,
                         winner=(record.get("winner") or {}).get("trial") or record.get("best_trial"))


def _resume_search(search_folder: SearchFolder, settings: SearchSettings, echo: Echo | None,
                   address: str | None, stop: StopSignals) -> SearchOutcome:
    from ray import tune

    from tune_gae.data.split import load_split

    segment = Segment()
    folder = search_folder.path
    if address is not None:
        settings = replace(settings, address=address)
    if not tune.Tuner.can_restore(str(folder)):
        raise TuneGAEError(
            f"{folder} holds no Ray experiment state to resume (it stopped before its first trial): "
            f"start it again with `tune-gae search ... --overwrite`."
        )
    if not joins_cluster(settings.address):
        check_resources(settings, [local_resources()], where="this machine")
    else:
        ray_address(settings.address)  # a dead address fails now, not after the data loaded
    check_cuda(settings)
    split = load_split(settings.data)
    search_folder.check_split(split.split_hash, fix="restore the original dataset files to resume.")
    search_folder.check_study_in_place()
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
        grid = _fit(tuner, folder, settings, echo, stop, segment)
    return summarize(folder, grid, split, settings, echo, stop)


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
    from tune_gae.search.ray_state import without_trial_dataframes

    try:
        with without_trial_dataframes():
            return int(tuner.get_results().num_terminated)
    except RuntimeError:  # Ray could not read the results back; the count is only informative
        return 0


def summarize(
    path: Path, grid: Any, split: LinkSplit, settings: SearchSettings, echo: Echo | None = None,
    stop: StopSignals | None = None,
) -> SearchOutcome:
    """Write the trial table and the best trial, re-select the top trials with fresh seeds (unless
    off), then prune checkpoints (``--keep-checkpoints`` keeps them). ``seconds`` is the running
    time over all the search's segments; the re-selection's own is ``reselection_seconds``."""
    from tune_gae.search.board import write_board
    from tune_gae.search.pareto import front_ids
    from tune_gae.search.pruning import prune_checkpoints
    from tune_gae.search.space_parser import load_space

    rows = trial_rows(grid, settings.metric, search_rungs(settings))
    folder = SearchFolder(path)
    settle(folder.study_url(settings.storage))
    folder.write_trials(rows)
    try:
        space = load_space(folder.record()["settings"]["space"]).for_graph(graph_kind(split.features_given))
    except TuneGAEError:  # the space file moved since the search began: HParams shows what varied
        space = None
    finished = [r for r in rows if r["state"] == "TERMINATED" and r["checkpoint"]]
    best = finished[0] if finished else {}
    folder.update_record(best_trial=best.get("trial"), best=best)
    winner = best.get("trial")
    if settings.reselects and finished:
        from tune_gae.search.reselect import reselect_search

        began = time.monotonic()
        entries = reselect_search(path, grid, split, settings, rows, echo, stop)
        winner = entries[0]["trial"] if entries else winner
        folder.update_record(reselection_seconds=round(time.monotonic() - began, 1))
        if not settings.keep_checkpoints:
            from tune_gae.search.reselect import prune_runs

            prune_runs(path, folder.record().get("winner"))
    # Every trial's HParams entry, ASHA-stopped ones too; rank 1 is the winner export will take
    # (after re-selection, before pruning blanks the losers' checkpoint cells).
    write_board(path, rows, settings, space, winner=winner)
    if not settings.keep_checkpoints:
        prune_checkpoints(path, rows, METRICS, keep_also=front_ids(rows, settings.objectives))
        folder.write_trials(rows)  # pruned trials' checkpoint cells are blank now
    seconds = folder.seconds()
    folder.update_record(finished=_now(), seconds=seconds)
    return SearchOutcome(path, best.get("trial"), best, rows, split.split_hash, seconds, winner=winner)
