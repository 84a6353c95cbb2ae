"""`fleet up` (every service in one process, embedded defaults) and `fleet serve NAME` (one service)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer

from swe_fleet import faults
from swe_fleet.cli.common import err, fail, out, print_table, settings
from swe_fleet.settings import FleetSettings

DataDir = Annotated[Path | None, typer.Option("--data-dir", envvar="FLEET_DATA_DIR", help="Embedded data.")]
Host = Annotated[str | None, typer.Option("--host", envvar="FLEET_HOST", help="Interface to listen on.")]
HttpPort = Annotated[int | None, typer.Option("--http-port", envvar="FLEET_HTTP_PORT", help="HTTP API port.")]
NatsPort = Annotated[
    int | None, typer.Option("--nats-port", envvar="FLEET_NATS_PORT", help="Embedded NATS port.")
]
NatsCluster = Annotated[
    int | None,
    typer.Option(
        "--nats-cluster",
        envvar="FLEET_NATS_CLUSTER",
        min=1,
        max=7,
        help="Embedded NATS as a JetStream cluster of this many nodes (3: streams at 3 replicas).",
    ),
]
ValkeyPort = Annotated[
    int | None, typer.Option("--valkey-port", envvar="FLEET_VALKEY_PORT", help="Embedded cache port.")
]
LlmPort = Annotated[
    int | None, typer.Option("--llm-port", envvar="FLEET_LLM_PORT", help="Embedded LLM port.")
]
NatsUrl = Annotated[
    str | None,
    typer.Option(
        "--nats-url", envvar="FLEET_NATS_URL", help="External NATS (a cluster: its URLs, comma-separated)."
    ),
]
GraphUrl = Annotated[
    str | None,
    typer.Option("--graph-url", envvar="FLEET_GRAPH_URL", help="ladybug:///path or neo4j://host:7687."),
]
ValkeyUrl = Annotated[
    str | None, typer.Option("--valkey-url", envvar="FLEET_VALKEY_URL", help="External Valkey.")
]
LlmUrl = Annotated[
    str | None,
    typer.Option("--llm-url", envvar="FLEET_LLM_URL", help="External OpenAI-compatible LLM server."),
]
LogLevel = Annotated[str, typer.Option("--log-level", envvar="FLEET_LOG_LEVEL", help="DEBUG, INFO, WARNING.")]


def _settings(ctx: typer.Context, **flags: Any) -> FleetSettings:
    base = settings(ctx)
    overrides = {key: value for key, value in flags.items() if value is not None}
    return base.model_copy(update=overrides) if overrides else base


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from swe_fleet.redaction import redact_logs

    redact_logs()  # no secret reaches a log line, whatever text a service logs
    for noisy in ("nats", "httpx", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


_MARKS = {"starting": "…", "ok": "✓", "external": "→", "skipped": "-", "failed": "✗"}


def _report(part: str, state: str, detail: str) -> None:
    err.print(f"  {_MARKS.get(state, '?')} {part:<13} {detail}", highlight=False)


async def run_fleet(
    s: FleetSettings,
    *,
    with_llm: bool = True,
    started: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
    announce: bool = True,
) -> None:
    """Start the embedded stack and every service in this process; return when `stop` is set."""
    from swe_fleet.backbone.connection import connect
    from swe_fleet.backbone.supervision import on_termination
    from swe_fleet.cli.nats_auth import embedded_authorization
    from swe_fleet.host.runner import ServiceHost, check_http_port
    from swe_fleet.host.stack import EmbeddedStack
    from swe_fleet.security.api_auth import HttpAuth
    from swe_fleet.security.nats_auth import ADMIN, client_options

    faults.arm(s.faults)
    stop = stop or asyncio.Event()
    on_termination(stop.set)
    check_http_port(s.host, s.http_port)  # before the embedded servers, not after a minute of start-up
    # The embedded NATS starts with authorisation on: one identity per service (ADR 0801).
    nats_authorization = "" if s.nats_url else embedded_authorization(s)
    stack = EmbeddedStack(
        s, report=_report if announce else None, with_llm=with_llm, nats_config=nats_authorization
    )
    if announce:
        err.print(f"fleet up: data in {s.data_dir.resolve()}", highlight=False)
    if not s.auth_jwks_url:
        _local_tokens(s, announce=announce)
    # On this (main) thread on purpose: the servers are tied to it and die with this process.
    endpoints = stack.start()
    nc = None
    connections: list[Any] = []
    try:
        if stop.is_set():
            return
        nc = await connect(endpoints.nats_url, "fleet-up", wait_seconds=15, options=client_options(s, ADMIN))
        services = await _build_services(s, nc, endpoints, announce=announce, connections=connections)
        host = ServiceHost(services, http_host=s.host, http_port=s.http_port, auth=HttpAuth.from_settings(s))
        ready = asyncio.Event()
        serving = asyncio.create_task(host.serve(stop, ready))
        await asyncio.wait([serving, asyncio.create_task(ready.wait())], return_when=asyncio.FIRST_COMPLETED)
        if serving.done():
            serving.result()
        if announce:
            _print_where(s, endpoints, services)
        if started is not None:
            started.set()
        await serving
    finally:
        if announce:
            err.print("fleet: stopping (draining consumers)…", highlight=False)
        for connection in [*reversed(connections), *([nc] if nc is not None else [])]:
            with contextlib.suppress(Exception):
                await connection.drain()
        await asyncio.to_thread(stack.stop)
        if announce:
            err.print("fleet: stopped", highlight=False)


def _local_tokens(s: FleetSettings, *, announce: bool) -> None:
    """First start: the issuer's key, the PO's token and the in-process services' token (0600 files)."""
    from swe_fleet.security.api_auth import ensure_local_tokens

    po_token = ensure_local_tokens(s)
    if announce:
        _report("auth", "ok", f"Product Owner token in {po_token.resolve()} (the CLI reads it from there)")


