"""Projection handlers: one pure function per subject, turning one event into its graph writes.

Rules every handler follows (the store and the compiler rely on them):
- ids are deterministic: the node an event creates takes its id from the payload or, for records
  of something happening (PlanApproval, PhaseTransition, TaskDispatch...), from the event id, so a
  redelivery MERGEs the same node;
- a node the event only refers to (the story of a plan approval) is a placeholder upsert: created
  if missing, filled in by its own event later, whatever the order of arrival;
- properties that change over a node's life (a story's state, a plan's status) are guarded by the
  event's time, so the latest event wins even when an older one arrives last;
- every event names the stories whose context it changes (`story_ids`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from swe_fleet.context.domain import usage_projections as usage
from swe_fleet.context.domain import workspace_projections as workspace
from swe_fleet.events import payloads as p
from swe_fleet.events import subjects as s
from swe_fleet.events.catalogue import model_for_subject
from swe_fleet.events.envelope import Envelope, format_utc
from swe_fleet.graph.schema import Label as L
from swe_fleet.graph.schema import Rel as R
from swe_fleet.graph.writes import EventWrites, NodeUpsert, RelMerge, Write, guard_stamp


class _Event:
    """What a handler needs from the envelope: its id, time, and the stamp for guarded properties."""

    def __init__(self, envelope: Envelope) -> None:
        self.id = envelope.event_id
        self.at = format_utc(envelope.occurred_at)
        self.stamp = guard_stamp(self.at, self.id)
        self.subject = envelope.event_type


def _story(story_id: str) -> NodeUpsert:
    return NodeUpsert(L.STORY, story_id, placeholder=True)


def _non_empty(**values: object) -> dict[str, object]:
    """Only what the event actually carries: an empty field must not erase a known value."""
    return {key: value for key, value in values.items() if value not in (None, "", [], ())}


# ------------------------------------------------------------------ planning


def project_created(e: _Event, payload: p.ProjectCreated) -> tuple[list[Write], tuple[str, ...]]:
    props = {"name": payload.name, "description": payload.description, "created_by": payload.created_by}
    return [NodeUpsert(L.PROJECT, payload.project_id, props=props)], ()


def epic_created(e: _Event, payload: p.EpicCreated) -> tuple[list[Write], tuple[str, ...]]:
    props = {"title": payload.title, "description": payload.description, "created_by": payload.created_by}
    return [
        NodeUpsert(L.EPIC, payload.epic_id, props=props),
        NodeUpsert(L.PROJECT, payload.project_id, placeholder=True),
        RelMerge(R.CONTAINS, L.PROJECT, payload.project_id, L.EPIC, payload.epic_id),
    ], ()


def story_created(e: _Event, payload: p.StoryCreated) -> tuple[list[Write], tuple[str, ...]]:
    props = {
        "title": payload.title,
        "brief": payload.brief,
        "acceptance_criteria": list(payload.acceptance_criteria),
        "owner": payload.owner,
        "created_by": payload.created_by,
    }
    writes: list[Write] = [
        NodeUpsert(L.STORY, payload.story_id, props=props, guarded={"state": payload.state}, stamp=e.stamp)
    ]
    if payload.epic_id:
        writes += [
            NodeUpsert(L.EPIC, payload.epic_id, placeholder=True),
            RelMerge(R.CONTAINS, L.EPIC, payload.epic_id, L.STORY, payload.story_id),
        ]
    return writes, (payload.story_id,)


def story_transitioned(e: _Event, payload: p.StoryTransitioned) -> tuple[list[Write], tuple[str, ...]]:
    transition_id = f"PT-{e.id}"
    props = {
        "story_id": payload.story_id,
        "from_state": payload.from_state,
        "to_state": payload.to_state,
        "transitioned_by": payload.transitioned_by,
        "reason": payload.reason,
        "at": e.at,
    }
    return [
        NodeUpsert(
            L.STORY, payload.story_id, guarded={"state": payload.to_state}, stamp=e.stamp, placeholder=True
        ),
        NodeUpsert(L.PHASE_TRANSITION, transition_id, props=props),
        RelMerge(R.HAS_TRANSITION, L.STORY, payload.story_id, L.PHASE_TRANSITION, transition_id),
    ], (payload.story_id,)


def plan_created(e: _Event, payload: p.PlanCreated) -> tuple[list[Write], tuple[str, ...]]:
    props = {
        "description": payload.description,
        "acceptance_criteria": list(payload.acceptance_criteria),
        "technical_notes": payload.technical_notes,
        "roles": [str(role) for role in payload.roles],
        "created_by": payload.created_by,
    }
    return [
        NodeUpsert(L.PLAN, payload.plan_id, props=props, guarded={"status": "PROPOSED"}, stamp=e.stamp),
        _story(payload.story_id),
        RelMerge(R.HAS_PLAN, L.STORY, payload.story_id, L.PLAN, payload.plan_id),
    ], (payload.story_id,)


def plan_approved(e: _Event, payload: p.PlanApproved) -> tuple[list[Write], tuple[str, ...]]:
    approval_id = f"PA-{e.id}"
    roles = [str(role) for role in payload.roles]
    plan_content = _non_empty(
        description=payload.description,
        acceptance_criteria=list(payload.acceptance_criteria),
        technical_notes=payload.technical_notes,
        roles=roles,
    )
    approval = {
        "plan_id": payload.plan_id,
        "story_id": payload.story_id,
        "approved_by": payload.approved_by,
        "notes": payload.notes,
        "roles": roles,
        "approved_at": e.at,
    }
    return [
        # The approval may arrive before plan.created: the plan is a placeholder until then.
        NodeUpsert(
            L.PLAN,
            payload.plan_id,
            props=plan_content,
            guarded={"status": "APPROVED"},
            stamp=e.stamp,
            placeholder=True,
        ),
        _story(payload.story_id),
        NodeUpsert(L.PLAN_APPROVAL, approval_id, props=approval),
        RelMerge(R.HAS_PLAN, L.STORY, payload.story_id, L.PLAN, payload.plan_id),
        RelMerge(R.APPROVES, L.PLAN_APPROVAL, approval_id, L.PLAN, payload.plan_id),
        RelMerge(R.HAS_APPROVAL, L.STORY, payload.story_id, L.PLAN_APPROVAL, approval_id),
    ], (payload.story_id,)


def plan_rejected(e: _Event, payload: p.PlanRejected) -> tuple[list[Write], tuple[str, ...]]:
    rejection_id = f"PR-{e.id}"
    rejection = {
        "plan_id": payload.plan_id,
        "story_id": payload.story_id,
        "rejected_by": payload.rejected_by,
        "reason": payload.reason,
        "rejected_at": e.at,
    }
    return [
        NodeUpsert(L.PLAN, payload.plan_id, guarded={"status": "REJECTED"}, stamp=e.stamp, placeholder=True),
        _story(payload.story_id),
        NodeUpsert(L.PLAN_REJECTION, rejection_id, props=rejection),
        RelMerge(R.HAS_PLAN, L.STORY, payload.story_id, L.PLAN, payload.plan_id),
        RelMerge(R.REJECTS, L.PLAN_REJECTION, rejection_id, L.PLAN, payload.plan_id),
        RelMerge(R.HAS_REJECTION, L.STORY, payload.story_id, L.PLAN_REJECTION, rejection_id),
    ], (payload.story_id,)


def _affects(decision_id: str, story_id: str, ids: list[str]) -> list[Write]:
    """AFFECTS edges: the decision's own story by id, every other id as a task (placeholder if unseen)."""
    writes: list[Write] = []
    for target in dict.fromkeys(ids):
        if target == story_id:
            writes.append(RelMerge(R.AFFECTS, L.DECISION, decision_id, L.STORY, story_id))
        else:
            writes += [
                NodeUpsert(L.TASK, target, placeholder=True),
                RelMerge(R.AFFECTS, L.DECISION, decision_id, L.TASK, target),
            ]
    return writes


