"""The embedded graph store on Ladybug (Kùzu's successor): a database file under the data directory.

Ladybug's calls block, so each goes through `asyncio.to_thread`; a whole batch runs in one thread
hop. One process owns the file (Ladybug locks it); inside it, writes are serialized on one writer
connection and reads run on a small pool of reader connections, each in a READ ONLY transaction
(the engine refuses writes there, whatever the query text). Ladybug has MVCC: reads see the last
committed snapshot while a write transaction is open.

A dialect fact that shapes `_apply_sync`: when a statement fails inside an explicit transaction,
Ladybug rolls the transaction back at once and later statements would run in auto-commit mode, so
the batch must stop at the first error (it does: the exception propagates) and the ROLLBACK that
follows may find no transaction (tolerated).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import ladybug

from swe_fleet.faults import fault_point
from swe_fleet.graph import compile as cq
from swe_fleet.graph.dialect import (
    ladybug_add_column_ddl,
    ladybug_columnar,
    ladybug_schema_ddl,
    ladybug_value,
)
from swe_fleet.graph.port import GraphQueryError, GraphUnavailable, Row
from swe_fleet.graph.writes import ApplyResult, EventWrites

log = logging.getLogger(__name__)

DEFAULT_BUFFER_POOL_MB = 256

# Ladybug error texts that mean "the store is not usable right now", not "your query is wrong".
_UNAVAILABLE_MARKERS = (
    "Could not set lock",
    "IO exception",
    "is closed",
    "closed database",
    "Buffer manager",
)


def _is_unavailable(error: BaseException) -> bool:
    text = str(error)
    return any(marker.lower() in text.lower() for marker in _UNAVAILABLE_MARKERS)


def parse_ladybug_url(url: str) -> tuple[Path, int]:
    """`ladybug:///abs/path/fleet.lbug?buffer_pool_mb=256` -> (path, buffer pool MiB)."""
    parsed = urlparse(url)
    if parsed.scheme != "ladybug":
        raise ValueError(f"not a ladybug URL: {url!r}")
    raw_path = (parsed.netloc + parsed.path) if parsed.netloc not in ("", "localhost") else parsed.path
    if not raw_path:
        raise ValueError(f"{url!r}: a ladybug URL needs a path, e.g. ladybug:///var/fleet/graph/fleet.lbug")
    query = parse_qs(parsed.query)
    buffer_mb = int(query.get("buffer_pool_mb", [DEFAULT_BUFFER_POOL_MB])[0])
    return Path(raw_path), buffer_mb


class LadybugGraphStore:
    dialect = "ladybug"

    def __init__(self, url: str, *, readers: int = 2) -> None:
        self.url = url
        self.path, self._buffer_mb = parse_ladybug_url(url)
        self._reader_count = readers
        self._db: Any = None
        self._writer: Any = None
        self.instance_id = ""
        self._readers: asyncio.Queue[Any] = asyncio.Queue()
        self._all_readers: list[Any] = []
        self._write_lock = asyncio.Lock()
        self._thread_guard = threading.Lock()  # start/close vs calls in flight on worker threads

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._db is not None:
            return
        await asyncio.to_thread(self._open_sync)
        for connection in self._all_readers:
            self._readers.put_nowait(connection)
        log.info("graph: ladybug store at %s ready", self.path)

    def _open_sync(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = ladybug.Database(str(self.path), buffer_pool_size=self._buffer_mb * 1024 * 1024)
        except RuntimeError as error:
            if "Could not set lock" in str(error):
                raise GraphUnavailable(
                    f"the embedded graph {self.path} is owned by another process (one writer per file); "
                    "read it through that process's API, or point FLEET_GRAPH_URL elsewhere"
                ) from error
            raise GraphUnavailable(f"cannot open the embedded graph {self.path}: {error}") from error
        writer = ladybug.Connection(db)
        for statement in ladybug_schema_ddl() + ladybug_add_column_ddl():
            writer.execute(statement)
        meta = cq.ensure_meta_statement()
        self.instance_id = str(_rows(writer.execute(meta.cypher, meta.params))[0][0])
        with self._thread_guard:
            self._db, self._writer = db, writer
            self._all_readers = [ladybug.Connection(db) for _ in range(self._reader_count)]

    async def close(self) -> None:
        async with self._write_lock:
            await asyncio.to_thread(self._close_sync)

    def _close_sync(self) -> None:
        with self._thread_guard:
            connections, db = [self._writer, *self._all_readers], self._db
            self._db, self._writer, self._all_readers = None, None, []
        for connection in connections:
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.close()
        if db is not None:
            with contextlib.suppress(Exception):
                db.close()

    def _require_open(self) -> None:
        if self._db is None:
            raise GraphUnavailable(f"the embedded graph {self.path} is not open")

    # ------------------------------------------------------------------ writes

    async def apply(
        self, batch: Sequence[EventWrites], *, before_commit: Callable[[], None] | None = None
    ) -> ApplyResult:
        self._require_open()
        fault_point("graph.apply")  # `graph.apply:outage=SECONDS` makes the store unavailable (chaos)
        async with self._write_lock:
            try:
                return await asyncio.to_thread(self._apply_sync, batch, before_commit)
            except RuntimeError as error:
                if _is_unavailable(error):
                    raise GraphUnavailable(f"graph write failed: {error}") from error
                raise

    def _apply_sync(
        self, batch: Sequence[EventWrites], before_commit: Callable[[], None] | None
    ) -> ApplyResult:
        try:
            return self._apply_in_transaction(batch, before_commit)
        finally:
            if self._db is not None:
                self._fresh_writer()

    def _apply_in_transaction(
        self, batch: Sequence[EventWrites], before_commit: Callable[[], None] | None
    ) -> ApplyResult:
        connection = self._writer
        if connection is None:
            raise GraphUnavailable(f"the embedded graph {self.path} is not open")
        connection.execute("BEGIN TRANSACTION")
        try:
            seen_statement = cq.seen_events_statement(event.event_id for event in batch)
            seen = {row[0] for row in _rows(_execute(connection, seen_statement))}
            fresh = cq.new_events(batch, seen)
            if not fresh:
                version_statement = cq.read_version_statement()
                found = _rows(connection.execute(version_statement.cypher, version_statement.params))
                connection.execute("ROLLBACK")
                return ApplyResult((), tuple(e.event_id for e in batch), (), int(found[0][0]) if found else 0)
            bump = cq.bump_version_statement()
            version = int(_rows(connection.execute(bump.cypher, bump.params))[0][0])
            # Ladybug's MERGE costs several times a lookup plus a CREATE or an update, and this
            # connection is the only writer: look the nodes up, then create or update them.
            plan = cq.plan_writes(fresh)
            existing = {
                label: {row[0] for row in _rows(_execute(connection, statement))}
                for label, statement in cq.existing_nodes_statements(plan)
            }
            for statement in cq.compile_writes(plan, version, existing=existing):
                _execute(connection, statement)
            ledger = cq.ledger_statement(fresh, version)
            _execute(connection, ledger)
            if before_commit is not None:
                before_commit()
            connection.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                connection.execute("ROLLBACK")  # may already be rolled back by the engine
            raise
        fresh_ids = {event.event_id for event in fresh}
        story_ids = tuple(dict.fromkeys(sid for event in fresh for sid in event.story_ids))
        return ApplyResult(
            tuple(event.event_id for event in fresh),
            tuple(event.event_id for event in batch if event.event_id not in fresh_ids),
            story_ids,
            version,
        )

    def _fresh_writer(self) -> None:
        """A new writer connection after every write transaction.

        The binding caches a prepared statement per Arrow table it is given (every batch is a new
        one), never evicts them, and each pins buffer-pool memory: within a few hundred batches the
        pool is full ("Unable to allocate memory"). Closing the connection is the binding's public
        way to release them; a connection costs 0.5 ms against tens of ms for a batch (measured).
        """
        with self._thread_guard:
            old, self._writer = self._writer, ladybug.Connection(self._db)
        with contextlib.suppress(Exception):
            old.close()

    async def checkpoint(self) -> None:
        """Write the log (WAL) into the database file now. Ladybug does it by itself inside the commit
        that takes the log past 16 MiB, which stalls that commit (~0.2 s on a 100 MB graph, measured):
        after a bulk load, a checkpoint keeps that stall off the first live commits."""
        self._require_open()
        async with self._write_lock:
            await asyncio.to_thread(self._writer.execute, "CHECKPOINT")

    # ------------------------------------------------------------------ reads

    async def read(self, query: str, params: dict[str, Any] | None = None) -> list[Row]:
        return (await self.read_many([(query, params or {})]))[0]

    async def read_limited(
        self, query: str, params: dict[str, Any], *, max_rows: int, timeout_seconds: float
    ) -> tuple[list[Row], bool]:
        """In a READ ONLY transaction, interrupted by the engine past the timeout, rows cut at max_rows."""
        self._require_open()
        connection = await self._readers.get()
        try:
            connection.set_query_timeout(max(1, int(timeout_seconds * 1000)))
            try:
                [rows] = await asyncio.to_thread(self._read_sync, connection, [(query, params)], max_rows + 1)
            except GraphQueryError as error:
                if "interrupt" in str(error).lower():
                    raise GraphQueryError(
                        f"the query ran past {timeout_seconds:g}s and was stopped"
                    ) from None
                raise
            finally:
                connection.set_query_timeout(0)  # the pooled connection serves the fleet's own reads too
        finally:
            self._readers.put_nowait(connection)
        return rows[:max_rows], len(rows) > max_rows

    async def read_many(self, queries: Sequence[tuple[str, dict[str, Any]]]) -> list[list[Row]]:
        """Several read queries in one READ ONLY transaction: one consistent snapshot, one thread hop."""
        self._require_open()
        connection = await self._readers.get()
        try:
            return await asyncio.to_thread(self._read_sync, connection, queries)
        finally:
            self._readers.put_nowait(connection)

    def _read_sync(
        self, connection: Any, queries: Sequence[tuple[str, dict[str, Any]]], max_rows: int | None = None
    ) -> list[list[Row]]:
        if self._db is None:
            raise GraphUnavailable(f"the embedded graph {self.path} is not open")
        try:
            connection.execute("BEGIN TRANSACTION READ ONLY")
        except RuntimeError as error:
            raise GraphUnavailable(f"graph read failed: {error}") from error
        try:
            results = []
            for query, params in queries:
                result = connection.execute(query, params)
                if isinstance(result, list):
                    raise GraphQueryError("one statement per query")
                columns = result.get_column_names()
                tuples = result.get_all() if max_rows is None else result.get_n(max_rows)
                results.append(
                    [
                        {column: ladybug_value(value) for column, value in zip(columns, row, strict=True)}
                        for row in tuples
                    ]
                )
            return results
        except RuntimeError as error:
            if _is_unavailable(error):
                raise GraphUnavailable(f"graph read failed: {error}") from error
            raise GraphQueryError(str(error).strip()) from None
        finally:
            with contextlib.suppress(Exception):
                connection.execute("ROLLBACK")

    async def version(self) -> int:
        statement = cq.read_version_statement()
        rows = await self.read(statement.cypher, statement.params)
        return int(rows[0]["version"]) if rows else 0

    async def ping(self) -> None:
        await self.read("RETURN 1 AS ok")


def _execute(connection: Any, statement: cq.Statement) -> Any:
    return connection.execute(*ladybug_columnar(statement.cypher, statement.params))


def _rows(result: Any) -> list[list[Any]]:
    return result.get_all()
