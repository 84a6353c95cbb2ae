"""Each event becomes deterministic, idempotent graph writes; unseen stories become placeholders."""

from __future__ import annotations

import pytest

from swe_fleet.context.domain.projections import PROJECTED_SUBJECTS, NotProjected, project
from swe_fleet.events import payloads as p
from swe_fleet.events import subjects as s
from swe_fleet.graph.schema import Label, Rel
from swe_fleet.graph.writes import NodeUpsert, RelMerge

from .factories import envelope

REQUIRED = {
    s.STORY_CREATED,
    s.STORY_TRANSITIONED,
    s.PLAN_APPROVED,
    s.DECISION_APPROVED,
    s.DECISION_REJECTED,
    s.DELIBERATION_COMPLETED,
    s.TASK_DISPATCHED,
    s.PROJECT_CREATED,
    s.EPIC_CREATED,
    s.PLAN_CREATED,
    s.PLAN_REJECTED,
    s.TASKS_DERIVED,
    s.TASK_DERIVATION_FAILED,
    s.DELIBERATION_FAILED,
    s.DELIBERATION_CANCELLED,
    s.WORKSPACE_REVIEW_COMPLETED,
}


def nodes(writes, label):
    return [w for w in writes if isinstance(w, NodeUpsert) and w.label == label]


def rels(writes, rel_type):
    return [w for w in writes if isinstance(w, RelMerge) and w.type == rel_type]


def test_every_required_subject_has_a_projection():
    assert set(PROJECTED_SUBJECTS) >= REQUIRED


def test_a_plan_approval_yields_an_approval_linked_to_its_plan_and_a_placeholder_story():
    event = envelope(
        s.PLAN_APPROVED, p.PlanApproved(story_id="US-VERIFY-001", plan_id="plan-verify-v1", approved_by="po")
    )
    result = project(event)
    [approval] = nodes(result.writes, Label.PLAN_APPROVAL)
    assert approval.id == f"PA-{event.event_id}"  # from the event id: a redelivery merges the same node
    assert approval.props["approved_by"] == "po"
    [story] = nodes(result.writes, Label.STORY)
    assert story.placeholder and story.id == "US-VERIFY-001"
    [plan] = nodes(result.writes, Label.PLAN)
    assert plan.placeholder and plan.guarded == {"status": "APPROVED"}
    assert rels(result.writes, Rel.APPROVES)[0].to_id == "plan-verify-v1"
    assert rels(result.writes, Rel.HAS_APPROVAL)[0].from_id == "US-VERIFY-001"
    assert result.story_ids == ("US-VERIFY-001",)


def test_the_same_event_always_yields_the_same_writes():
    event = envelope(
        s.STORY_TRANSITIONED,
        p.StoryTransitioned(story_id="US-1", from_state="DRAFT", to_state="PO_REVIEW", transitioned_by="po"),
    )
    assert project(event) == project(event)


def test_a_transition_moves_the_state_by_event_time_and_records_a_phase_transition():
    event = envelope(
        s.STORY_TRANSITIONED,
        p.StoryTransitioned(story_id="US-1", from_state="DRAFT", to_state="PO_REVIEW", transitioned_by="po"),
        seconds=5,
    )
    result = project(event)
    [story] = nodes(result.writes, Label.STORY)
    assert story.placeholder and story.guarded == {"state": "PO_REVIEW"}
    assert story.stamp.endswith(event.event_id)
    [transition] = nodes(result.writes, Label.PHASE_TRANSITION)
    assert transition.props["to_state"] == "PO_REVIEW"


def test_story_created_defines_the_story_and_links_its_epic():
    result = project(
        envelope(
            s.STORY_CREATED,
            p.StoryCreated(story_id="US-1", epic_id="E-1", title="Login", owner="po", created_by="po"),
        )
    )
    [story] = nodes(result.writes, Label.STORY)
    assert not story.placeholder and story.props["title"] == "Login" and story.guarded == {"state": "DRAFT"}
    assert rels(result.writes, Rel.CONTAINS)[0].from_id == "E-1"


