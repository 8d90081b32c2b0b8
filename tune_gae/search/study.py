"""Where a search's Optuna study lives: open, check, delete and load it (Optuna's RDB storage).

By default a search keeps its study in ``<results>/<name>/study.db`` (SQLite, owned by
``SearchFolder``); ``--storage URL`` puts it in any database SQLAlchemy reaches
(``postgresql://...`` for a server several searches share). The study is named after the search
folder, and a storage never holds two studies of one name: a second search of that name is
refused, so searches sharing a server keep their studies apart. ``study_search.StudySearch``
writes the trials; ``dashboard`` and warm starts read them back.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tune_gae.errors import TuneGAEError

if TYPE_CHECKING:
    import optuna

    from tune_gae.search.settings import SearchSettings


def open_storage(url: str, *, writer: bool = False) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage for ``url``; a URL that does not open is a one-line error, and so is
    an SQLite file that is not there, unless ``writer`` (a search) creates it.

    The writer's SQLite runs in WAL mode with ``synchronous=NORMAL``: a commit does not wait for
    the disk (a power cut can lose the last transactions, never corrupt the file), and a reader
    such as ``tune-gae dashboard`` never blocks the search.
    """
    import sqlalchemy

    database = _sqlite_file(url)
    if database is not None and not writer and not database.is_file():
        raise TuneGAEError(f"the study database {database} is not there: a search keeps its study where "
                           f"--storage said (default: study.db in its folder).")
    try:
        storage = _rdb_storage(url)
    except (ImportError, sqlalchemy.exc.SQLAlchemyError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise TuneGAEError(f"cannot open the study storage {redact(url)} ({first}): pass a reachable "
                           f"SQLAlchemy URL to --storage (e.g. postgresql://user@host/db).") from None
    if url.startswith("sqlite") and writer:
        sqlalchemy.event.listen(storage.engine, "connect", _sqlite_pragmas)
        storage.engine.dispose()  # connections opened before the listener: reopen with it
        with storage.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    return storage


def _rdb_storage(url: str, attempts: int = 3) -> optuna.storages.RDBStorage:
    """``RDBStorage(url)``, again when a search opening a fresh database at the same moment won
    the race to create Optuna's tables (PostgreSQL: a unique or duplicate-table violation)."""
    import optuna
    import sqlalchemy

    kwargs = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else None
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def settle(url: str) -> None:
    """Fold an SQLite study's write-ahead log into ``study.db`` (a search that ended): the file
    alone then holds the whole study, to copy or to open."""
    if not url.startswith("sqlite"):
        return
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, connect_args={"timeout": 30})
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()


def redact(url: str) -> str:
    """``url`` without its password (``search.json``, messages)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: nothing to hide
        return url


def _sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL (None for another database or SQLite in memory)."""
    from sqlalchemy.engine import make_url

    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    return Path(database) if database and database != ":memory:" else None


def study_exists(url: str, name: str) -> bool:
    database = _sqlite_file(url)
    if database is not None and not database.is_file():
        return False  # checked without creating the file
    try:
        open_storage(url).get_study_id_from_name(name)
    except KeyError:
        return False
    return True


def check_new_study(url: str, name: str, *, overwrite: bool) -> None:
    """Refuse a study name the storage already holds (two searches would share one study)."""
    if not overwrite and study_exists(url, name):
        raise TuneGAEError(
            f"the study storage {redact(url)} already holds a study named {name!r}: pick another --name, "
            f"or pass --overwrite to delete it."
        )


def delete_study(url: str, name: str) -> None:
    """Delete the study ``name`` if the storage holds it (``--overwrite``, after every check passed)."""
    import optuna

    if study_exists(url, name):
        optuna.delete_study(study_name=name, storage=open_storage(url))


