"""The backbone with authorisation on: a real nats-server started with the fleet's own policy.

Every service runs on its own connection with its own credentials and the whole flow still works
(a PO's approved plan is derived, deliberated, dispatched and projected, nothing dead-lettered).
An agent worker's credentials cannot publish `planning.plan.approved`, read PLANNING_EVENTS, create
or delete streams, or bind another service's durable; anonymous and wrong-password connections are
refused. Each refusal is the server's (a permissions violation it reports), not our client's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import nats.js.errors
import pytest
from nats.js.api import StreamConfig

from fleet_testing.auth import bearer
from fleet_testing.stand_in.worker import StandInWorker
from swe_fleet.backbone.connection import NatsUnavailable, connect
from swe_fleet.backbone.provisioning import ensure_streams
from swe_fleet.cli.nats_auth import embedded_authorization, fleet_policy
from swe_fleet.composition import SERVICES
from swe_fleet.embedded.child import free_port
from swe_fleet.embedded.nats_server import EmbeddedNats
from swe_fleet.events import subjects
from swe_fleet.host.runner import ServiceHost
from swe_fleet.host.service import Endpoints
from swe_fleet.security.api_auth import HttpAuth
from swe_fleet.security.nats_auth import ADMIN, client_options
from swe_fleet.settings import FleetSettings
from tests.integration.orchestrator.support import fast_councils, orchestration_events
from tests.support.waiting import eventually


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[FleetSettings]:
    """A nats-server with the embedded fleet's authorisation block, and settings that point at it."""
    port = free_port()
    settings = FleetSettings(
        data_dir=tmp_path / "data",
        nats_url=f"nats://127.0.0.1:{port}",
        graph_url=f"ladybug://{tmp_path / 'graph' / 'fleet.lbug'}",
        planning_db_url=f"sqlite:///{tmp_path / 'planning.sqlite3'}",
        orchestrator_tick_seconds=0.1,
    )
    server = EmbeddedNats(tmp_path / "nats", port=port, extra_config=embedded_authorization(settings))
    server.start()
    yield settings
    server.stop()


