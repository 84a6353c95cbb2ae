"""Decision history through the real projection, graph and API: as-of, history on request, and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from swe_fleet.events import payloads as p
from swe_fleet.events import subjects as s
from swe_fleet.events.envelope import Envelope
from tests.support.waiting import eventually

from .support import RunningContext, running_context
from .test_context_api import seed_story

T0 = datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
T = T0 + timedelta(hours=1)  # D-new supersedes D-old


async def _decide(ctx: RunningContext, payload: p.DecisionApproved, at: datetime) -> None:
    envelope = Envelope.new(s.DECISION_APPROVED, payload, producer="test", occurred_at=at)
    await ctx.publisher.publish_envelope(envelope)


@pytest.fixture
async def ctx(nc, js, tmp_path, redis_url):
    async with running_context(nc, tmp_path, valkey_url=redis_url) as running:
        await seed_story(running, decisions=1)
        base = {"story_id": "US-1", "task_id": "T-1", "decided_by": "architect"}
        await _decide(
            running,
            p.DecisionApproved(decision_id="D-old", title="Use sessions", rationale="OLDWHY cookies", **base),
            T0,
        )
        await _decide(
            running,
            p.DecisionApproved(
                decision_id="D-new",
                title="Use JWT",
                rationale="NEWWHY stateless",
                supersedes=["D-old"],
                **base,
            ),
            T,
        )

        async def projected() -> bool:
            rows = await running.query(
                "MATCH (d:Decision {id: 'D-old'}) RETURN d.superseded_by AS by, d.title AS title"
            )
            return bool(rows) and rows[0]["by"] == "D-new" and rows[0]["title"] == "Use sessions"

        await eventually(projected, what="the supersession projected")
        yield running


async def _context(ctx: RunningContext, **extra: object) -> list[str]:
    response = await ctx.context(
        "US-1", role="DEV", phase="IN_PROGRESS", task_id="T-1", token_budget=100_000, **extra
    )
    assert response.status_code == 200, response.text
    return response.json()["blocks"]["context"].splitlines()


def _current(lines: list[str], marker: str) -> bool:
    return any(marker in line and "SUPERSEDED" not in line for line in lines)


async def test_a_decision_superseded_at_t_is_current_before_t_and_superseded_after(ctx):
    before = await _context(ctx, as_of=(T - timedelta(minutes=1)).isoformat())
    assert _current(before, "OLDWHY") and not any("NEWWHY" in line for line in before)
    for lines in (await _context(ctx, as_of=(T + timedelta(minutes=1)).isoformat()), await _context(ctx)):
        assert _current(lines, "NEWWHY") and not any("OLDWHY" in line for line in lines)
    history = await _context(ctx, history="true")
    assert any(line.startswith("- [SUPERSEDED by Use JWT at 2030-01-01T11:00") for line in history)


async def test_why_answers_for_either_end_of_a_supersession(ctx):
    new = (await ctx.http.get("/v1/context/decisions/D-new/why")).json()
    assert new["current"] is True
    assert [d["id"] for d in new["supersedes"]] == ["D-old"]
    old = (await ctx.http.get("/v1/context/decisions/D-old/why")).json()
    assert old["current"] is False
    assert old["superseded_by"]["id"] == "D-new"
    assert old["decision"]["valid_until"].startswith("2030-01-01T11:00:00")
    assert old["decision"]["valid_from"].startswith("2030-01-01T10:00:00")


async def test_bad_history_requests_get_clear_4xx(ctx):
    bad = await ctx.context("US-1", role="DEV", phase="IN_PROGRESS", as_of="last tuesday")
    assert bad.status_code == 422
    assert "ISO 8601" in bad.json()["detail"]
    missing = await ctx.http.get("/v1/context/decisions/D-nope/why")
    assert missing.status_code == 404
    assert "D-nope" in missing.json()["detail"]
