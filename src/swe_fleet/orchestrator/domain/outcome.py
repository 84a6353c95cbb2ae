"""The end of a deliberation: check and score the final proposals, select one, and say so in two events.

`orchestration.deliberation.completed` carries every proposal (with the critiques it received and
its status), every judge's scores, one aggregate score per candidate (judges + objective checks,
the total that was ranked), the selection decision with its rationale, and the recorded failures;
`orchestration.task.dispatched` hands the task to the winning agent.
"""

from __future__ import annotations

import json

from swe_fleet.events import agent_protocol as protocol
from swe_fleet.events import subjects
from swe_fleet.events.payloads import (
    CriterionScore,
    Critique,
    DeliberationCompleted,
    DeliberationDecision,
    ProposalRecord,
    ScoreRecord,
    TaskDispatched,
)
from swe_fleet.orchestrator.domain import ids
from swe_fleet.orchestrator.domain.checks import run_checks
from swe_fleet.orchestrator.domain.deliberation_state import DeliberationState, Status
from swe_fleet.orchestrator.domain.messages import Outgoing
from swe_fleet.orchestrator.domain.scoring import Candidate, JudgeScore, Selection, judge_score, select

# The completed event must stay well under the consumers' 256 KiB event limit whatever the council size.
MAX_PROPOSAL_CHARS = 16_000
MAX_CRITIQUE_CHARS = 3_000


def candidates_of(state: DeliberationState) -> list[Candidate]:
    candidates = []
    for agent in state.candidates:
        versions = state.versions[agent]
        final = versions[-1]
        previous = versions[-2].proposal if len(versions) > 1 else None
        checks = run_checks(
            final.proposal, task=state.task, acceptance_criteria=state.acceptance_criteria, previous=previous
        )
        scores = [
            score
            for verdict in state.verdicts
            if verdict.author == agent
            and (score := judge_score(verdict.judge, agent, verdict.scores, state.council.rubric)) is not None
        ]
        candidates.append(
            Candidate(
                agent_id=agent,
                proposal_id=ids.proposal_id(state.deliberation_id, agent),
                revision=final.revision,
                checks=tuple(checks),
                judge_scores=tuple(sorted(scores, key=lambda s: s.judge)),
            )
        )
    return candidates


def complete(state: DeliberationState, now: float, sent: list[Outgoing]) -> None:
    """Select the winner and append the completed and dispatched events (state is a working copy)."""
    selection = select(candidates_of(state), state.council.scoring, council_size=len(state.agents))
    winner = selection.winner
    state.status, state.ended_at = Status.COMPLETED, now
    state.winner, state.outcome = winner.agent_id, selection.rationale
    completed = DeliberationCompleted(
        deliberation_id=state.deliberation_id,
        story_id=state.story_id,
        plan_id=state.plan_id,
        task_id=state.task.task_id,
        role=state.council.role,
        rounds=state.council.rounds,
        agents=state.agents,
        proposals=_proposal_records(state, winner.agent_id),
        scores=_score_records(selection),
        winner_proposal_id=winner.candidate.proposal_id,
        winner_agent_id=winner.agent_id,
        decisions=[
            DeliberationDecision(
                decision_id=f"{state.deliberation_id}.selection",
                title=f"Select {winner.agent_id}'s proposal for: {state.task.title}"[:200],
                rationale=selection.rationale,
                decided_by=f"{state.council.role.value.lower()}-council",
            )
        ],
        failures=state.failures,
    )
    dispatched = TaskDispatched(
        task_id=state.task.task_id,
        story_id=state.story_id,
        role=state.council.role,
        agent_id=winner.agent_id,
        deliberation_id=state.deliberation_id,
        proposal_id=winner.candidate.proposal_id,
    )
    sent.append(
        Outgoing.of(
            subjects.DELIBERATION_COMPLETED, completed, state.deliberation_id, now, state.correlation_id
        )
    )
    sent.append(
        Outgoing.of(subjects.TASK_DISPATCHED, dispatched, state.deliberation_id, now, state.correlation_id)
    )


def _proposal_records(state: DeliberationState, winner: str) -> list[ProposalRecord]:
    records = []
    for agent in sorted(state.versions):
        final = state.versions[agent][-1]
        status = "selected" if agent == winner else "disqualified" if agent in state.out else "candidate"
        records.append(
            ProposalRecord(
                proposal_id=ids.proposal_id(state.deliberation_id, agent),
                agent_id=agent,
                content=proposal_content(final.proposal),
                revision=final.revision,
                summary=final.proposal.summary[:500],
                status=status,
                critiques=[
                    Critique(
                        critique_id=c.critique_id,
                        author_agent_id=c.critic,
                        content=_fit(json.dumps(c.critique.model_dump(mode="json"), ensure_ascii=False)),
                    )
                    for c in state.critiques
                    if c.author == agent
                ],
            )
        )
    return records


def proposal_content(proposal: protocol.Revision) -> str:
    """The proposal as JSON text; an oversized artifact is cut (the KV state keeps it whole)."""
    document = proposal.model_dump(mode="json")
    text = json.dumps(document, ensure_ascii=False)
    excess = len(text) - MAX_PROPOSAL_CHARS
    if excess > 0 and document.get("artifact"):
        artifact = document["artifact"]
        document["artifact"] = artifact[: max(0, len(artifact) - excess - 40)] + "\n[... artifact cut ...]"
        text = json.dumps(document, ensure_ascii=False)
    return text[:MAX_PROPOSAL_CHARS]


def _fit(text: str) -> str:
    return text if len(text) <= MAX_CRITIQUE_CHARS else text[: MAX_CRITIQUE_CHARS - 12] + " [... cut]"


def _score_records(selection: Selection) -> list[ScoreRecord]:
    records = []
    for ranked in selection.ranking:
        candidate = ranked.candidate
        for score in candidate.judge_scores:
            records.append(
                ScoreRecord(
                    proposal_id=candidate.proposal_id,
                    judge_agent_id=score.judge,
                    criteria=list(score.criteria),
                    total=score.total,
                )
            )
        records.append(
            ScoreRecord(
                proposal_id=candidate.proposal_id,
                judge_agent_id=None,
                criteria=_mean_criteria(candidate.judge_scores),
                checks=[check.as_record() for check in candidate.checks],
                total=ranked.total,
                aggregate=True,
            )
        )
    return records


def _mean_criteria(scores: tuple[JudgeScore, ...]) -> list[CriterionScore]:
    """Per criterion, the mean of the judges who scored it."""
    by_name: dict[str, list[CriterionScore]] = {}
    for score in scores:
        for item in score.criteria:
            by_name.setdefault(item.criterion, []).append(item)
    return [
        CriterionScore(
            criterion=name,
            score=round(sum(i.score for i in items) / len(items), 4),
            weight=items[0].weight,
            reason=f"mean of {len(items)} judge(s)",
        )
        for name, items in by_name.items()
    ]
