"""The production graph store: Neo4j through the official async driver (Bolt).

It runs the same statements as the embedded store (`compile.py`), with Neo4j's DDL (uniqueness
constraints and indexes) created at start-up. Writes run in one explicit transaction per batch;
reads in a session opened with READ access mode, so the server itself refuses a write there.
See docs/adr/0202 for what of this adapter is verified, and how.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse, urlunparse

from swe_fleet.graph import compile as cq
from swe_fleet.graph.dialect import neo4j_schema_ddl, neo4j_value
from swe_fleet.graph.port import GraphQueryError, GraphUnavailable, Row
from swe_fleet.graph.writes import ApplyResult, EventWrites

log = logging.getLogger(__name__)

NEO4J_SCHEMES = ("neo4j", "neo4j+s", "neo4j+ssc", "bolt", "bolt+s", "bolt+ssc")


def parse_neo4j_url(url: str, user: str, password: str) -> tuple[str, tuple[str, str], str | None]:
    """`neo4j://user:pass@host:7687?database=fleet` -> (driver URI, auth, database).

    Credentials in the URL win over the settings' `neo4j_user`/`neo4j_password`; the driver gets a
    URI without them (and without our `database` query parameter, which it would not understand).
    """
    parsed = urlparse(url)
    if parsed.scheme not in NEO4J_SCHEMES:
        raise ValueError(f"not a Neo4j URL: {url!r} (schemes: {', '.join(NEO4J_SCHEMES)})")
    if not parsed.hostname:
        raise ValueError(f"{url!r}: a Neo4j URL needs a host, e.g. neo4j://localhost:7687")
    auth = (unquote(parsed.username or user), unquote(parsed.password or password))
    query = parse_qs(parsed.query)
    database = query.pop("database", [None])[0]
    netloc = parsed.hostname + (f":{parsed.port}" if parsed.port else "")
    rest = "&".join(f"{key}={value}" for key, values in query.items() for value in values)
    return urlunparse((parsed.scheme, netloc, parsed.path, "", rest, "")), auth, database


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    from neo4j import exceptions

    return (
        exceptions.ServiceUnavailable,
        exceptions.SessionExpired,
        exceptions.TransientError,  # deadlocks, leader switches: retry the batch
        exceptions.DatabaseUnavailable,
        exceptions.AuthError,
        exceptions.ConnectionAcquisitionTimeoutError,
        OSError,
        TimeoutError,
    )


class Neo4jGraphStore:
    dialect = "neo4j"

    def __init__(self, url: str, *, user: str = "neo4j", password: str = "neo4j") -> None:
        self.url = url
        self._uri, self._auth, self.database = parse_neo4j_url(url, user, password)
        self._driver: Any = None
        self.instance_id = ""

    # ------------------------------------------------------------------ lifecycle

    def _make_driver(self) -> Any:
        from neo4j import AsyncGraphDatabase

        return AsyncGraphDatabase.driver(
            self._uri, auth=self._auth, connection_timeout=5.0, max_connection_pool_size=20
        )

    async def start(self) -> None:
        if self._driver is None:
            self._driver = self._make_driver()
        try:
            await self._driver.verify_connectivity()
            for statement in neo4j_schema_ddl():
                await self._driver.execute_query(statement, database_=self.database)
            meta = cq.ensure_meta_statement()
            records, _, _ = await self._driver.execute_query(
                meta.cypher, meta.params, database_=self.database
            )
            self.instance_id = str(records[0]["instance_id"])
        except _unavailable_errors() as error:
            raise GraphUnavailable(f"Neo4j at {self._uri} is unavailable: {error}") from error
        log.info("graph: neo4j store at %s ready", self._uri)

    async def close(self) -> None:
        if self._driver is not None:
            driver, self._driver = self._driver, None
            await driver.close()

    def _session(self, *, read: bool) -> Any:
        if self._driver is None:
            raise GraphUnavailable("the Neo4j store is not started")
        from neo4j import READ_ACCESS, WRITE_ACCESS

        return self._driver.session(
            database=self.database, default_access_mode=READ_ACCESS if read else WRITE_ACCESS
        )

    # ------------------------------------------------------------------ writes

    async def apply(
        self, batch: Sequence[EventWrites], *, before_commit: Callable[[], None] | None = None
    ) -> ApplyResult:
        try:
            async with self._session(read=False) as session:
                tx = await session.begin_transaction()
                try:
                    result = await self._apply_in(tx, batch, before_commit)
                except BaseException:
                    await tx.close()  # rolls back an open transaction
                    raise
                if result.changed:
                    await tx.commit()
                else:
                    await tx.rollback()
                return result
        except _unavailable_errors() as error:
            raise GraphUnavailable(f"Neo4j write failed: {error}") from error

    async def _apply_in(
        self, tx: Any, batch: Sequence[EventWrites], before_commit: Callable[[], None] | None
    ) -> ApplyResult:
        seen_statement = cq.seen_events_statement(event.event_id for event in batch)
        seen = {row["id"] for row in await _run(tx, seen_statement)}
        fresh = cq.new_events(batch, seen)
        if not fresh:
            found = await _run(tx, cq.read_version_statement())
            version = int(found[0]["version"]) if found else 0
            return ApplyResult((), tuple(event.event_id for event in batch), (), version)
        version = int((await _run(tx, cq.bump_version_statement()))[0]["version"])
        for statement in cq.compile_writes(fresh, version):
            await _run(tx, statement)
        await _run(tx, cq.ledger_statement(fresh, version))
        if before_commit is not None:
            before_commit()
        fresh_ids = {event.event_id for event in fresh}
        return ApplyResult(
            tuple(event.event_id for event in fresh),
            tuple(event.event_id for event in batch if event.event_id not in fresh_ids),
            tuple(dict.fromkeys(sid for event in fresh for sid in event.story_ids)),
            version,
        )

    # ------------------------------------------------------------------ reads

    async def read(self, query: str, params: dict[str, Any] | None = None) -> list[Row]:
        return (await self.read_many([(query, params or {})]))[0]

    async def read_many(self, queries: Sequence[tuple[str, dict[str, Any]]]) -> list[list[Row]]:
        from neo4j.exceptions import ClientError

        try:
            async with self._session(read=True) as session:
                tx = await session.begin_transaction()
                try:
                    return [
                        [
                            {key: neo4j_value(value) for key, value in row.items()}
                            for row in await _records(tx, q, p)
                        ]
                        for q, p in queries
                    ]
                finally:
                    await tx.close()
        except _unavailable_errors() as error:
            raise GraphUnavailable(f"Neo4j read failed: {error}") from error
        except ClientError as error:
            raise GraphQueryError(error.message or str(error)) from None

    async def read_limited(
        self, query: str, params: dict[str, Any], *, max_rows: int, timeout_seconds: float
    ) -> tuple[list[Row], bool]:
        """A READ_ACCESS session's transaction with a server-side timeout; at most max_rows + 1 fetched."""
        from neo4j.exceptions import ClientError

        try:
            async with self._session(read=True) as session:
                tx = await session.begin_transaction(timeout=timeout_seconds)
                try:
                    result = await tx.run(query, params)
                    records = await result.fetch(max_rows + 1)
                    rows = [{key: neo4j_value(value) for key, value in r.items()} for r in records]
                finally:
                    await tx.close()
        except _unavailable_errors() as error:
            raise GraphUnavailable(f"Neo4j read failed: {error}") from error
        except ClientError as error:
            raise GraphQueryError(error.message or str(error)) from None
        return rows[:max_rows], len(rows) > max_rows

    async def version(self) -> int:
        statement = cq.read_version_statement()
        rows = await self.read(statement.cypher, statement.params)
        return int(rows[0]["version"]) if rows else 0

    async def ping(self) -> None:
        await self.read("RETURN 1 AS ok")


async def _records(tx: Any, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    result = await tx.run(query, params)
    # Not record.data(): it flattens nodes into property dicts and drops their labels.
    return [dict(record.items()) async for record in result]


async def _run(tx: Any, statement: cq.Statement) -> list[dict[str, Any]]:
    return await _records(tx, statement.cypher, statement.params)
