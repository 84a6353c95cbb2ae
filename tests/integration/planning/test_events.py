"""Through the HTTP API to a real nats-server: one event per accepted change, none for a refusal."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from swe_fleet.events import subjects
from swe_fleet.events.payloads import StoryState
from swe_fleet.planning.domain import lifecycle
from tests.integration.planning.support import (
    StoreTarget,
    await_until,
    outbox_pending,
    planning_events,
    running_planning,
)
from tests.unit.planning.issue_table import ALLOWED, path_to

S = StoryState


class Ledger:
    """What the test did that must show up in the stream: (subject, story, from, to) per accepted change."""

    def __init__(self) -> None:
        self.expected: Counter[tuple] = Counter()
        self.correlation: dict[str, str] = {}

    async def create_story(self, client, story_id: str) -> None:
        response = await client.post("/v1/stories", json={"id": story_id, "title": "t", "owner": "po"})
        assert response.status_code == 201, response.text
        self.correlation[story_id] = response.json()["correlation_id"]
        self.expected[(subjects.STORY_CREATED, story_id, None, None)] += 1

    async def move(self, client, story_id: str, source: StoryState, target: StoryState) -> None:
        response = await client.post(
            f"/v1/stories/{story_id}/transitions", json={"to_state": target, "reason": "test"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["state"] == target
        self.expected[(subjects.STORY_TRANSITIONED, story_id, source, target)] += 1

    async def story_in(self, client, story_id: str, state: StoryState) -> None:
        await self.create_story(client, story_id)
        source = S.DRAFT
        for step in path_to(state):
            await self.move(client, story_id, source, step)
            source = step


async def drain(js, store: StoreTarget) -> list:
    await await_until(lambda: outbox_pending(store) == 0, 60, "the outbox relay to publish everything")
    return await planning_events(js)


async def test_every_pair_over_the_api_and_exactly_one_event_per_accepted_change(
    js, nats_server, sqlite_store: StoreTarget, tmp_path
) -> None:
    ledger = Ledger()
    refused = 0
    async with running_planning(nats_server.url, sqlite_store, tmp_path) as client:
        for index, state in enumerate(StoryState):
            # One story per state takes every refused move; a refusal must leave it untouched.
            story_id = f"US-refuse-{index}"
            await ledger.story_in(client, story_id, state)
            version = (await client.get(f"/v1/stories/{story_id}")).json()["version"]
            for target in StoryState:
                if (state, target) in ALLOWED:
                    continue
                response = await client.post(f"/v1/stories/{story_id}/transitions", json={"to_state": target})
                assert response.status_code == 409, (state, target, response.text)
                detail = response.json()["detail"]
                assert f"from {state.value} to {target.value}" in detail
                assert all(allowed.value in detail for allowed in lifecycle.allowed_targets(state))
                refused += 1
            after = (await client.get(f"/v1/stories/{story_id}")).json()
            assert (after["state"], after["version"]) == (state, version)
            # One fresh story per accepted move out of this state.
            for target in sorted(lifecycle.allowed_targets(state)):
                story_id = f"US-{state.value}-{target.value}"
                await ledger.story_in(client, story_id, state)
                await ledger.move(client, story_id, state, target)

        events = await drain(js, sqlite_store)

    assert refused == len(list(itertools.product(StoryState, StoryState))) - len(ALLOWED)
    seen: Counter[tuple] = Counter()
    for stored in events:
        envelope, payload = stored.envelope, stored.envelope.payload
        assert stored.msg_id == envelope.event_id  # what lets JetStream drop a re-published copy
        assert envelope.producer == "planning"
        assert envelope.correlation_id == ledger.correlation[payload.story_id]
        if envelope.event_type == subjects.STORY_CREATED:
            seen[(envelope.event_type, payload.story_id, None, None)] += 1
            assert envelope.correlation_id == envelope.event_id
        else:
            assert payload.transitioned_by == "po" and payload.reason == "test"
            seen[(envelope.event_type, payload.story_id, payload.from_state, payload.to_state)] += 1
    assert seen == ledger.expected
    assert len({stored.envelope.event_id for stored in events}) == len(events)


async def test_the_planning_flow_publishes_each_change_once_with_its_fields(
    js, nats_server, store: StoreTarget, tmp_path
) -> None:
    async with running_planning(nats_server.url, store, tmp_path) as client:
        project = (await client.post("/v1/projects", json={"name": "Shop"})).json()
        epic = (await client.post("/v1/epics", json={"project_id": project["id"], "title": "Auth"})).json()
        story = (
            await client.post(
                "/v1/stories",
                json={"title": "Login", "owner": "ana", "epic_id": epic["id"], "acceptance_criteria": ["ok"]},
            )
        ).json()
        sid = story["id"]
        for target in (S.PO_REVIEW, S.READY_FOR_PLANNING):
            assert (await client.post(f"/v1/stories/{sid}/transitions", json={"to_state": target})).is_success
        plan_body = {
            "description": "JWT login",
            "acceptance_criteria": ["tokens expire"],
            "technical_notes": "RS256",
            "roles": ["DEV", "QA"],
        }
        rejected = (await client.post(f"/v1/stories/{sid}/plans", json=plan_body)).json()
        response = await client.post(f"/v1/plans/{rejected['id']}/reject", json={"reason": "vague"})
        assert response.json()["status"] == "REJECTED"
        plan = (await client.post(f"/v1/stories/{sid}/plans", json=plan_body)).json()
        approved = await client.post(f"/v1/plans/{plan['id']}/approve", json={"notes": "go"})
        assert approved.json()["status"] == "APPROVED"
        assert (await client.get(f"/v1/stories/{sid}")).json()["state"] == "PLANNED"
        again = await client.post(f"/v1/plans/{plan['id']}/approve", json={})
        assert again.status_code == 409 and "already APPROVED" in again.json()["detail"]

        decision_ids = []
        for title in ("Use RS256", "Use HS256"):
            decision = await client.post(
                "/v1/decisions",
                json={"story_id": sid, "title": title, "affects": [sid]},
            )
            decision_ids.append(decision.json()["id"])
        await client.post(f"/v1/decisions/{decision_ids[0]}/approve", json={"rationale": "safer"})
        await client.post(f"/v1/decisions/{decision_ids[1]}/reject", json={"rationale": "weaker"})

        events = await drain(js, store)

    by_type = Counter(stored.envelope.event_type for stored in events)
    assert by_type == {
        subjects.PROJECT_CREATED: 1,
        subjects.EPIC_CREATED: 1,
        subjects.STORY_CREATED: 1,
        subjects.STORY_TRANSITIONED: 3,  # two by hand, one by the approval
        subjects.PLAN_CREATED: 2,
        subjects.PLAN_REJECTED: 1,
        subjects.PLAN_APPROVED: 1,
        subjects.DECISION_APPROVED: 1,
        subjects.DECISION_REJECTED: 1,
    }
    payloads = {stored.envelope.event_type: stored.envelope for stored in events}
    approval = payloads[subjects.PLAN_APPROVED]
    p = approval.payload
    assert (p.story_id, p.plan_id, p.approved_by, p.notes) == (sid, plan["id"], "po", "go")
    assert (p.description, p.acceptance_criteria, p.technical_notes) == (
        "JWT login",
        ["tokens expire"],
        "RS256",
    )
    assert [role.value for role in p.roles] == ["DEV", "QA"]
    last_move = [s.envelope for s in events if s.envelope.event_type == subjects.STORY_TRANSITIONED][-1]
    assert (last_move.payload.to_state, last_move.causation_id) == (S.PLANNED, approval.event_id)
    assert payloads[subjects.PLAN_REJECTED].payload.reason == "vague"
    assert payloads[subjects.DECISION_APPROVED].payload.rationale == "safer"
    assert payloads[subjects.DECISION_REJECTED].payload.decided_by == "po"
    # Everything about the story is on its flow.
    story_flow = {
        s.envelope.correlation_id for s in events if getattr(s.envelope.payload, "story_id", None) == sid
    }
    assert story_flow == {story["correlation_id"]}
    # The stream holds them in the order they committed.
    order = [s.envelope.event_type for s in events]
    assert order.index(subjects.PLAN_APPROVED) < order.index(subjects.DECISION_APPROVED)


@pytest.mark.parametrize(
    ("path", "body", "status", "needle"),
    [
        ("/v1/stories", {"owner": "po"}, 422, "title"),
        ("/v1/stories", {"title": "  ", "owner": "po"}, 422, "title"),
        ("/v1/stories", {"title": "t", "owner": "po", "id": "bad id"}, 422, "id"),
        (
            "/v1/stories",
            {"title": "t", "owner": "po", "epic_id": "EPIC-none"},
            404,
            "epic 'EPIC-none' not found",
        ),
        ("/v1/stories/US-none/transitions", {"to_state": "PO_REVIEW"}, 404, "story 'US-none'"),
        ("/v1/stories/US-none/transitions", {"to_state": "LIMBO"}, 422, "to_state"),
        ("/v1/plans/PLAN-none/approve", {}, 404, "plan 'PLAN-none'"),
        ("/v1/decisions/DEC-none/reject", {"rationale": "x"}, 404, "decision 'DEC-none'"),
    ],
)
async def test_errors_are_precise(
    js, nats_server, sqlite_store: StoreTarget, tmp_path, path, body, status, needle
) -> None:
    async with running_planning(nats_server.url, sqlite_store, tmp_path) as client:
        response = await client.post(path, json=body)
    assert response.status_code == status, response.text
    assert needle in response.text


async def test_if_match_guards_a_transition(js, nats_server, sqlite_store: StoreTarget, tmp_path) -> None:
    async with running_planning(nats_server.url, sqlite_store, tmp_path) as client:
        created = await client.post("/v1/stories", json={"title": "t", "owner": "po"})
        sid, etag = created.json()["id"], created.headers["ETag"]
        url = f"/v1/stories/{sid}/transitions"
        moved = await client.post(url, json={"to_state": "PO_REVIEW"}, headers={"If-Match": etag})
        assert moved.status_code == 200 and moved.headers["ETag"] == '"2"'
        stale = await client.post(url, json={"to_state": "DRAFT"}, headers={"If-Match": etag})
        assert stale.status_code == 409 and "version 2, not 1" in stale.json()["detail"]
        garbage = await client.post(url, json={"to_state": "DRAFT"}, headers={"If-Match": "soon"})
        assert garbage.status_code == 422 and "if-match" in garbage.text
        events = await drain(js, sqlite_store)
    assert [s.envelope.event_type for s in events] == [subjects.STORY_CREATED, subjects.STORY_TRANSITIONED]


async def test_the_po_sets_a_storys_token_budget_and_the_orchestrator_is_told(
    js, nats_server, sqlite_store: StoreTarget, tmp_path
) -> None:
    async with running_planning(nats_server.url, sqlite_store, tmp_path) as client:
        sid = (await client.post("/v1/stories", json={"title": "t", "owner": "po"})).json()["id"]
        url = f"/v1/stories/{sid}/token-budget"
        raised = await client.put(url, json={"token_budget": 50_000})
        assert raised.status_code == 200 and raised.json()["token_budget"] == 50_000
        assert (await client.get(f"/v1/stories/{sid}")).json()["token_budget"] == 50_000
        cleared = await client.put(url, json={"token_budget": None})
        assert cleared.status_code == 200 and cleared.json()["token_budget"] is None
        zero = await client.put(url, json={"token_budget": 0})
        assert zero.status_code == 422 and "token_budget" in zero.text
        missing = await client.put("/v1/stories/US-NOPE/token-budget", json={"token_budget": 10})
        assert missing.status_code == 404
        events = await drain(js, sqlite_store)
    budgets = [e.envelope.payload for e in events if e.envelope.event_type == subjects.STORY_TOKEN_BUDGET_SET]
    assert [(b.story_id, b.token_budget) for b in budgets] == [(sid, 50_000), (sid, None)]
