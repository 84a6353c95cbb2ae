"""Agent workers against the real Context service: every answer records the context version it used.

Real processes (tests/support/process_fleet.py): planning, the Context service on the embedded graph,
the orchestrator, agent workers and the stand-in LLM server (answers valid for each kind, at once).
A story goes through plan approval via the planning API; the orchestrator derives its tasks and runs
councils; every agent response in AGENT_RESPONSES must carry a context version from the Context
service (not a stand-in's). Then, with Context SIGKILLed, a worker under the default policy answers
without context and says why, and its readiness reports the degradation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from swe_fleet.backbone.connection import connect
from swe_fleet.events import subjects
from swe_fleet.events.payloads import AgentResponseCompleted, AgentResponseFailed
from tests.integration.orchestrator.support import orchestration_events, stream_events
from tests.support.process_fleet import ProcessFleet
from tests.support.waiting import eventually

COUNCIL = {"FLEET_COUNCIL_AGENTS": "2", "FLEET_COUNCIL_ROUNDS": "1", "FLEET_COUNCIL_DEADLINE_SECONDS": "120"}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFleet]:
    running = ProcessFleet.create(tmp_path_factory.mktemp("agents-context"), **COUNCIL)
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()


def drive_story_to_approval(api: str, story: str, headers: dict[str, str]) -> None:
    by = "po-test"
    posts = [
        ("/projects", {"id": f"{story}-project", "name": "context e2e"}),
        (
            "/epics",
            {"id": f"{story}-epic", "project_id": f"{story}-project", "title": "e2e"},
        ),
        (
            "/stories",
            {
                "id": story,
                "epic_id": f"{story}-epic",
                "title": "Export invoices as CSV",
                "owner": by,
                "acceptance_criteria": ["A CSV file with one row per invoice is produced"],
            },
        ),
        (f"/stories/{story}/transitions", {"to_state": "PO_REVIEW"}),
        (f"/stories/{story}/transitions", {"to_state": "READY_FOR_PLANNING"}),
        (
            f"/stories/{story}/plans",
            {
                "id": f"{story}-plan",
                "description": "Add a CSV exporter behind the invoices API",
                "acceptance_criteria": ["the export endpoint returns text/csv"],
            },
        ),
        (f"/plans/{story}-plan/approve", {"notes": "go"}),
    ]
    for path, body in posts:
        response = httpx.post(f"{api}/v1{path}", json=body, headers=headers, timeout=30)
        assert response.status_code < 300, (path, response.text)


async def get(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10, headers=headers) as client:
        return await client.get(url)


async def responses_for(
    fleet: ProcessFleet, story: str
) -> list[AgentResponseCompleted | AgentResponseFailed]:
    nc = await connect(fleet.nats.url, "test-reader", wait_seconds=5, options=fleet.admin)
    try:
        envelopes = await stream_events(nc.jetstream(), "AGENT_RESPONSES")
    finally:
        await nc.close()
    payloads = [envelope.payload for envelope in envelopes]
    return [
        p
        for p in payloads
        if isinstance(p, AgentResponseCompleted | AgentResponseFailed) and p.story_id == story
    ]


async def dispatched(fleet: ProcessFleet, story: str) -> int:
    nc = await connect(fleet.nats.url, "test-reader", wait_seconds=5, options=fleet.admin)
    try:
        events = await orchestration_events(nc.jetstream(), subjects.TASK_DISPATCHED)
    finally:
        await nc.close()
    return sum(1 for event in events if getattr(event.payload, "story_id", None) == story)


async def test_every_answer_of_a_real_flow_records_the_context_version_it_used(fleet) -> None:
    story = "US-ctx-1"
    await asyncio.to_thread(drive_story_to_approval, fleet.url("planning"), story, fleet.headers)

    async def councils_done() -> bool:
        return await dispatched(fleet, story) > 0

    await eventually(councils_done, within=240, what="a task of the story dispatched after its council")
    answers = await responses_for(fleet, story)
    kinds = {answer.kind.value for answer in answers}
    assert {"derive", "generate", "score"} <= kinds, kinds
    missing = [(a.kind.value, a.command_id, a.context_error) for a in answers if not a.context_version]
    assert missing == [], missing
    # Versions come from the Context service's graph, which moved on as the flow went.
    assert all(int(a.context_version or "0") > 0 for a in answers)


async def test_a_worker_without_context_says_why_and_its_readiness_shows_it(fleet) -> None:
    fleet.kill("context")
    try:
        ready = (await get(f"{fleet.url('agent-worker')}/readyz")).json()
        check = ready["checks"]["agent-worker.context"]
        assert check["status"] == "degraded" and "agents answer without context" in check["detail"]
        story = "US-ctx-2"
        await asyncio.to_thread(drive_story_to_approval, fleet.url("planning"), story, fleet.headers)

        async def derive_answered() -> bool:
            return any(a.kind.value == "derive" for a in await responses_for(fleet, story))

        await eventually(derive_answered, within=120, what="the derive command answered without Context")
        derive = next(a for a in await responses_for(fleet, story) if a.kind.value == "derive")
        assert derive.context_version is None
        assert derive.context_error and "Context service unreachable" in derive.context_error
        metrics = (await get(f"{fleet.url('agent-worker')}/metrics", fleet.headers)).text
        assert "fleet_agent_context_reachable 0.0" in metrics
    finally:
        fleet.start("context")
