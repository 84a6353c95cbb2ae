"""The demo's workspace stage says how many dispatched tasks its agents have carried out, as it goes."""

from __future__ import annotations

import httpx

from swe_fleet.demo.driver import DemoDriver


async def test_the_workspace_stage_reports_each_task_carried_out() -> None:
    polls = [
        [_row("T-1", None), _row("T-2", None)],
        [_row("T-1", "committed"), _row("T-2", None)],
        [_row("T-1", "committed"), _row("T-2", "no_change")],
    ]

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":  # the pending approvals: none
            return httpx.Response(200, json=[])
        return httpx.Response(200, json={"rows": polls.pop(0)})

    reported: list[tuple[str, int, int]] = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        driver = DemoDriver("http://fleet", http, lambda _: None)
        rows = await driver.executions("US-demo", 60, lambda *step: reported.append(step), poll_seconds=0)
    assert [row["outcome"] for row in rows] == ["committed", "no_change"]
    assert reported == [("agents at work", 0, 2), ("agents at work", 1, 2), ("agents at work", 2, 2)]


def _row(task: str, outcome: str | None) -> dict:
    return {"task": task, "title": task, "outcome": outcome}
