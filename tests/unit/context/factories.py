"""Envelopes and story graphs for the Context service's unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from swe_fleet.context.domain.model import (
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
from swe_fleet.events.envelope import Envelope
from swe_fleet.events.payloads import Payload

T0 = datetime(2025, 10, 16, 17, 18, 45, tzinfo=UTC)


def envelope(subject: str, payload: Payload, *, seconds: float = 0, event_id: str | None = None) -> Envelope:
    return Envelope.new(
        subject, payload, producer="test", occurred_at=T0 + timedelta(seconds=seconds), event_id=event_id
    )


def story_graph(*, tasks: int = 3, decisions: int = 5, text: str = "", version: int = 7) -> StoryGraph:
    """A story with `tasks` tasks and `decisions` decisions; `text` is planted in every free-text field."""
    return StoryGraph(
        story=StoryFacts(
            id="US-1",
            title=f"Log in {text}",
            brief=f"As a user I want to log in. {text}",
            acceptance_criteria=(f"the login form works {text}", "errors are shown"),
            owner="po",
            state="IN_PROGRESS",
            epic_id="E-1",
            epic_title=f"Accounts {text}",
            project_id="P-1",
            project_name="Shop",
        ),
        version=version,
        plans=(
            PlanFacts(
                "plan-1",
                "APPROVED",
                f"Build the form {text}",
                ("works",),
                f"Use JWT {text}",
                ("DEV", "QA"),
                "t1",
            ),
        ),
        plan_events=(PlanEventFacts("plan-1", "approved", "po", f"ship it {text}", "2025-10-16T17:18:45Z"),),
        transitions=(TransitionFacts("DRAFT", "IN_PROGRESS", "po", f"go {text}", "2025-10-16T17:00:00Z"),),
        tasks=tuple(
            TaskFacts(
                f"T-{i}",
                f"Task {i} {text}",
                f"Do {i} {text}",
                "DEV" if i % 2 else "QA",
                2.0,
                "DERIVED",
                (f"T-{i - 1}",) if i > 0 else (),
            )
            for i in range(tasks)
        ),
        decisions=tuple(
            DecisionFacts(
                f"D-{i}",
                f"Decision {i} {text}",
                f"Because {i} {text}",
                "architect",
                "APPROVED",
                "planning",
                f"T-{i % max(tasks, 1)}",
                (f"T-{i % max(tasks, 1)}",),
                f"2025-10-16T17:{i % 60:02d}:00Z",
            )
            for i in range(decisions)
        ),
        deliberations=tuple(
            DeliberationFacts(
                f"DL-{i}",
                f"T-{i}",
                "DEV",
                2,
                ("a1", "a2", "a3"),
                "a1",
                f"Winner {text}",
                8.5,
                (f"correctness=9 {text}",),
                (),
                "2025-10-16T17:30:00Z",
            )
            for i in range(tasks)
        ),
        dispatches=tuple(DispatchFacts(f"T-{i}", "a1", "DEV", "2025-10-16T17:40:00Z") for i in range(tasks)),
    )