def _supersedes(e: _Event, decision_id: str, earlier: list[str]) -> list[Write]:
    """The earlier decisions become history: superseded by this one, at this event's time."""
    writes: list[Write] = []
    for old in dict.fromkeys(earlier):
        if old == decision_id:
            continue
        writes += [
            NodeUpsert(
                L.DECISION, old, props={"superseded_by": decision_id, "superseded_at": e.at}, placeholder=True
            ),
            RelMerge(R.SUPERSEDES, L.DECISION, decision_id, L.DECISION, old),
        ]
    return writes


def _decision_made(e: _Event, payload: p.DecisionMade, status: str) -> tuple[list[Write], tuple[str, ...]]:
    props = {
        "title": payload.title,
        "rationale": payload.rationale,
        "decided_by": payload.decided_by,
        "source": "planning",
        "affects_ids": list(payload.affects),
        "story_id": payload.story_id,
        "task_id": payload.task_id,
        **_non_empty(supersedes=list(payload.supersedes)),
    }
    writes: list[Write] = [
        NodeUpsert(L.DECISION, payload.decision_id, props=props, guarded={"status": status}, stamp=e.stamp),
        _story(payload.story_id),
        RelMerge(R.HAS_DECISION, L.STORY, payload.story_id, L.DECISION, payload.decision_id),
    ]
    affected = list(payload.affects)
    if payload.task_id:
        affected.insert(0, payload.task_id)
        writes.append(RelMerge(R.HAS_TASK, L.STORY, payload.story_id, L.TASK, payload.task_id))
    writes += _affects(payload.decision_id, payload.story_id, affected)
    writes += _supersedes(e, payload.decision_id, list(payload.supersedes))
    return writes, (payload.story_id,)


