"""Approvals in Planning (ADR 0612): a workspace's request is a pending decision; the verdict is sent back."""

from __future__ import annotations

import pytest

from swe_fleet.events import subjects
from swe_fleet.events.payloads import ApprovalRequested, Role
from swe_fleet.planning.app import approvals as aq
from swe_fleet.planning.app import commands as c
from swe_fleet.planning.app import use_cases as uc
from swe_fleet.planning.app.ports import Page
from swe_fleet.planning.domain.errors import ActionNotAllowed, NotFound
from swe_fleet.planning.domain.model import DecisionStatus
from tests.unit.planning.fakes import FakeUnitOfWork


def request(story_id: str, approval_id: str = "APR-0123456789abcdef01234567") -> ApprovalRequested:
    return ApprovalRequested(
        approval_id=approval_id,
        task_id="T-1",
        story_id=story_id,
        role=Role.DEV,
        agent_id="dev-1",
        command="pip install requests",
        reason="`pip install requests` needs the Product Owner's approval (rule: pip install ...)",
    )


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def story_id(uow: FakeUnitOfWork) -> str:
    return uc.create_story(c.CreateStory(title="Parse", owner="po", created_by="po"), uow).id


def test_a_request_becomes_one_pending_decision_whatever_the_number_of_deliveries(
    uow: FakeUnitOfWork, story_id: str
) -> None:
    published = len(uow.published)
    for event_id in ("E-1", "E-2"):
        assert aq.record_approval_requested(request(story_id), event_id, uow) == []
    [pending] = aq.list_approvals(uow, DecisionStatus.PROPOSED, Page())
    assert pending.id == "APR-0123456789abcdef01234567" and pending.task_id == "T-1"
    assert pending.title == "Approve `pip install requests` for task T-1"
    assert "DEV agent dev-1 asks to run `pip install requests`" in pending.description
    assert pending.proposed_by == "system:workspace" and pending.affects == ["T-1"]
    assert len(uow.published) == published  # a pending approval publishes nothing yet
    # A request for a story this planning does not know is left alone.
    aq.record_approval_requested(request("US-elsewhere", "APR-ff"), "E-3", uow)
    assert uow.decisions.get("APR-ff") is None


def test_approving_sends_the_grant_to_the_task_and_refusing_the_refusal_once(
    uow: FakeUnitOfWork, story_id: str
) -> None:
    aq.record_approval_requested(request(story_id), "E-1", uow)
    aq.record_approval_requested(request(story_id, "APR-abcdef"), "E-2", uow)
    uc.approve_decision(c.ApproveDecision("APR-0123456789abcdef01234567", by="po", rationale="fine"), uow)
    decision, granted = uow.published[-2:]
    assert decision.event_type == subjects.DECISION_APPROVED
    assert granted.event_type == subjects.APPROVAL_GRANTED
    assert granted.payload.model_dump() == {
        "approval_id": "APR-0123456789abcdef01234567",
        "task_id": "T-1",
        "story_id": story_id,
        "approved": True,
        "reason": "fine",
        "decided_by": "po",
    }
    uc.reject_decision(c.RejectDecision("APR-abcdef", by="po", rationale="no new deps"), uow)
    refused = uow.published[-1]
    assert refused.event_type == subjects.APPROVAL_REFUSED
    assert (refused.payload.approved, refused.payload.reason) == (False, "no new deps")
    with pytest.raises(ActionNotAllowed, match="already REJECTED"):
        uc.approve_decision(c.ApproveDecision("APR-abcdef", by="po", rationale="after all"), uow)
    assert [d.status for d in aq.list_approvals(uow, None, Page())] == [
        DecisionStatus.APPROVED,
        DecisionStatus.REJECTED,
    ]


def test_an_ordinary_decision_is_no_approval(uow: FakeUnitOfWork, story_id: str) -> None:
    plain = uc.propose_decision(c.ProposeDecision(story_id=story_id, title="Postgres", proposed_by="a"), uow)
    uc.approve_decision(c.ApproveDecision(plain.id, by="po", rationale="ok"), uow)
    assert uow.published[-1].event_type == subjects.DECISION_APPROVED  # and nothing for a workspace
    assert aq.list_approvals(uow, None, Page()) == []
    with pytest.raises(NotFound, match="approval"):
        aq.get_approval(uow, plain.id)


def test_a_story_says_it_waits_for_the_pos_verdict_while_an_approval_is_pending(
    uow: FakeUnitOfWork, story_id: str
) -> None:
    assert aq.awaited_approvals(uow, story_id) is None
    aq.record_approval_requested(request(story_id), "E-1", uow)
    assert aq.awaited_approvals(uow, story_id) == (
        "the PO's verdict on APR-0123456789abcdef01234567 (Approve `pip install requests` for task T-1)"
    )
    uc.approve_decision(c.ApproveDecision("APR-0123456789abcdef01234567", by="po", rationale="ok"), uow)
    assert aq.awaited_approvals(uow, story_id) is None