def test_a_deliberation_yields_deliberation_proposals_scores_decisions_and_agents():
    payload = p.DeliberationCompleted(
        deliberation_id="DL-1",
        story_id="US-1",
        plan_id="plan-1",
        task_id="T-1",
        role="DEV",
        rounds=2,
        agents=["a1", "a2"],
        proposals=[
            p.ProposalRecord(
                proposal_id="PR-1",
                agent_id="a1",
                content="use JWT",
                critiques=[p.Critique(critique_id="C-1", author_agent_id="a2", content="why?")],
            ),
            p.ProposalRecord(proposal_id="PR-2", agent_id="a2", content="use sessions"),
        ],
        scores=[
            p.ScoreRecord(
                proposal_id="PR-1",
                judge_agent_id="judge",
                total=8.0,
                criteria=[p.CriterionScore(criterion="correctness", score=8, reason="ok")],
            )
        ],
        winner_proposal_id="PR-1",
        winner_agent_id="a1",
        decisions=[
            p.DeliberationDecision(
                decision_id="DEC-1", title="JWT", rationale="stateless", decided_by="council"
            )
        ],
    )
    result = project(envelope(s.DELIBERATION_COMPLETED, payload))
    assert {n.id for n in nodes(result.writes, Label.PROPOSAL) if not n.placeholder} == {"PR-1", "PR-2"}
    assert {n.id for n in nodes(result.writes, Label.AGENT) if not n.placeholder} == {"a1", "a2"}
    [decision] = nodes(result.writes, Label.DECISION)
    assert decision.props["source"] == "deliberation"
    assert rels(result.writes, Rel.DECIDED_IN)[0].to_id == "DL-1"
    assert rels(result.writes, Rel.SELECTED)[0].to_id == "PR-1"
    assert {(r.from_id, r.to_id) for r in rels(result.writes, Rel.PROPOSED_BY)} == {
        ("PR-1", "a1"),
        ("PR-2", "a2"),
    }
    assert rels(result.writes, Rel.AUTHORED_BY)[0].to_id == "a2"
    [score] = [n for n in nodes(result.writes, Label.SCORE)]
    assert score.props["criteria"] == ["correctness=8 (weight 1): ok"]
    [task] = nodes(result.writes, Label.TASK)
    assert task.guarded == {"status": "DELIBERATED"} and task.placeholder


def test_a_proposals_total_is_its_aggregate_score_not_its_best_judge():
    # Found by fleet demo: the summary showed a winner "10.00" whose decision said it scored 8.33.
    payload = p.DeliberationCompleted(
        deliberation_id="DL-1",
        story_id="US-1",
        task_id="T-1",
        role="QA",
        rounds=1,
        agents=["a1", "a2"],
        proposals=[
            p.ProposalRecord(proposal_id="PR-1", agent_id="a1", content="x"),
            p.ProposalRecord(proposal_id="PR-2", agent_id="a2", content="y"),
        ],
        scores=[
            p.ScoreRecord(proposal_id="PR-1", judge_agent_id="a2", total=10.0),
            p.ScoreRecord(proposal_id="PR-1", total=8.33, aggregate=True),
            p.ScoreRecord(proposal_id="PR-2", judge_agent_id="a1", total=9.0),
        ],
        winner_proposal_id="PR-1",
        winner_agent_id="a1",
    )
    writes = project(envelope(s.DELIBERATION_COMPLETED, payload)).writes
    proposals = {n.id: n for n in nodes(writes, Label.PROPOSAL) if not n.placeholder}
    assert proposals["PR-1"].props["total_score"] == 8.33
    assert proposals["PR-2"].props["total_score"] is None  # never aggregated: no total to claim


def test_a_dispatch_yields_a_task_dispatch_linked_to_task_and_agent():
    event = envelope(
        s.TASK_DISPATCHED, p.TaskDispatched(task_id="T-1", story_id="US-1", role="QA", agent_id="qa-1")
    )
    result = project(event)
    [dispatch] = nodes(result.writes, Label.TASK_DISPATCH)
    assert dispatch.id == f"TD-{event.event_id}"
    assert rels(result.writes, Rel.DISPATCHED_TO)[0].to_id == "qa-1"
    assert rels(result.writes, Rel.HAS_DISPATCH)[0].from_id == "T-1"


def test_a_redispatch_links_the_attempt_to_the_task_it_reworks():
    dispatched = p.TaskDispatched(
        task_id="T-1~2", story_id="US-1", role="DEV", agent_id="dev-1", rework_of="T-1", rework_reason="why"
    )
    result = project(envelope(s.TASK_DISPATCHED, dispatched))
    [link] = rels(result.writes, Rel.REWORKS)
    assert (link.from_id, link.to_id) == ("T-1~2", "T-1")
    [dispatch] = nodes(result.writes, Label.TASK_DISPATCH)
    assert (dispatch.props["rework_of"], dispatch.props["rework_reason"]) == ("T-1", "why")


def test_a_review_is_a_node_of_its_task_linked_to_the_result_and_the_commit_it_judged():
    reviewed = p.WorkspaceReviewCompleted(
        review_id="RV-T-1-abc",
        task_id="T-1",
        story_id="US-1",
        reviewer="qa-reviewer:scripted",
        verdict=p.ReviewVerdict.REQUEST_CHANGES,
        summary="strings are not handled",
        findings=["add('2', '3') raises"],
        head="abc123",
        checks=[p.ObjectiveCheck(name="tests pass", passed=True)],
    )
    event = envelope(s.WORKSPACE_REVIEW_COMPLETED, reviewed)
    result = project(event)
    [review] = nodes(result.writes, Label.REVIEW)
    assert review.id == "RV-T-1-abc" and not review.placeholder
    assert (review.props["verdict"], review.props["findings"]) == (
        "request_changes",
        ["add('2', '3') raises"],
    )
    assert [(r.from_id, r.to_id) for r in rels(result.writes, Rel.HAS_REVIEW)] == [("T-1", "RV-T-1-abc")]
    assert {r.to_id for r in rels(result.writes, Rel.REVIEWS)} == {"TR-T-1", "abc123"}
    assert all(
        n.placeholder for n in nodes(result.writes, Label.COMMIT) + nodes(result.writes, Label.TASK_RESULT)
    )
    assert result.story_ids == ("US-1",) and project(event) == result


