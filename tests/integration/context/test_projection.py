"""Events through a real nats-server into a real Ladybug graph: the seed report's scenario and its cousins."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from swe_fleet.backbone.consumer import ConsumerRuntime
from swe_fleet.backbone.consumer_spec import ConsumerSpec
from swe_fleet.backbone.dead_letters import DeadLetterWriter
from swe_fleet.context.app.projector import Projector
from swe_fleet.events import payloads as p
from swe_fleet.events import subjects as s
from swe_fleet.events.envelope import Envelope
from swe_fleet.events.payloads import Payload
from swe_fleet.graph.ladybug_store import LadybugGraphStore
from tests.support.waiting import eventually

from .support import running_context

APPROVALS_LINKED = (
    "MATCH (s:Story)-[:HAS_APPROVAL]->(a:PlanApproval)-[:APPROVES]->(p:Plan) "
    "MATCH (s)-[:HAS_PLAN]->(p) RETURN s.id AS story, p.id AS plan, a.approved_by AS by ORDER BY story"
)


async def test_seed_report_plan_approvals_published_by_hand_end_as_plan_approval_nodes(
    nc, js, tmp_path, redis_url
):
    async with running_context(nc, tmp_path, valkey_url=redis_url) as ctx:
        # As in the field report: `nats pub planning.plan.approved '{...}'`, bare JSON, no envelope.
        for story, plan in (("US-VERIFY-001", "plan-verify-v1"), ("US-VERIFY-002", "plan-v2")):
            body = {"event_type": "PLAN_APPROVED", "story_id": story, "plan_id": plan, "approved_by": "po"}
            await nc.publish(s.PLAN_APPROVED, json.dumps(body).encode())
        # And one the fleet publishes itself, in its envelope.
        await ctx.publisher.publish(
            s.PLAN_APPROVED,
            p.PlanApproved(story_id="US-3", plan_id="plan-3", approved_by="po", roles=["DEV"]),
        )
        # A hand-published message that does not validate goes to DEAD_LETTERS, not into the graph.
        await nc.publish(s.PLAN_APPROVED, b'{"story_id": "US-BAD"}')
        await nc.flush()

        async def three_approvals() -> bool:
            return len(await ctx.query("MATCH (n:PlanApproval) RETURN n")) == 3

        await eventually(three_approvals, what="3 PlanApproval nodes")
        rows = await ctx.query(APPROVALS_LINKED)
        assert [(r["story"], r["plan"], r["by"]) for r in rows] == [
            ("US-3", "plan-3", "po"),
            ("US-VERIFY-001", "plan-verify-v1", "po"),
            ("US-VERIFY-002", "plan-v2", "po"),
        ]
        placeholders = await ctx.query("MATCH (s:Story) RETURN s.id AS id, s.placeholder AS placeholder")
        assert all(row["placeholder"] for row in placeholders)  # stories not seen yet: kept, to be filled in
        dead = await js.stream_info("DEAD_LETTERS")
        assert dead.state.messages == 1
        assert await ctx.count("MATCH (s:Story {id: 'US-BAD'}) RETURN count(s)") == 0


def envelopes(story: str, start: datetime) -> list[Envelope]:
    """A story's life in events, each a second after the previous one."""
    payloads: list[tuple[str, p.Payload]] = [
        (s.PROJECT_CREATED, p.ProjectCreated(project_id="P-1", name="Shop", created_by="po")),
        (s.EPIC_CREATED, p.EpicCreated(epic_id="E-1", project_id="P-1", title="Accounts", created_by="po")),
        (
            s.STORY_CREATED,
            p.StoryCreated(
                story_id=story,
                epic_id="E-1",
                title="Login",
                owner="po",
                created_by="po",
                acceptance_criteria=["the form works"],
            ),
        ),
        (
            s.STORY_TRANSITIONED,
            p.StoryTransitioned(
                story_id=story, from_state="DRAFT", to_state="PO_REVIEW", transitioned_by="po"
            ),
        ),
        (
            s.STORY_TRANSITIONED,
            p.StoryTransitioned(
                story_id=story, from_state="PO_REVIEW", to_state="READY_FOR_PLANNING", transitioned_by="po"
            ),
        ),
        (
            s.PLAN_CREATED,
            p.PlanCreated(
                plan_id="plan-1",
                story_id=story,
                description="Build it",
                acceptance_criteria=["works"],
                roles=["DEV"],
                created_by="architect",
            ),
        ),
        (s.PLAN_APPROVED, p.PlanApproved(story_id=story, plan_id="plan-1", approved_by="po", roles=["DEV"])),
        (
            s.STORY_TRANSITIONED,
            p.StoryTransitioned(
                story_id=story, from_state="READY_FOR_PLANNING", to_state="PLANNED", transitioned_by="po"
            ),
        ),
        (
            s.TASKS_DERIVED,
            p.TasksDerived(
                story_id=story,
                plan_id="plan-1",
                attempts=1,
                tasks=[
                    p.TaskSpec(task_id="T-1", title="Form", role="DEV", estimate_hours=2),
                    p.TaskSpec(task_id="T-2", title="Tests", role="QA", estimate_hours=1, depends_on=["T-1"]),
                ],
            ),
        ),
        (
            s.DECISION_APPROVED,
            p.DecisionApproved(
                decision_id="D-1",
                story_id=story,
                task_id="T-1",
                title="JWT",
                rationale="stateless",
                decided_by="architect",
            ),
        ),
        (
            s.DELIBERATION_COMPLETED,
            p.DeliberationCompleted(
                deliberation_id="DL-1",
                story_id=story,
                plan_id="plan-1",
                task_id="T-1",
                role="DEV",
                rounds=1,
                agents=["dev-1", "dev-2"],
                proposals=[
                    p.ProposalRecord(proposal_id="PR-1", agent_id="dev-1", content="a form"),
                    p.ProposalRecord(proposal_id="PR-2", agent_id="dev-2", content="a page"),
                ],
                scores=[p.ScoreRecord(proposal_id="PR-1", total=8.0)],
                winner_proposal_id="PR-1",
                winner_agent_id="dev-1",
                decisions=[
                    p.DeliberationDecision(
                        decision_id="D-2", title="Form first", rationale="simplest", decided_by="council"
                    )
                ],
            ),
        ),
        (
            s.TASK_DISPATCHED,
            p.TaskDispatched(
                task_id="T-1",
                story_id=story,
                role="DEV",
                agent_id="dev-1",
                deliberation_id="DL-1",
                proposal_id="PR-1",
            ),
        ),
        (
            s.STORY_TRANSITIONED,
            p.StoryTransitioned(
                story_id=story, from_state="PLANNED", to_state="IN_PROGRESS", transitioned_by="po"
            ),
        ),
    ]
    return [
        Envelope.new(subject, payload, producer="test", occurred_at=start + timedelta(seconds=index))
        for index, (subject, payload) in enumerate(payloads)
    ]