async def _build_services(
    s: FleetSettings, nc: Any, endpoints: Any, *, announce: bool, connections: list[Any]
) -> list[Any]:
    """Ensure the streams (as the admin, on `nc`), then build every service `fleet up` runs with these
    endpoints, in order, each on its own connection as its own NATS identity (appended to `connections`)."""
    from swe_fleet.backbone.connection import connect
    from swe_fleet.backbone.provisioning import ensure_streams
    from swe_fleet.composition import build_service, services_for_up
    from swe_fleet.security.nats_auth import client_options

    changes = await ensure_streams(nc.jetstream(), replicas=s.resolved_nats_replicas)
    if announce:
        kinds = ", ".join(sorted({c.change.value for c in changes}))
        _report("streams", "ok", f"{len(changes)} streams ensured ({kinds})")
    services = []
    for name in services_for_up(endpoints):
        own = await connect(
            endpoints.nats_url, f"fleet-{name}", wait_seconds=15, options=client_options(s, name)
        )
        connections.append(own)
        service = await build_service(name, s, own, endpoints)
        services.append(service)
        if announce:
            _report(name, "ok", f"{len(service.consumers)} consumers")
    return services


def _print_where(s: FleetSettings, endpoints: Any, services: list[Any]) -> None:
    api = s.resolved_api_url
    rows = [
        ("nats", endpoints.nats_url, endpoints.embedded.get("nats", "external")),
        (
            "graph",
            endpoints.graph_url,
            "embedded Ladybug" if endpoints.graph_url.startswith("ladybug") else "external",
        ),
        (
            "cache",
            endpoints.valkey_url or "-",
            endpoints.embedded.get(
                "cache", "external" if endpoints.valkey_url else "none: context runs uncached"
            ),
        ),
        (
            "llm",
            endpoints.llm_url or "-",
            endpoints.embedded.get("llm", "external" if endpoints.llm_url else "none"),
        ),
        ("http api", api, f"OpenAPI at {api}/docs; /healthz /readyz /metrics (bearer token)"),
    ]
    if any(service.name == "board" for service in services):
        where = "your OIDC provider" if s.auth_jwks_url else (s.data_dir / "auth" / "po.token").resolve()
        rows.append(("board", f"{api}/", f"the PO's board: sign in with the token in {where}"))
    for service in services:
        counts = Counter(runtime.spec.durable for runtime in service.consumers)
        durables = ", ".join(name if n == 1 else f"{name} x{n}" for name, n in counts.items()) or "-"
        rows.append((service.name, f"{len(counts)} durable consumers", durables))
    print_table(None, ["part", "where", "what"], rows)
    out.print("fleet is up — Ctrl-C to stop", highlight=False)


def up(
    ctx: typer.Context,
    data_dir: DataDir = None,
    host: Host = None,
    http_port: HttpPort = None,
    nats_port: NatsPort = None,
    nats_cluster: NatsCluster = None,
    valkey_port: ValkeyPort = None,
    llm_port: LlmPort = None,
    nats_url: NatsUrl = None,
    graph_url: GraphUrl = None,
    valkey_url: ValkeyUrl = None,
    llm_url: LlmUrl = None,
    no_llm: Annotated[
        bool, typer.Option("--no-llm", help="Start without an LLM (no orchestrator, no workers).")
    ] = False,
    log_level: LogLevel = "WARNING",
) -> None:
    """Run the whole fleet in this process: embedded NATS, graph, cache and LLM unless given as URLs."""
    from swe_fleet.backbone.connection import NatsUnavailable
    from swe_fleet.embedded.child import EmbeddedServerError
    from swe_fleet.errors import ConfigurationError

    _logging(log_level)
    s = _settings(
        ctx,
        data_dir=data_dir,
        host=host,
        http_port=http_port,
        nats_port=nats_port,
        nats_cluster=nats_cluster,
        valkey_port=valkey_port,
        llm_port=llm_port,
        nats_url=nats_url,
        graph_url=graph_url,
        valkey_url=valkey_url,
        llm_url=llm_url,
    )
    try:
        asyncio.run(run_fleet(s, with_llm=not no_llm))
    except ConfigurationError as error:
        fail(str(error), 2)
    except (EmbeddedServerError, NatsUnavailable) as error:
        fail(str(error), 3)
    except OSError as error:
        fail(f"could not start: {error}", 3)
    except KeyboardInterrupt:
        pass


