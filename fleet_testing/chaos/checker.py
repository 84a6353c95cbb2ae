"""The checker: what the fleet holds after the stream drains, compared with the truth.

The truth is what the Planning API reports (its records are the system of record) plus the poison
and duplicates the injector published. The checker reads what was published (PLANNING_EVENTS and
ORCHESTRATOR_EVENTS), what the graph holds (through the Context API's read-only Cypher), what the
Orchestrator keeps in its KV bucket, and DEAD_LETTERS, and proves:

- at the source: every committed change was published, as exactly one event id, and nothing else;
- in the graph: one ProjectedEvent per published event id, and every change's effect exactly once
  (one PhaseTransition per transition, one PlanApproval per approval, ...), the story's final state
  right, and no effect node beyond those (nor any task, dispatch, deliberation or proposal: no agent
  worker runs);
- in the Orchestrator's KV: each story's phase is its final state, one derivation per approved plan,
  carrying that approval's event id once, cancelled exactly when the story was moved back after it;
- in DEAD_LETTERS: every poison message (grouped by original stream and sequence) with its reason,
  and no valid event.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from fleet_testing.chaos.injection import Duplicate, Poison
from fleet_testing.chaos.traffic import DriverRecord, PlanningTruth, unconfirmed
from swe_fleet.backbone.dead_letters import list_dead_letters
from swe_fleet.context.domain.projections import PROJECTED_SUBJECTS
from swe_fleet.events import streams, subjects
from swe_fleet.events.envelope import EventDecodeError, decode_event
from swe_fleet.orchestrator.adapters.state_store import StateStore

STREAMS = (streams.PLANNING_EVENTS, streams.ORCHESTRATOR_EVENTS)
CANCELLING = {"DRAFT", "CARRY_OVER", "ARCHIVED"}


AGENT_STREAMS = (streams.AGENT_COMMANDS, streams.AGENT_RESPONSES)


@dataclass(frozen=True)
class StreamEvent:
    event_id: str
    subject: str
    payload: dict[str, Any]
    seq: int
    at: datetime | None = None  # the envelope's occurred_at


class StreamScan:
    """Every message of the checked streams, decoded once; later scans read only what is new."""

    def __init__(self, streams: tuple[str, ...] = STREAMS) -> None:
        self.streams = streams
        self.next_seq: dict[str, int] = {stream: 1 for stream in streams}
        self.events: dict[str, StreamEvent] = {}  # event id -> first copy
        self.copies: Counter[str] = Counter()  # event id -> messages carrying it
        self.invalid: dict[tuple[str, int], str] = {}  # (stream, seq) -> decode reason
        self.messages = 0

    async def update(self, js: JetStreamContext) -> None:
        for stream in self.streams:
            info = await js.stream_info(stream)
            seq = max(self.next_seq[stream], info.state.first_seq)
            while seq <= info.state.last_seq:
                try:
                    raw = await js.get_msg(stream, seq)
                except NotFoundError:
                    seq += 1
                    continue
                self.messages += 1
                subject, data = raw.subject or "", raw.data or b""
                try:
                    envelope = decode_event(subject, data, message_key=f"{stream}:{seq}")
                except EventDecodeError as error:
                    self.invalid[(stream, seq)] = error.reason
                else:
                    event_id = envelope.event_id
                    self.copies[event_id] += 1
                    if event_id not in self.events:
                        payload = envelope.payload.model_dump(mode="json")
                        self.events[event_id] = StreamEvent(
                            event_id, subject, payload, seq, envelope.occurred_at
                        )
                seq += 1
            self.next_seq[stream] = seq

    def of(self, subject: str) -> list[StreamEvent]:
        return [event for event in self.events.values() if event.subject == subject]


@dataclass
class Findings:
    """Each list names what is wrong; empty lists everywhere is a pass."""

    lost: list[str] = field(default_factory=list)  # a change or event whose effect is missing
    duplicated: list[str] = field(default_factory=list)  # an effect more than once, or one not owed
    wrong: list[str] = field(default_factory=list)  # present once but not right (state, reason...)
    dead_letter_problems: list[str] = field(default_factory=list)
    published: int = 0  # distinct valid event ids published (planning + orchestration)
    applied: int = 0  # of those, in the graph's ledger
    duplicate_copies: int = 0  # messages in the streams beyond the first copy of an event id
    poison: int = 0
    dead_lettered: int = 0  # DEAD_LETTERS entries grouped by original stream and sequence
    agent_commands: int = 0  # distinct command ids in AGENT_COMMANDS (agent scenarios)
    agent_responses: int = 0  # of those, answered (one response event id each)
    agent_summary: str = ""

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.wrong or self.dead_letter_problems)

    def summary(self, limit: int = 8) -> str:
        parts = []
        for name in ("lost", "duplicated", "wrong", "dead_letter_problems"):
            items = getattr(self, name)
            if items:
                parts.append(f"{name} ({len(items)}): " + "; ".join(items[:limit]))
        return " | ".join(parts) or "all effects exactly once"


class GraphReader:
    def __init__(self, context_url: str, headers: dict[str, str] | None = None) -> None:
        self._client = httpx.AsyncClient(base_url=context_url, timeout=30, headers=headers)

    async def rows(self, cypher: str) -> list[dict[str, Any]]:
        response = await self._client.post("/v1/graph/query", json={"cypher": cypher})
        response.raise_for_status()
        return list(response.json()["rows"])

    async def close(self) -> None:
        await self._client.aclose()


def _compare(kind: str, expected: set[str], found: list[str], findings: Findings) -> None:
    counts = Counter(found)
    for missing in sorted(expected - set(counts)):
        findings.lost.append(f"{kind} {missing} missing")
    for node_id, count in sorted(counts.items()):
        if node_id not in expected:
            findings.duplicated.append(f"{kind} {node_id} not owed")
        elif count > 1:
            findings.duplicated.append(f"{kind} {node_id} x{count}")


@dataclass
class _Owed:
    """What planning's records say the streams must hold, by subject and entity."""

    by_subject: dict[str, dict[str, set[str]]]  # subject -> entity id -> event ids published
    plans: dict[str, str]  # plan id -> status
    approved: set[str]
    rejected: set[str]
    decided: dict[str, str]  # decision id -> APPROVED | REJECTED
    history: dict[str, dict[str, Any]]  # transition event id -> its history entry (from_state, to_state)
    council_decisions: dict[str, str]  # decisions the councils' completed deliberations recorded

    @classmethod
    def of(cls, truth: PlanningTruth, scan: StreamScan) -> _Owed:
        by_subject: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for event in scan.events.values():
            key = ENTITY_KEY.get(event.subject)
            if key is not None:
                by_subject[event.subject][str(event.payload[key])].add(event.event_id)
        plans = {
            plan_id: status for story in truth.stories.values() for plan_id, status in story.plans.items()
        }
        return cls(
            by_subject=by_subject,
            plans=plans,
            approved={plan_id for plan_id, status in plans.items() if status in ("APPROVED", "SUPERSEDED")},
            rejected={plan_id for plan_id, status in plans.items() if status == "REJECTED"},
            decided={d_id: status for d_id, status in truth.decisions.items() if status != "PROPOSED"},
            history={h["event_id"]: h for story in truth.stories.values() for h in story.history},
            council_decisions={
                decision["decision_id"]: "DECIDED"
                for event in scan.of(subjects.DELIBERATION_COMPLETED)
                for decision in event.payload.get("decisions", [])
            },
        )

    def entities(self, truth: PlanningTruth) -> dict[str, set[str]]:
        return {
            subjects.PROJECT_CREATED: {truth.project_id},
            subjects.EPIC_CREATED: {truth.epic_id},
            subjects.STORY_CREATED: set(truth.stories),
            subjects.PLAN_CREATED: set(self.plans),
            subjects.PLAN_APPROVED: self.approved,
            subjects.PLAN_REJECTED: self.rejected,
            subjects.DECISION_APPROVED: {d for d, s in self.decided.items() if s == "APPROVED"},
            subjects.DECISION_REJECTED: {d for d, s in self.decided.items() if s == "REJECTED"},
        }


