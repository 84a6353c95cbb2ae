"""Approvals (ADR 0612): a workspace's request becomes a Decision awaiting the PO; only approvals listed.

The PO's verdict goes through the decision use cases (`use_cases.approve_decision`/`reject_decision`),
which also record `planning.approval.granted|refused` for an approval, in the same transaction.
"""

from __future__ import annotations

import logging

from swe_fleet.events.payloads import ApprovalRequested, StoryState
from swe_fleet.planning.app.ports import Page, UnitOfWork
from swe_fleet.planning.app.use_cases import now
from swe_fleet.planning.domain.errors import NotFound
from swe_fleet.planning.domain.model import Decision, DecisionStatus

log = logging.getLogger(__name__)

PROPOSER = "system:workspace"
_TITLE_COMMAND = 160
# Approvals are decisions: listing them reads this many decisions of the status asked for at most.
_SCANNED = 5000


def record_approval_requested(event: ApprovalRequested, event_id: str, uow: UnitOfWork) -> list[StoryState]:
    """A pending Decision under the approval's id; the same request again (a retried task) changes nothing."""
    with uow:
        if uow.stories.get(event.story_id) is None:
            log.info("approval %s for story %s, unknown here: ignored", event.approval_id, event.story_id)
            return []
        if uow.decisions.get(event.approval_id) is not None:
            return []
        command = (
            event.command if len(event.command) <= _TITLE_COMMAND else event.command[:_TITLE_COMMAND] + "…"
        )
        uow.decisions.add(
            Decision(
                id=event.approval_id,
                story_id=event.story_id,
                title=f"Approve `{command}` for task {event.task_id}",
                description=(
                    f"{event.role.value} agent {event.agent_id} asks to run `{event.command}`: {event.reason}"
                ),
                proposed_by=PROPOSER,
                created_at=now(),
                task_id=event.task_id,
                affects=[event.task_id],
            )
        )
        uow.commit()
    return []


def list_approvals(uow: UnitOfWork, status: DecisionStatus | None, page: Page) -> list[Decision]:
    with uow:
        found = [d for d in uow.decisions.find(None, status, Page(_SCANNED, 0)) if d.is_approval]
    return found[page.offset : page.offset + page.limit]


def get_approval(uow: UnitOfWork, approval_id: str) -> Decision:
    with uow:
        decision = uow.decisions.get(approval_id)
    if decision is None or not decision.is_approval:
        raise NotFound("approval", approval_id)
    return decision


def awaited_approvals(uow: UnitOfWork, story_id: str) -> str | None:
    """What the story's tasks wait for from the PO (their pending approvals), in one line; None if nothing."""
    with uow:
        pending = [
            d
            for d in uow.decisions.find(story_id, DecisionStatus.PROPOSED, Page(_SCANNED, 0))
            if d.is_approval
        ]
    if not pending:
        return None
    return "the PO's verdict on " + "; ".join(f"{d.id} ({d.title})" for d in pending)
