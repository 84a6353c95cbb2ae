"""Wiring the board: its pages over the fleet's HTTP API (as the signed-in person) and the backbone."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from nats.aio.client import Client as NATS

from swe_fleet.backbone.connection import connect
from swe_fleet.board.adapters.backbone import NatsBackbone
from swe_fleet.board.adapters.fleet_api import HttpFleetApi
from swe_fleet.board.adapters.sessions import ApiTokens
from swe_fleet.board.adapters.web_common import STATIC, BoardContext, template_environment
from swe_fleet.board.adapters.web_ops import build_operations
from swe_fleet.board.adapters.web_pages import build_graph_pages, build_pages
from swe_fleet.board.app.ports import Authenticator
from swe_fleet.host.service import CheckResult, Endpoints, Health, Service
from swe_fleet.security.api_auth import HttpAuth
from swe_fleet.security.nats_auth import ADMIN, client_options
from swe_fleet.settings import FleetSettings

PRODUCER = "board"


async def build(
    settings: FleetSettings,
    nc: NATS,
    endpoints: Endpoints,
    *,
    authenticator: Authenticator | None = None,
) -> Service:
    api = HttpFleetApi(settings.resolved_planning_url, settings.resolved_context_url)

    async def verify_table() -> list[dict[str, Any]]:
        from swe_fleet.verify.checks import verify  # the board's health page runs it without the probe

        report = await verify(settings, probe=False)
        return [asdict(row) for row in report.rows]

    # The health page's operations (consumers, dead letters, replay) are the operator's: the admin
    # identity, as the CLI's backbone commands; live pages watch events with the board's own.
    operate = await connect(
        endpoints.nats_url, "fleet-board-operations", wait_seconds=15, options=client_options(settings, ADMIN)
    )
    backbone = NatsBackbone(nc, operate, PRODUCER, verify_table)
    board = BoardContext(
        api=api,
        backbone=backbone,
        authenticator=authenticator or ApiTokens(HttpAuth.from_settings(settings)),
        environment=template_environment(),
    )
    closing = asyncio.Event()

    async def close_live_pages(stop: asyncio.Event) -> None:
        # Open event streams would keep the HTTP server from stopping: end them when the host stops.
        await stop.wait()
        closing.set()

    async def assets_check() -> CheckResult:
        vendored = (STATIC / "vendor" / "htmx.min.js").exists() and (
            STATIC / "vendor" / "cytoscape.min.js"
        ).exists()
        if vendored:
            return CheckResult(Health.OK, "pages and vendored scripts in place")
        return CheckResult(Health.DEGRADED, "scripts not vendored: run `make install` (npm ci in web/)")

    async def api_check() -> CheckResult:
        missing = await api.missing_operations()
        if missing:
            where = "set FLEET_API_URL (or FLEET_PLANNING_URL and FLEET_CONTEXT_URL) to the fleet's API"
            return CheckResult(Health.DOWN, f"not served: {', '.join(missing)}; {where}")
        return CheckResult(Health.OK, f"planning at {settings.resolved_planning_url}")

    return Service(
        name="board",
        pages=[build_pages(board), build_graph_pages(board), build_operations(board, closing)],
        loops=[close_live_pages],
        checks={"assets": assets_check, "api": api_check},
        closers=[api.close, operate.drain],
    )
