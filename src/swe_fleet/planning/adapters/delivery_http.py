"""The PO's side of delivery over HTTP: a story's delivery, accepting it (merge), sending it back."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from swe_fleet.planning.adapters.http_api import PathId, PlanningRoute, ProductOwner, Reader, _errors
from swe_fleet.planning.adapters.http_models import Prose, RequestBody, StoryOut, Text
from swe_fleet.planning.app import approvals as aq
from swe_fleet.planning.app import commands as c
from swe_fleet.planning.app import delivery as uc
from swe_fleet.planning.app.planning_app import PlanningApp
from swe_fleet.planning.app.ports import StoryBranches
from swe_fleet.planning.domain.delivery import StoryDelivery, TaskStatus


class TaskProgressOut(BaseModel):
    task_id: str
    title: str
    status: TaskStatus
    failures: int
    reason: str | None
    commits: list[str]
    attempt: int = Field(description="1, +1 each time the task was asked for again (ADR 0703)")
    current_id: str = Field(description="The attempt in flight: the task's id, or `<task>~<attempt>`")
    review: str | None = Field(description="The QA review of the current change: approve / request_changes")
    review_summary: str | None
    changes_requested: int = Field(description="Reviews that requested changes in this round")


class SuiteOut(BaseModel):
    ok: bool
    passed: int
    failed: int
    failing: list[str]
    head: str | None
    task_id: str
    summary: str


class DeliveryOut(BaseModel):
    story_id: str
    round: int = Field(description="1 for the first execution, +1 each time the story was sent back")
    branch: str | None
    tasks: list[TaskProgressOut]
    all_done: bool
    suite: SuiteOut | None = Field(description="The story branch's suite after the last committed change")
    blocked_reason: str | None = Field(description="Why the story does not move on by itself, if it does not")
    waiting_for: str | None = Field(
        description="What the story waits for that is on its way (a review, the PO's verdict on an approval)"
    )
    send_backs: list[str]
    merge_commit: str | None
    base_branch: str | None

    @classmethod
    def of(cls, delivery: StoryDelivery) -> DeliveryOut:
        suite = delivery.suite
        return cls(
            story_id=delivery.story_id,
            round=delivery.round,
            branch=delivery.branch,
            tasks=[
                TaskProgressOut(
                    task_id=t.task_id,
                    title=t.title,
                    status=t.status,
                    failures=t.failures,
                    reason=t.reason,
                    commits=t.commits,
                    attempt=t.attempt,
                    current_id=t.current_id,
                    review=t.review,
                    review_summary=t.review_summary,
                    changes_requested=t.changes_requested,
                )
                for t in delivery.tasks.values()
            ],
            all_done=delivery.all_done,
            suite=None
            if suite is None
            else SuiteOut(
                ok=suite.ok,
                passed=suite.passed,
                failed=suite.failed,
                failing=list(suite.failing),
                head=suite.head,
                task_id=suite.task_id,
                summary=suite.describe(),
            ),
            blocked_reason=delivery.blocked_reason,
            waiting_for=delivery.waiting_for,
            send_backs=delivery.send_backs,
            merge_commit=delivery.merge_commit,
            base_branch=delivery.base_branch,
        )


class AcceptIn(RequestBody):
    note: Text = ""


class AcceptedOut(BaseModel):
    story: StoryOut
    merge_commit: str
    base_before: str
    story_head: str
    already_merged: bool


class SendBackIn(RequestBody):
    reason: Prose


def build_delivery_router(app: PlanningApp, branches: StoryBranches) -> APIRouter:
    router = APIRouter(
        prefix="/v1",
        tags=["delivery"],
        route_class=PlanningRoute,
        generate_unique_id_function=lambda route: f"planning_{route.name}",
    )

    @router.get("/stories/{story_id}/delivery", response_model=DeliveryOut, responses=_errors(404))
    async def get_delivery(story_id: PathId, _: Reader) -> DeliveryOut:
        delivery = DeliveryOut.of(await app.query(uc.story_delivery, story_id))
        # A task parked on an approval (ADR 0612) holds the story too: said first.
        approvals = await app.query(aq.awaited_approvals, story_id)
        waiting = "; ".join(filter(None, (approvals, delivery.waiting_for))) or None
        return delivery.model_copy(update={"waiting_for": waiting})

    @router.post("/stories/{story_id}/accept", response_model=AcceptedOut, responses=_errors(400, 404, 409))
    async def accept_story(story_id: PathId, body: AcceptIn, who: ProductOwner) -> AcceptedOut:
        """READY_TO_REVIEW -> ACCEPTED: the story branch merged into the base branch (409 on a conflict:
        nothing is forced)."""
        story, merged = await uc.accept_story(app, branches, c.AcceptStory(story_id, who.subject, body.note))
        return AcceptedOut(
            story=StoryOut.of(story),
            merge_commit=merged.merge_commit,
            base_before=merged.base_before,
            story_head=merged.story_head,
            already_merged=merged.already_merged,
        )

    @router.post("/stories/{story_id}/send-back", response_model=StoryOut, responses=_errors(400, 404, 409))
    async def send_back_story(story_id: PathId, body: SendBackIn, who: ProductOwner) -> StoryOut:
        """-> IN_PROGRESS with the reason, which the agents of the next round see in their context."""
        return StoryOut.of(await app.execute(uc.send_back, c.SendBack(story_id, who.subject, body.reason)))

    return router
