"""THE graph vocabulary: every label, relationship type and property the fleet writes, declared once.

Both graph adapters create their schema from this module, the projection handlers may only name
what is declared here (writes are checked against it), and no query builds a label or relationship
name from event data. Every node has a unique `id`; the properties below are added to every node:

- `version`: the graph version (see `GraphMeta`) of the last committed batch that touched the node;
  the context cache keys on it, so any change makes old cache entries unreachable.
- `created_event_id`: the event that created the node (audit).
- `placeholder`: true while the node exists only because another event referred to it (a plan
  approval about a story the graph has not seen yet); the node's own event fills it in later.

Labels with `guarded` properties also carry `status_at` ("<occurred_at>|<event_id>"): a guarded
property only moves forward in event time, so events arriving out of order lose nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PropType(StrEnum):
    STRING = "STRING"
    INT = "INT"
    FLOAT = "FLOAT"
    BOOL = "BOOL"
    STRING_LIST = "STRING_LIST"


# Short names keep the declarations below readable as a table.
S, N, F, B, L = PropType.STRING, PropType.INT, PropType.FLOAT, PropType.BOOL, PropType.STRING_LIST


@dataclass(frozen=True)
class NodeLabel:
    name: str
    properties: tuple[tuple[str, PropType], ...]
    # Properties that only move forward in event time (latest occurred_at wins).
    guarded: tuple[str, ...] = ()
    description: str = ""

    def all_properties(self) -> dict[str, PropType]:
        props = {"id": S, **COMMON_NODE_PROPERTIES, **dict(self.properties)}
        if self.guarded:
            props["status_at"] = S
        return props


@dataclass(frozen=True)
class RelType:
    name: str
    ends: tuple[tuple[str, str], ...]  # (from label, to label) pairs
    properties: tuple[tuple[str, PropType], ...] = ()
    description: str = ""

    def all_properties(self) -> dict[str, PropType]:
        return dict(self.properties)


COMMON_NODE_PROPERTIES: dict[str, PropType] = {"version": N, "created_event_id": S, "placeholder": B}

# Names the write compiler uses for its own row fields; no declared property may take them.
RESERVED_PROPERTY_NAMES = frozenset({"id", "version", "created_event_id", "placeholder", "status_at"})


class Label(StrEnum):
    PROJECT = "Project"
    EPIC = "Epic"
    STORY = "Story"
    PLAN = "Plan"
    PLAN_APPROVAL = "PlanApproval"
    PLAN_REJECTION = "PlanRejection"
    PHASE_TRANSITION = "PhaseTransition"
    TASK = "Task"
    DERIVATION_FAILURE = "DerivationFailure"
    DECISION = "Decision"
    DELIBERATION = "Deliberation"
    PROPOSAL = "Proposal"
    CRITIQUE = "Critique"
    SCORE = "Score"
    AGENT = "Agent"
    TASK_DISPATCH = "TaskDispatch"
    PROJECTED_EVENT = "ProjectedEvent"
    GRAPH_META = "GraphMeta"
    TASK_RESULT = "TaskResult"
    COMMIT = "Commit"
    TOOL_CALL = "ToolCall"
    LLM_CALL = "LlmCall"
    REVIEW = "Review"


class Rel(StrEnum):
    CONTAINS = "CONTAINS"
    HAS_PLAN = "HAS_PLAN"
    HAS_APPROVAL = "HAS_APPROVAL"
    APPROVES = "APPROVES"
    HAS_REJECTION = "HAS_REJECTION"
    REJECTS = "REJECTS"
    HAS_TRANSITION = "HAS_TRANSITION"
    HAS_TASK = "HAS_TASK"
    DERIVED_FROM = "DERIVED_FROM"
    DEPENDS_ON = "DEPENDS_ON"
    DERIVATION_FAILED = "DERIVATION_FAILED"
    HAS_DECISION = "HAS_DECISION"
    AFFECTS = "AFFECTS"
    DECIDED_IN = "DECIDED_IN"
    HAS_DELIBERATION = "HAS_DELIBERATION"
    PARTICIPATED_IN = "PARTICIPATED_IN"
    HAS_PROPOSAL = "HAS_PROPOSAL"
    PROPOSED_BY = "PROPOSED_BY"
    SELECTED = "SELECTED"
    HAS_CRITIQUE = "HAS_CRITIQUE"
    AUTHORED_BY = "AUTHORED_BY"
    HAS_SCORE = "HAS_SCORE"
    SCORED_BY = "SCORED_BY"
    HAS_DISPATCH = "HAS_DISPATCH"
    DISPATCHED_TO = "DISPATCHED_TO"
    HAS_RESULT = "HAS_RESULT"
    HAS_COMMIT = "HAS_COMMIT"
    HAS_TOOL_CALL = "HAS_TOOL_CALL"
    SUPERSEDES = "SUPERSEDES"
    HAS_REVIEW = "HAS_REVIEW"
    REVIEWS = "REVIEWS"
    REWORKS = "REWORKS"


NODES: dict[str, NodeLabel] = {
    node.name: node
    for node in (
        NodeLabel(Label.PROJECT, (("name", S), ("description", S), ("created_by", S))),
        NodeLabel(Label.EPIC, (("title", S), ("description", S), ("created_by", S))),
        NodeLabel(
            Label.STORY,
            (
                ("title", S),
                ("brief", S),
                ("acceptance_criteria", L),
                ("owner", S),
                ("created_by", S),
                ("state", S),
            ),
            guarded=("state",),
            description="A user story; `state` is a StoryState value",
        ),
        NodeLabel(
            Label.PLAN,
            (
                ("description", S),
                ("acceptance_criteria", L),
                ("technical_notes", S),
                ("roles", L),
                ("created_by", S),
                ("status", S),
            ),
            guarded=("status",),
            description="A plan for a story; status PROPOSED, APPROVED or REJECTED",
        ),
        NodeLabel(
            Label.PLAN_APPROVAL,
            (
                ("plan_id", S),
                ("story_id", S),
                ("approved_by", S),
                ("notes", S),
                ("roles", L),
                ("approved_at", S),
            ),
            description="One approval of a plan by the PO; its id derives from the event id",
        ),
        NodeLabel(
            Label.PLAN_REJECTION,
            (("plan_id", S), ("story_id", S), ("rejected_by", S), ("reason", S), ("rejected_at", S)),
        ),
        NodeLabel(
            Label.PHASE_TRANSITION,
            (
                ("story_id", S),
                ("from_state", S),
                ("to_state", S),
                ("transitioned_by", S),
                ("reason", S),
                ("at", S),
            ),
        ),
        NodeLabel(
            Label.TASK,
            (("title", S), ("description", S), ("role", S), ("estimate_hours", F), ("status", S)),
            guarded=("status",),
            description=(
                "A task derived from a plan; status DERIVED, DELIBERATED, DISPATCHED, FAILED or CANCELLED"
            ),
        ),
        NodeLabel(
            Label.DERIVATION_FAILURE,
            (("plan_id", S), ("story_id", S), ("reason", S), ("attempts", N), ("at", S)),
        ),
        NodeLabel(
            Label.DECISION,
            (
                ("title", S),
                ("rationale", S),
                ("decided_by", S),
                ("source", S),
                ("affects_ids", L),
                ("story_id", S),
                ("task_id", S),
                ("status", S),
                # Validity: current until a later decision supersedes it (then history, never deleted).
                ("supersedes", L),
                ("superseded_by", S),
                ("superseded_at", S),
            ),
            guarded=("status",),
            description="A decision with its rationale; source is `planning` or `deliberation`",
        ),
        NodeLabel(
            Label.DELIBERATION,
            (
                ("story_id", S),
                ("task_id", S),
                ("role", S),
                ("rounds", N),
                ("agents", L),
                ("winner_proposal_id", S),
                ("winner_agent_id", S),
                ("failures", L),
                ("completed_at", S),
                ("outcome", S),
                ("reason", S),
            ),
            description="A council's deliberation of a task; outcome completed, failed or cancelled",
        ),
        NodeLabel(
            Label.PROPOSAL,
            (
                ("content", S),
                ("revision", N),
                ("total_score", F),
                ("selected", B),
                ("agent_id", S),
                ("summary", S),
            ),
        ),
        NodeLabel(Label.CRITIQUE, (("content", S), ("author_agent_id", S))),
        NodeLabel(
            Label.SCORE,
            (("proposal_id", S), ("judge_agent_id", S), ("total", F), ("criteria", L), ("checks", L)),
            description="A rubric score; criteria and checks are 'name=value: reason' strings",
        ),
        NodeLabel(Label.AGENT, (("role", S),)),
        NodeLabel(
            Label.TASK_DISPATCH,
            (
                ("task_id", S),
                ("story_id", S),
                ("agent_id", S),
                ("role", S),
                ("deliberation_id", S),
                ("proposal_id", S),
                ("at", S),
                # A re-dispatch (ADR 0703): the task reworked and why.
                ("rework_of", S),
                ("rework_reason", S),
            ),
        ),
        NodeLabel(
            Label.PROJECTED_EVENT,
            (("subject", S), ("occurred_at", S), ("story_ids", L)),
            description="The projection's ledger: one node per applied event, so a redelivery is skipped",
        ),
        NodeLabel(
            Label.GRAPH_META,
            (("schema_version", N), ("instance_id", S)),
            description=(
                "One node (id 'graph'): the graph version, bumped by each committed batch, and an "
                "instance id drawn when the graph was created (a rebuilt graph restarts its versions)"
            ),
        ),
        NodeLabel(
            Label.TASK_RESULT,
            (
                ("task_id", S),
                ("story_id", S),
                ("outcome", S),
                ("branch", S),
                ("summary", S),
                ("reason", S),
                ("tests_before_ok", B),
                ("tests_after_ok", B),
                ("failing_before", L),
                ("failing_after", L),
                ("files", L),
                ("insertions", N),
                ("deletions", N),
                ("prompt_tokens", N),
                ("completion_tokens", N),
                ("steps", N),
                ("patch", S),
                ("at", S),
            ),
            description="What a workspace did with a task: outcome completed or failed, tests, the change",
        ),
        NodeLabel(
            Label.COMMIT,
            (("message", S), ("branch", S), ("task_id", S), ("story_id", S)),
            description="A commit the fleet pushed on a story's branch; its id is the commit's sha",
        ),
        NodeLabel(
            Label.TOOL_CALL,
            (
                ("task_id", S),
                ("step", N),
                ("attempt", N),
                ("tool", S),
                ("arguments", S),
                ("outcome", S),
                ("output", S),
                ("duration_ms", F),
                ("at", S),
            ),
            description="One tool call of a task's agent in its workspace; arguments as JSON text",
        ),
        NodeLabel(
            Label.REVIEW,
            (
                ("task_id", S),
                ("story_id", S),
                ("reviewer", S),
                ("verdict", S),
                ("summary", S),
                ("findings", L),
                ("head", S),
                ("checks", S),
                ("at", S),
            ),
            description="A QA review of a task's change: verdict, summary, findings; checks as JSON text",
        ),
        NodeLabel(
            Label.LLM_CALL,
            (
                ("story_id", S),
                ("task_id", S),
                ("deliberation_id", S),
                ("command_id", S),
                ("kind", S),
                ("role", S),
                ("agent_id", S),
                ("model", S),
                ("outcome", S),
                ("prompt_tokens", N),
                ("completion_tokens", N),
                ("latency_ms", F),
                ("calls", N),
                ("at", S),
            ),
            description=(
                "The LLM use of one agent answer (all its calls, repairs included): tokens and time; "
                "found by its story_id property (no edge: the story's context version stays put)"
            ),
        ),
    )
}

RELS: dict[str, RelType] = {
    rel.name: rel
    for rel in (
        RelType(Rel.CONTAINS, ((Label.PROJECT, Label.EPIC), (Label.EPIC, Label.STORY))),
        RelType(Rel.HAS_PLAN, ((Label.STORY, Label.PLAN),)),
        RelType(Rel.HAS_APPROVAL, ((Label.STORY, Label.PLAN_APPROVAL),)),
        RelType(Rel.APPROVES, ((Label.PLAN_APPROVAL, Label.PLAN),)),
        RelType(Rel.HAS_REJECTION, ((Label.STORY, Label.PLAN_REJECTION),)),
        RelType(Rel.REJECTS, ((Label.PLAN_REJECTION, Label.PLAN),)),
        RelType(Rel.HAS_TRANSITION, ((Label.STORY, Label.PHASE_TRANSITION),)),
        RelType(Rel.HAS_TASK, ((Label.STORY, Label.TASK),)),
        RelType(Rel.DERIVED_FROM, ((Label.TASK, Label.PLAN),)),
        RelType(Rel.DEPENDS_ON, ((Label.TASK, Label.TASK),)),
        RelType(Rel.DERIVATION_FAILED, ((Label.PLAN, Label.DERIVATION_FAILURE),)),
        RelType(Rel.HAS_DECISION, ((Label.STORY, Label.DECISION),)),
        RelType(Rel.AFFECTS, ((Label.DECISION, Label.TASK), (Label.DECISION, Label.STORY))),
        RelType(Rel.DECIDED_IN, ((Label.DECISION, Label.DELIBERATION),)),
        RelType(Rel.HAS_DELIBERATION, ((Label.TASK, Label.DELIBERATION),)),
        RelType(Rel.PARTICIPATED_IN, ((Label.AGENT, Label.DELIBERATION),)),
        RelType(Rel.HAS_PROPOSAL, ((Label.DELIBERATION, Label.PROPOSAL),)),
        RelType(Rel.PROPOSED_BY, ((Label.PROPOSAL, Label.AGENT),)),
        RelType(Rel.SELECTED, ((Label.DELIBERATION, Label.PROPOSAL),)),
        RelType(Rel.HAS_CRITIQUE, ((Label.PROPOSAL, Label.CRITIQUE),)),
        RelType(Rel.AUTHORED_BY, ((Label.CRITIQUE, Label.AGENT),)),
        RelType(Rel.HAS_SCORE, ((Label.PROPOSAL, Label.SCORE),)),
        RelType(Rel.SCORED_BY, ((Label.SCORE, Label.AGENT),)),
        RelType(Rel.HAS_DISPATCH, ((Label.TASK, Label.TASK_DISPATCH),)),
        RelType(Rel.DISPATCHED_TO, ((Label.TASK_DISPATCH, Label.AGENT),)),
        RelType(Rel.HAS_RESULT, ((Label.TASK, Label.TASK_RESULT),)),
        RelType(Rel.HAS_COMMIT, ((Label.TASK, Label.COMMIT),)),
        RelType(Rel.HAS_TOOL_CALL, ((Label.TASK, Label.TOOL_CALL),)),
        RelType(
            Rel.SUPERSEDES, ((Label.DECISION, Label.DECISION),), description="newer -> the one it replaced"
        ),
        RelType(Rel.HAS_REVIEW, ((Label.TASK, Label.REVIEW),)),
        RelType(
            Rel.REVIEWS,
            ((Label.REVIEW, Label.TASK_RESULT), (Label.REVIEW, Label.COMMIT)),
            description="a review -> the result and the commit it judged",
        ),
        RelType(Rel.REWORKS, ((Label.TASK, Label.TASK),), description="a task's next attempt -> the task"),
    )
}

GRAPH_META_ID = "graph"
SCHEMA_VERSION = 1


class SchemaViolation(ValueError):
    """A write names a label, relationship or property the vocabulary does not declare."""


def node_label(name: str) -> NodeLabel:
    try:
        return NODES[name]
    except KeyError:
        raise SchemaViolation(f"unknown node label {name!r}") from None


def rel_type(name: str) -> RelType:
    try:
        return RELS[name]
    except KeyError:
        raise SchemaViolation(f"unknown relationship type {name!r}") from None


def _check_vocabulary() -> None:
    for node in NODES.values():
        clash = {name for name, _ in node.properties} & RESERVED_PROPERTY_NAMES
        if clash:
            raise SchemaViolation(f"{node.name} declares reserved properties {sorted(clash)}")
        if not set(node.guarded) <= {name for name, _ in node.properties}:
            raise SchemaViolation(f"{node.name}: guarded properties must be declared")
    for rel in RELS.values():
        for start, end in rel.ends:
            if start not in NODES or end not in NODES:
                raise SchemaViolation(f"{rel.name} connects undeclared labels {start}->{end}")


_check_vocabulary()
