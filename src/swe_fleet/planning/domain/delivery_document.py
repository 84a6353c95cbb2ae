"""A story's delivery as stored: one JSON document per story (`planning_story_deliveries`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from swe_fleet.planning.domain.delivery import (
    REVIEW_ROUNDS,
    Dispatch,
    StoryDelivery,
    SuiteEvidence,
    TaskProgress,
    TaskStatus,
)


def document_of(delivery: StoryDelivery) -> dict[str, Any]:
    """The delivery as the JSON document stored per story (without the reworks still to publish)."""
    return {
        "plan_id": delivery.plan_id,
        "branch": delivery.branch,
        "round": delivery.round,
        "tasks": [
            {
                "task_id": t.task_id,
                "title": t.title,
                "status": t.status.value,
                "failures": t.failures,
                "reason": t.reason,
                "commits": t.commits,
                "round": t.round,
                "review": t.review,
                "review_summary": t.review_summary,
                "review_head": t.review_head,
                "changes_requested": t.changes_requested,
                "attempt": t.attempt,
                "dispatch": None if t.dispatch is None else asdict(t.dispatch),
            }
            for t in delivery.tasks.values()
        ],
        "suite": None
        if delivery.suite is None
        else {
            "ok": delivery.suite.ok,
            "passed": delivery.suite.passed,
            "failed": delivery.suite.failed,
            "failing": list(delivery.suite.failing),
            "head": delivery.suite.head,
            "task_id": delivery.suite.task_id,
        },
        "applied_events": delivery.applied_events,
        "send_backs": delivery.send_backs,
        "merge_commit": delivery.merge_commit,
        "base_branch": delivery.base_branch,
        "derivation_failure": delivery.derivation_failure,
        "review_rounds": delivery.review_rounds,
    }


def delivery_of(story_id: str, document: dict[str, Any], version: int) -> StoryDelivery:
    """The delivery from its stored document (older documents lack later fields: defaults)."""
    suite = document.get("suite")
    return StoryDelivery(
        story_id=story_id,
        plan_id=document.get("plan_id"),
        branch=document.get("branch"),
        round=int(document.get("round", 1)),
        tasks={
            t["task_id"]: TaskProgress(
                task_id=t["task_id"],
                title=t.get("title", ""),
                status=TaskStatus(t["status"]),
                failures=int(t.get("failures", 0)),
                reason=t.get("reason"),
                commits=list(t.get("commits", [])),
                round=int(t.get("round", 0)),
                review=t.get("review"),
                review_summary=t.get("review_summary"),
                review_head=t.get("review_head"),
                changes_requested=int(t.get("changes_requested", 0)),
                attempt=int(t.get("attempt", 1)),
                dispatch=Dispatch(**t["dispatch"]) if t.get("dispatch") else None,
            )
            for t in document.get("tasks", [])
        },
        suite=None
        if suite is None
        else SuiteEvidence(
            ok=bool(suite["ok"]),
            passed=int(suite["passed"]),
            failed=int(suite["failed"]),
            failing=tuple(suite.get("failing", [])),
            head=suite.get("head"),
            task_id=suite["task_id"],
        ),
        applied_events=list(document.get("applied_events", [])),
        send_backs=list(document.get("send_backs", [])),
        merge_commit=document.get("merge_commit"),
        base_branch=document.get("base_branch"),
        derivation_failure=document.get("derivation_failure"),
        review_rounds=int(document.get("review_rounds", REVIEW_ROUNDS)),
        version=version,
    )