EXPECTED_NODES = {
    "Project": 1,
    "Epic": 1,
    "Story": 1,
    "Plan": 1,
    "PlanApproval": 1,
    "PhaseTransition": 4,
    "Task": 2,
    "Decision": 2,
    "Deliberation": 1,
    "Proposal": 2,
    "Score": 1,
    "Agent": 2,
    "TaskDispatch": 1,
    "ProjectedEvent": 13,
}


async def settled(ctx, events: int) -> None:
    async def all_applied() -> bool:
        return await ctx.count("MATCH (e:ProjectedEvent) RETURN count(e)") >= events

    await eventually(all_applied, what=f"{events} events applied")


async def test_redelivery_and_duplicates_leave_nodes_and_relationships_unchanged(nc, js, tmp_path, redis_url):
    start = datetime(2025, 10, 16, 17, 0, tzinfo=UTC)
    events = envelopes("US-1", start)
    async with running_context(nc, tmp_path, valkey_url=redis_url) as ctx:
        for envelope in events:
            await ctx.publisher.publish_envelope(envelope)
        await settled(ctx, len(events))
        before = await ctx.stats()
        assert {k: v for k, v in before["nodes"].items() if v} == {**EXPECTED_NODES, "GraphMeta": 1}

        # Duplicates: the same events published again under new msg-ids, so JetStream stores them twice.
        for envelope in events:
            await ctx.publisher.publish_raw(
                envelope.event_type, envelope.model_dump_json().encode(), msg_id=f"dup-{envelope.event_id}"
            )
        # Redelivery: every stored message delivered again to the same projection, via a second durable.
        runtimes = []
        for subject in sorted({e.event_type for e in events}):
            stream = "PLANNING_EVENTS" if subject.startswith("planning.") else "ORCHESTRATOR_EVENTS"
            spec = ConsumerSpec(
                durable=f"replay-{subject.replace('.', '-')}", stream=stream, filter_subject=subject
            )
            projector = Projector(_store_of(ctx), announce=None)
            runtimes.append(
                ConsumerRuntime(
                    nc, spec, projector.handle, DeadLetterWriter(ctx.publisher), payload_type=Payload
                )
            )
        import asyncio

        tasks = [asyncio.create_task(runtime.run()) for runtime in runtimes]
        try:

            async def replayed() -> bool:
                return all(r.stats.processed >= 1 for r in runtimes)

            await eventually(replayed, what="replay consumers processed the stream")

            async def everything_consumed() -> bool:
                specs = [runtime.spec for runtime in runtimes] + _context_specs()
                info = [await js.consumer_info(spec.stream, spec.durable) for spec in specs]
                return all(i.num_pending == 0 and i.num_ack_pending == 0 for i in info)

            await eventually(everything_consumed, what="replays and duplicates consumed")
            assert sum(runtime.stats.processed for runtime in runtimes) == 2 * len(events)
        finally:
            for runtime in runtimes:
                runtime.stop()
            await asyncio.gather(*tasks)
        after = await ctx.stats()
        assert after["nodes"] == before["nodes"]
        assert after["relationships"] == before["relationships"]
        assert after["version"] == before["version"]  # nothing new: the version did not move


