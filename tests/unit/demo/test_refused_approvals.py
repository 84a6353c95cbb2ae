"""The demo's PO refuses what its story's agents ask to install, so a demo task never waits (ADR 0612)."""

from __future__ import annotations

import json

import httpx

from swe_fleet.demo.driver import DemoDriver


async def test_the_demo_refuses_its_storys_pending_approvals_and_leaves_others_alone() -> None:
    pending = [
        {"id": "APR-aa", "story_id": "US-demo", "title": "Approve `pip install numpy` for task T-1"},
        {"id": "APR-bb", "story_id": "US-other", "title": "Approve `npm install` for task T-9"},
    ]
    seen: list[tuple[str, str, dict]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        seen.append((request.method, request.url.path, body))
        if request.method == "GET":
            assert request.url.params["status"] == "PROPOSED"
            return httpx.Response(200, json=pending)
        return httpx.Response(200, json={"id": "APR-aa", "status": "REJECTED"})

    said: list[str] = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        await DemoDriver("http://fleet", http, said.append).refuse_approvals("US-demo")
    assert seen[1:] == [
        (
            "POST",
            "/v1/approvals/APR-aa/refuse",
            {"reason": "the demo makes no dependency changes: go on without it"},
        )
    ]
    assert said == ["the PO refused: Approve `pip install numpy` for task T-1 (the agent goes on without it)"]
