"""What a service hands to the process that hosts it.

Every service's `bootstrap.build(...)` returns a `Service`: its consumer runtimes, HTTP routers,
background loops, readiness checks and closers. `fleet up` hosts several in one process; `fleet
serve NAME` hosts one. Nothing here knows which service it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from fastapi import APIRouter

from swe_fleet.backbone.consumer import ConsumerRuntime


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
    loops: list[Loop] = field(default_factory=list)
    checks: dict[str, Check] = field(default_factory=dict)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Domain errors to HTTP answers, e.g. {StoryNotFound: 404}; the body is {"detail": str(error)}.
    error_statuses: dict[type[Exception], int] = field(default_factory=dict)
