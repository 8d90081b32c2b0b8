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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tune_gae.errors import TuneGAEError

if TYPE_CHECKING:
    import optuna


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
