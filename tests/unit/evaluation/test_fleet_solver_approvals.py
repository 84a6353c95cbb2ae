"""A benchmark run has no person to ask: the solver refuses its story's approvals (ADR 0612)."""

from __future__ import annotations

import json

import httpx
import pytest

from swe_fleet.evaluation.adapters.fleet_solver import FleetSolver, FleetUnavailable


def solver() -> FleetSolver:
    return FleetSolver("http://fleet", council_agents=1, model="m")


async def test_the_solver_refuses_its_storys_pending_approvals_a_decided_one_is_no_error() -> None:
    pending = [
        {"id": "APR-aa", "story_id": "US-he-1", "title": "Approve `pip install numpy` for task T-1"},
        {"id": "APR-bb", "story_id": "US-he-1", "title": "Approve `pip install scipy` for task T-1"},
        {"id": "APR-cc", "story_id": "US-other", "title": "Approve `npm install` for task T-9"},
    ]
    posted: list[tuple[str, dict]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=pending)
        posted.append((request.url.path, json.loads(request.content)))
        return httpx.Response(409 if "APR-bb" in request.url.path else 200, json={})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        await solver()._refuse_approvals(http, "US-he-1")
    reason = {"reason": "a benchmark run changes no dependencies"}
    assert posted == [("/v1/approvals/APR-aa/refuse", reason), ("/v1/approvals/APR-bb/refuse", reason)]


async def test_a_refusal_the_fleet_does_not_take_ends_the_run_with_one_line() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=[{"id": "APR-aa", "story_id": "US-he-1", "title": "t"}])
        return httpx.Response(403, json={"detail": "viewer"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        with pytest.raises(FleetUnavailable, match="refusing APR-aa answered 403"):
            await solver()._refuse_approvals(http, "US-he-1")
