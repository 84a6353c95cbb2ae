"""A whole fleet in this process for the board's browser tests and benchmarks.

A real nats-server, the real planning, context, orchestrator and board services on one real HTTP
server with the API's own authentication, and the stand-in agent worker (no LLM: councils answer in a
scripted time). Tokens are minted by the fleet's issuer under the data directory, as `fleet up` does.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from fleet_testing.auth import token_for
from fleet_testing.stand_in.worker import Script, StandInWorker
from swe_fleet.backbone.connection import connect
from swe_fleet.backbone.provisioning import ensure_streams
from swe_fleet.embedded.child import free_port
from swe_fleet.embedded.nats_server import EmbeddedNats
from swe_fleet.host.runner import ServiceHost
from swe_fleet.host.service import Endpoints, Service
from swe_fleet.security.api_auth import HttpAuth, ensure_local_tokens
from swe_fleet.security.identity import Role
from swe_fleet.settings import FleetSettings

PO_NAME = "pat-the-po"
VIEWER_NAME = "val-the-viewer"


class BoardFleet:
    def __init__(
        self, data_dir: Path, *, answer_seconds: float = 0.2, agents: int = 3, **settings: Any
    ) -> None:
        self.data_dir = data_dir
        self.answer_seconds = answer_seconds
        self.overrides = settings  # FleetSettings fields, e.g. a higher API rate limit for seeding
        self.agents = agents
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stop = asyncio.Event()
        self.services: list[Service] = []
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> BoardFleet:
        from swe_fleet.board.bootstrap import build as build_board
        from swe_fleet.context.bootstrap import build as build_context
        from swe_fleet.orchestrator.bootstrap import build as build_orchestrator
        from swe_fleet.orchestrator.domain.council import load_councils
        from swe_fleet.planning.bootstrap import build as build_planning

        self.nats = EmbeddedNats(self.data_dir / "nats", port=free_port()).start()
        self.nc = await connect(self.nats.url, "board-fleet", wait_seconds=5)
        await ensure_streams(self.nc.jetstream())
        settings = FleetSettings(
            data_dir=self.data_dir,
            nats_url=self.nats.url,
            http_port=self.port,
            orchestrator_tick_seconds=0.1,
            planning_outbox_poll_seconds=0.05,
            **self.overrides,
        )
        endpoints = Endpoints.from_settings(settings)
        councils = load_councils().with_overrides(agents=self.agents, rounds=1, deadline_seconds=60)
        ensure_local_tokens(settings)  # the in-process services' and `fleet verify`'s tokens, as `fleet up`
        self.po_token = token_for(self.data_dir, PO_NAME, [Role.PRODUCT_OWNER])
        self.viewer_token = token_for(self.data_dir, VIEWER_NAME, [Role.VIEWER])
        self.services = [
            await build_planning(settings, self.nc, endpoints),
            await build_context(settings, self.nc, endpoints),
            await build_orchestrator(settings, self.nc, endpoints, councils=councils),
            await build_board(settings, self.nc, endpoints),
        ]
        self.worker = StandInWorker(self.nc, Script(delay_seconds=self.answer_seconds))
        await self._stack.enter_async_context(self.worker)
        started = asyncio.Event()
        host = ServiceHost(
            self.services, http_host="127.0.0.1", http_port=self.port, auth=HttpAuth.from_settings(settings)
        )
        self._serving = asyncio.create_task(host.serve(self.stop, started))
        waiting = asyncio.create_task(started.wait())
        await asyncio.wait({self._serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if self._serving.done():
            self._serving.result()
        return self

    def bearer(self, subject: str = PO_NAME, role: Role = Role.PRODUCT_OWNER) -> dict[str, str]:
        """Headers for calling the API directly as `subject` (someone other than the page's user)."""
        return {"Authorization": f"Bearer {token_for(self.data_dir, subject, [role])}"}

    async def __aexit__(self, *exc: Any) -> None:
        self.stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._serving, 30)
        with contextlib.suppress(Exception):
            await self._stack.aclose()
        with contextlib.suppress(Exception):
            await self.nc.close()
        self.nats.stop()
