"""Shared by the planning integration and e2e tests: stores to test against, a running service, events."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from fleet_testing.auth import bearer
from swe_fleet.backbone.connection import connect
from swe_fleet.events.envelope import Envelope, decode_event
from swe_fleet.host.runner import ServiceHost
from swe_fleet.host.service import Endpoints
from swe_fleet.planning.adapters.database import Database
from swe_fleet.planning.adapters.outbox import OutboxStore
from swe_fleet.planning.bootstrap import build
from swe_fleet.security.api_auth import HttpAuth
from swe_fleet.settings import FleetSettings
from tests.support.required import missing

POSTGRES_URL = os.environ.get("FLEET_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class StoreTarget:
    """Where a test's planning data lives: a SQLite file, or a throw-away PostgreSQL schema."""

    kind: str
    url: str
    schema: str | None = None

    def database(self) -> Database:
        return Database(self.url, schema=self.schema)

    def env(self) -> dict[str, str]:
        env = {"FLEET_PLANNING_DB_URL": self.url}
        if self.schema:
            env["FLEET_PLANNING_DB_SCHEMA"] = self.schema
        return env


def postgres_available() -> str | None:
    """None if the local PostgreSQL answers, else why not (skipped locally, failed in CI)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[dev]')"
    database = Database(POSTGRES_URL)
    try:
        database.ping()
    except Exception as error:
        return f"PostgreSQL at {POSTGRES_URL} unavailable: {error}"
    finally:
        database.dispose()
    return None


@contextlib.contextmanager
def store_target(kind: str, tmp_path: Path) -> Iterator[StoreTarget]:
    if kind == "sqlite":
        yield StoreTarget("sqlite", f"sqlite:///{tmp_path / 'planning.sqlite3'}")
        return
    reason = postgres_available()
    if reason:
        missing("PostgreSQL", reason)
    target = StoreTarget("postgresql", POSTGRES_URL, f"planning_test_{uuid.uuid4().hex[:12]}")
    try:
        yield target
    finally:
        database = target.database()
        database.drop_schema()
        database.dispose()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


async def await_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds}s waiting for {what}")
        await asyncio.sleep(0.05)


def outbox_pending(target: StoreTarget) -> int:
    database = target.database()
    try:
        return OutboxStore(database).backlog().pending
    finally:
        database.dispose()


@dataclass(frozen=True)
class StoredEvent:
    envelope: Envelope
    msg_id: str | None
    stream_seq: int


async def planning_events(js, stream: str = "PLANNING_EVENTS") -> list[StoredEvent]:
    """Every message in the stream, decoded, in stream order."""
    info = await js.stream_info(stream)
    events = []
    if info.state.messages == 0:
        return events
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        message = await js.get_msg(stream, seq)
        envelope = decode_event(message.subject, message.data)
        events.append(StoredEvent(envelope, (message.headers or {}).get("Nats-Msg-Id"), seq))
    return events


# One test identity drives every request; the rate limit has its own test (which overrides these).
UNLIMITED: dict[str, object] = {"api_rate_per_minute": 1_000_000.0, "api_rate_burst": 100_000}


@contextlib.asynccontextmanager
async def running_planning(
    nats_url: str, target: StoreTarget, data_dir: Path, **overrides: object
) -> AsyncIterator[httpx.AsyncClient]:
    """The planning service, wired by its real bootstrap, in this process: its API over ASGI.

    Authentication is on, as in production: the client holds a product owner's token for "po".
    """
    settings = FleetSettings(
        data_dir=data_dir,
        nats_url=nats_url,
        planning_db_url=target.url,
        planning_db_schema=target.schema,
        **{**UNLIMITED, **overrides},
    )
    nc = await connect(nats_url, "planning-test", wait_seconds=5)
    service = await build(settings, nc, Endpoints.from_settings(settings))
    host = ServiceHost([service], http_host=None, http_port=None, auth=HttpAuth.from_settings(settings))
    stop, started = asyncio.Event(), asyncio.Event()
    serving = asyncio.create_task(host.serve(stop, started))
    await started.wait()
    transport = httpx.ASGITransport(app=host.app)
    try:
        headers = bearer(data_dir, "po")
        async with httpx.AsyncClient(
            transport=transport, base_url="http://planning", headers=headers
        ) as client:
            yield client
    finally:
        stop.set()
        await serving
        await nc.close()


def spawn_planning(
    nats_url: str,
    target: StoreTarget,
    data_dir: Path,
    port: int,
    *,
    faults: str = "",
    log: Path | None = None,
):
    """A real planning process (`fleet serve planning`), returned once its API listens."""
    from tests.support.processes import spawn_module

    env = {
        **target.env(),
        "FLEET_NATS_URL": nats_url,
        "FLEET_DATA_DIR": str(data_dir),
        "FLEET_FAULTS": faults,
        # Short relay timings so a restarted process takes over a dead one's lease quickly.
        "FLEET_PLANNING_OUTBOX_POLL_SECONDS": "0.2",
        "FLEET_PLANNING_OUTBOX_LEASE_SECONDS": "1",
        # One test identity drives every request; the rate limit has its own test.
        "FLEET_API_RATE_PER_MINUTE": "1000000",
        "FLEET_API_RATE_BURST": "100000",
    }
    return spawn_module(
        "swe_fleet.cli", "serve", "planning", "--http-port", str(port), env=env, log=log, timeout=60
    )
