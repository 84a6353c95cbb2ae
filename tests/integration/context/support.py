"""The Context service running in this test's process: real Ladybug file, real Redis, real nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from fleet_testing.auth import bearer
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.context.bootstrap import build
from swe_fleet.embedded.child import free_port
from swe_fleet.host.runner import ServiceHost
from swe_fleet.host.service import Endpoints
from swe_fleet.security.api_auth import HttpAuth
from swe_fleet.settings import FleetSettings


@dataclass
class RunningContext:
    base_url: str
    http: httpx.AsyncClient
    publisher: EventPublisher
    host: ServiceHost

    async def query(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        response = await self.http.post("/v1/graph/query", json={"cypher": cypher, "params": params})
        assert response.status_code == 200, response.text
        return response.json()["rows"]

    async def count(self, cypher: str, **params: Any) -> int:
        rows = await self.query(cypher, **params)
        return int(next(iter(rows[0].values()))) if rows else 0

    async def stats(self) -> dict[str, Any]:
        response = await self.http.get("/v1/graph/stats")
        assert response.status_code == 200, response.text
        return response.json()

    async def context(self, story_id: str, **params: Any) -> httpx.Response:
        return await self.http.get(f"/v1/context/stories/{story_id}", params=params)


@asynccontextmanager
async def running_context(
    nc, tmp_path: Path, *, valkey_url: str | None, batch_size: int = 256, **overrides: Any
) -> AsyncIterator[RunningContext]:
    # Tests poll the API as fast as they like: no rate limit here (it has its own test).
    settings = FleetSettings(
        data_dir=tmp_path / "data", api_rate_per_minute=1e6, api_rate_burst=100_000, **overrides
    )
    endpoints = Endpoints.from_settings(settings)
    endpoints.valkey_url = valkey_url
    endpoints.graph_url = f"ladybug://{tmp_path}/graph/fleet.lbug"
    service = await build(settings, nc, endpoints, batch_size=batch_size)
    port = free_port()
    host = ServiceHost(
        [service], http_host="127.0.0.1", http_port=port, auth=HttpAuth.from_settings(settings)
    )
    stop, started = asyncio.Event(), asyncio.Event()
    serving = asyncio.create_task(host.serve(stop, started))
    await asyncio.wait([serving, asyncio.create_task(started.wait())], return_when=asyncio.FIRST_COMPLETED)
    if serving.done():
        serving.result()
    base_url = f"http://127.0.0.1:{port}"
    # Authentication is on, as in production: this client reads the whole graph as a product owner.
    async with httpx.AsyncClient(base_url=base_url, timeout=30, headers=bearer(settings.data_dir)) as http:
        try:
            yield RunningContext(base_url, http, EventPublisher(nc.jetstream(), "test"), host)
        finally:
            stop.set()
            await serving
