"""Runs services in one process: their consumers, loops and HTTP routers, with /healthz, /readyz, /metrics.

Every service route and /metrics need a bearer token (`security.api_auth`); /healthz, /readyz and the
OpenAPI document do not. A host given no `auth` accepts no token at all: closed, not open, by default.

Stopping is a graceful drain: consumers finish and ack the batch in hand, loops return, the HTTP
server stops accepting, then closers run in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Sequence

import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from swe_fleet import __version__
from swe_fleet.backbone.supervision import run_until_stopped
from swe_fleet.embedded.child import port_is_free
from swe_fleet.host.service import CheckResult, Health, Service
from swe_fleet.security.api_auth import AUTH_RESPONSES, HttpAuth, authenticated, protect, require_role
from swe_fleet.security.identity import Role

log = logging.getLogger(__name__)


def build_app(
    services: Sequence[Service], *, title: str = "SWE Fleet", auth: HttpAuth | None = None
) -> FastAPI:
    app = FastAPI(title=title, version=__version__)
    protect(app, auth or HttpAuth.deny_all())
    for service in services:
        for router in service.routers:
            app.include_router(router, dependencies=[Depends(authenticated)], responses=AUTH_RESPONSES)
        for page in service.pages:
            app.include_router(page)
        for error_type, status in service.error_statuses.items():
            app.add_exception_handler(error_type, _answer_with(status))

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["operations"], summary="Readiness: every dependency, ok, degraded or down")
    async def readyz() -> JSONResponse:
        results = await run_checks(services)
        down = any(result.health is Health.DOWN for result in results.values())
        degraded = any(result.health is Health.DEGRADED for result in results.values())
        status = "down" if down else "degraded" if degraded else "ok"
        body = {
            "status": status,
            "checks": {name: {"status": r.health.value, "detail": r.detail} for name, r in results.items()},
        }
        return JSONResponse(body, status_code=503 if down else 200)

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        dependencies=[Depends(require_role(Role.VIEWER))],
        responses=AUTH_RESPONSES,
    )
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def _answer_with(status: int):
    async def handler(_: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=status)

    return handler


async def run_checks(services: Sequence[Service], seconds: float = 3.0) -> dict[str, CheckResult]:
    named = [
        (f"{service.name}.{name}", check) for service in services for name, check in service.checks.items()
    ]

    async def guarded(check) -> CheckResult:
        try:
            return await asyncio.wait_for(check(), seconds)
        except TimeoutError:
            return CheckResult(Health.DOWN, f"no answer within {seconds:.0f}s")
        except Exception as error:
            return CheckResult(Health.DOWN, f"{type(error).__name__}: {error}")

    results = await asyncio.gather(*(guarded(check) for _, check in named))
    return dict(zip([name for name, _ in named], results, strict=True))


class HttpPortUnavailable(OSError):
    """The HTTP API's port cannot be bound; the message says which and how to choose another."""


def check_http_port(host: str, port: int) -> None:
    if port and not port_is_free(host, port):
        raise HttpPortUnavailable(
            f"HTTP port {port} on {host} is already in use; "
            "choose another with --http-port or FLEET_HTTP_PORT"
        )


# A service allocates many short-lived objects per event (envelopes, graph writes, Arrow columns):
# with CPython's default first threshold (700) the collector runs every few events and, every tenth
# time, walks the long-lived heap too. 20,000 / 50 / 100 cut that cost; measured: the projection's
# throughput +17 % (bench/context.py's event mix, same machine, side by side). Garbage without cycles
# is freed by reference counting whatever the thresholds.
SERVICE_GC_THRESHOLDS = (20_000, 50, 100)


def tune_garbage_collector() -> None:
    """The collector thresholds of a fleet service process (idempotent, process-wide)."""
    gc.set_threshold(*SERVICE_GC_THRESHOLDS)


class ServiceHost:
    def __init__(
        self,
        services: Sequence[Service],
        *,
        http_host: str | None,
        http_port: int | None,
        auth: HttpAuth | None = None,
    ) -> None:
        self.services = list(services)
        self.http_host, self.http_port = http_host, http_port
        self.app = build_app(self.services, auth=auth)
        self._server: uvicorn.Server | None = None

    async def serve(self, stop: asyncio.Event, started: asyncio.Event | None = None) -> None:
        tune_garbage_collector()
        tasks: list[asyncio.Task] = []
        consumers = [runtime for service in self.services for runtime in service.consumers]
        if consumers:
            tasks.append(asyncio.create_task(run_until_stopped(consumers, stop), name="consumers"))
        for service in self.services:
            for loop in service.loops:
                task = asyncio.ensure_future(loop(stop))
                task.set_name(f"{service.name}-loop")
                tasks.append(task)
        if self.http_port is not None:
            # Checked first: uvicorn reports a bind failure as a log line and a SystemExit.
            check_http_port(self.http_host or "127.0.0.1", self.http_port)
            config = uvicorn.Config(
                self.app,
                host=self.http_host or "127.0.0.1",
                port=self.http_port,
                log_level="warning",
                lifespan="off",
                access_log=False,
            )
            self._server = uvicorn.Server(config)
            # We own SIGTERM/SIGINT: consumers drain first, then the HTTP server stops (uvicorn would
            # otherwise take the signals, stop itself first and re-raise them afterwards).
            self._server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]
            tasks.append(asyncio.create_task(self._server.serve(), name="http"))
            while not self._server.started:
                if tasks[-1].done():
                    try:
                        tasks[-1].result()
                    except SystemExit:  # uvicorn's startup failure: the port was taken since the check
                        raise HttpPortUnavailable(
                            f"the HTTP API could not listen on {config.host}:{self.http_port}"
                        ) from None
                await asyncio.sleep(0.02)
        if started is not None:
            started.set()
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper and task.exception() is not None:
                    log.error("%s failed: %r", task.get_name(), task.exception())
                    raise task.exception()  # type: ignore[misc]
        finally:
            stop.set()
            if self._server is not None:
                self._server.should_exit = True
            await asyncio.gather(*tasks, return_exceptions=True)
            stopper.cancel()
            for service in reversed(self.services):
                for close in reversed(service.closers):
                    with contextlib.suppress(Exception):
                        await close()