def decision_approved(e: _Event, payload: p.DecisionApproved) -> tuple[list[Write], tuple[str, ...]]:
    return _decision_made(e, payload, "APPROVED")


def decision_rejected(e: _Event, payload: p.DecisionRejected) -> tuple[list[Write], tuple[str, ...]]:
    return _decision_made(e, payload, "REJECTED")


# ------------------------------------------------------------------ orchestration


def tasks_derived(e: _Event, payload: p.TasksDerived) -> tuple[list[Write], tuple[str, ...]]:
    writes: list[Write] = [
        _story(payload.story_id),
        NodeUpsert(L.PLAN, payload.plan_id, placeholder=True),
        RelMerge(R.HAS_PLAN, L.STORY, payload.story_id, L.PLAN, payload.plan_id),
    ]
    for task in payload.tasks:
        props = {
            "title": task.title,
            "description": task.description,
            "role": str(task.role),
            "estimate_hours": task.estimate_hours,
        }
        writes += [
            NodeUpsert(
                L.TASK,
                task.task_id,
                props=props,
                guarded={"status": "DERIVED"},
                stamp=_task_stamp(e, "DERIVED"),
            ),
            RelMerge(R.HAS_TASK, L.STORY, payload.story_id, L.TASK, task.task_id),
            RelMerge(R.DERIVED_FROM, L.TASK, task.task_id, L.PLAN, payload.plan_id),
        ]
        for dependency in dict.fromkeys(task.depends_on):
            if dependency != task.task_id:
                writes.append(RelMerge(R.DEPENDS_ON, L.TASK, task.task_id, L.TASK, dependency))
    return writes, (payload.story_id,)


