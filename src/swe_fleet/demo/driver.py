"""Drives one demo story through the fleet's HTTP API and reads the outcome back from the graph."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from swe_fleet.demo.sample_repo import TEST_COMMAND
from swe_fleet.demo.stories import CODE_STORY, DemoStory
from swe_fleet.events.probes import PROBE_PREFIX
from swe_fleet.graph.schema import NODES, Label

PROJECT_ID, EPIC_ID, PO = "PRJ-DEMO-CODE", "EP-DEMO-CODE", "demo-po"
# A task's deliberation is over: dispatched to the winner, or failed/cancelled with the reason recorded.
ENDED = frozenset({"DISPATCHED", "FAILED", "CANCELLED"})
Say = Callable[[str], None]


class DemoFailed(Exception):
    pass


@dataclass
class Outcome:
    story_id: str
    plan_id: str
    tasks: list[dict[str, Any]] = field(default_factory=list)
    dispatched: int = 0
    derivation_failure: str | None = None
    seconds: float = 0.0
    # What the workspaces did with the dispatched tasks: one row per task with a result.
    results: list[dict[str, Any]] = field(default_factory=list)


class DemoDriver:
    def __init__(self, api_url: str, http: httpx.AsyncClient, say: Say) -> None:
        self.api, self.http, self.say = api_url.rstrip("/"), http, say

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, ok: tuple[int, ...] = (200, 201)
    ) -> Any:
        response = await self.http.request(method, f"{self.api}/v1{path}", json=body)
        if response.status_code not in ok:
            raise DemoFailed(f"{method} /v1{path} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    async def query(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        return (await self._call("POST", "/graph/query", {"cypher": cypher, "params": params}))["rows"]

    async def next_run(self) -> int:
        stories = await self._call("GET", "/stories?limit=1000")
        return 1 + sum(1 for story in stories if story["id"].startswith("US-DEMO-"))

    async def drive(self, run: int, repo: str) -> tuple[str, str, DemoStory]:
        """Create (or reuse) the demo project (on the sample repository) and epic, then take a new story
        to an approved plan."""
        story = CODE_STORY
        story_id, plan_id = f"US-DEMO-{run:03d}", f"PL-DEMO-{run:03d}"
        project = {
            "id": PROJECT_ID,
            "name": "Demo calculator",
            "repo": repo,
            "test_command": TEST_COMMAND,
        }
        await self._call("POST", "/projects", project, ok=(201, 409))
        await self._call(
            "POST",
            "/epics",
            {"id": EPIC_ID, "project_id": PROJECT_ID, "title": "Demo epic"},
            ok=(201, 409),
        )
        await self._call(
            "POST",
            "/stories",
            {
                "id": story_id,
                "epic_id": EPIC_ID,
                "title": story.title,
                "brief": story.brief,
                "acceptance_criteria": list(story.acceptance_criteria),
                "owner": PO,
            },
        )
        self.say(f"story {story_id} created: {story.title!r} (DRAFT)")
        for state, why in (("PO_REVIEW", "ready for the PO"), ("READY_FOR_PLANNING", "accepted by the PO")):
            await self._call("POST", f"/stories/{story_id}/transitions", {"to_state": state, "reason": why})
            self.say(f"story {story_id} → {state}")
        await self._call(
            "POST",
            f"/stories/{story_id}/plans",
            {
                "id": plan_id,
                "description": story.plan,
                "acceptance_criteria": list(story.plan_criteria),
                "technical_notes": story.technical_notes,
                "roles": list(story.roles),
            },
        )
        self.say(f"plan {plan_id} proposed (roles {', '.join(story.roles)})")
        await self._call("POST", f"/plans/{plan_id}/approve", {"notes": "Approved for the demo"})
        self.say(f"plan {plan_id} approved by {PO}: the orchestrator takes it from here")
        return story_id, plan_id, story

    async def follow(
        self, story_id: str, plan_id: str, deadline_seconds: float, progress: Callable[[str, int, int], None]
    ) -> Outcome:
        """Wait until every derived task is dispatched (or derivation failed), reporting progress."""
        outcome = Outcome(story_id, plan_id)
        started = time.monotonic()
        while time.monotonic() - started < deadline_seconds:
            failure = await self.query(
                "MATCH (p:Plan {id: $plan})-[:DERIVATION_FAILED]->(f:DerivationFailure) "
                "RETURN f.reason AS reason",
                plan=plan_id,
            )
            if failure:
                outcome.derivation_failure = failure[0]["reason"]
                break
            tasks = await self.query(
                "MATCH (t:Task)-[:DERIVED_FROM]->(p:Plan {id: $plan}) RETURN t.id AS id, t.title AS title, "
                "t.role AS role, t.estimate_hours AS hours, t.status AS status ORDER BY t.id",
                plan=plan_id,
            )
            dispatched = sum(1 for task in tasks if task["status"] == "DISPATCHED")
            ended = sum(1 for task in tasks if task["status"] in ENDED)
            progress("deriving tasks" if not tasks else "councils deliberating", ended, len(tasks))
            outcome.tasks, outcome.dispatched = tasks, dispatched
            if tasks and ended == len(tasks):
                break
            await asyncio.sleep(1.0)
        outcome.seconds = time.monotonic() - started
        return outcome

    async def executions(
        self,
        story_id: str,
        deadline_seconds: float,
        progress: Callable[[str, int, int], None] | None = None,
        poll_seconds: float = 2.0,
    ) -> list[dict[str, Any]]:
        """Wait until every dispatched task of the story has its workspace result (or the deadline)."""
        started = time.monotonic()
        while True:
            await self.refuse_approvals(story_id)
            rows = await self.query(
                "MATCH (s:Story {id: $story})-[:HAS_TASK]->(t:Task)-[:HAS_DISPATCH]->(x:TaskDispatch) "
                "OPTIONAL MATCH (t)-[:HAS_RESULT]->(r:TaskResult) "
                "OPTIONAL MATCH (t)-[:HAS_COMMIT]->(c:Commit) "
                "RETURN DISTINCT t.id AS task, t.title AS title, r.outcome AS outcome, r.branch AS branch, "
                "r.tests_before_ok AS before, r.tests_after_ok AS after, r.failing_after AS failing, "
                "r.files AS files, r.reason AS reason, r.steps AS steps, c.id AS commit_sha ORDER BY t.id",
                story=story_id,
            )
            if progress is not None:
                progress("agents at work", sum(1 for row in rows if row["outcome"]), len(rows))
            if (
                rows and all(row["outcome"] for row in rows)
            ) or time.monotonic() - started > deadline_seconds:
                return rows
            await asyncio.sleep(poll_seconds)

    async def refuse_approvals(self, story_id: str) -> None:
        """The demo's PO refuses every command an agent of the story asks to run with approval (ADR 0612):
        the demo changes no dependencies, and its task goes on without it instead of waiting."""
        pending = await self._call("GET", "/approvals?status=PROPOSED")
        for approval in pending:
            if approval.get("story_id") != story_id:
                continue
            reason = {"reason": "the demo makes no dependency changes: go on without it"}
            await self._call("POST", f"/approvals/{approval['id']}/refuse", reason, ok=(200, 409))
            self.say(f"the PO refused: {approval['title']} (the agent goes on without it)")

    async def decisions(self, story_id: str) -> list[dict[str, Any]]:
        return await self.query(
            "MATCH (s:Story {id: $story})-[:HAS_TASK]->(t:Task)-[:HAS_DELIBERATION]->(d:Deliberation) "
            "OPTIONAL MATCH (d)-[:SELECTED]->(p:Proposal) "
            "OPTIONAL MATCH (c:Decision)-[:DECIDED_IN]->(d) "
            "RETURN t.title AS task, t.role AS role, t.status AS status, d.winner_agent_id AS winner, "
            "p.total_score AS score, size(d.agents) AS agents, size(d.failures) AS failures, "
            "coalesce(c.rationale, d.reason) AS why ORDER BY t.id",
            story=story_id,
        )

    async def totals(self) -> dict[str, int]:
        """Nodes per label over every run, without what `fleet verify` probes left (ids `probe-…`)."""
        labels = (
            Label.STORY,
            Label.PLAN,
            Label.PLAN_APPROVAL,
            Label.TASK,
            Label.DELIBERATION,
            Label.PROPOSAL,
            Label.CRITIQUE,
            Label.SCORE,
            Label.DECISION,
            Label.TASK_DISPATCH,
            Label.AGENT,
            Label.TASK_RESULT,
            Label.COMMIT,
            Label.TOOL_CALL,
        )
        found = {}
        for label in labels:
            probe_keys = ["n.id"] + (["n.story_id"] if "story_id" in NODES[label].all_properties() else [])
            not_probe = " AND ".join(f"NOT coalesce({key}, '') STARTS WITH $probe" for key in probe_keys)
            rows = await self.query(
                f"MATCH (n:{label}) WHERE {not_probe} RETURN count(n) AS n", probe=PROBE_PREFIX
            )
            found[str(label)] = int(rows[0]["n"]) if rows else 0
        return found
