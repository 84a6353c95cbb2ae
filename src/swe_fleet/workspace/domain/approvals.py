"""A task that waits for the Product Owner: its approvals, their verdicts, and when it may go on (ADR 0612).

An approval is asked for one command of one task: its id is derived from both, so a task carried out
again asks for the same command under the same id (Planning records it once) and finds the verdict
given. A parked task keeps the dispatch it came from; it is carried out again once no approval of it
is pending. Plain data: the workspace's KV store keeps it as JSON.
"""

from __future__ import annotations

import hashlib
import shlex
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from swe_fleet.events.payloads import APPROVAL_ID_PREFIX

# Approvals one task may ask for: a model that keeps asking for new commands is refused, not parked again.
MAX_APPROVALS_PER_TASK = 5


def approval_id(task_id: str, argv: tuple[str, ...]) -> str:
    """The same for the same command of the same task, whatever the attempt."""
    digest = hashlib.sha256(f"{task_id}\0{shlex.join(argv)}".encode()).hexdigest()
    return APPROVAL_ID_PREFIX + digest[:24]


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    approval_id: str
    command: str  # shlex.join of the argv asked for
    reason: str  # why the policy asks for approval
    status: ApprovalStatus = ApprovalStatus.PENDING
    verdict_reason: str = ""
    decided_by: str = ""


class Verdict(BaseModel):
    """What the toolbox needs to know of a decided approval."""

    model_config = ConfigDict(frozen=True)
    approved: bool
    reason: str
    decided_by: str = ""


class ApprovalConflict(ValueError):
    """A verdict that contradicts the one recorded (the PO decides once)."""


class ParkedTask(BaseModel):
    """A task waiting for (or having had) the PO's verdicts; `dispatch` is its encoded dispatch event."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    task_id: str
    story_id: str
    dispatch: str = ""
    approvals: dict[str, Approval] = Field(default_factory=dict)

    def pending(self) -> list[Approval]:
        return [a for a in self.approvals.values() if a.status is ApprovalStatus.PENDING]

    def verdicts(self) -> dict[str, Verdict]:
        """Command -> verdict, for the approvals decided."""
        return {
            a.command: Verdict(
                approved=a.status is ApprovalStatus.APPROVED, reason=a.verdict_reason, decided_by=a.decided_by
            )
            for a in self.approvals.values()
            if a.status is not ApprovalStatus.PENDING
        }

    def asking(self, approval: Approval, dispatch: str) -> ParkedTask:
        """This task parked on `approval` too (kept as it is when it was asked for already)."""
        approvals = dict(self.approvals)
        approvals.setdefault(approval.approval_id, approval)
        return self.model_copy(update={"approvals": approvals, "dispatch": dispatch or self.dispatch})

    def deciding(self, approval_id: str, approved: bool, reason: str, decided_by: str) -> ParkedTask:
        """The verdict recorded; the same verdict again changes nothing, a contrary one is refused."""
        approval = self.approvals.get(approval_id)
        if approval is None:
            raise KeyError(approval_id)
        status = ApprovalStatus.APPROVED if approved else ApprovalStatus.REFUSED
        if approval.status is status:
            return self
        if approval.status is not ApprovalStatus.PENDING:
            raise ApprovalConflict(f"approval {approval_id} is already {approval.status.value}")
        decided = approval.model_copy(
            update={"status": status, "verdict_reason": reason, "decided_by": decided_by}
        )
        return self.model_copy(update={"approvals": {**self.approvals, approval_id: decided}})

    @property
    def may_ask_more(self) -> bool:
        return len(self.approvals) < MAX_APPROVALS_PER_TASK