def task_derivation_failed(e: _Event, payload: p.TaskDerivationFailed) -> tuple[list[Write], tuple[str, ...]]:
    failure_id = f"DF-{e.id}"
    props = {
        "plan_id": payload.plan_id,
        "story_id": payload.story_id,
        "reason": payload.reason,
        "attempts": payload.attempts,
        "at": e.at,
    }
    return [
        _story(payload.story_id),
        NodeUpsert(L.PLAN, payload.plan_id, placeholder=True),
        NodeUpsert(L.DERIVATION_FAILURE, failure_id, props=props),
        RelMerge(R.HAS_PLAN, L.STORY, payload.story_id, L.PLAN, payload.plan_id),
        RelMerge(R.DERIVATION_FAILED, L.PLAN, payload.plan_id, L.DERIVATION_FAILURE, failure_id),
    ], (payload.story_id,)


def _criterion_line(score: p.CriterionScore) -> str:
    return f"{score.criterion}={score.score:g} (weight {score.weight:g}): {score.reason}".rstrip(": ")


def _check_line(check: p.ObjectiveCheck) -> str:
    return f"{check.name}: {'passed' if check.passed else 'failed'} {check.detail}".rstrip()


def _council(e: _Event, payload: p.DeliberationCompleted) -> list[Write]:
    """The deliberation node, its task, plan and agents."""
    d, task, story, role = payload.deliberation_id, payload.task_id, payload.story_id, str(payload.role)
    writes: list[Write] = [
        _story(story),
        NodeUpsert(
            L.TASK,
            task,
            guarded={"status": "DELIBERATED"},
            stamp=_task_stamp(e, "DELIBERATED"),
            placeholder=True,
        ),
        RelMerge(R.HAS_TASK, L.STORY, story, L.TASK, task),
        NodeUpsert(
            L.DELIBERATION,
            d,
            props={
                "story_id": story,
                "task_id": task,
                "role": role,
                "rounds": payload.rounds,
                "agents": list(payload.agents),
                "winner_proposal_id": payload.winner_proposal_id,
                "winner_agent_id": payload.winner_agent_id,
                "failures": [f"{f.agent_id} ({f.phase}): {f.error}" for f in payload.failures],
                "completed_at": e.at,
                "outcome": "completed",
            },
        ),
        RelMerge(R.HAS_DELIBERATION, L.TASK, task, L.DELIBERATION, d),
    ]
    if payload.plan_id:
        writes += [
            NodeUpsert(L.PLAN, payload.plan_id, placeholder=True),
            RelMerge(R.DERIVED_FROM, L.TASK, task, L.PLAN, payload.plan_id),
        ]
    for agent in dict.fromkeys(payload.agents):
        writes += [
            NodeUpsert(L.AGENT, agent, props={"role": role}),
            RelMerge(R.PARTICIPATED_IN, L.AGENT, agent, L.DELIBERATION, d),
        ]
    return writes


def _proposal(d: str, proposal: p.ProposalRecord, winner: str, totals: dict[str, float]) -> list[Write]:
    """A proposal, its author and its critiques."""
    props = {
        "content": proposal.content,
        "revision": proposal.revision,
        "agent_id": proposal.agent_id,
        "selected": proposal.proposal_id == winner,
        "total_score": totals.get(proposal.proposal_id),
        **_non_empty(summary=proposal.summary),
    }
    writes: list[Write] = [
        NodeUpsert(L.PROPOSAL, proposal.proposal_id, props=props),
        RelMerge(R.HAS_PROPOSAL, L.DELIBERATION, d, L.PROPOSAL, proposal.proposal_id),
        NodeUpsert(L.AGENT, proposal.agent_id, placeholder=True),
        RelMerge(R.PROPOSED_BY, L.PROPOSAL, proposal.proposal_id, L.AGENT, proposal.agent_id),
    ]
    for critique in proposal.critiques:
        writes += [
            NodeUpsert(
                L.CRITIQUE,
                critique.critique_id,
                props={"content": critique.content, "author_agent_id": critique.author_agent_id},
            ),
            RelMerge(R.HAS_CRITIQUE, L.PROPOSAL, proposal.proposal_id, L.CRITIQUE, critique.critique_id),
            NodeUpsert(L.AGENT, critique.author_agent_id, placeholder=True),
            RelMerge(R.AUTHORED_BY, L.CRITIQUE, critique.critique_id, L.AGENT, critique.author_agent_id),
        ]
    return writes