def check_study_settings(settings: SearchSettings) -> None:
    """What is checked before Ray starts: a named search's study name is new in a shared
    ``--storage``, and a ``--warm-start`` study opens."""
    if settings.name and settings.storage:
        check_new_study(settings.storage, settings.name, overwrite=settings.overwrite)
    if settings.warm_start:
        earlier = load_study(*earlier_study(settings.warm_start))
        if len(earlier.directions) > 1:
            raise TuneGAEError(f"--warm-start {settings.warm_start} is a multi-objective study: warm-start from a "
                               f"single-objective search.")


def prepare_study(settings: SearchSettings, name: str, space: Callable[[Any], Any], split_hash: str) -> WarmStart | None:
    """Once the data is loaded, before the search folder is written: the warm start's trials fit
    this ``space`` (its define-by-run function), and a shared ``--storage`` holds no study ``name``
    (``--overwrite`` deletes it). The warm start to apply, if any."""
    warm = plan_warm_start(settings.warm_start, space, split_hash, settings.num_samples) if settings.warm_start else None
    if settings.storage:
        check_new_study(settings.storage, name, overwrite=settings.overwrite)
        if settings.overwrite:
            delete_study(settings.storage, name)
    return warm


def load_study(url: str, name: str) -> optuna.Study:
    """A search's study, read back (``dashboard``, ``report``, a warm start)."""
    import optuna

    try:
        return optuna.load_study(study_name=name, storage=open_storage(url))
    except KeyError:
        raise _no_study(url, name) from None


def _no_study(url: str, name: str) -> TuneGAEError:
    return TuneGAEError(f"the study storage {redact(url)} holds no study named {name!r}: was it deleted? "
                        f"A search keeps its study where --storage said (default: study.db in its folder).")


def study_page(url: str, name: str) -> str:
    """The path of the study's page in optuna-dashboard (which serves every study of a storage)."""
    try:
        return f"/dashboard/studies/{open_storage(url).get_study_id_from_name(name)}"
    except KeyError:
        raise _no_study(url, name) from None


def load_study_with(storage: optuna.storages.BaseStorage, name: str,
                    sampler: optuna.samplers.BaseSampler | None) -> optuna.Study:
    import optuna

    return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=optuna.pruners.NopPruner())


# --------------------------------------------------------------------------- warm starts

WARM_START_SHARE = 4  # on another split, the earlier top num_samples // 4 configurations go first


@dataclass(frozen=True)
class WarmStart:
    """What a new study takes from an earlier one: on the same split its trials as already
    evaluated (``evaluated``), on another the earlier top configurations to try first (``first``)."""

    source: str  # the earlier search folder, or URL#study
    same_split: bool
    evaluated: tuple[Any, ...] = ()  # optuna FrozenTrials, re-built over this space's distributions
    first: tuple[dict[str, Any], ...] = ()


def earlier_study(source: str) -> tuple[str, str]:
    """(URL, study name) of ``--warm-start``: a search folder, or ``URL#STUDY``."""
    from tune_gae.search.results import SearchFolder, is_search_dir

    if "#" in source and "://" in source:
        url, name = source.rsplit("#", 1)
        return url, name
    if not is_search_dir(Path(source).expanduser()):
        raise TuneGAEError(f"--warm-start {source} is neither a search folder nor URL#STUDY: pass results/<name> "
                           f"of an earlier search, or its --storage URL and study name as URL#NAME.")
    return SearchFolder.open(source).study()


