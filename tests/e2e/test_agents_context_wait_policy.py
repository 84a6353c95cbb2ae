"""The "wait" context policy with real processes: a worker whose Context service is down holds the
command instead of answering without context, says so in its readiness, and answers with a context
version once Context is back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.e2e.test_agents_with_real_context import COUNCIL, drive_story_to_approval, get, responses_for
from tests.support.process_fleet import ProcessFleet


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFleet]:
    running = ProcessFleet.create(
        tmp_path_factory.mktemp("context-wait"), FLEET_AGENT_CONTEXT_POLICY="wait", **COUNCIL
    )
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()


async def test_under_the_wait_policy_a_command_waits_for_context_then_answers_with_it(fleet) -> None:
    fleet.kill("context")
    story = "US-wait-1"
    try:
        ready = (await get(f"{fleet.url('agent-worker')}/readyz")).json()
        check = ready["checks"]["agent-worker.context"]
        assert check["status"] == "degraded" and "commands wait for it" in check["detail"]
        await asyncio.to_thread(drive_story_to_approval, fleet.url("planning"), story, fleet.headers)
        await asyncio.sleep(15)  # the derive command reached a worker, which holds it: no answer yet
        assert await responses_for(fleet, story) == []
        metrics = (await get(f"{fleet.url('agent-worker')}/metrics", fleet.headers)).text
        assert "fleet_agent_context_held_total" in metrics and "fleet_agent_context_reachable 0.0" in metrics
    finally:
        fleet.start("context")
    for _ in range(240):
        answers = [a for a in await responses_for(fleet, story) if a.kind.value == "derive"]
        if answers:
            break
        await asyncio.sleep(0.5)
    assert answers, "the held derive command was never answered after Context came back"
    assert all(a.context_version for a in answers), [(a.context_version, a.context_error) for a in answers]