def _score(d: str, index: int, score: p.ScoreRecord) -> list[Write]:
    score_id = f"{d}:score:{index}"
    writes: list[Write] = [
        NodeUpsert(
            L.SCORE,
            score_id,
            props={
                "proposal_id": score.proposal_id,
                "judge_agent_id": score.judge_agent_id,
                "total": score.total,
                "criteria": [_criterion_line(c) for c in score.criteria],
                "checks": [_check_line(c) for c in score.checks],
            },
        ),
        NodeUpsert(L.PROPOSAL, score.proposal_id, placeholder=True),
        RelMerge(R.HAS_SCORE, L.PROPOSAL, score.proposal_id, L.SCORE, score_id),
    ]
    if score.judge_agent_id:
        writes += [
            NodeUpsert(L.AGENT, score.judge_agent_id, placeholder=True),
            RelMerge(R.SCORED_BY, L.SCORE, score_id, L.AGENT, score.judge_agent_id),
        ]
    return writes


def _council_decision(
    e: _Event, payload: p.DeliberationCompleted, decision: p.DeliberationDecision
) -> list[Write]:
    d, task, story = payload.deliberation_id, payload.task_id, payload.story_id
    props = {
        "title": decision.title,
        "rationale": decision.rationale,
        "decided_by": decision.decided_by,
        "source": "deliberation",
        "affects_ids": [task],
        "story_id": story,
        "task_id": task,
        **_non_empty(supersedes=list(decision.supersedes)),
    }
    return [
        NodeUpsert(
            L.DECISION, decision.decision_id, props=props, guarded={"status": "DECIDED"}, stamp=e.stamp
        ),
        RelMerge(R.HAS_DECISION, L.STORY, story, L.DECISION, decision.decision_id),
        RelMerge(R.DECIDED_IN, L.DECISION, decision.decision_id, L.DELIBERATION, d),
        RelMerge(R.AFFECTS, L.DECISION, decision.decision_id, L.TASK, task),
        *_supersedes(e, decision.decision_id, list(decision.supersedes)),
    ]


def deliberation_completed(
    e: _Event, payload: p.DeliberationCompleted
) -> tuple[list[Write], tuple[str, ...]]:
    d = payload.deliberation_id
    # A proposal's total is its aggregate record (judges and checks combined: what selection ranked);
    # a single judge's rubric score is not the proposal's score.
    totals = {score.proposal_id: score.total for score in payload.scores if score.aggregate}
    writes = _council(e, payload)
    for proposal in payload.proposals:
        writes += _proposal(d, proposal, payload.winner_proposal_id, totals)
    for index, score in enumerate(payload.scores):
        writes += _score(d, index, score)
    writes += [
        NodeUpsert(L.PROPOSAL, payload.winner_proposal_id, placeholder=True),
        RelMerge(R.SELECTED, L.DELIBERATION, d, L.PROPOSAL, payload.winner_proposal_id),
    ]
    for decision in payload.decisions:
        writes += _council_decision(e, payload, decision)
    return writes, (payload.story_id,)


