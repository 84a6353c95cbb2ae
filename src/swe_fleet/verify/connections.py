"""`fleet verify`'s connection rows: NATS, the planning API, the graph, the cache and the LLM server."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
from nats.aio.client import Client as NATS

from swe_fleet.backbone.connection import NatsUnavailable, connect
from swe_fleet.security.nats_auth import ADMIN, client_options
from swe_fleet.settings import FleetSettings
from swe_fleet.verify.report import VerifyReport


async def get_json(http: httpx.AsyncClient, url: str) -> tuple[int | None, Any, str]:
    """(status, JSON body or None, a one-line problem); status None when nothing answered."""
    try:
        response = await http.get(url)
    except httpx.HTTPError as error:
        return None, None, f"{type(error).__name__}: {error}".rstrip(": ")
    with contextlib.suppress(ValueError):
        return response.status_code, response.json(), ""
    return response.status_code, None, response.text[:200]


async def check_connections(report: VerifyReport, s: FleetSettings, http: httpx.AsyncClient) -> NATS | None:
    """Every connection row; the NATS connection when JetStream answers, else None."""
    nc = await _check_nats(report, s)
    await check_nats_authorisation(report, s)
    status, _, detail = await get_json(http, f"{s.resolved_planning_url}/healthz")
    report.add(
        "connections",
        "planning api",
        s.resolved_planning_url,
        f"HTTP {status}" if status else "-",
        status == 200,
        detail or ("" if status == 200 else f"answered {status}"),
    )
    status, body, detail = await get_json(http, f"{s.resolved_context_url}/readyz")
    readyz = _ReadyzChecks(report, status, body, detail)
    readyz.add("graph", ("context.graph",), s.graph_url or "the context service's graph")
    if s.valkey_url:
        await _check_valkey(report, s.valkey_url)
    else:
        readyz.add("valkey", ("context.cache",), "the context service's cache")
    if s.llm_url:
        await check_llm(report, http, s.llm_url)
    else:
        readyz.add("llm", ("agent-worker.llm", "agents.llm"), "the agent workers' LLM")
    return nc


async def _check_nats(report: VerifyReport, s: FleetSettings) -> NATS | None:
    nc, url = None, s.resolved_nats_url
    try:
        # The admin identity: verify reads every stream and durable (ADR 0801).
        nc = await connect(url, "fleet-verify", wait_seconds=3, options=client_options(s, ADMIN))
        version = nc.connected_server_version
        account = await nc.jetstream().account_info()
    except NatsUnavailable as error:
        report.add("connections", "nats", url, "-", False, str(error))
        return None
    except Exception as error:  # connected, but JetStream does not answer
        report.add("connections", "nats", url, "connected", False, f"JetStream unavailable: {error!r}")
        if nc is not None:
            await nc.close()
        return None
    found = (
        f"nats-server {version.major}.{version.minor}.{version.patch}, JetStream ({account.streams} streams)"
    )
    report.add("connections", "nats", url, found, True)
    return nc


async def check_nats_authorisation(report: VerifyReport, s: FleetSettings) -> None:
    """Anonymous connections must be refused: every service has its own identity (ADR 0801)."""
    tls_only = {k: v for k, v in client_options(s, ADMIN).items() if k == "tls"}
    for attempt in range(3):
        try:
            anonymous = await connect(s.resolved_nats_url, "fleet-verify-anonymous", options=tls_only)
        except NatsUnavailable as error:
            refused = "authorization" in str(error).lower()
            # The server closes a refused client at once; a loaded one may reset the socket before
            # the client reads the refusal. Ask again: only a refusal read back is evidence.
            if not refused and "reset by peer" in str(error) and attempt < 2:
                await asyncio.sleep(0.5)
                continue
            found, reason = ("refused", "") if refused else ("-", str(error))
            report.add("connections", "nats authorisation", "anonymous refused", found, refused, reason)
            return
        break
    await anonymous.close()
    report.add(
        "connections",
        "nats authorisation",
        "anonymous refused",
        "accepted",
        False,
        "the server accepts anonymous clients: any of them can publish planning.plan.approved "
        "(run it with `fleet nats-config`, or use `fleet up`'s embedded server)",
    )


class _ReadyzChecks:
    """Rows read from the Context API's /readyz (the parts only the services can see)."""

    def __init__(self, report: VerifyReport, status: int | None, body: Any, detail: str) -> None:
        self.report, self.reached, self.detail = report, status is not None, detail
        self.checks: dict[str, dict[str, str]] = (
            (body or {}).get("checks", {}) if isinstance(body, dict) else {}
        )

    def add(self, part: str, names: tuple[str, ...], expected: str) -> None:
        found = next((self.checks[name] for name in names if name in self.checks), None)
        if not self.reached:
            self.report.add(
                "connections", part, expected, "-", False, f"context API unreachable: {self.detail}"
            )
        elif found is None:
            reason = f"no service reports its {part} ({', '.join(names)})"
            self.report.add("connections", part, expected, "-", False, reason)
        else:
            ok = found.get("status") == "ok"
            seen = f"{found.get('status')}: {found.get('detail', '')}"
            self.report.add("connections", part, expected, seen, ok, "" if ok else f"{part} is {seen}")


async def _check_valkey(report: VerifyReport, url: str) -> None:
    import valkey.asyncio as valkey

    client = valkey.Valkey.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        pong = await client.ping()
        report.add("connections", "valkey", url, "PONG" if pong else str(pong), bool(pong))
    except Exception as error:
        report.add("connections", "valkey", url, "-", False, f"{type(error).__name__}: {error}")
    finally:
        await client.aclose()


async def check_llm(report: VerifyReport, http: httpx.AsyncClient, url: str) -> None:
    status, body, detail = await get_json(http, f"{url.rstrip('/')}/v1/models")
    models = [m.get("id") for m in (body or {}).get("data", [])] if isinstance(body, dict) else []
    ok = status == 200
    report.add(
        "connections",
        "llm",
        url,
        ", ".join(filter(None, models)) or (f"HTTP {status}" if status else "-"),
        ok,
        "" if ok else f"the LLM server does not answer: {detail or f'HTTP {status}'}",
    )