def serve(
    ctx: typer.Context,
    service: Annotated[
        str, typer.Argument(help="planning, context, orchestrator, agent-worker or sentinel.")
    ],
    host: Host = None,
    http_port: HttpPort = None,
    no_http: Annotated[
        bool, typer.Option("--no-http", help="No HTTP API (no /healthz, /readyz, /metrics either).")
    ] = False,
    nats_url: NatsUrl = None,
    graph_url: GraphUrl = None,
    valkey_url: ValkeyUrl = None,
    llm_url: LlmUrl = None,
    log_level: LogLevel = "INFO",
) -> None:
    """Run one service in this process (production: any number of replicas share its durables).

    Prints `ready` on stdout once its consumers, loops and HTTP API run (scripts may wait for it).
    """
    from swe_fleet.backbone.connection import NatsUnavailable
    from swe_fleet.composition import SERVICE_NAMES
    from swe_fleet.errors import ConfigurationError

    if service not in SERVICE_NAMES:
        fail(f"unknown service {service!r}: choose one of {', '.join(SERVICE_NAMES)}", 2)
    _logging(log_level)
    s = _settings(
        ctx,
        host=host,
        http_port=http_port,
        nats_url=nats_url,
        graph_url=graph_url,
        valkey_url=valkey_url,
        llm_url=llm_url,
    )
    try:
        asyncio.run(_serve_one(service, s, http=not no_http))
    except ConfigurationError as error:
        fail(f"{service}: {error}", 2)
    except NatsUnavailable as error:
        fail(str(error), 3)
    except OSError as error:
        fail(f"could not start {service}: {error}", 3)
    except KeyboardInterrupt:
        pass


async def _serve_one(name: str, s: FleetSettings, *, http: bool) -> None:
    from swe_fleet.backbone.connection import connect
    from swe_fleet.backbone.provisioning import ensure_streams
    from swe_fleet.backbone.supervision import on_termination
    from swe_fleet.composition import build_service, registered
    from swe_fleet.errors import ConfigurationError
    from swe_fleet.host.runner import ServiceHost, check_http_port
    from swe_fleet.host.service import Endpoints
    from swe_fleet.security.api_auth import HttpAuth
    from swe_fleet.security.nats_auth import client_options

    registered(name).build_function()  # imports fail here, before anything is started
    faults.arm(s.faults)
    if http:
        check_http_port(s.host, s.http_port)  # before touching NATS
    options = client_options(s, name)
    nc = await connect(s.resolved_nats_url, f"fleet-{name}", wait_seconds=30, options=options)
    try:
        try:
            await ensure_streams(nc.jetstream(), replicas=s.resolved_nats_replicas)
        except ConfigurationError:
            raise  # e.g. replicas the servers cannot hold: its own line says so
        except Exception as error:
            if "user" not in options:
                raise
            # A service identity may read stream metadata but never create a stream (ADR 0801).
            raise ConfigurationError(
                f"the streams cannot be checked or created as NATS user {options['user']} "
                f"({error or 'timeout'}): run `fleet streams ensure` with the admin's credentials "
                "(FLEET_NATS_CREDS=…/fleet-admin.json) first"
            ) from None
        built = await build_service(name, s, nc, Endpoints.from_settings(s))
        stop, ready = asyncio.Event(), asyncio.Event()
        on_termination(stop.set)
        host = ServiceHost(
            [built],
            http_host=s.host,
            http_port=s.http_port if http else None,
            auth=HttpAuth.from_settings(s) if http else None,
        )
        serving = asyncio.create_task(host.serve(stop, ready))
        await asyncio.wait([serving, asyncio.create_task(ready.wait())], return_when=asyncio.FIRST_COMPLETED)
        if not serving.done():
            where = f"listening on http://{s.host}:{s.http_port}" if http else "no HTTP API"
            err.print(f"fleet serve {name}: {where}, {len(built.consumers)} consumers", highlight=False)
            print("ready", flush=True)
        await serving
    finally:
        await nc.drain()


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("serve")(serve)