def plan_warm_start(source: str, space: Callable[[Any], Any], split_hash: str, num_samples: int) -> WarmStart:
    """Read the earlier study and fit its finished trials to this search's ``space`` (its define-by-run
    function); a parameter that does not fit (absent, out of range, another kind) is refused by name."""
    import optuna

    url, name = earlier_study(source)
    earlier = load_study(url, name)
    finished = [t for t in earlier.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                                      optuna.trial.TrialState.PRUNED))]
    if not finished:
        raise TuneGAEError(f"--warm-start {source}: its study {name!r} has no finished trial to start from.")
    same_split = earlier.user_attrs.get("split_hash") == split_hash
    fitted = [(trial, _fit_to_space(trial, space, source)) for trial in finished]
    if same_split:
        evaluated = tuple(optuna.trial.create_trial(
            state=trial.state, value=trial.value,  # PRUNED too: its best when it was stopped
            params=params, distributions=distributions, intermediate_values=dict(trial.intermediate_values),
            user_attrs={**trial.user_attrs, "warm_start": f"{name}#{trial.number}"},
        ) for trial, (params, distributions) in fitted)
        return WarmStart(source, True, evaluated=evaluated)
    best = sorted((pair for pair in fitted if pair[0].state == optuna.trial.TrialState.COMPLETE),
                  key=lambda pair: -pair[0].value)
    return WarmStart(source, False, first=tuple(params for _, (params, _) in best[:max(1, num_samples // WARM_START_SHARE)]))


def _fit_to_space(trial: Any, space: Callable[[Any], Any], source: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The earlier trial's parameters as this space samples them, with this space's distributions."""
    probe = _Replay(dict(trial.params), f"--warm-start {source} does not fit this space: trial {trial.number}")
    space(probe)
    unused = sorted(set(trial.params) - set(probe.params))
    if unused:
        raise TuneGAEError(f"{probe.where}: parameter {unused[0]!r} is not sampled here (warm-start from a "
                           f"search over the same parameters).")
    return probe.params, probe.distributions


class _Replay:
    """Plays an earlier trial's values through a define-by-run space, as an Optuna trial would be
    asked; a value the space would not sample is refused by the parameter's name."""

    def __init__(self, values: dict[str, Any], where: str) -> None:
        self.values, self.where = values, where
        self.params: dict[str, Any] = {}
        self.distributions: dict[str, Any] = {}

    def _take(self, name: str, distribution: Any, fits: bool | None = None) -> Any:
        if name not in self.values:
            raise TuneGAEError(f"{self.where}: parameter {name!r} is sampled here but the earlier trial has no "
                               f"value for it (warm-start from a search over the same parameters).")
        value = self.values[name]
        if not (fits if fits is not None else distribution.low <= value <= distribution.high):
            shown = f"the choices {list(distribution.choices)}" if fits is not None else \
                f"[{distribution.low}, {distribution.high}]"
            raise TuneGAEError(f"{self.where}: parameter {name!r} = {value!r} is outside {shown} here (widen the "
                               f"space, or warm-start from a search inside it).")
        self.params[name], self.distributions[name] = value, distribution
        return value

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        import optuna

        choices = tuple(choices)
        return self._take(name, optuna.distributions.CategoricalDistribution(choices),
                          fits=name in self.values and self.values[name] in choices)

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False) -> Any:
        import optuna

        return self._take(name, optuna.distributions.FloatDistribution(low, high, step=step, log=log))

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> Any:
        import optuna

        return self._take(name, optuna.distributions.IntDistribution(low, high, step=step, log=log))


def warm_line(warm: WarmStart | None) -> str | None:
    """What a warm start did, for the search's banner."""
    if warm is None:
        return None
    if warm.same_split:
        return (f"Warm start: {len(warm.evaluated)} trials of {warm.source} (same split) seed the sampler "
                f"as already evaluated.")
    return (f"Warm start: {warm.source} ran on another split; its top {len(warm.first)} configurations "
            f"run first.")


def apply_warm_start(study: optuna.Study, warm: WarmStart, *, sampler_study: optuna.Study | None = None) -> None:
    """Seed a new study: earlier trials as evaluated, or earlier configurations queued first.

    ``sampler_study``: where the sampler asks, when it is not ``study`` (a search's in-memory copy
    of its database study): it gets the evaluated trials too, and the queue.
    """
    sampler_study = study if sampler_study is None else sampler_study
    study.set_user_attr("warm_start", {"source": warm.source, "same_split": warm.same_split,
                                       "evaluated": len(warm.evaluated), "first": len(warm.first)})
    if warm.evaluated:
        study.add_trials(warm.evaluated)
        if sampler_study is not study:
            sampler_study.add_trials(warm.evaluated)
    for params in warm.first:
        sampler_study.enqueue_trial(params, user_attrs={"warm_start": "tried first"})