def _store_of(ctx) -> LadybugGraphStore:
    return ctx.host.services[0].closers[0].__self__  # the store's bound `close`


def _context_specs():
    from swe_fleet.context.consumers import consumer_specs

    return consumer_specs()


async def test_events_arriving_out_of_order_lose_nothing(nc, js, tmp_path, redis_url):
    start = datetime(2025, 10, 16, 17, 0, tzinfo=UTC)
    events = envelopes("US-2", start)
    async with running_context(nc, tmp_path, valkey_url=redis_url, batch_size=1) as ctx:
        for envelope in reversed(events):  # newest first: the story is created last
            await ctx.publisher.publish_envelope(envelope)
        await settled(ctx, len(events))
        story_query = "MATCH (s:Story {id: 'US-2'}) RETURN s.state AS state, s.title AS title"
        story_query += ", s.placeholder AS placeholder"
        story = (await ctx.query(story_query))[0]
        assert story == {"state": "IN_PROGRESS", "title": "Login", "placeholder": False}
        plan = (
            await ctx.query("MATCH (p:Plan {id: 'plan-1'}) RETURN p.status AS status, p.description AS d")
        )[0]
        assert plan == {"status": "APPROVED", "d": "Build it"}
        tasks = await ctx.query(
            "MATCH (t:Task) RETURN t.id AS id, t.status AS status, t.title AS title ORDER BY id"
        )
        assert tasks == [
            {"id": "T-1", "status": "DISPATCHED", "title": "Form"},
            {"id": "T-2", "status": "DERIVED", "title": "Tests"},
        ]
        stats = await ctx.stats()
        assert {k: v for k, v in stats["nodes"].items() if v} == {**EXPECTED_NODES, "GraphMeta": 1}
        chain = "MATCH (:Project {id: 'P-1'})-[:CONTAINS]->(:Epic)-[:CONTAINS]->(s:Story {id: 'US-2'})"
        assert await ctx.count(chain + " RETURN count(s)") == 1


async def test_each_committed_batch_announces_context_updated(nc, js, tmp_path, redis_url):
    async with running_context(nc, tmp_path, valkey_url=redis_url) as ctx:
        await ctx.publisher.publish(
            s.STORY_CREATED, p.StoryCreated(story_id="US-9", title="x", owner="po", created_by="po")
        )

        async def announced() -> bool:
            return (await js.stream_info("CONTEXT_EVENTS")).state.messages >= 1

        await eventually(announced, what="context.updated published")
        message = await js.get_last_msg("CONTEXT_EVENTS", s.CONTEXT_UPDATED)
        update = json.loads(message.data)["payload"]
        assert update["story_ids"] == ["US-9"] and update["version"] >= 1 and update["events_applied"] == 1


async def test_a_store_owned_by_another_process_is_reported_unavailable(tmp_path: Path):
    import asyncio
    import sys

    from swe_fleet.graph.port import GraphUnavailable

    path = tmp_path / "g.lbug"
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        f"import ladybug, time; db = ladybug.Database({str(path)!r}); print('held', flush=True); "
        "time.sleep(60)",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert (await holder.stdout.readline()).strip() == b"held"
        store = LadybugGraphStore(f"ladybug://{path}")
        try:
            await store.start()
        except GraphUnavailable as error:
            assert "owned by another process" in str(error)
        else:
            await store.close()
            raise AssertionError("a second writer process opened the embedded graph")
    finally:
        holder.kill()
        await holder.wait()
