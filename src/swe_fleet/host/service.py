"""What a service hands to the process that hosts it, and what it is given to build itself.

Every service's bootstrap module has one entry point of one shape (`BuildService`):

    async def build(settings: FleetSettings, nc: NATS, endpoints: Endpoints) -> Service

It returns a `Service`: its consumer runtimes, HTTP routers, background loops, readiness checks and
closers. `fleet up` hosts several in one process; `fleet serve NAME` hosts one. The registry of
services by name is `swe_fleet.composition`; nothing here knows which service it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from fastapi import APIRouter
from nats.aio.client import Client as NATS

from swe_fleet.backbone.consumer import ConsumerRuntime
from swe_fleet.settings import FleetSettings


class Health(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"  # serving, with a part missing (e.g. the cache): still ready
    DOWN = "down"  # cannot serve: not ready


@dataclass(frozen=True)
class CheckResult:
    health: Health
    detail: str = ""


Check = Callable[[], Awaitable[CheckResult]]
# A loop runs until the event is set, then returns (outbox relays, sweepers, timers).
Loop = Callable[[asyncio.Event], Awaitable[None]]


@dataclass
class Service:
    name: str
    consumers: list[ConsumerRuntime] = field(default_factory=list)
    routers: list[APIRouter] = field(default_factory=list)
    # Web pages for people: mounted without the API's bearer check because they authenticate each
    # request themselves (the board's session cookie holds a token the same verifier checks).
    pages: list[APIRouter] = field(default_factory=list)
    loops: list[Loop] = field(default_factory=list)
    checks: dict[str, Check] = field(default_factory=dict)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Domain errors to HTTP answers, e.g. {StoryNotFound: 404}; the body is {"detail": str(error)}.
    error_statuses: dict[type[Exception], int] = field(default_factory=dict)


@dataclass
class Endpoints:
    """Where each part of the fleet is reached, embedded (started by `fleet up`) or external."""

    nats_url: str
    graph_url: str
    valkey_url: str | None
    llm_url: str | None
    api_url: str
    embedded: dict[str, str] = field(default_factory=dict)  # part -> how it was started

    @classmethod
    def from_settings(cls, settings: FleetSettings) -> Endpoints:
        """Every part where the settings say (`fleet serve`: nothing is started here)."""
        return cls(
            nats_url=settings.resolved_nats_url,
            graph_url=settings.resolved_graph_url,
            valkey_url=settings.valkey_url,
            llm_url=settings.llm_url,
            api_url=settings.resolved_api_url,
        )


class BuildService(Protocol):
    """The one entry point every service's bootstrap module exposes as `build`."""

    async def __call__(self, settings: FleetSettings, nc: NATS, endpoints: Endpoints) -> Service: ...