def test_planning_decisions_affect_their_story_and_tasks():
    result = project(
        envelope(
            s.DECISION_REJECTED,
            p.DecisionRejected(
                decision_id="D-1",
                story_id="US-1",
                task_id="T-1",
                title="No",
                rationale="too big",
                decided_by="po",
                affects=["US-1", "T-2"],
            ),
        )
    )
    [decision] = nodes(result.writes, Label.DECISION)
    assert decision.guarded == {"status": "REJECTED"}
    targets = {(r.to_label, r.to_id) for r in rels(result.writes, Rel.AFFECTS)}
    assert targets == {(Label.STORY, "US-1"), (Label.TASK, "T-1"), (Label.TASK, "T-2")}


def test_derived_tasks_depend_on_each_other():
    result = project(
        envelope(
            s.TASKS_DERIVED,
            p.TasksDerived(
                story_id="US-1",
                plan_id="plan-1",
                attempts=1,
                tasks=[
                    p.TaskSpec(task_id="T-1", title="a", role="DEV", estimate_hours=1),
                    p.TaskSpec(
                        task_id="T-2", title="b", role="QA", estimate_hours=2, depends_on=["T-1", "T-2"]
                    ),
                ],
            ),
        )
    )
    assert [(r.from_id, r.to_id) for r in rels(result.writes, Rel.DEPENDS_ON)] == [("T-2", "T-1")]
    assert len(rels(result.writes, Rel.HAS_TASK)) == 2


def test_an_unprojected_subject_is_refused():
    with pytest.raises(NotProjected):
        project(envelope(s.CONTEXT_UPDATED, p.ContextUpdated(story_ids=[], version=1, events_applied=0)))


@pytest.mark.parametrize(
    ("subject", "payload", "outcome", "status"),
    [
        (
            s.DELIBERATION_FAILED,
            p.DeliberationFailed(
                deliberation_id="D-1",
                story_id="US-1",
                plan_id="PL-1",
                task_id="T-1",
                role="DEV",
                agents=["dev-1", "dev-2"],
                reason="every agent failed",
                failures=[p.AgentFailure(agent_id="dev-1", phase="generate", error="timeout")],
            ),
            "failed",
            "FAILED",
        ),
        (
            s.DELIBERATION_CANCELLED,
            p.DeliberationCancelled(
                deliberation_id="D-1",
                story_id="US-1",
                task_id="T-1",
                role="DEV",
                reason="story moved back to DRAFT",
                story_state="DRAFT",
            ),
            "cancelled",
            "CANCELLED",
        ),
    ],
)
def test_a_deliberation_without_a_winner_is_recorded_with_its_reason(subject, payload, outcome, status):
    result = project(envelope(subject, payload))
    [deliberation] = nodes(result.writes, Label.DELIBERATION)
    assert deliberation.props["outcome"] == outcome and deliberation.props["reason"] == payload.reason
    [task] = nodes(result.writes, Label.TASK)
    assert task.guarded == {"status": status} and task.placeholder
    assert rels(result.writes, Rel.HAS_DELIBERATION)[0].to_id == "D-1"
    assert result.story_ids == ("US-1",)


def test_a_dispatch_published_with_its_deliberation_wins_the_tasks_status():
    completed = envelope(
        s.DELIBERATION_COMPLETED,
        p.DeliberationCompleted(
            deliberation_id="DL-1",
            story_id="US-1",
            task_id="T-1",
            role="DEV",
            rounds=1,
            agents=["dev-2"],
            proposals=[p.ProposalRecord(proposal_id="PR-1", agent_id="dev-2", content="x")],
            winner_proposal_id="PR-1",
            winner_agent_id="dev-2",
        ),
        event_id="01M89DC0MPB5EDHB8D0V0QVP5Z",
    )
    dispatched = envelope(
        s.TASK_DISPATCHED,
        p.TaskDispatched(task_id="T-1", story_id="US-1", role="DEV", agent_id="dev-2"),
        event_id="01M89DC0MPAKDAPBC4AW0F8SEZ",  # the same instant, and an id that sorts first
    )
    [deliberated] = nodes(project(completed).writes, Label.TASK)
    [dispatch] = nodes(project(dispatched).writes, Label.TASK)
    assert dispatch.stamp > deliberated.stamp