def task_dispatched(e: _Event, payload: p.TaskDispatched) -> tuple[list[Write], tuple[str, ...]]:
    dispatch_id = f"TD-{e.id}"
    props = {
        "task_id": payload.task_id,
        "story_id": payload.story_id,
        "agent_id": payload.agent_id,
        "role": str(payload.role),
        "deliberation_id": payload.deliberation_id,
        "proposal_id": payload.proposal_id,
        "at": e.at,
        "rework_of": payload.rework_of,
        "rework_reason": payload.rework_reason,
    }
    # A re-dispatch (ADR 0703): the attempt is linked to the task it reworks.
    reworks: list[Write] = (
        [
            NodeUpsert(L.TASK, payload.rework_of, placeholder=True),
            RelMerge(R.REWORKS, L.TASK, payload.task_id, L.TASK, payload.rework_of),
        ]
        if payload.rework_of
        else []
    )
    return [
        _story(payload.story_id),
        NodeUpsert(
            L.TASK,
            payload.task_id,
            guarded={"status": "DISPATCHED"},
            stamp=_task_stamp(e, "DISPATCHED"),
            placeholder=True,
        ),
        RelMerge(R.HAS_TASK, L.STORY, payload.story_id, L.TASK, payload.task_id),
        NodeUpsert(L.TASK_DISPATCH, dispatch_id, props=props),
        RelMerge(R.HAS_DISPATCH, L.TASK, payload.task_id, L.TASK_DISPATCH, dispatch_id),
        NodeUpsert(L.AGENT, payload.agent_id, props={"role": str(payload.role)}),
        RelMerge(R.DISPATCHED_TO, L.TASK_DISPATCH, dispatch_id, L.AGENT, payload.agent_id),
        *reworks,
    ], (payload.story_id,)


def _deliberation_ended(
    e: _Event,
    payload: p.DeliberationFailed | p.DeliberationCancelled,
    outcome: str,
    task_status: str,
    agents: list[str],
    failures: list[str],
) -> tuple[list[Write], tuple[str, ...]]:
    """A deliberation that ended without a winner: the task says so, and the graph keeps why."""
    d, task, story, role = payload.deliberation_id, payload.task_id, payload.story_id, str(payload.role)
    writes: list[Write] = [
        _story(story),
        NodeUpsert(
            L.TASK, task, guarded={"status": task_status}, stamp=_task_stamp(e, task_status), placeholder=True
        ),
        RelMerge(R.HAS_TASK, L.STORY, story, L.TASK, task),
        NodeUpsert(
            L.DELIBERATION,
            d,
            props={
                "story_id": story,
                "task_id": task,
                "role": role,
                "agents": agents,
                "failures": failures,
                "completed_at": e.at,
                "outcome": outcome,
                "reason": payload.reason,
            },
        ),
        RelMerge(R.HAS_DELIBERATION, L.TASK, task, L.DELIBERATION, d),
    ]
    if payload.plan_id:
        writes += [
            NodeUpsert(L.PLAN, payload.plan_id, placeholder=True),
            RelMerge(R.DERIVED_FROM, L.TASK, task, L.PLAN, payload.plan_id),
        ]
    for agent in dict.fromkeys(agents):
        writes += [
            NodeUpsert(L.AGENT, agent, props={"role": role}),
            RelMerge(R.PARTICIPATED_IN, L.AGENT, agent, L.DELIBERATION, d),
        ]
    return writes, (story,)


def deliberation_failed(e: _Event, payload: p.DeliberationFailed) -> tuple[list[Write], tuple[str, ...]]:
    failures = [f"{f.agent_id} ({f.phase}): {f.error}" for f in payload.failures]
    return _deliberation_ended(e, payload, "failed", "FAILED", list(payload.agents), failures)


def deliberation_cancelled(
    e: _Event, payload: p.DeliberationCancelled
) -> tuple[list[Write], tuple[str, ...]]:
    return _deliberation_ended(e, payload, "cancelled", "CANCELLED", [], [])


# A task's life, in order. Events of one instant (the orchestrator publishes a deliberation's outcome
# and its dispatch together) are ordered by it, so a dispatch never loses to its own deliberation.
TASK_STAGES = ("DERIVED", "DELIBERATED", "FAILED", "CANCELLED", "DISPATCHED")


def _task_stamp(e: _Event, status: str) -> str:
    return f"{e.at}|{TASK_STAGES.index(status)}|{e.id}"


Projected = tuple[list[Write], tuple[str, ...]]  # the event's writes, and the stories it changes
P = TypeVar("P", bound=p.Payload)


class NotProjected(ValueError):
    """An event on a subject the context graph has no handler for."""


