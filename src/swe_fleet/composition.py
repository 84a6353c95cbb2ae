"""The composition root: every service of the fleet, by name, and how to build it.

Only the CLI imports this module; `host/` hosts whatever `Service` it is handed and knows no
service. Adding a service is one line in `SERVICES`: its bootstrap module must expose
`async def build(settings, nc, endpoints) -> Service` (`host.service.BuildService`).

Each bootstrap is imported when its service is built, not before: a process serving one service
loads only that service's dependencies (an agent worker never imports the graph store or SQLAlchemy).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import cast

from nats.aio.client import Client as NATS

from swe_fleet.host.service import BuildService, Endpoints, Service
from swe_fleet.settings import FleetSettings


@dataclass(frozen=True)
class Registered:
    bootstrap: str  # the module that defines `build`
    # `fleet up` starts it only when there is an LLM: without one nothing would answer its commands.
    up_needs_llm: bool = False

    def build_function(self) -> BuildService:
        return cast(BuildService, importlib.import_module(self.bootstrap).build)


# In start-up order: `fleet up` builds them in this order and closes them in reverse.
SERVICES: dict[str, Registered] = {
    "planning": Registered("swe_fleet.planning.bootstrap"),
    "context": Registered("swe_fleet.context.bootstrap"),
    "sentinel": Registered("swe_fleet.sentinel.bootstrap"),
    "orchestrator": Registered("swe_fleet.orchestrator.bootstrap", up_needs_llm=True),
    "agent-worker": Registered("swe_fleet.agents.bootstrap", up_needs_llm=True),
    "workspace": Registered("swe_fleet.workspace.bootstrap", up_needs_llm=True),
    "review": Registered("swe_fleet.review.bootstrap", up_needs_llm=True),
    "board": Registered("swe_fleet.board.bootstrap"),
}
SERVICE_NAMES = tuple(SERVICES)


class UnknownService(ValueError):
    pass


def registered(name: str) -> Registered:
    try:
        return SERVICES[name]
    except KeyError:
        raise UnknownService(f"unknown service {name!r}: choose one of {', '.join(SERVICE_NAMES)}") from None


def services_for_up(endpoints: Endpoints) -> list[str]:
    """What `fleet up` runs in one process with these endpoints."""
    return [name for name, entry in SERVICES.items() if endpoints.llm_url or not entry.up_needs_llm]


async def build_service(name: str, settings: FleetSettings, nc: NATS, endpoints: Endpoints) -> Service:
    return await registered(name).build_function()(settings, nc, endpoints)
