"""Building the fleet's services by name: the one place that knows every service's bootstrap."""

from __future__ import annotations

import inspect

from nats.aio.client import Client as NATS

from swe_fleet.host.service import Service
from swe_fleet.host.stack import Endpoints
from swe_fleet.settings import FleetSettings

SERVICE_NAMES = ("planning", "context", "orchestrator", "agent-worker", "sentinel")


class UnknownService(ValueError):
    pass


async def build_service(name: str, settings: FleetSettings, nc: NATS, endpoints: Endpoints) -> Service:
    # Imports stay inside: a process serving one service loads only that service's dependencies.
    if name == "planning":
        from swe_fleet.planning.bootstrap import build as build_planning

        return await build_planning(settings, nc)
    if name == "context":
        from swe_fleet.context.bootstrap import build as build_context

        return await build_context(settings, nc, valkey_url=endpoints.valkey_url, llm_url=endpoints.llm_url)
    if name == "orchestrator":
        from swe_fleet.orchestrator.bootstrap import build as build_orchestrator

        return await build_orchestrator(settings, nc)
    if name == "agent-worker":
        from swe_fleet.agents.bootstrap import build as build_agents

        if not endpoints.llm_url:
            raise ValueError("agent-worker needs an LLM server: set FLEET_LLM_URL or --llm-url")
        built = build_agents(
            settings, nc, llm_url=endpoints.llm_url, context_url=settings.resolved_context_url
        )
        return await built if inspect.isawaitable(built) else built
    if name == "sentinel":
        from swe_fleet.backbone.sentinel import build_sentinels

        return Service(name="sentinel", consumers=build_sentinels(nc))
    raise UnknownService(f"unknown service {name!r}: choose one of {', '.join(SERVICE_NAMES)}")