@dataclass(frozen=True)
class Projection(Generic[P]):
    """A subject's handler with the payload model it takes: mypy checks the handler against the model,
    `_table` checks the model against the event catalogue."""

    subject: str
    model: type[P]
    handler: Callable[[_Event, P], Projected]

    def __call__(self, event: _Event, payload: p.Payload) -> Projected:
        if not isinstance(payload, self.model):  # a decoded envelope always passes: see _table
            raise NotProjected(f"{self.subject} carries {type(payload).__name__}, not {self.model.__name__}")
        return self.handler(event, payload)


def _projection(subject: str, model: type[P], handler: Callable[[_Event, P], Projected]) -> Projection[Any]:
    # A function, not the constructor in the table: the table's type would otherwise make P Any
    # and mypy would stop checking each handler against its model.
    return Projection(subject, model, handler)


def _table(*projections: Projection[Any]) -> dict[str, Projection[Any]]:
    for projection in projections:
        catalogued = model_for_subject(projection.subject)
        if catalogued is not projection.model:
            raise TypeError(
                f"{projection.subject}: the catalogue says {catalogued}, its projection takes "
                f"{projection.model.__name__}"
            )
    return {projection.subject: projection for projection in projections}


HANDLERS: dict[str, Projection[Any]] = _table(
    _projection(s.PROJECT_CREATED, p.ProjectCreated, project_created),
    _projection(s.EPIC_CREATED, p.EpicCreated, epic_created),
    _projection(s.STORY_CREATED, p.StoryCreated, story_created),
    _projection(s.STORY_TRANSITIONED, p.StoryTransitioned, story_transitioned),
    _projection(s.PLAN_CREATED, p.PlanCreated, plan_created),
    _projection(s.PLAN_APPROVED, p.PlanApproved, plan_approved),
    _projection(s.PLAN_REJECTED, p.PlanRejected, plan_rejected),
    _projection(s.DECISION_APPROVED, p.DecisionApproved, decision_approved),
    _projection(s.DECISION_REJECTED, p.DecisionRejected, decision_rejected),
    _projection(s.TASKS_DERIVED, p.TasksDerived, tasks_derived),
    _projection(s.TASK_DERIVATION_FAILED, p.TaskDerivationFailed, task_derivation_failed),
    _projection(s.DELIBERATION_COMPLETED, p.DeliberationCompleted, deliberation_completed),
    _projection(s.TASK_DISPATCHED, p.TaskDispatched, task_dispatched),
    _projection(s.DELIBERATION_FAILED, p.DeliberationFailed, deliberation_failed),
    _projection(s.DELIBERATION_CANCELLED, p.DeliberationCancelled, deliberation_cancelled),
    _projection(s.WORKSPACE_TOOL_CALLED, p.WorkspaceToolCalled, workspace.tool_called),
    _projection(s.WORKSPACE_TASK_COMPLETED, p.WorkspaceTaskCompleted, workspace.task_completed),
    _projection(s.WORKSPACE_TASK_FAILED, p.WorkspaceTaskFailed, workspace.task_failed),
    _projection(s.WORKSPACE_REVIEW_COMPLETED, p.WorkspaceReviewCompleted, workspace.review_completed),
    _projection(s.AGENT_RESPONSE_COMPLETED, p.AgentResponseCompleted, usage.answer_completed),
    _projection(s.AGENT_RESPONSE_FAILED, p.AgentResponseFailed, usage.answer_failed),
)

PROJECTED_SUBJECTS: tuple[str, ...] = tuple(HANDLERS)


def project(envelope: Envelope) -> EventWrites:
    """The graph writes of one event."""
    handler = HANDLERS.get(envelope.event_type)
    if handler is None:
        raise NotProjected(f"no projection for {envelope.event_type}")
    event = _Event(envelope)
    writes, story_ids = handler(event, envelope.payload)
    return EventWrites(event.id, event.subject, event.at, tuple(writes), tuple(story_ids))
