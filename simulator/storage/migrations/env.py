"""Alembic environment for the simulator database.

:func:`simulator.storage.db.migrate` hands over an open connection (``config.attributes["connection"]``)
inside a transaction it owns. Run from the alembic command line instead, the database comes from
``sqlalchemy.url`` or ``SIMULATOR_DB_URL``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from simulator.config import Settings
from simulator.storage.db import make_engine
from simulator.storage.tables import Base

config = context.config


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")

given = config.attributes.get("connection")
if given is not None:
    run_on(given)
else:
    with make_engine(config.get_main_option("sqlalchemy.url") or Settings.load().database_url).begin() as connection:
        run_on(connection)
