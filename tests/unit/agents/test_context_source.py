"""How the worker's context fetch reads the Context service's answers (the HTTP exchange is scripted:
what is under test is which answers are retried and what the outcome then says)."""

from __future__ import annotations

import httpx

from swe_fleet.agents.adapters.context_source import HttpContextSource

PACK = {"version": "v7", "token_count": 12, "blocks": {"system": "s", "context": "c", "tools": ""}}


def scripted(*answers: tuple[int, dict]) -> tuple[HttpContextSource, list[str]]:
    seen: list[str] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        status, body = queue.pop(0) if len(queue) > 1 else queue[0]
        return httpx.Response(status, json=body)

    source = HttpContextSource(
        "http://context.test", attempts=3, first_delay=0.01, transport=httpx.MockTransport(handle)
    )
    return source, seen


async def fetch(source: HttpContextSource):
    return await source.fetch(
        story_id="US-1", role="developer", phase="derive", task_id=None, token_budget=500
    )


async def test_a_story_projected_between_attempts_gives_its_context() -> None:
    missing = (404, {"detail": "story 'US-1' is not in the context graph"})
    source, seen = scripted(missing, (200, PACK))
    outcome = await fetch(source)
    assert outcome.pack is not None and outcome.pack.version == "v7"
    assert len(seen) == 2


async def test_a_story_still_missing_after_the_attempts_is_transient_not_unreachable() -> None:
    source, seen = scripted((404, {"detail": "story 'US-1' is not in the context graph"}))
    outcome = await fetch(source)
    assert outcome.pack is None and len(seen) == 3
    assert outcome.reachable and outcome.transient and outcome.worth_waiting_for
    assert "not in the context graph" in (outcome.problem or "")


async def test_a_refused_scope_is_final_and_not_retried() -> None:
    source, seen = scripted((403, {"detail": "role 'tester' may not read phase 'x'"}))
    outcome = await fetch(source)
    assert outcome.pack is None and len(seen) == 1
    assert not outcome.worth_waiting_for and "refused (403)" in (outcome.problem or "")


async def test_server_errors_are_retried_then_reported_unreachable() -> None:
    source, seen = scripted((503, {"detail": "starting"}))
    outcome = await fetch(source)
    assert len(seen) == 3 and not outcome.reachable and outcome.worth_waiting_for