ENTITY_KEY = {
    subjects.PROJECT_CREATED: "project_id",
    subjects.EPIC_CREATED: "epic_id",
    subjects.STORY_CREATED: "story_id",
    subjects.PLAN_CREATED: "plan_id",
    subjects.PLAN_APPROVED: "plan_id",
    subjects.PLAN_REJECTED: "plan_id",
    subjects.DECISION_APPROVED: "decision_id",
    subjects.DECISION_REJECTED: "decision_id",
}


async def check(
    *,
    js: JetStreamContext,
    graph: GraphReader,
    truth: PlanningTruth,
    record: DriverRecord,
    poison: list[Poison],
    duplicates: list[Duplicate],
    scan: StreamScan,
    orchestrator_bucket: str = "FLEET_ORCHESTRATOR",
    agents: bool = False,
) -> Findings:
    findings = Findings()
    await scan.update(js)
    findings.duplicate_copies = sum(count - 1 for count in scan.copies.values())
    owed = _Owed.of(truth, scan)
    _check_source(record, truth, scan, owed, findings)
    await _check_ledger_and_stories(graph, truth, scan, findings)
    await _check_transitions(graph, owed, findings)
    await _check_plans_and_decisions(graph, owed, findings)
    await _check_project_and_epic(graph, truth, findings)
    if agents:
        from fleet_testing.chaos import agent_checks  # it builds on this module

        await agent_checks.check_agent_path(js, graph, scan, orchestrator_bucket, findings)
        # With agents, a derivation ends by its own event: tasks derived, or failed/cancelled.
        cancelled = agent_checks.derivation_endings(owed.approved, scan, findings)
    else:
        # No agent worker runs: nothing may exist of the agents' side of the graph.
        for label in ("Task", "TaskDispatch", "Deliberation", "Proposal"):
            unowed = await graph.rows(f"MATCH (n:{label}) RETURN n.id AS id")
            _compare(label, set(), [r["id"] for r in unowed], findings)
        cancelled = _cancelled_derivations(truth, scan, owed.by_subject)
    failures = await graph.rows("MATCH (f:DerivationFailure) RETURN f.id AS id, f.plan_id AS plan")
    # One DerivationFailure per cancelled derivation, keyed by its plan.
    _compare("DerivationFailure of plan", cancelled, [row["plan"] for row in failures], findings)
    await _check_orchestrator_state(
        js, orchestrator_bucket, truth, owed.by_subject, owed.approved, cancelled, findings, agents=agents
    )
    await _check_dead_letters(js, poison, findings)
    return findings


