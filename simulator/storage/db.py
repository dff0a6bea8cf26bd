"""Database set-up: engines (SQLite gets WAL, foreign keys, a busy timeout and queued writers) and migrations."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.util.exc import CommandError
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 10_000
_BEGIN_MODE = "simulator_sqlite_begin"
_FILE_LOCKS: dict[str, threading.Lock] = {}
_FILE_LOCKS_GUARD = threading.Lock()
_RETRY_STATES = {"40001", "40P01"}  # PostgreSQL's serialization_failure and deadlock_detected


class StorageUnavailable(RuntimeError):
    """The database cannot be used right now; the message is one sentence saying why and what to do."""


_REASONS = (  # (words in the driver's message, what to tell the user); first match wins
    (("disk is full", "no space left", "disk full", "could not extend file"),
     "the disk is full; free some space and try again"),
    (("readonly", "read-only", "permission denied", "unable to open database file", "could not create"),
     "it is read-only or its folder cannot be written; point SIMULATOR_DB_URL or SIMULATOR_DATA_DIR at a "
     "writable place"),
    (("not a database", "malformed", "corrupt", "file is encrypted"),
     "the file is damaged or cut short; move it aside to start a new one, or restore a backup"),
    (("can't locate revision", "no such revision"),
     "it was written by a newer version of Interview Simulator; upgrade the app or use another database"),
    (("database is locked", "busy"), "another program holds a lock on it; try again in a moment"),
    (("connection refused", "could not connect", "could not translate host", "no such file or directory",
      "server closed the connection", "timeout expired"),
     "the database server cannot be reached; check that it is running and that SIMULATOR_DB_URL is right"),
)


def describe_failure(error: BaseException, url: URL | str) -> str:
    """One sentence naming the database (password hidden), what is wrong and what to do about it."""
    if isinstance(error, ArgumentError):
        return (f"SIMULATOR_DB_URL is not a usable database URL ({str(error).splitlines()[0][:160]}); "
                "use e.g. sqlite:///path/to/simulator.db or postgresql+psycopg://user@host/dbname.")
    shown = _shown(url)
    message = str(getattr(error, "orig", None) or error).lower()
    for words, reason in _REASONS:
        if any(word in message for word in words):
            return f"The database {shown} cannot be used: {reason}."
    first_line = (str(getattr(error, "orig", None) or error).splitlines() or [type(error).__name__])[0]
    return f"The database {shown} cannot be used: {first_line[:200]}."


def _shown(url: URL | str) -> str:
    try:
        url = make_url(url)
    except ArgumentError:
        return "(unreadable URL)"
    if url.get_backend_name() == "sqlite":
        return f"file {url.database}" if not _is_memory(url) else "in memory"
    return f"at {url.render_as_string(hide_password=True)}"


@contextmanager
def plain_failures(url: URL | str) -> Iterator[None]:
    """Turn a storage failure (damaged file, full disk, read-only mount, newer schema, server down) into
    :class:`StorageUnavailable` with a readable sentence; integrity conflicts pass through for their callers."""
    try:
        yield
    except IntegrityError:
        raise
    except (ArgumentError, DatabaseError, OperationalError, CommandError, sqlite3.Error, OSError) as error:
        raise StorageUnavailable(describe_failure(error, url)) from error


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        # Pinned, whatever the server's default: the store's row locks (SELECT ... FOR UPDATE, then a fresh
        # snapshot per statement) rely on READ COMMITTED; stricter levels would fail writers that merely waited.
        return create_engine(parsed, pool_pre_ping=True, isolation_level="READ COMMITTED")
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    if _is_memory(parsed):
        # One shared connection: otherwise every pooled connection would see its own empty database.
        engine = create_engine(parsed, connect_args={"check_same_thread": False}, poolclass=StaticPool)
    else:
        Path(parsed.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"check_same_thread": False,
                                                     "timeout": BUSY_TIMEOUT_MS / 1000})
    _install_sqlite_hooks(engine)
    return engine


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or "mode=memory" in str(url)


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own implicit BEGIN skips SELECT and DDL; we emit BEGIN ourselves in _begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # Writers take the write lock up front: a deferred transaction that reads and then writes gets
        # SQLITE_BUSY without waiting when another writer committed in between (WAL snapshot conflict).
        connection.exec_driver_sql(f"BEGIN {connection.get_execution_options().get(_BEGIN_MODE, 'DEFERRED')}")


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL once; retry, as SQLite reports "locked" here without waiting."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def writer(engine: Engine) -> Engine:
    return engine.execution_options(**{_BEGIN_MODE: "IMMEDIATE"})


def write_lock(engine: Engine) -> AbstractContextManager[Any]:
    """One lock per SQLite file for this process's writers.

    SQLite's busy handler retries by sleeping, which lets one unlucky writer wait seconds while others
    keep winning; queueing this process's writers on a lock keeps waits short. Other processes are
    still kept out by SQLite's own lock and the busy timeout.
    """
    url = engine.url
    if url.get_backend_name() != "sqlite" or _is_memory(url):
        return nullcontext()
    key = os.path.realpath(url.database or "")
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(key, threading.Lock())


def retryable(error: BaseException) -> bool:
    """Whether a failed write transaction may simply run again: it lost a race for a unique key, or PostgreSQL
    rolled it back as a deadlock or serialization victim. Wrapping exceptions are looked through (``__cause__``).

    SQLite's "database is locked" is not retried: it comes after the busy timeout has already been waited out.
    """
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, IntegrityError) or getattr(getattr(seen, "orig", None), "sqlstate", None) in _RETRY_STATES:
            return True
        seen = seen.__cause__
    return False


def alembic_config() -> Config:
    """Alembic configuration built in code: no alembic.ini needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` in one transaction; safe when several processes open at once."""
    _with_migrations(engine, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, revision: str) -> None:
    """Step the database back to ``revision`` (for tests and emergencies), with the same care as :func:`migrate`."""
    _with_migrations(engine, lambda config: command.downgrade(config, revision))


def _with_migrations(engine: Engine, step: Callable[[Config], None]) -> None:
    config = alembic_config()
    with writer(engine).connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # SQLite's own recipe for schema changes: rebuilding a parent table must not cascade-delete
            _foreign_keys(connection, on=False)  # only possible outside a transaction
        try:
            with connection.begin():
                if not sqlite:
                    connection.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
                config.attributes["connection"] = connection
                step(config)
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise RuntimeError("a migration left rows pointing at nothing; it was rolled back")
        finally:
            if sqlite:
                _foreign_keys(connection, on=True)


def _foreign_keys(connection: Connection, on: bool) -> None:
    connection.connection.driver_connection.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
