"""The catalogue and the streams agree: every subject lands in exactly one stream."""

from __future__ import annotations

import pytest

from swe_fleet.events.catalogue import CATALOGUE
from swe_fleet.events.schema_export import asyncapi_document, json_schemas
from swe_fleet.events.streams import STREAMS, stream_for_subject
from swe_fleet.events.subjects import dead_letter_subject


def test_every_subject_of_the_catalogue_belongs_to_exactly_one_stream() -> None:
    for subject in CATALOGUE:
        owners = [spec.name for spec in STREAMS if spec.covers(subject)]
        assert len(owners) == 1, (subject, owners)


def test_the_design_minimum_catalogue_is_there() -> None:
    minimum = {
        "planning.story.created",
        "planning.story.transitioned",
        "planning.plan.approved",
        "planning.decision.approved",
        "planning.decision.rejected",
        "orchestration.deliberation.completed",
        "orchestration.task.dispatched",
        "agent.cmd.generate",
        "agent.cmd.critique",
        "agent.cmd.revise",
        "agent.response.completed",
        "agent.response.failed",
        "context.updated",
    }
    assert minimum <= set(CATALOGUE)


@pytest.mark.parametrize(
    ("subject", "stream"),
    [
        ("planning.plan.approved", "PLANNING_EVENTS"),
        ("agent.cmd.generate", "AGENT_COMMANDS"),
        ("dlq.planning.plan.approved", "DEAD_LETTERS"),
        ("workspace.task.completed", "WORKSPACE_EVENTS"),
        ("workspace.tool.called", "WORKSPACE_EVENTS"),
        ("planning", None),
        ("other.x", None),
    ],
)
def test_subject_matching_follows_nats_wildcards(subject: str, stream: str | None) -> None:
    found = stream_for_subject(subject)
    assert (found.name if found else None) == stream


def test_dead_letters_keep_the_original_subject() -> None:
    assert dead_letter_subject("planning.plan.approved") == "dlq.planning.plan.approved"
    assert stream_for_subject(dead_letter_subject("agent.cmd.x")).name == "DEAD_LETTERS"


def test_schemas_export_every_subject() -> None:
    schemas = json_schemas()
    assert set(schemas["subjects"]) == set(CATALOGUE)
    document = asyncapi_document()
    assert document["asyncapi"].startswith("3.")
    assert {channel["address"] for channel in document["channels"].values()} == set(CATALOGUE)


def test_workspace_results_carry_what_the_design_asks_for() -> None:
    from swe_fleet.events import payloads as p

    failed = CATALOGUE["workspace.task.failed"].model.model_validate(
        {
            "task_id": "t1",
            "story_id": "s1",
            "role": "DEV",
            "agent_id": "a1",
            "branch": "fleet/s1",
            "reason": "tests still fail",
            "tests_after": {"ok": False, "passed": 3, "failed": 1, "failing": ["tests/test_x.py::test_y"]},
        }
    )
    assert isinstance(failed, p.WorkspaceTaskFailed)
    assert failed.tests_after is not None and failed.tests_after.failing == ["tests/test_x.py::test_y"]
    with pytest.raises(ValueError, match="reason"):
        p.WorkspaceTaskFailed.model_validate(failed.model_dump(exclude={"reason"}))
    with pytest.raises(ValueError, match="outcome"):
        p.WorkspaceToolCalled.model_validate(
            {"task_id": "t", "story_id": "s", "step": 0, "tool": "read_file"}
        )
