"""The envelope and the decoding rules: pure logic, no server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swe_fleet.events.envelope import (
    Envelope,
    EventDecodeError,
    decode_event,
    deterministic_event_id,
    encode_event,
    new_event_id,
)
from swe_fleet.events.payloads import DecisionApproved, PlanApproved, StoryTransitioned

PLAN_APPROVED = "planning.plan.approved"


def approval(**overrides) -> PlanApproved:
    return PlanApproved(**{"story_id": "US-1", "plan_id": "P-1", "approved_by": "po", **overrides})


def reason_of(subject: str, data: bytes) -> str:
    with pytest.raises(EventDecodeError) as caught:
        decode_event(subject, data)
    return caught.value.reason


def test_occurred_at_is_utc_with_z_and_the_envelope_has_every_field() -> None:
    envelope = Envelope.new(
        PLAN_APPROVED, approval(), producer="planning", causation_id="01ARZ3NDEKTSV4RRFFQ69G5FAV"
    )
    document = json.loads(encode_event(envelope))
    assert set(document) == {
        "event_id",
        "event_type",
        "schema_version",
        "occurred_at",
        "producer",
        "correlation_id",
        "causation_id",
        "payload",
    }
    assert document["occurred_at"].endswith("Z")
    assert document["event_type"] == PLAN_APPROVED and document["schema_version"] == 1
    assert document["correlation_id"] == envelope.event_id  # a new flow starts with its first event


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)


@given(
    story=names,
    plan=names,
    by=names,
    notes=st.text(max_size=200),
    roles=st.lists(st.sampled_from(["DEV", "QA", "ARCHITECT", "DEVOPS", "DATA"]), max_size=5),
)
def test_any_valid_event_survives_the_round_trip(story, plan, by, notes, roles) -> None:
    envelope = Envelope.new(
        PLAN_APPROVED,
        PlanApproved(story_id=story, plan_id=plan, approved_by=by, notes=notes, roles=roles),
        producer="p",
    )
    decoded = decode_event(PLAN_APPROVED, encode_event(envelope))
    assert decoded.model_dump() == envelope.model_dump()
    assert isinstance(decoded.payload, PlanApproved)


def test_a_bare_payload_published_by_hand_is_accepted_with_a_stable_id() -> None:
    data = (
        b'{"event_type":"PLAN_APPROVED","story_id":"US-VERIFY-001",'
        b'"plan_id":"plan-verify-v1","approved_by":"po"}'
    )
    at = datetime(2025, 10, 16, 17, 18, 45, tzinfo=UTC)
    first = decode_event(PLAN_APPROVED, data, message_key="PLANNING_EVENTS:7", received_at=at)
    again = decode_event(PLAN_APPROVED, data, message_key="PLANNING_EVENTS:7", received_at=at)
    other = decode_event(PLAN_APPROVED, data, message_key="PLANNING_EVENTS:8", received_at=at)
    assert first.payload.story_id == "US-VERIFY-001" and first.producer == "external"
    assert first.event_id == again.event_id != other.event_id
    assert first.occurred_at == at


def test_deterministic_ids_are_valid_ulids_carrying_the_time() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    event_id = deterministic_event_id("key", at)
    assert len(event_id) == 26 and event_id == deterministic_event_id("key", at)
    assert event_id[:10] == deterministic_event_id("other", at)[:10]  # same millisecond prefix
    assert len(new_event_id()) == 26


@pytest.mark.parametrize(
    ("subject", "data", "reason"),
    [
        (PLAN_APPROVED, b"{not json", "malformed_json"),
        (PLAN_APPROVED, b"\xff\xfe", "malformed_json"),
        (PLAN_APPROVED, b"[1, 2]", "malformed_json"),
        (PLAN_APPROVED, b'{"story_id": 5}', "invalid_payload"),
        ("planning.nothing.here", b"{}", "unknown_subject"),
        (PLAN_APPROVED, b"x" * 300_000, "oversized"),
    ],
)
def test_messages_that_can_never_be_processed_say_why(subject: str, data: bytes, reason: str) -> None:
    assert reason_of(subject, data) == reason


def _document(**changes) -> bytes:
    document = json.loads(encode_event(Envelope.new(PLAN_APPROVED, approval(), producer="p")))
    document.update(changes)
    return json.dumps(document).encode()


def test_an_unsupported_schema_version_is_refused() -> None:
    assert reason_of(PLAN_APPROVED, _document(schema_version=2)) == "unsupported_schema_version"


def test_an_envelope_published_on_another_subject_is_refused() -> None:
    assert reason_of(PLAN_APPROVED, _document(event_type="planning.story.created")) == "subject_mismatch"


def test_an_envelope_with_a_bad_id_or_naive_time_is_refused() -> None:
    assert reason_of(PLAN_APPROVED, _document(event_id="not-a-ulid-at-all-000000000")) == "invalid_envelope"
    assert reason_of(PLAN_APPROVED, _document(occurred_at="2026-01-01T00:00:00")) == "invalid_envelope"


def test_an_envelope_whose_payload_is_wrong_names_the_field() -> None:
    document = json.loads(_document())
    document["payload"]["approved_by"] = ""
    with pytest.raises(EventDecodeError) as caught:
        decode_event(PLAN_APPROVED, json.dumps(document).encode())
    assert caught.value.reason == "invalid_payload" and "approved_by" in caught.value.detail


def test_envelope_new_refuses_unknown_subjects_and_mismatched_payloads() -> None:
    with pytest.raises(ValueError, match="unknown subject"):
        Envelope.new("planning.unknown", approval(), producer="p")
    with pytest.raises(TypeError):
        Envelope.new("planning.story.transitioned", approval(), producer="p")
    transitioned = StoryTransitioned(
        story_id="US-1", from_state="DRAFT", to_state="PO_REVIEW", transitioned_by="po"
    )
    assert (
        Envelope.new("planning.story.transitioned", transitioned, producer="p").payload.to_state
        == "PO_REVIEW"
    )


def test_payloads_ignore_fields_they_do_not_know() -> None:
    decoded = decode_event(
        "planning.decision.approved",
        json.dumps(
            {
                "decision_id": "D-1",
                "story_id": "US-1",
                "title": "t",
                "rationale": "r",
                "decided_by": "po",
                "added_later": True,
            }
        ).encode(),
    )
    assert isinstance(decoded.payload, DecisionApproved)