def _check_source(
    record: DriverRecord, truth: PlanningTruth, scan: StreamScan, owed: _Owed, findings: Findings
) -> None:
    """Every committed change was published, as exactly one event id, and nothing else."""
    for problem in unconfirmed(record, truth):
        findings.lost.append(f"source: {problem}")
    for subject, entities in owed.entities(truth).items():
        published = owed.by_subject[subject]
        for entity in sorted(entities):
            ids = published.get(entity, set())
            if not ids:
                findings.lost.append(f"source: no {subject} for {entity}")
            elif len(ids) > 1:
                findings.duplicated.append(f"source: {len(ids)} event ids of {subject} for {entity}")
        for entity in sorted(set(published) - entities):
            findings.duplicated.append(f"source: {subject} for {entity}, a change planning does not hold")
    published_transitions = {event.event_id for event in scan.of(subjects.STORY_TRANSITIONED)}
    for event_id in sorted(set(owed.history) - published_transitions):
        findings.lost.append(f"source: transition {event_id} never published")
    for event_id in sorted(published_transitions - set(owed.history)):
        findings.duplicated.append(f"source: transition {event_id} published, not in any history")


async def _check_ledger_and_stories(
    graph: GraphReader, truth: PlanningTruth, scan: StreamScan, findings: Findings
) -> None:
    projected = {event_id for event_id, event in scan.events.items() if event.subject in PROJECTED_SUBJECTS}
    findings.published = len(projected)
    ledger = [row["id"] for row in await graph.rows("MATCH (e:ProjectedEvent) RETURN e.id AS id")]
    findings.applied = len(projected & set(ledger))
    _compare("ProjectedEvent", projected, ledger, findings)
    stories = await graph.rows("MATCH (s:Story) RETURN s.id AS id, s.state AS state, s.placeholder AS ph")
    _compare("Story", set(truth.stories), [row["id"] for row in stories], findings)
    for row in stories:
        story = truth.stories.get(row["id"])
        if story is not None and (row["state"] != story.state or row["ph"]):
            findings.wrong.append(
                f"Story {row['id']} is {row['state']} (placeholder {row['ph']}), not {story.state}"
            )


