"""`fleet verify`'s probe: a labelled story driven through the whole flow, each step a row.

Planning API → PLANNING_EVENTS → the Context projection (graph rows) and every planning durable
(ack rows) → the orchestrator, which sends a probe command → an agent worker, which fetches the
probe story's context from the Context service (no LLM call) and answers → the orchestrator, which
publishes `orchestration.probe.answered`. A plan approval published by hand as bare JSON (the field
report's test) goes the same way. Every wait shares one deadline; a missing step is ❌ with where it
stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import httpx
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from swe_fleet.events import streams, subjects
from swe_fleet.events.probes import PROBE_PREFIX
from swe_fleet.events.streams import subject_matches
from swe_fleet.settings import FleetSettings
from swe_fleet.verify.expected import expected_consumers
from swe_fleet.verify.report import VerifyReport

Progress = Callable[[str], None]
T = TypeVar("T")
log = logging.getLogger(__name__)

# project, epic, story, 2 transitions, plan created, plan approved, the move to PLANNED that the
# approval makes, and the bare approval
EXPECTED_EVENTS = 9
PATH_ANSWERED = "agent path: probe answered through a worker"
PATH_CONTEXT = "agent path: the worker's context"


class ProbeFailed(Exception):
    pass


class Probe:
    def __init__(
        self,
        report: VerifyReport,
        s: FleetSettings,
        js: JetStreamContext,
        http: httpx.AsyncClient,
        say: Progress,
    ) -> None:
        from ulid import ULID

        token = str(ULID()).lower()
        self.report, self.s, self.js, self.http, self.say = report, s, js, http, say
        self.project, self.epic = f"{PROBE_PREFIX}project-{token}", f"{PROBE_PREFIX}epic-{token}"
        self.story, self.plan = f"{PROBE_PREFIX}story-{token}", f"{PROBE_PREFIX}plan-{token}"
        self.hand_story, self.hand_plan = (
            f"{PROBE_PREFIX}story-bare-{token}",
            f"{PROBE_PREFIX}plan-bare-{token}",
        )
        self.start: dict[str, int] = {}

    async def run(self, deadline_seconds: float) -> tuple[int, tuple[int, int], tuple[int, int]]:
        """(probe events published, (acked, owed) per consumer, (graph checks passed, made))."""
        deadline = time.monotonic() + deadline_seconds
        for stream in (
            streams.PLANNING_EVENTS,
            streams.ORCHESTRATOR_EVENTS,
            streams.AGENT_COMMANDS,
            streams.AGENT_RESPONSES,
        ):
            self.start[stream] = (await self.js.stream_info(stream)).state.last_seq
        if not await self._drive_planning():
            return 0, (0, 0), (0, 0)
        # The field report's test: a plan approval published by hand as bare JSON.
        bare = {"story_id": self.hand_story, "plan_id": self.hand_plan, "approved_by": "fleet-verify"}
        await self.js.publish(subjects.PLAN_APPROVED, json.dumps(bare).encode())
        probe_seqs = await self._check_events(deadline)
        graph = await self._check_graph(deadline, probe_seqs)
        processed = await self._check_processed(deadline, probe_seqs)
        await self._check_agent_path(deadline)
        return len(probe_seqs), processed, graph

    # ------------------------------------------------------------------ planning

    async def _post(self, path: str, body: dict[str, Any]) -> None:
        response = await self.http.post(f"{self.s.resolved_planning_url}/v1{path}", json=body)
        if response.status_code >= 300:
            raise ProbeFailed(f"POST /v1{path} answered {response.status_code}: {response.text[:200]}")

    async def _drive_planning(self) -> bool:
        by = "fleet-verify"
        name, expected = "probe story through plan approval", "accepted by the planning API"
        try:
            await self._post(
                "/projects",
                {
                    "id": self.project,
                    "name": "fleet verify probe",
                    "description": "Probe data written by `fleet verify`",
                },
            )
            await self._post("/epics", {"id": self.epic, "project_id": self.project, "title": "probe"})
            await self._post(
                "/stories",
                {
                    "id": self.story,
                    "epic_id": self.epic,
                    "title": "fleet verify probe story",
                    "owner": by,
                    "acceptance_criteria": ["the probe reaches the graph"],
                },
            )
            for state in ("PO_REVIEW", "READY_FOR_PLANNING"):
                await self._post(f"/stories/{self.story}/transitions", {"to_state": state})
            await self._post(
                f"/stories/{self.story}/plans",
                {
                    "id": self.plan,
                    "description": "probe plan",
                    "acceptance_criteria": ["approved"],
                },
            )
            await self._post(f"/plans/{self.plan}/approve", {"notes": "probe"})
        except (ProbeFailed, httpx.HTTPError) as error:
            self.report.add("probe", name, expected, "-", False, str(error))
            return False
        self.report.add("probe", name, expected, f"story {self.story}", True)
        return True

    async def _check_events(self, deadline: float) -> dict[int, str]:
        self.say("probe: waiting for the events")
        found = await until(deadline, self._probe_messages, lambda seqs: len(seqs) >= EXPECTED_EVENTS)
        seqs = found or {}
        ok = len(seqs) >= EXPECTED_EVENTS
        reason = "" if ok else "the planning outbox did not publish them in time"
        expected = f"{EXPECTED_EVENTS} events"
        self.report.add(
            "probe", "probe events in PLANNING_EVENTS", expected, f"{len(seqs)} events", ok, reason
        )
        return seqs

    async def _probe_messages(self) -> dict[int, str]:
        start_seq = self.start[streams.PLANNING_EVENTS]
        info = await self.js.stream_info(streams.PLANNING_EVENTS)
        mine = [name.encode() for name in (self.story, self.hand_story, self.project, self.epic)]
        found: dict[int, str] = {}
        for seq in range(start_seq + 1, min(info.state.last_seq, start_seq + 5000) + 1):
            with contextlib.suppress(NotFoundError):
                message = await self.js.get_msg(streams.PLANNING_EVENTS, seq)
                if message.data and any(name in message.data for name in mine):
                    found[seq] = message.subject or ""
        return found

    # ------------------------------------------------------------------ graph and consumers

    async def _query(self, cypher: str, params: dict[str, Any]) -> list[dict[str, Any]] | None:
        try:
            response = await self.http.post(
                f"{self.s.resolved_context_url}/v1/graph/query",
                json={"cypher": cypher, "params": params},
                timeout=3.0,  # a stalled context service must not eat the deadline of every check
            )
        except httpx.HTTPError:
            return None
        return response.json().get("rows") if response.status_code == 200 else None

    def _graph_checks(self, probe_seqs: dict[int, str]) -> list[tuple[str, str, dict[str, Any], int]]:
        approvals = "MATCH (a:PlanApproval)-[:APPROVES]->(p:Plan {id: $plan}) RETURN count(a) AS n"
        transitions = sum(1 for subject in probe_seqs.values() if subject == subjects.STORY_TRANSITIONED)
        return [
            ("PlanApproval via the API", approvals, {"plan": self.plan}, 1),
            ("PlanApproval from bare JSON", approvals, {"plan": self.hand_plan}, 1),
            (
                "PhaseTransitions",
                "MATCH (s:Story {id: $story})-[:HAS_TRANSITION]->(t:PhaseTransition) RETURN count(t) AS n",
                {"story": self.story},
                transitions,  # as many as planning published (the approval moves it on, too)
            ),
            (
                "Story in its project",
                "MATCH (:Project {id: $project})-[:CONTAINS]->(:Epic)-[:CONTAINS]->(s:Story {id: $story}) "
                "RETURN count(s) AS n",
                {"project": self.project, "story": self.story},
                1,
            ),
        ]

    async def _check_graph(self, deadline: float, probe_seqs: dict[int, str]) -> tuple[int, int]:
        self.say("probe: waiting for the graph")
        checks = self._graph_checks(probe_seqs)
        good = 0
        for name, cypher, params, want in checks:
            rows = await until(deadline, partial(self._query, cypher, params), partial(_count_is, want))
            got = rows[0].get("n") if rows else None
            ok = got == want
            good += ok
            reason = "" if ok else "not in the graph before the deadline (is the context projection running?)"
            self.report.add(
                "probe", f"graph: {name}", f"{want} node(s)", "-" if got is None else f"{got}", ok, reason
            )
        return good, len(checks)

    async def _check_processed(self, deadline: float, probe_seqs: dict[int, str]) -> tuple[int, int]:
        self.say("probe: waiting for every consumer")
        good, total = 0, 0
        for service, spec in expected_consumers():
            mine = [
                seq for seq, subject in probe_seqs.items() if subject_matches(spec.filter_subject, subject)
            ]
            if spec.stream != streams.PLANNING_EVENTS or not mine:
                continue
            total += len(mine)
            target = max(mine)
            floor = await until(deadline, partial(self._ack_floor, spec.durable), partial(_at_least, target))
            ok = floor is not None and floor >= target
            good += len(mine) if ok else 0
            self.report.add(
                "probe",
                f"processed by {spec.durable}",
                f"{len(mine)} probe event(s) acked",
                f"ack floor {floor}" if floor is not None else "-",
                ok,
                "" if ok else f"the {service} consumer has not acked seq {target} before the deadline",
            )
        return good, total

    async def _ack_floor(self, durable: str) -> int | None:
        try:
            info = await self.js.consumer_info(streams.PLANNING_EVENTS, durable)
        except NotFoundError:
            return None
        return info.ack_floor.stream_seq if info.ack_floor else 0

    # ------------------------------------------------------------------ the agent path

    async def _check_agent_path(self, deadline: float) -> None:
        self.say("probe: waiting for an agent worker's answer, back through the orchestrator")
        expected = "orchestration.probe.answered for the probe story"
        answer = await until(
            deadline,
            lambda: self._find(
                streams.ORCHESTRATOR_EVENTS,
                subjects.PROBE_ANSWERED,
                lambda p: p.get("story_id") == self.story,
            ),
            lambda found: found is not None,
        )
        if answer is None:
            reason = await self._where_the_path_stopped()
            self.report.add("probe", PATH_ANSWERED, expected, "-", False, reason)
            self.report.add("probe", PATH_CONTEXT, "a context version", "-", False, "no worker answered")
            return
        worker = answer.get("worker_id") or "?"
        answered = bool(answer.get("answered"))
        reason = "" if answered else f"the worker answered failed: {answer.get('error')}"
        self.report.add("probe", PATH_ANSWERED, expected, f"answered by {worker}", answered, reason)
        version, problem = answer.get("context_version"), answer.get("context_error")
        found = f"version {version}" if version else "no context"
        reason = "" if version else f"the worker had no context: {problem or answer.get('error')}"
        self.report.add("probe", PATH_CONTEXT, "a context version", found, bool(version), reason)

    async def _where_the_path_stopped(self) -> str:
        mine: Callable[[dict[str, Any]], bool] = lambda payload: payload.get("story_id") == self.story  # noqa: E731
        if await self._find(streams.AGENT_COMMANDS, subjects.AGENT_CMD_PROBE, mine) is None:
            return "the orchestrator sent no probe command (is the orchestrator running?)"
        if await self._find(streams.AGENT_RESPONSES, "agent.response.>", mine) is None:
            return "no agent worker answered the probe command (are agent workers running?)"
        return (
            "a worker answered, but the orchestrator did not take the answer (is the orchestrator running?)"
        )

    async def _find(
        self, stream: str, subject: str, wanted: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any] | None:
        """The payload of the first event on `subject` since the probe started that `wanted` accepts."""
        seq = self.start[stream] + 1
        for _ in range(5000):
            try:
                message = await self.js.get_msg(stream, seq, subject=subject, next=True)
            except NotFoundError:
                return None
            with contextlib.suppress(ValueError, AttributeError):
                payload = json.loads(message.data or b"{}").get("payload") or {}
                if wanted(payload):
                    return payload
            seq = (message.seq or seq) + 1
        return None


def _count_is(want: int, rows: list[dict[str, Any]] | None) -> bool:
    return rows is not None and len(rows) > 0 and rows[0].get("n") == want


def _at_least(target: int, value: int | None) -> bool:
    return value is not None and value >= target


async def until(deadline: float, fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool]) -> T | None:
    """Poll `fetch` until `done(value)` or the deadline; at least once, however late."""
    value: T | None = None
    while True:
        try:
            value = await fetch()
        except Exception as error:  # an unreachable part is a ❌ row, not a crash of verify
            log.debug("verify probe: %r", error)
        else:
            if done(value):
                return value
        if time.monotonic() >= deadline:
            return value
        await asyncio.sleep(0.3)
