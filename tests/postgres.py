"""A private PostgreSQL server for the tests, and the ``db_url`` fixture that runs a test on SQLite and PostgreSQL.

The server is started once per test session from the local binaries (``initdb`` and ``pg_ctl`` on PATH, else the
newest ``/usr/lib/postgresql/*/bin``), with a throw-away cluster in a temporary folder: trust authentication, no
TCP listener (a unix socket in that folder; TCP on 127.0.0.1 only when the folder's path is too long for a socket),
no fsync. Each test gets its own database, dropped afterwards. The cluster is stopped and deleted at the end of
the session; one left behind by a killed session is removed by the next session that starts a server.
PostgreSQL refuses to run as root, so under root the cluster belongs to an unprivileged account (``postgres``,
else ``nobody``) and the binaries run through ``runuser``.

Without PostgreSQL the PostgreSQL half of the tests is skipped on a developer machine; with ``CI`` set it fails,
so CI cannot pass without having run it (``.ci/run`` installs Debian's postgresql package).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import pytest

USER = "simulator"
PREFIX = "simulator-pg-"
SESSION_PID = "session.pid"  # the pytest process a cluster belongs to; once it is gone, the next session sweeps
SOCKET_PATH_MAX = 107  # sun_path is 108 bytes, with the terminating NUL
# Not UTC on purpose: timestamps must come back right whatever zone the server's sessions use.
SERVER_SETTINGS = {
    "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "max_connections": "300",
    "shared_buffers": "32MB", "timezone": "'America/New_York'", "log_min_messages": "warning",
    "deadlock_timeout": "'100ms'",  # a deadlock test waits this long for PostgreSQL to notice
}


def find_binary(name: str) -> Path | None:
    """``name`` on PATH, else in the newest /usr/lib/postgresql/<version>/bin (Debian keeps it off PATH)."""
    if found := shutil.which(name):
        return Path(found)
    candidates = glob(f"/usr/lib/postgresql/*/bin/{name}")
    newest = max(candidates, key=lambda p: [int(n) for n in re.findall(r"\d+", p)], default=None)
    return Path(newest) if newest else None


class Unavailable(Exception):
    """PostgreSQL cannot run here; the message says why."""


@dataclass
class PostgresServer:
    """One throw-away cluster: :meth:`start`, then :meth:`create_database` per test, :meth:`stop` at the end."""

    initdb: Path
    pg_ctl: Path
    base: Path = field(init=False)
    owner: pwd.struct_passwd | None = field(init=False, default=None)
    host: str = field(init=False, default="")
    port: int = field(init=False, default=5432)
    version: int = field(init=False, default=0)
    _names: Iterator[int] = field(init=False, default_factory=itertools.count)

    @property
    def data(self) -> Path:
        return self.base / "data"

    def start(self) -> None:
        self.owner = _unprivileged_owner()
        # Under root the folder must be reachable by the owner: /tmp rather than root's private temp folders.
        parent = Path("/tmp" if self.owner else tempfile.gettempdir())
        self._sweep(parent)
        self.base = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
        (self.base / SESSION_PID).write_text(str(os.getpid()), encoding="ascii")
        if self.owner:
            os.chown(self.base, self.owner.pw_uid, self.owner.pw_gid)
        self._run(self.initdb, "-D", self.data, "-U", USER, "-A", "trust", "--no-locale", "-E", "UTF8", "-N")
        self._configure()
        self._run(self.pg_ctl, "-D", self.data, "-l", self.base / "server.log", "-w", "-t", "60", "start")
        self.version = int(self._admin("SHOW server_version_num")[0][0])

    def _sweep(self, parent: Path) -> None:
        """Remove the clusters of earlier test sessions that died before their teardown (killed, timed out)."""
        uid = self.owner.pw_uid if self.owner else os.getuid()
        for base in parent.glob(f"{PREFIX}*"):
            with contextlib.suppress(OSError, ValueError):
                if base.stat().st_uid == uid and not _alive(int((base / SESSION_PID).read_text(encoding="ascii"))):
                    self._remove(base)

    def _configure(self) -> None:
        settings = dict(SERVER_SETTINGS)
        if len(str(self.base / f".s.PGSQL.{self.port}")) <= SOCKET_PATH_MAX:
            settings |= {"listen_addresses": "''", "unix_socket_directories": f"'{self.base}'"}
            self.host = str(self.base)
        else:  # no socket at all: loopback TCP on a free port
            self.port, self.host = _free_port(), "127.0.0.1"
            settings |= {"listen_addresses": "'127.0.0.1'", "unix_socket_directories": "''", "port": str(self.port)}
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def stop(self) -> None:
        """Stop the server (if it runs) and delete the cluster; safe to call after a failed start."""
        if (base := getattr(self, "base", None)) is not None:
            self._remove(base)

    def _remove(self, base: Path) -> None:
        if (base / "data" / "postmaster.pid").exists():
            with contextlib.suppress(Unavailable, subprocess.SubprocessError):  # the folder goes either way
                self._run(self.pg_ctl, "-D", base / "data", "-m", "immediate", "-w", "-t", "30", "stop", cwd=base)
        shutil.rmtree(base, ignore_errors=True)

    def _run(self, binary: Path, *args: object, cwd: Path | None = None) -> None:
        command = [str(binary), *map(str, args)]
        if self.owner:
            command = ["runuser", "-u", self.owner.pw_name, "--", *command]
        cwd = cwd or self.base
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            log = cwd / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise Unavailable(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}\n{tail}")

    def conninfo(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@/{database}?host={self.host}&port={self.port}"

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of ``database`` (psycopg 3 driver)."""
        return "postgresql+psycopg" + self.conninfo(database).removeprefix("postgresql")

    def create_database(self) -> str:
        name = f"test_{next(self._names)}"
        # FILE_COPY copies the template's files (~20 ms without fsync); 15's default WAL-logs them (~300 ms).
        strategy = " STRATEGY FILE_COPY" if self.version >= 150000 else ""
        self._admin(f'CREATE DATABASE "{name}"{strategy}')
        return name

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # FORCE: ends connections a test left open

    def _admin(self, statement: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else []


def _unprivileged_owner() -> pwd.struct_passwd | None:
    """None when not root; under root the account to own the cluster (initdb refuses to run as root)."""
    if os.geteuid() != 0:
        return None
    if shutil.which("runuser") is None:
        raise Unavailable("running as root and runuser is missing, so PostgreSQL cannot run as another user")
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise Unavailable("running as root and there is neither a postgres nor a nobody account to run PostgreSQL")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available ({reason}); install Debian's postgresql to run these tests")


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server, started on first use and always stopped and deleted at the end."""
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        _unavailable("initdb/pg_ctl not found on PATH or in /usr/lib/postgresql/*/bin")
    server = PostgresServer(initdb, pg_ctl)
    try:
        try:
            server.start()
        except (Unavailable, OSError, subprocess.SubprocessError) as exc:
            _unavailable(str(exc))
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test only."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'simulator.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database URL: the test runs once on a SQLite file and once on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_url")


# ---------------------------------------------------------------- checking rows without the code under test


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sql(url: str, query: str, *args: object) -> list[tuple[Any, ...]]:
    """Run ``query`` (``?`` placeholders) on a plain driver connection: nothing of ours between data and count."""
    if is_sqlite(url):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            return conn.execute(query, args).fetchall()
    with psycopg.connect("postgresql" + url.removeprefix("postgresql+psycopg")) as conn:
        cursor = conn.execute(query.replace("?", "%s"), args)  # type: ignore[arg-type]
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []
