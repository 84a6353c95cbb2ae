"""Opening the planning store: SQLite (default, one machine) or PostgreSQL (many replicas).

SQLite runs in WAL mode (readers never block the writer) with `synchronous=FULL` (a committed
change, and so its outbox row, survives a power cut, not only a process crash). Writers are
serialized: in-process by a lock (cheaper than SQLite's sleeping busy handler), across processes
by `BEGIN IMMEDIATE`, which takes the write lock when the transaction starts instead of failing
to upgrade a read lock half-way. PostgreSQL needs neither: row locks and the version check do it.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from swe_fleet.planning.adapters.tables import metadata
from swe_fleet.retrying import Backoff

_WRITE = "planning_write"
# The advisory lock under which a replica creates the schema (any fixed 64-bit number of our own).
_SCHEMA_LOCK_KEY = 0x5357465F504C414E


def _switch_to_wal(cursor: Any) -> None:
    """Put a fresh SQLite file in WAL mode, waiting out replicas doing the same at the same moment.

    The switch needs an exclusive lock and SQLite does not run its busy handler for it (to avoid a
    deadlock), so two connections opening a new file together get "database is locked" at once.
    """
    for attempt in _WAL_SWITCH.retrying_sync(_locked):
        with attempt:
            cursor.execute("PRAGMA journal_mode=WAL")


# About 20 s of waiting in all before giving up.
_WAL_SWITCH = Backoff(first=0.01, maximum=0.1, multiplier=1.1, attempts=200)


def _locked(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


class StoreUnavailable(Exception):
    """The planning database cannot be reached or stayed locked too long; retrying later may work."""


class Database:
    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = sa.engine.make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.schema = schema
        self.engine = self._sqlite_engine() if self.is_sqlite else self._server_engine()
        self._write_lock = threading.Lock() if self.is_sqlite else None

    def _sqlite_engine(self) -> Engine:
        database = self.url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            self.url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=8,
            max_overflow=8,
        )

        @sa.event.listens_for(engine, "connect")
        def _configure(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see _begin)
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=30000")
            _switch_to_wal(cursor)
            for pragma in ("synchronous=FULL", "foreign_keys=ON"):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            write = connection.get_execution_options().get(_WRITE, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def _server_engine(self) -> Engine:
        engine = sa.create_engine(self.url, pool_pre_ping=True, pool_size=10, max_overflow=10)
        if self.schema:
            engine = engine.execution_options(schema_translate_map={None: self.schema})
        return engine

    def create_schema(self) -> None:
        """Create missing tables and indexes (idempotent; never drops or alters existing ones)."""
        # A write transaction from its first statement: on SQLite (BEGIN IMMEDIATE) replicas starting
        # at once on a fresh file queue for the lock instead of failing on a read-to-write upgrade.
        with self.connect(write=True) as connection, connection.begin():
            if self.url.get_backend_name() == "postgresql":
                # Concurrent CREATE SCHEMA/TABLE IF NOT EXISTS race in PostgreSQL's catalogue (a unique
                # violation for the loser): replicas starting together create the schema one at a time.
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
            if self.schema and not self.is_sqlite:
                connection.execute(sa.schema.CreateSchema(self.schema, if_not_exists=True))
            metadata.create_all(connection, checkfirst=True)
            self._add_missing_columns(connection)

    def _add_missing_columns(self, connection: Connection) -> None:
        """Columns added to a table after its first release (nullable or with a default) reach old files.

        The one migration the store needs so far: `create_all` never alters a table that exists.
        """
        inspector = sa.inspect(connection)
        schema = None if self.is_sqlite else self.schema
        preparer = connection.dialect.identifier_preparer
        for table in metadata.sorted_tables:
            if not inspector.has_table(table.name, schema=schema):
                continue
            present = {column["name"] for column in inspector.get_columns(table.name, schema=schema)}
            for column in table.columns:
                if column.name in present:
                    continue
                kind = column.type.compile(dialect=connection.dialect)
                default = column.server_default
                clause = f" NOT NULL DEFAULT '{default.arg}'" if isinstance(default, sa.DefaultClause) else ""
                where = f"{preparer.quote_schema(schema)}." if schema else ""
                connection.execute(
                    sa.text(
                        f"ALTER TABLE {where}{preparer.quote(table.name)} "
                        f"ADD COLUMN {preparer.quote(column.name)} {kind}{clause}"
                    )
                )

    @contextlib.contextmanager
    def connect(self, *, write: bool) -> Iterator[Connection]:
        """A connection whose next `begin()` opens a read or a write transaction."""
        lock = self._write_lock if write else None
        with lock if lock is not None else contextlib.nullcontext():
            try:
                connection = self.engine.connect().execution_options(**{_WRITE: write})
            except sa.exc.OperationalError as error:
                raise StoreUnavailable(f"planning database unavailable: {error.orig}") from None
            with connection:
                yield connection

    def ping(self) -> None:
        with self.connect(write=False) as connection, connection.begin():
            connection.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()

    def drop_schema(self) -> None:
        """For tests: remove everything this store created."""
        with self.engine.begin() as connection:
            if self.schema and not self.is_sqlite:
                connection.execute(sa.schema.DropSchema(self.schema, cascade=True, if_exists=True))
            else:
                metadata.drop_all(connection)
