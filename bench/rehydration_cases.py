"""Generated story graphs with planted facts, and for each (story, role, task) the facts an agent needs.

Deterministic (one seed). Every planted fact's text starts with its own reference (`[f123]`), so a
benchmark can tell whether a fact reached a context whole (its full text is there), in part (its
reference is there) or not at all. A story holds:

- needed by every task of the story: the acceptance criteria, the PO's condition on the approved
  plan, the story-wide decisions (current ones);
- needed by one task: its description, the current decisions about it, the alternatives rejected for
  it, and the results (selected proposal's summary) of the tasks it depends on;
- superseded: decisions about a task that a later decision replaced (never to be shown as current);
- forbidden by scope in the building phases: the reason the PO gave for rejecting an earlier plan
  (plan history, which the policy shows developers only in the reviewing phases);
- noise: other tasks' decisions, descriptions and rejected alternatives, other tasks' full proposals
  and judges' criteria, decisions about other stories, phase transitions with long reasons, dispatches.

Cases are the tasks not deliberated yet whose dependencies have results: the moment a council asks
for the context of a task to write proposals for it.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from swe_fleet.context.domain.model import (
    ContextRequest,
    DecisionFacts,
    DeliberationFacts,
    DispatchFacts,
    PlanEventFacts,
    PlanFacts,
    StoryFacts,
    StoryGraph,
    TaskFacts,
    TransitionFacts,
)

ROLES = ("DEV", "QA", "DEVOPS", "DATA")
BUILDING_PHASES = ("IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS", "CODE_REVIEW", "TESTING")
# The sections the policy withholds from the building roles in IN_PROGRESS but shows in review phases.
REVIEW_ONLY_PHASES = ("CODE_REVIEW", "TESTING")

THINGS = (
    "checkout service",
    "search index",
    "billing ledger",
    "session store",
    "audit log",
    "image cache",
    "order queue",
    "payment gateway client",
    "notification worker",
    "user profile API",
    "rate limiter",
    "report exporter",
    "inventory sync job",
    "feature flag store",
    "login form",
    "password reset flow",
)
TECH = (
    "PostgreSQL",
    "SQLite",
    "Redis",
    "NATS JetStream",
    "gRPC",
    "plain HTTP with JSON",
    "a cron job",
    "an outbox table",
    "optimistic locking",
    "a write-ahead log",
    "server-sent events",
    "WebSockets",
    "OpenTelemetry traces",
    "a feature flag",
    "a background worker",
    "a materialised view",
)
REASONS = (
    "it is already operated by the platform team and has backups",
    "the team knows it well and the load stays under a thousand requests a second",
    "it keeps the change reversible without a data migration",
    "it avoids a second network hop on the hot path",
    "it survives a restart of the node without losing acknowledged work",
    "the security review asked for no new credentials in this release",
    "it lets QA reproduce every failure from the recorded events",
    "the vendor limits us to sixty calls a minute",
    "the existing clients cannot be upgraded before the spring release",
    "it keeps personal data inside the European region",
)
DRAWBACKS = (
    "it needs a new cluster that nobody operates yet",
    "it would double the latency of the checkout page",
    "its licence is not approved for production use",
    "it loses messages when the broker restarts",
    "it forces a schema migration on a table of ninety million rows",
    "it cannot be tested without the vendor sandbox",
)
CONDITIONS = (
    "keep the public API unchanged until the mobile app catches up",
    "ship behind a feature flag that is off by default",
    "do not store card numbers anywhere, not even in logs",
    "every new endpoint needs an owner in the on-call rota",
    "no new third-party service without a signed data processing agreement",
    "the whole change must be deployable and revertible within fifteen minutes",
)
CRITERIA = (
    "a customer sees a confirmation within two seconds",
    "a failed payment is retried at most three times",
    "every change is visible in the audit log with its author",
    "the page works with the keyboard alone",
    "an export of ten thousand rows finishes in under a minute",
    "a user who resets the password is logged out everywhere",
    "errors are shown next to the field that caused them",
    "the nightly job can be re-run without creating duplicates",
)
FILLER = (
    "The meeting notes mention several options that were discussed at length without a conclusion.",
    "Somebody asked whether the old dashboard is still used; nobody knew and it was left for later.",
    "The logs of last week's incident were attached for reference although they concern another team.",
    "A long digression about naming conventions followed, with examples from three older projects.",
    "The estimate was revised twice because of holidays and a conference in the same month.",
    "Several links to vendor documentation were shared, most of them about features we do not use.",
)


@dataclass(frozen=True)
class Fact:
    ref: str  # "[f123]": at the start of the text; present = the fact (or part of it) reached the context
    text: str
    kind: str


@dataclass
class Case:
    graph: StoryGraph
    request: ContextRequest
    needed: list[Fact]
    noise: list[Fact]
    forbidden: list[Fact]
    superseded: list[Fact]


@dataclass
class _Story:
    index: int
    rng: random.Random
    serial: list[int]
    facts: dict[str, list[Fact]] = field(default_factory=dict)

    def fact(self, kind: str, body: str) -> Fact:
        self.serial[0] += 1
        ref = f"[f{self.serial[0]}]"
        return Fact(ref, f"{ref} {body}", kind)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _sentence(rng: random.Random, pool: tuple[str, ...]) -> str:
    return rng.choice(pool)


def _filler(rng: random.Random, sentences: int) -> str:
    return " ".join(rng.choice(FILLER) for _ in range(sentences))


def _tasks(st: _Story, story_id: str) -> tuple[list[TaskFacts], dict[str, Fact]]:
    rng = st.rng
    count = rng.randint(8, 12)
    tasks, descriptions = [], {}
    for n in range(count):
        task_id = f"T-{st.index}-{n}"
        earlier = [f"T-{st.index}-{m}" for m in range(n)]
        depends = sorted(set(rng.sample(earlier, k=min(len(earlier), rng.randint(1, 2))))) if earlier else []
        thing = rng.choice(THINGS)
        description = st.fact(
            "task_description",
            f"Change the {thing} so that {rng.choice(CRITERIA)}; start from the existing module and "
            "add tests for the edge cases.",
        )
        descriptions[task_id] = description
        tasks.append(
            TaskFacts(
                id=task_id,
                title=f"Update the {thing}",
                description=description.text,
                role=rng.choice(ROLES),
                estimate_hours=float(rng.randint(1, 8)),
                status="DERIVED",
                depends_on=tuple(depends),
            )
        )
    return tasks, descriptions


def _decision(
    st: _Story,
    kind: str,
    task_id: str | None,
    status: str,
    at: datetime,
    affects: tuple[str, ...] | None = None,
) -> tuple[DecisionFacts, Fact]:
    rng = st.rng
    tech, thing = rng.choice(TECH), rng.choice(THINGS)
    if status == "REJECTED":
        fact = st.fact(kind, f"Not {tech} for the {thing}: {rng.choice(DRAWBACKS)}.")
        title = f"Use {tech}"
    else:
        fact = st.fact(kind, f"Use {tech} for the {thing}, because {rng.choice(REASONS)}.")
        title = f"Adopt {tech}"
    decision = DecisionFacts(
        id=f"D-{fact.ref[2:-1]}",
        title=title,
        rationale=fact.text,
        decided_by=rng.choice(("architect", "po", "council")),
        status=status,
        source="planning",
        task_id=task_id,
        affects=affects if affects is not None else ((task_id,) if task_id else ()),
        at=_iso(at),
    )
    return decision, fact


def _supersede(old: DecisionFacts, new: DecisionFacts) -> tuple[DecisionFacts, DecisionFacts]:
    return replace(old, superseded_by=new.id, superseded_at=new.at), replace(new, supersedes=(old.id,))


@dataclass
class _Planted:
    decisions: list[DecisionFacts] = field(default_factory=list)
    current: dict[str | None, list[Fact]] = field(default_factory=dict)  # task id (None: story) -> facts
    rejected: dict[str | None, list[Fact]] = field(default_factory=dict)
    superseded: list[Fact] = field(default_factory=list)
    other: list[Fact] = field(default_factory=list)

    def add(self, decision: DecisionFacts, fact: Fact, bucket: dict[str | None, list[Fact]]) -> None:
        self.decisions.append(decision)
        bucket.setdefault(decision.task_id, []).append(fact)


def _plant_decisions(st: _Story, tasks: list[TaskFacts], t0: datetime) -> _Planted:
    rng, planted = st.rng, _Planted()
    moment = iter(t0 + timedelta(hours=6, minutes=17 * n) for n in range(10_000))
    for task_id in [None, *(task.id for task in tasks)]:
        for _ in range(rng.randint(1, 2)):
            planted.add(*_decision(st, "decision", task_id, "APPROVED", next(moment)), planted.current)
        if task_id is not None and rng.random() < 0.6:
            planted.add(*_decision(st, "rejected", task_id, "REJECTED", next(moment)), planted.rejected)
        if rng.random() < 0.4:  # a decision taken, then replaced by a later one
            old, old_fact = _decision(st, "superseded", task_id, "APPROVED", next(moment))
            new, new_fact = _decision(st, "decision", task_id, "APPROVED", next(moment))
            old, new = _supersede(old, new)
            planted.decisions.append(old)
            planted.superseded.append(old_fact)
            planted.add(new, new_fact, planted.current)
    for _ in range(2):  # about other stories of the epic
        other = f"US-{st.index}-other-{rng.randint(1, 9)}"
        decision, fact = _decision(st, "other_story", None, "APPROVED", next(moment), affects=(other,))
        planted.decisions.append(decision)
        planted.other.append(fact)
    return planted


def _deliberations(
    st: _Story, done: list[TaskFacts], t0: datetime
) -> tuple[list[DeliberationFacts], list[DispatchFacts], dict[str, Fact], list[Fact]]:
    rng = st.rng
    deliberations, dispatches, results, noise = [], [], {}, []
    for n, task in enumerate(done):
        at = _iso(t0 + timedelta(days=1, hours=3 * n))
        result = st.fact(
            "result",
            f"The {rng.choice(THINGS)} now uses {rng.choice(TECH)}; {rng.choice(CRITERIA)} was verified.",
        )
        proposal = st.fact(
            "proposal",
            f"Approach: refactor the {rng.choice(THINGS)} first, then add {rng.choice(TECH)}. Steps: "
            f"{_filler(rng, 3)} Risks: {rng.choice(DRAWBACKS)}.",
        )
        criterion = st.fact("criterion", f"correctness=8 (weight 2): {_filler(rng, 1)}")
        agents = tuple(f"agent-{task.role.lower()}-{k}" for k in range(3)) if task.role else ("agent",)
        deliberations.append(
            DeliberationFacts(
                id=f"DL-{task.id}",
                task_id=task.id,
                role=task.role,
                rounds=1,
                agents=agents,
                winner_agent_id=agents[0],
                winner_content=f"Summary: {result.text} {proposal.text}",
                winner_score=8.0,
                winner_criteria=(criterion.text,),
                completed_at=at,
                winner_summary=result.text,
            )
        )
        dispatches.append(DispatchFacts(task.id, agents[0], task.role, at))
        results[task.id] = result
        noise += [proposal, criterion]
    return deliberations, dispatches, results, noise


def _transitions(st: _Story, phase: str, t0: datetime) -> tuple[list[TransitionFacts], list[Fact]]:
    path = ["DRAFT", "PO_REVIEW", "READY_FOR_PLANNING", "PLANNED", "READY_FOR_EXECUTION", "IN_PROGRESS"]
    if phase != "IN_PROGRESS":
        path += ["CODE_REVIEW"] + (["TESTING"] if phase == "TESTING" else [])
    transitions, noise = [], []
    for n, (before, after) in enumerate(itertools.pairwise(path)):
        reason = st.fact("transition", _filler(st.rng, 2))
        at = t0 + timedelta(hours=n) if n < 4 else t0 + timedelta(days=1, hours=n)
        transitions.append(TransitionFacts(before, after, "po", reason.text, _iso(at)))
        noise.append(reason)
    return transitions, noise


def story_cases(index: int, rng: random.Random, serial: list[int], per_story: int = 3) -> list[Case]:
    """One generated story and the cases (tasks about to be deliberated) asked of it."""
    st = _Story(index, rng, serial)
    story_id = f"US-{index}"
    t0 = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=index)
    phase = rng.choice(BUILDING_PHASES)
    criteria = [st.fact("criterion", f"{text[0].upper()}{text[1:]}.") for text in rng.sample(CRITERIA, 3)]
    condition = st.fact("condition", f"Approved on one condition: {rng.choice(CONDITIONS)}.")
    rejection = st.fact("plan_rejection", f"The first plan was rejected: {rng.choice(DRAWBACKS)}.")
    tasks, descriptions = _tasks(st, story_id)
    done_count = len(tasks) // 2
    done = tasks[:done_count]
    deliberations, dispatches, results, proposal_noise = _deliberations(st, done, t0)
    tasks = [replace(task, status="DISPATCHED") for task in done] + tasks[done_count:]
    planted = _plant_decisions(st, tasks, t0)
    transitions, transition_noise = _transitions(st, phase, t0)
    graph = StoryGraph(
        story=StoryFacts(
            id=story_id,
            title=f"Story {index}: make the {rng.choice(THINGS)} reliable",
            brief=f"As a customer I want the {rng.choice(THINGS)} to work every time.",
            acceptance_criteria=tuple(fact.text for fact in criteria),
            owner="po",
            state=phase,
        ),
        version=1,
        plans=(
            PlanFacts(
                f"P-{index}-a",
                "REJECTED",
                "A first attempt.",
                (),
                None,
                ("DEV",),
                _iso(t0 + timedelta(hours=3)),
            ),
            PlanFacts(
                f"P-{index}-b",
                "APPROVED",
                "Change the modules one at a time, each behind its own tests.",
                (),
                "Reuse the existing deployment pipeline.",
                ROLES,
                _iso(t0 + timedelta(hours=5)),
            ),
        ),
        plan_events=(
            PlanEventFacts(f"P-{index}-a", "rejected", "po", rejection.text, _iso(t0 + timedelta(hours=3))),
            PlanEventFacts(f"P-{index}-b", "approved", "po", condition.text, _iso(t0 + timedelta(hours=5))),
        ),
        transitions=tuple(transitions),
        tasks=tuple(tasks),
        decisions=tuple(sorted(planted.decisions, key=lambda d: d.id)),
        deliberations=tuple(deliberations),
        dispatches=tuple(dispatches),
    )
    every = (
        criteria
        + [
            condition,
            rejection,
            *descriptions.values(),
            *results.values(),
            *proposal_noise,
            *transition_noise,
        ]
        + [fact for facts in planted.current.values() for fact in facts]
        + [fact for facts in planted.rejected.values() for fact in facts]
        + planted.superseded
        + planted.other
    )
    candidates = [
        task
        for task in tasks[done_count:]
        if task.depends_on and all(dep in results for dep in task.depends_on)
    ]
    cases = []
    for task in rng.sample(candidates, k=min(per_story, len(candidates))):
        needed = (
            criteria
            + [condition, descriptions[task.id]]
            + planted.current.get(None, [])
            + planted.current.get(task.id, [])
            + planted.rejected.get(task.id, [])
            + [results[dep] for dep in task.depends_on]
        )
        forbidden = [rejection] if phase not in REVIEW_ONLY_PHASES else []
        excluded = {fact.ref for fact in needed + forbidden + planted.superseded}
        noise = [fact for fact in every if fact.ref not in excluded]
        request = ContextRequest(story_id, task.role or "DEV", phase, 0, task.id)
        cases.append(Case(graph, request, needed, noise, forbidden, list(planted.superseded)))
    return cases


def generate(stories: int, seed: int = 16) -> list[Case]:
    """`stories` generated stories' cases; the same seed gives the same cases."""
    rng, serial = random.Random(seed), [0]
    return [case for index in range(stories) for case in story_cases(index, rng, serial)]