async def _check_transitions(graph: GraphReader, owed: _Owed, findings: Findings) -> None:
    """One PhaseTransition per transition, linked to its story, with the from/to its event decided."""
    expected = {f"PT-{event_id}" for event_id in owed.history}
    transitions = await graph.rows(
        "MATCH (t:PhaseTransition) RETURN t.id AS id, t.from_state AS from_state, t.to_state AS to_state"
    )
    _compare("PhaseTransition", expected, [r["id"] for r in transitions], findings)
    for row in transitions:
        entry = owed.history.get(str(row["id"]).removeprefix("PT-"))
        if entry is None:
            continue
        if (row["from_state"], row["to_state"]) != (entry["from_state"], entry["to_state"]):
            findings.wrong.append(
                f"PhaseTransition {row['id']} is {row['from_state']}->{row['to_state']}, "
                f"not {entry['from_state']}->{entry['to_state']}"
            )
    linked = await graph.rows("MATCH (:Story)-[r:HAS_TRANSITION]->(t:PhaseTransition) RETURN t.id AS id")
    _compare("HAS_TRANSITION to", expected, [r["id"] for r in linked], findings)


# Planning's statuses as the graph records them: a superseded plan was approved, and stays so there.
GRAPH_PLAN_STATUS = {"SUPERSEDED": "APPROVED"}


async def _check_plans_and_decisions(graph: GraphReader, owed: _Owed, findings: Findings) -> None:
    def approvals_of(subject: str, plan_ids: set[str], prefix: str) -> set[str]:
        return {f"{prefix}-{e}" for plan_id in plan_ids for e in owed.by_subject[subject].get(plan_id, ())}

    approvals = await graph.rows(
        "MATCH (a:PlanApproval)-[:APPROVES]->(p:Plan) RETURN a.id AS id, p.id AS plan"
    )
    expected = approvals_of(subjects.PLAN_APPROVED, owed.approved, "PA")
    _compare("PlanApproval", expected, [r["id"] for r in approvals], findings)
    rejections = await graph.rows("MATCH (r:PlanRejection) RETURN r.id AS id")
    expected = approvals_of(subjects.PLAN_REJECTED, owed.rejected, "PR")
    _compare("PlanRejection", expected, [r["id"] for r in rejections], findings)
    plan_nodes = await graph.rows("MATCH (p:Plan) RETURN p.id AS id, p.status AS status")
    _compare("Plan", set(owed.plans), [r["id"] for r in plan_nodes], findings)
    for row in plan_nodes:
        status = owed.plans.get(row["id"])
        if status is not None and row["status"] != GRAPH_PLAN_STATUS.get(status, status):
            findings.wrong.append(f"Plan {row['id']} is {row['status']}, not {status}")
    decisions = await graph.rows("MATCH (d:Decision) RETURN d.id AS id, d.status AS status")
    decided = {**owed.decided, **owed.council_decisions}
    _compare("Decision", set(decided), [r["id"] for r in decisions], findings)
    for row in decisions:
        if row["id"] in decided and row["status"] != decided[row["id"]]:
            findings.wrong.append(f"Decision {row['id']} is {row['status']}, not {decided[row['id']]}")


async def _check_project_and_epic(graph: GraphReader, truth: PlanningTruth, findings: Findings) -> None:
    for label, expected_id in (("Project", truth.project_id), ("Epic", truth.epic_id)):
        found = await graph.rows(f"MATCH (n:{label}) RETURN n.id AS id")
        _compare(label, {expected_id}, [r["id"] for r in found], findings)


