"""Token accounting through the real projection, graph and API: a story's totals are the sums of its calls."""

from __future__ import annotations

from swe_fleet.events import payloads as p
from swe_fleet.events import subjects as s
from tests.support.waiting import eventually

from .support import running_context
from .test_context_api import seed_story


def _command(n: int, kind: p.CommandKind, role: str, task: str | None, council: str | None) -> p.AgentCommand:
    return p.AgentCommand(
        command_id=f"C-{n}",
        kind=kind,
        story_id="US-1",
        task_id=task,
        deliberation_id=council,
        role=role,
        agent_id=f"agent-{n % 3}",
    )


async def test_a_storys_token_totals_are_the_sums_of_its_recorded_calls(nc, js, tmp_path, redis_url):
    async with running_context(nc, tmp_path, valkey_url=redis_url) as ctx:
        await seed_story(ctx, decisions=1)
        before = (await ctx.http.get("/v1/graph/stories/US-1")).json()["version"]
        calls = [
            (p.CommandKind.DERIVE, "ARCHITECT", None, None, 1200, 300, 1, True),
            (p.CommandKind.GENERATE, "DEV", "T-1", "DL-1", 900, 250, 1, True),
            (p.CommandKind.GENERATE, "DEV", "T-1", "DL-1", 950, 260, 2, True),
            (p.CommandKind.SCORE, "DEV", "T-1", "DL-1", 700, 90, 1, True),
            (p.CommandKind.GENERATE, "QA", "T-2", "DL-2", 800, 0, 3, False),  # failed, still paid for
        ]
        for n, (kind, role, task, council, prompt, completion, attempts, ok) in enumerate(calls):
            usage = p.LlmUsage(
                prompt_tokens=prompt,
                completion_tokens=completion,
                latency_ms=1000.0 * attempts,
                attempts=attempts,
            )
            command = _command(n, kind, role, task, council)
            if ok:
                answer = p.AgentResponseCompleted.answering(command, worker_id="w", output={}, usage=usage)
                await ctx.publisher.publish(s.AGENT_RESPONSE_COMPLETED, answer)
            else:
                failed = p.AgentResponseFailed.answering(command, worker_id="w", error="no", usage=usage)
                await ctx.publisher.publish(s.AGENT_RESPONSE_FAILED, failed)
        # A malformed answer goes to the dead letters, not into the totals.
        await ctx.publisher.publish_raw(s.AGENT_RESPONSE_COMPLETED, b"{}", msg_id="not-an-answer")

        async def counted() -> bool:
            response = await ctx.http.get("/v1/context/stories/US-1/usage")
            return response.status_code == 200 and response.json()["total"]["answers"] == len(calls)

        await eventually(counted, what="every answer recorded")
        usage = (await ctx.http.get("/v1/context/stories/US-1/usage")).json()
        total = usage["total"]
        assert total["prompt_tokens"] == sum(call[4] for call in calls)
        assert total["completion_tokens"] == sum(call[5] for call in calls)
        assert total["llm_calls"] == sum(call[6] for call in calls)
        assert total["llm_seconds"] == sum(call[6] for call in calls)
        assert usage["by_task"]["T-1"]["tokens"] == 900 + 250 + 950 + 260 + 700 + 90
        assert usage["by_role"]["QA"]["prompt_tokens"] == 800
        assert usage["by_kind"]["generate"]["answers"] == 3
        assert usage["by_deliberation"]["(none)"]["tokens"] == 1500
        # Recording tokens changes no context: the story's version (the cache key) stays where it was.
        assert (await ctx.http.get("/v1/graph/stories/US-1")).json()["version"] == before
        missing = await ctx.http.get("/v1/context/stories/NO-SUCH/usage")
        assert missing.status_code == 404
