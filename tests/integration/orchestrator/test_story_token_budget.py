"""A story's token budget stops a council, and the PO's raise lets it go on (real nats-server, real
orchestrator; the stand-in agents report the tokens an LLM server would)."""

from __future__ import annotations

from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.events import subjects
from swe_fleet.events.payloads import AgentCommand, Role, StoryCreated, StoryTokenBudgetSet
from swe_fleet.orchestrator.adapters.state_store import StateStore
from swe_fleet.orchestrator.domain.budget import estimate_tokens
from swe_fleet.orchestrator.domain.deliberation_state import Status
from swe_fleet.orchestrator.domain.ids import deliberation_id
from tests.integration.context.support import running_context
from tests.integration.orchestrator.support import (
    RunningOrchestrator,
    Script,
    ScriptedWorker,
    fast_councils,
    orchestration_events,
    publish_approval,
)
from tests.integration.orchestrator.test_orchestrator_flow import count
from tests.support.waiting import eventually

SECOND = deliberation_id("PL-B-T2")
PER_ANSWER = (1_700, 300)  # every answer reports 2,000 tokens; the councils' per-call budget is 2,048
BUDGET = 20_000


def _tokens(command: AgentCommand) -> tuple[int, int]:
    return PER_ANSWER


async def test_a_budget_cuts_one_council_stops_the_next_and_a_raise_lets_it_go_on(
    nats_server, nc, js
) -> None:
    councils = fast_councils(agents=3, rounds=1)
    script = Script(tokens=_tokens)
    async with (
        ScriptedWorker(nc, script) as worker,
        RunningOrchestrator(nats_server.url, councils, story_token_budget=BUDGET),
    ):
        await publish_approval(js, story_id="US-B", plan_id="PL-B", roles=[Role.DEV, Role.QA])

        async def budgeted(n: int) -> bool:
            return await count(js, subjects.DELIBERATION_BUDGETED) >= n

        await eventually(lambda: budgeted(2), what="both councils shaped by the budget")
        # The derivation reported 2,000 tokens; the first council (3 agents: 15 calls x 2,048) does
        # not fit the 18,000 left, two agents (8 calls) do; the second does not fit even as one agent.
        # The first two; a third ("resumed") may follow if the first council ends under its estimate.
        shaped = [e.payload for e in await orchestration_events(js, subjects.DELIBERATION_BUDGETED)]
        cut, waiting = shaped[:2]
        assert (cut.verdict, cut.task_id, cut.agents, cut.configured_agents) == ("cut", "PL-B-T1", 2, 3)
        assert cut.committed_tokens == 2_000 and cut.estimated_tokens == 8 * 2_048
        assert (waiting.verdict, waiting.task_id, waiting.agents) == ("waiting", "PL-B-T2", 3)
        assert "raise the story's token budget" in waiting.reason

        await eventually(lambda: _count_is(js, subjects.TASK_DISPATCHED, 1), what="the cut council's task")
        store = await StateStore.open(js, "FLEET_ORCHESTRATOR")
        stopped = await store.deliberation(SECOND)
        assert stopped is not None and stopped.status is Status.WAITING_FOR_BUDGET
        assert not [c for c in worker.commands if c.deliberation_id == SECOND], "a stopped council sent work"
        spent = sum(PER_ANSWER) * len(worker.commands)
        assert spent <= BUDGET, "the story never spent more than its budget"
        assert worker.kinds() == {"derive": 1, "generate": 2, "critique": 2, "revise": 2, "score": 2}

        # The PO raises the budget (as Planning publishes it): the waiting council starts, whole.
        raise_to = BUDGET + estimate_tokens(councils.for_role(Role.QA))
        budget = StoryTokenBudgetSet(story_id="US-B", token_budget=raise_to, set_by="po@example.com")
        await EventPublisher(js, "planning-test").publish(subjects.STORY_TOKEN_BUDGET_SET, budget)
        await eventually(
            lambda: _count_is(js, subjects.TASK_DISPATCHED, 2), what="the waiting council's task"
        )
        resumed = (await orchestration_events(js, subjects.DELIBERATION_BUDGETED))[-1].payload
        assert (resumed.verdict, resumed.task_id, resumed.agents) == ("resumed", "PL-B-T2", 3)
        started = [c for c in worker.commands if c.deliberation_id == SECOND]
        assert sorted({c.agent_id for c in started}) == ["qa-1", "qa-2", "qa-3"]
        assert sum(PER_ANSWER) * len(worker.commands) <= raise_to


async def _count_is(js, subject: str, expected: int) -> bool:
    return await count(js, subject) >= expected


TOKENS_BY_KIND = {
    "derive": (3_000, 500),
    "generate": (1_200, 400),
    "critique": (900, 150),
    "revise": (1_100, 380),
    "score": (800, 60),
}


def _by_kind(command: AgentCommand) -> tuple[int, int]:
    return TOKENS_BY_KIND[command.kind]


async def test_a_storys_total_is_the_sum_of_its_recorded_calls_and_what_its_budget_counted(
    nats_server, nc, js, tmp_path
) -> None:
    """The Context service's roll-up (recorded calls, real projection and API) and the orchestrator's
    own count (what the budget is held to) both equal the tokens the agents reported, call by call."""
    councils = fast_councils(agents=3, rounds=1)
    async with (
        ScriptedWorker(nc, Script(tokens=_by_kind)) as worker,
        RunningOrchestrator(nats_server.url, councils, story_token_budget=10**9),
        running_context(nc, tmp_path, valkey_url=None) as ctx,
    ):
        created = StoryCreated(story_id="US-T", title="Tokens", owner="po", created_by="po", state="PLANNED")
        await ctx.publisher.publish(subjects.STORY_CREATED, created)
        await publish_approval(js, story_id="US-T", plan_id="PL-T", roles=[Role.DEV])
        await eventually(lambda: _count_is(js, subjects.TASKS_DERIVED, 1), what="tasks derived")
        (derived,) = await orchestration_events(js, subjects.TASKS_DERIVED)
        tasks = [task.task_id for task in derived.payload.tasks]
        await eventually(lambda: _count_is(js, subjects.TASK_DISPATCHED, len(tasks)), what="every task")
        reported = [_by_kind(c) for c in worker.commands]
        assert len(reported) == 1 + 15 * len(tasks)  # derive, then 3 + 3 + 3 + 6 per council

        async def recorded() -> bool:
            response = await ctx.http.get("/v1/context/stories/US-T/usage")
            return response.status_code == 200 and response.json()["total"]["answers"] == len(reported)

        await eventually(recorded, what="every answer recorded by the Context service")
        total = (await ctx.http.get("/v1/context/stories/US-T/usage")).json()["total"]
        assert total["prompt_tokens"] == sum(p for p, _ in reported)
        assert total["completion_tokens"] == sum(c for _, c in reported)

        store = await StateStore.open(js, "FLEET_ORCHESTRATOR")
        story = await store.story("US-T")
        spent = [await store.deliberation(deliberation_id(task)) for task in tasks]
        assert story is not None and all(council is not None for council in spent)
        counted = story.derivation_tokens + sum(council.spent_tokens for council in spent if council)
        assert counted == total["tokens"] == sum(map(sum, reported))