class Attacker:
    """A raw nats-py client with some identity's options, recording the server's error reports."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    async def connect(self, settings: FleetSettings, user: str) -> Any:
        async def on_error(error: Exception) -> None:
            self.errors.append(str(error))

        return await nats.connect(
            settings.resolved_nats_url,
            error_cb=on_error,
            allow_reconnect=False,
            **client_options(settings, user),
        )

    def violations(self) -> list[str]:
        return [error for error in self.errors if "permissions violation" in error.lower()]


@contextlib.asynccontextmanager
async def as_admin(settings: FleetSettings) -> AsyncIterator[Any]:
    nc = await connect(
        settings.resolved_nats_url, "admin", wait_seconds=5, options=client_options(settings, ADMIN)
    )
    try:
        await ensure_streams(nc.jetstream())
        yield nc
    finally:
        await nc.close()


async def refusal(url: str, name: str, options: dict | None = None) -> str:
    """Why the server refused this client. The server sends `-ERR 'Authorization Violation'` and closes;
    a loaded client may read the close (a reset) before the error, so a reset is tried again."""
    reasons = []
    for _ in range(5):
        with pytest.raises(NatsUnavailable) as refused:
            await connect(url, name, wait_seconds=2, options=options)
        reasons.append(str(refused.value))
        if "reset by peer" not in reasons[-1]:
            break
    return reasons[-1]


async def test_anonymous_and_wrong_password_connections_are_refused(secured: FleetSettings) -> None:
    assert "authorization" in (await refusal(secured.resolved_nats_url, "anonymous")).lower()
    wrong = {"user": "planning", "password": "guessed", "inbox_prefix": "_INBOX_planning"}
    assert "authorization" in (await refusal(secured.resolved_nats_url, "guessing", wrong)).lower()


async def test_an_agent_workers_credentials_reach_only_its_own_subjects(secured: FleetSettings) -> None:
    attacker = Attacker()
    async with as_admin(secured) as admin:
        admin_js = admin.jetstream()
        await admin_js.publish("planning.story.created", b'{"not": "read by agents"}')
        worker = await attacker.connect(secured, "agent-worker")
        js = worker.jetstream(timeout=1.5)
        try:
            # Its own work: publishing an answer is allowed and acknowledged by JetStream.
            assert (await js.publish("agent.response.completed", b"{}")).stream == "AGENT_RESPONSES"

            attempts = {
                "publish planning.plan.approved": js.publish("planning.plan.approved", b'{"plan_id": "P"}'),
                "read PLANNING_EVENTS by sequence": js.get_msg("PLANNING_EVENTS", 1),
                "consume PLANNING_EVENTS": js.pull_subscribe(
                    "planning.>", durable="sneaky", stream="PLANNING_EVENTS"
                ),
                "create a stream": js.add_stream(StreamConfig(name="EXFIL", subjects=["exfil.>"])),
                "delete a stream": js.delete_stream("PLANNING_EVENTS"),
                "read another's durable": js.consumer_info("PLANNING_EVENTS", "context-plan-approved"),
            }
            for what, attempt in attempts.items():
                with pytest.raises(Exception) as refused:
                    await attempt
                assert not isinstance(refused.value, AssertionError), what
            # Binding another service's durable: the fetch is never answered.
            bound = await js.pull_subscribe_bind("context-plan-approved", stream="PLANNING_EVENTS")
            with pytest.raises(nats.errors.TimeoutError):
                await bound.fetch(1, timeout=1.5)
            await worker.flush()
            await asyncio.sleep(0.2)  # the server's -ERR lines arrive after the requests time out
        finally:
            await worker.close()
        # The server refused each one, by name; and nothing changed behind the refusals.
        violations = " ".join(attacker.violations()).lower()  # nats-py reports them lower-cased
        for subject in (
            '"planning.plan.approved"',
            '"$JS.API.STREAM.MSG.GET.PLANNING_EVENTS"',
            '"$JS.API.STREAM.CREATE.EXFIL"',
            '"$JS.API.STREAM.DELETE.PLANNING_EVENTS"',
            '"$JS.API.CONSUMER.MSG.NEXT.PLANNING_EVENTS.context-plan-approved"',
        ):
            assert subject.lower() in violations, (subject, attacker.errors)
        planning = await admin_js.stream_info("PLANNING_EVENTS")
        assert planning.state.messages == 1
        assert "EXFIL" not in [info.config.name for info in await admin_js.streams_info()]


async def test_the_boards_credentials_watch_events_and_change_nothing(secured: FleetSettings) -> None:
    """The board's live pages subscribe to events as they happen; changes go through the HTTP API."""
    attacker = Attacker()
    async with as_admin(secured) as admin:
        admin_js = admin.jetstream()
        board = await attacker.connect(secured, "board")
        seen: asyncio.Queue[str] = asyncio.Queue()

        async def on_event(msg: Any) -> None:
            await seen.put(msg.subject)

        try:
            await board.subscribe("planning.>", cb=on_event)
            await board.flush()
            await admin_js.publish("planning.story.created", b'{"story_id": "US-LIVE"}')
            assert await asyncio.wait_for(seen.get(), 5) == "planning.story.created"

            js = board.jetstream(timeout=1.5)
            attempts = {
                "publish planning.plan.approved": js.publish("planning.plan.approved", b'{"plan_id": "P"}'),
                "read PLANNING_EVENTS by sequence": js.get_msg("PLANNING_EVENTS", 1),
                "delete a dead letter": js.delete_msg("DEAD_LETTERS", 1),
            }
            for what, attempt in attempts.items():
                with pytest.raises(Exception) as refused:
                    await attempt
                assert not isinstance(refused.value, AssertionError), what
            await board.flush()
            await asyncio.sleep(0.2)
        finally:
            await board.close()
        violations = " ".join(attacker.violations()).lower()
        for subject in (
            '"planning.plan.approved"',
            '"$JS.API.STREAM.MSG.GET.PLANNING_EVENTS"',
            '"$JS.API.STREAM.MSG.DELETE.DEAD_LETTERS"',
        ):
            assert subject.lower() in violations, (subject, attacker.errors)