async def _check_dead_letters(js: JetStreamContext, poison: list[Poison], findings: Findings) -> None:
    """Every poison message dead-lettered once with its reason (grouped by origin), and no valid event."""
    poison_keys = {(p.stream, p.seq): p for p in poison}
    findings.poison = len(poison)
    letters = await list_dead_letters(js, limit=1_000_000)
    groups: dict[tuple[str, int], set[str]] = defaultdict(set)
    for letter in letters:
        groups[(letter.original_stream, letter.original_seq or 0)].add(letter.reason)
    findings.dead_lettered = len(groups)
    for origin, item in sorted(poison_keys.items()):
        reasons = groups.get(origin)
        if reasons is None:
            findings.dead_letter_problems.append(f"{item.kind} at {origin[0]}:{origin[1]} not dead-lettered")
        elif reasons != {item.expected_reason}:
            findings.dead_letter_problems.append(
                f"{item.kind} at {origin[0]}:{origin[1]} dead-lettered as {sorted(reasons)}, "
                f"not {item.expected_reason}"
            )
    for origin, reasons in sorted(groups.items()):
        if origin not in poison_keys:
            findings.dead_letter_problems.append(
                f"valid message {origin[0]}:{origin[1]} dead-lettered ({sorted(reasons)})"
            )


def _cancelled_derivations(
    truth: PlanningTruth, scan: StreamScan, by_subject: dict[str, dict[str, set[str]]]
) -> set[str]:
    """Approved plans whose story was moved back (DRAFT, CARRY_OVER, ARCHIVED) after the approval."""
    moves_back: dict[str, list[int]] = defaultdict(list)
    for story in truth.stories.values():
        for h in story.history:
            event = scan.events.get(h["event_id"])
            if event is not None and h["to_state"] in CANCELLING:
                moves_back[story.id].append(event.seq)
    cancelled = set()
    for story in truth.stories.values():
        for plan_id, status in story.plans.items():
            if status not in ("APPROVED", "SUPERSEDED"):
                continue
            seqs = [
                scan.events[e].seq
                for e in by_subject[subjects.PLAN_APPROVED].get(plan_id, ())
                if e in scan.events
            ]
            if seqs and any(seq > min(seqs) for seq in moves_back[story.id]):
                cancelled.add(plan_id)
    return cancelled


async def _check_orchestrator_state(
    js: JetStreamContext,
    bucket: str,
    truth: PlanningTruth,
    by_subject: dict[str, dict[str, set[str]]],
    approved: set[str],
    cancelled: set[str],
    findings: Findings,
    *,
    agents: bool = False,
) -> None:
    # Without agents a derivation can only be cancelled; with them it may also fail (no usable tasks).
    ended = ("cancelled", "failed") if agents else ("cancelled",)
    store = await StateStore.open(js, bucket)
    for story in truth.stories.values():
        story_approved = {plan_id for plan_id in story.plans if plan_id in approved}
        if not story.history and not story_approved:
            continue
        record = await store.story(story.id)
        if record is None:
            findings.lost.append(f"orchestrator: no record of story {story.id}")
            continue
        if story.history and (record.phase is None or record.phase.value != story.history[-1]["to_state"]):
            findings.wrong.append(
                f"orchestrator: story {story.id} phase {record.phase}, not {story.history[-1]['to_state']}"
            )
        _compare(
            f"orchestrator derivation of {story.id}:", story_approved, list(record.derivations), findings
        )
        for plan_id, derivation in record.derivations.items():
            expected_ids = by_subject[subjects.PLAN_APPROVED].get(plan_id, set())
            if Counter(derivation.approval_event_ids) != Counter(expected_ids):
                findings.duplicated.append(
                    f"orchestrator: derivation of {plan_id} counts approvals {derivation.approval_event_ids}"
                )
            should_cancel = plan_id in cancelled
            is_cancelled = derivation.status.value in ended
            if should_cancel != is_cancelled:
                findings.wrong.append(
                    f"orchestrator: derivation of {plan_id} is {derivation.status.value}, "
                    f"{'cancelled' if should_cancel else 'not cancelled'} expected"
                )


async def consumers_drained(js: JetStreamContext) -> tuple[bool, str]:
    """Every durable on every stream has nothing pending and nothing un-acked.

    Ephemeral consumers (KV watchers) are not the stream's consumers: a dead process's watcher stays
    behind until the server reaps it, and says nothing about what was processed."""
    behind = []
    for stream in await js.streams_info():
        name = stream.config.name or ""
        for consumer in await js.consumers_info(name):
            if not consumer.config.durable_name:
                continue
            if consumer.num_pending or consumer.num_ack_pending:
                behind.append(
                    f"{consumer.name}: {consumer.num_pending} pending, {consumer.num_ack_pending} un-acked"
                )
    return not behind, "; ".join(behind)
