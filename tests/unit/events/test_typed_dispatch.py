"""Typed dispatch: a durable's payload model is checked against the catalogue; answers copy their command."""

from __future__ import annotations

import pytest

from swe_fleet.backbone.consumer import ConsumerRuntime, PayloadMismatch
from swe_fleet.backbone.consumer_spec import ConsumerSpec
from swe_fleet.context.domain.projections import HANDLERS, Projection, _projection, _table, project_created
from swe_fleet.events import subjects
from swe_fleet.events.catalogue import CATALOGUE, subjects_not_of
from swe_fleet.events.payloads import (
    AgentCommand,
    AgentResponse,
    AgentResponseCompleted,
    AgentResponseFailed,
    CommandKind,
    Payload,
    PlanApproved,
    Role,
)


@pytest.mark.parametrize(
    ("pattern", "subject", "matches"),
    [
        ("agent.response.>", "agent.response.completed", True),
        ("agent.response.>", "agent.response", False),
        ("agent.*.completed", "agent.response.completed", True),
        ("agent.*", "agent.response.completed", False),
        ("planning.plan.approved", "planning.plan.approved", True),
        ("planning.plan.approved", "planning.plan.rejected", False),
        (">", "context.updated", True),
    ],
)
def test_subjects_match_as_nats_matches_them(pattern: str, subject: str, matches: bool) -> None:
    assert subjects.subject_matches(pattern, subject) is matches


def test_the_catalogue_names_what_a_filter_delivers_beyond_a_model() -> None:
    assert subjects_not_of("agent.response.>", AgentResponse) == []
    assert subjects_not_of("agent.response.>", AgentResponseCompleted) == [subjects.AGENT_RESPONSE_FAILED]
    assert subjects_not_of("planning.plan.approved", PlanApproved) == []
    # 8, two approval verdicts, rework, and the story's token budget
    assert len(subjects_not_of("planning.>", PlanApproved)) == 12


def test_a_runtime_whose_handler_takes_another_payload_is_refused_at_start_up() -> None:
    async def handle(deliveries) -> None:
        return None

    spec = ConsumerSpec(durable="d", stream="AGENT_RESPONSES", filter_subject="agent.response.>")
    with pytest.raises(PayloadMismatch, match=r"d: its handler takes AgentResponseCompleted, but agent"):
        ConsumerRuntime(None, spec, handle, None, payload_type=AgentResponseCompleted)  # type: ignore[arg-type]


def test_every_projection_takes_the_catalogues_model_for_its_subject() -> None:
    for subject, projection in HANDLERS.items():
        assert isinstance(projection, Projection)
        assert CATALOGUE[subject].model is projection.model


def test_a_projection_table_with_a_model_the_catalogue_does_not_say_is_refused() -> None:
    wrong = _projection(subjects.EPIC_CREATED, Payload, project_created)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"planning\.epic\.created: the catalogue says"):
        _table(wrong)


def test_an_answer_carries_its_commands_identity_and_says_whether_it_failed() -> None:
    command = AgentCommand(
        command_id="c-1",
        kind=CommandKind.CRITIQUE,
        story_id="US-1",
        task_id="T-1",
        deliberation_id="dlb-1",
        role=Role.QA,
        agent_id="qa-1",
    )
    done = AgentResponseCompleted.answering(command, worker_id="w-1", output={"ok": True})
    failed = AgentResponseFailed.answering(command, worker_id="w-2", error="timeout")
    for answer in (done, failed):
        assert (answer.command_id, answer.kind, answer.story_id, answer.task_id) == (
            "c-1",
            CommandKind.CRITIQUE,
            "US-1",
            "T-1",
        )
        assert (answer.deliberation_id, answer.agent_id) == ("dlb-1", "qa-1")
    assert (done.worker_id, done.failure) == ("w-1", None)
    assert (failed.worker_id, failed.failure) == ("w-2", "timeout")
    assert AgentResponseCompleted.model_validate(done.model_dump(mode="json")).kind is CommandKind.CRITIQUE