async def test_every_service_works_with_its_own_credentials_only(
    secured: FleetSettings, tmp_path: Path
) -> None:
    """The whole flow without an LLM (a stand-in answers the agents' commands with their credentials)."""
    from swe_fleet.context.bootstrap import build as build_context
    from swe_fleet.orchestrator.bootstrap import build as build_orchestrator
    from swe_fleet.planning.bootstrap import build as build_planning
    from swe_fleet.sentinel.bootstrap import build as build_sentinel

    endpoints = Endpoints.from_settings(secured)
    attacker = Attacker()  # here: the services' own error reports, which must hold no violation
    connections: dict[str, Any] = {}
    async with as_admin(secured) as admin:
        for name in ("planning", "context", "sentinel", "orchestrator", "agent-worker"):
            connections[name] = await attacker.connect(secured, name)
        services = [
            await build_planning(secured, connections["planning"], endpoints),
            await build_context(secured, connections["context"], endpoints),
            await build_sentinel(secured, connections["sentinel"], endpoints),
            await build_orchestrator(
                secured, connections["orchestrator"], endpoints, councils=fast_councils(agents=2)
            ),
        ]
        host = ServiceHost(services, http_host=None, http_port=None, auth=HttpAuth.from_settings(secured))
        stop, started = asyncio.Event(), asyncio.Event()
        serving = asyncio.create_task(host.serve(stop, started))
        await started.wait()
        transport = httpx.ASGITransport(app=host.app)
        try:
            async with (
                StandInWorker(connections["agent-worker"], durable="agent-workers"),
                httpx.AsyncClient(
                    transport=transport, base_url="http://fleet", headers=bearer(secured.data_dir)
                ) as api,
            ):
                story = (
                    await api.post("/v1/stories", json={"id": "US-SEC", "title": "Export invoices"})
                ).json()
                for state in ("PO_REVIEW", "READY_FOR_PLANNING"):
                    moved = await api.post(f"/v1/stories/{story['id']}/transitions", json={"to_state": state})
                    assert moved.status_code == 200, moved.text
                plan = await api.post(
                    f"/v1/stories/{story['id']}/plans",
                    json={
                        "id": "PL-SEC",
                        "description": "CSV export",
                        "acceptance_criteria": ["a"],
                        "roles": ["DEV"],
                    },
                )
                assert (await api.post("/v1/plans/PL-SEC/approve", json={})).status_code == 200, plan.text
                admin_js = admin.jetstream()

                async def dispatched() -> bool:
                    return bool(await orchestration_events(admin_js, subjects.TASK_DISPATCHED))

                try:
                    await eventually(dispatched, within=120, what="a task dispatched")
                except AssertionError as error:
                    raise AssertionError(f"{error}; the server reported {attacker.violations()}") from None

                async def projected() -> bool:
                    rows = await api.post(
                        "/v1/graph/query", json={"cypher": "MATCH (d:TaskDispatch) RETURN count(d) AS n"}
                    )
                    return rows.status_code == 200 and rows.json()["rows"][0]["n"] >= 1

                await eventually(projected, within=60, what="the dispatch projected into the graph")
                dead = await admin_js.stream_info("DEAD_LETTERS")
                assert dead.state.messages == 0
        finally:
            stop.set()
            await serving
            for connection in connections.values():
                await connection.close()
    assert attacker.violations() == []
    # Every registered service has an identity (a new service without one could not connect).
    assert set(fleet_policy(secured).services) == set(SERVICES)


async def test_fleet_verify_has_a_row_for_anonymous_access(secured: FleetSettings, nats_server) -> None:
    from swe_fleet.verify.connections import check_nats_authorisation as _check_nats_authorisation
    from swe_fleet.verify.report import VerifyReport

    on, off = VerifyReport(target={}), VerifyReport(target={})
    await _check_nats_authorisation(on, secured)
    await _check_nats_authorisation(off, secured.model_copy(update={"nats_url": nats_server.url}))
    [row_on], [row_off] = on.rows, off.rows
    assert (row_on.name, row_on.found, row_on.ok) == ("nats authorisation", "refused", True)
    assert (row_off.found, row_off.ok) == ("accepted", False) and "fleet nats-config" in row_off.reason


async def test_the_workspace_starts_with_its_own_credentials_its_durables_and_buckets_included(
    secured: FleetSettings,
) -> None:
    """Its dispatch and approval-verdict durables (ADR 0612) and its KV buckets, with no violation."""
    from swe_fleet.workspace.adapters.approval_store import KvApprovalStore
    from swe_fleet.workspace.app.approvals import RESUME_DURABLE
    from swe_fleet.workspace.app.executor import DURABLE
    from swe_fleet.workspace.bootstrap import build as build_workspace

    attacker = Attacker()
    async with as_admin(secured) as admin:
        connection = await attacker.connect(secured, "workspace")
        endpoints = Endpoints.from_settings(secured.model_copy(update={"llm_url": "http://127.0.0.1:9"}))
        service = await build_workspace(secured, connection, endpoints)
        host = ServiceHost([service], http_host=None, http_port=None, auth=HttpAuth.from_settings(secured))
        stop, started = asyncio.Event(), asyncio.Event()
        serving = asyncio.create_task(host.serve(stop, started))
        try:
            await started.wait()
            js = admin.jetstream()

            async def durables() -> dict[str, str]:
                found = {}
                for stream, durable in (
                    ("ORCHESTRATOR_EVENTS", DURABLE),
                    ("PLANNING_EVENTS", RESUME_DURABLE),
                ):
                    with contextlib.suppress(nats.js.errors.NotFoundError):
                        found[durable] = (await js.consumer_info(stream, durable)).config.filter_subject
                return found

            async def both() -> bool:
                return len(await durables()) == 2

            await eventually(both, within=30, what="the workspace's two durables")
            assert await durables() == {
                DURABLE: subjects.TASK_DISPATCHED,
                RESUME_DURABLE: subjects.APPROVAL_VERDICTS,
            }
            store = await KvApprovalStore.open(connection.jetstream())
            assert await store.get("T-none") is None
        finally:
            stop.set()
            await serving
            await connection.close()
    assert attacker.violations() == []
