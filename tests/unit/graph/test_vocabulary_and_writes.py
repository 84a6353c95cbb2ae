"""The vocabulary is declared once and every write is checked against it."""

from __future__ import annotations

import pytest

from swe_fleet.graph.schema import NODES, RELS, Label, PropType, Rel, SchemaViolation
from swe_fleet.graph.writes import NodeUpsert, RelMerge, coerce, guard_stamp


def test_the_design_labels_and_relationships_are_declared():
    for label in (
        "Project",
        "Epic",
        "Story",
        "Plan",
        "PlanApproval",
        "PhaseTransition",
        "Task",
        "Decision",
        "Deliberation",
        "Proposal",
        "Agent",
        "TaskDispatch",
    ):
        assert label in NODES
    for rel in (
        "CONTAINS",
        "HAS_PLAN",
        "APPROVES",
        "HAS_TRANSITION",
        "HAS_TASK",
        "DECIDED_IN",
        "AFFECTS",
        "DEPENDS_ON",
        "PROPOSED_BY",
        "DISPATCHED_TO",
    ):
        assert rel in RELS


def test_every_node_has_an_id_and_the_common_properties():
    for node in NODES.values():
        props = node.all_properties()
        assert props["id"] is PropType.STRING
        assert {"version", "created_event_id", "placeholder"} <= set(props)
        if node.guarded:
            assert "status_at" in props


def test_an_unknown_label_relationship_or_property_is_refused():
    with pytest.raises(SchemaViolation):
        NodeUpsert("Storey", "S-1")
    with pytest.raises(SchemaViolation):
        NodeUpsert(Label.STORY, "S-1", props={"colour": "red"})
    with pytest.raises(SchemaViolation):
        NodeUpsert(Label.STORY, "S-1", props={"state": "DONE"})  # guarded: only through `guarded`
    with pytest.raises(SchemaViolation):
        NodeUpsert(Label.STORY, "S-1", guarded={"state": "DONE"})  # guarded without a stamp
    with pytest.raises(SchemaViolation):
        RelMerge("LIKES", Label.STORY, "S-1", Label.PLAN, "P-1")
    with pytest.raises(SchemaViolation):
        RelMerge(Rel.HAS_PLAN, Label.PLAN, "P-1", Label.STORY, "S-1")  # wrong direction
    with pytest.raises(SchemaViolation):
        NodeUpsert(Label.STORY, "")


def test_values_are_coerced_to_the_declared_type_or_refused():
    assert coerce(PropType.FLOAT, 3, "x") == 3.0
    assert coerce(PropType.STRING_LIST, ("a", "b"), "x") == ["a", "b"]
    assert coerce(PropType.INT, None, "x") is None
    for prop_type, value in (
        (PropType.INT, "3"),
        (PropType.BOOL, 1),
        (PropType.STRING_LIST, [1]),
        (PropType.FLOAT, True),
        (PropType.STRING, 3),
    ):
        with pytest.raises(SchemaViolation):
            coerce(prop_type, value, "x")


def test_guard_stamps_order_by_time_then_event_id():
    early = guard_stamp("2025-01-01T00:00:00.000000Z", "01B")
    late = guard_stamp("2025-01-02T00:00:00.000000Z", "01A")
    tie = guard_stamp("2025-01-01T00:00:00.000000Z", "01C")
    assert early < late and early < tie
