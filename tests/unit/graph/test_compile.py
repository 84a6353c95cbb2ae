"""Batches compile into a few UNWIND statements whose text comes only from the vocabulary."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from swe_fleet.graph.compile import compile_writes, ledger_statement, new_events
from swe_fleet.graph.schema import NODES, RELS, Label, Rel
from swe_fleet.graph.writes import EventWrites, NodeUpsert, RelMerge, guard_stamp

AT = "2025-01-01T00:00:00.000000Z"


def approval(event_id: str, story: str, plan: str) -> EventWrites:
    approval_id = f"PA-{event_id}"
    return EventWrites(
        event_id,
        "planning.plan.approved",
        AT,
        (
            NodeUpsert(Label.STORY, story, placeholder=True),
            NodeUpsert(
                Label.PLAN,
                plan,
                guarded={"status": "APPROVED"},
                stamp=guard_stamp(AT, event_id),
                placeholder=True,
            ),
            NodeUpsert(Label.PLAN_APPROVAL, approval_id, props={"plan_id": plan, "story_id": story}),
            RelMerge(Rel.APPROVES, Label.PLAN_APPROVAL, approval_id, Label.PLAN, plan),
            RelMerge(Rel.HAS_APPROVAL, Label.STORY, story, Label.PLAN_APPROVAL, approval_id),
        ),
        (story,),
    )


def test_statement_count_depends_on_the_batch_shape_not_its_size():
    one = compile_writes([approval("E1", "S1", "P1")], version=1)
    many = compile_writes([approval(f"E{i}", f"S{i}", f"P{i}") for i in range(500)], version=1)
    assert len(one) == len(many)
    rows = sum(len(statement.params["rows"]) for statement in many)
    assert rows == 500 * 5  # 3 nodes + 2 relationships per event, one row each


def test_event_data_travels_as_parameters_never_as_text():
    hostile = "X'}) DETACH DELETE n //"
    statements = compile_writes([approval("E1", hostile, hostile)], version=1)
    for statement in statements:
        assert hostile not in statement.cypher
        for label in re.findall(r"\(\w+:(\w+)", statement.cypher):
            assert label in NODES
        for rel in re.findall(r"\[\w*:(\w+)\]", statement.cypher):
            assert rel in RELS


def test_a_node_written_twice_in_a_batch_is_one_row_with_the_newest_guarded_values():
    def transition(event_id: str, at: str, state: str) -> EventWrites:
        return EventWrites(
            event_id,
            "planning.story.transitioned",
            at,
            (
                NodeUpsert(
                    Label.STORY,
                    "S1",
                    guarded={"state": state},
                    stamp=guard_stamp(at, event_id),
                    placeholder=True,
                ),
            ),
            ("S1",),
        )

    batch = [
        transition("E1", "2025-01-01T00:00:00.000000Z", "DRAFT"),
        transition("E3", "2025-01-03T00:00:00.000000Z", "PLANNED"),
        transition("E2", "2025-01-02T00:00:00.000000Z", "PO_REVIEW"),
    ]
    [statement] = compile_writes(batch, version=7)
    [row] = statement.params["rows"]
    assert row["g_state"] == "PLANNED" and row["at"].startswith("2025-01-03")
    assert statement.params["version"] == 7


def test_defining_event_wins_over_placeholders_and_unknown_values_erase_nothing():
    defining = EventWrites(
        "E1",
        "planning.story.created",
        AT,
        (NodeUpsert(Label.STORY, "S1", props={"title": "Login", "brief": "b"}),),
        ("S1",),
    )
    referring = EventWrites(
        "E2",
        "planning.plan.approved",
        AT,
        (NodeUpsert(Label.STORY, "S1", props={"brief": None}, placeholder=True),),
        ("S1",),
    )
    [statement] = compile_writes([defining, referring], version=1)
    assert "n.placeholder = false" in statement.cypher
    [row] = statement.params["rows"]
    assert row["p_title"] == "Login" and row["p_brief"] == "b"
    assert row["eid"] == "E1"


def test_relationship_ends_missing_from_the_batch_become_placeholders():
    event = EventWrites("E1", "x", AT, (RelMerge(Rel.DEPENDS_ON, Label.TASK, "T1", Label.TASK, "T2"),), ())
    statements = compile_writes([event], version=1)
    placeholder = next(s for s in statements if "MERGE (n:Task" in s.cypher)
    assert "n.placeholder = true" in placeholder.cypher
    assert {row["id"] for row in placeholder.params["rows"]} == {"T1", "T2"}
    assert statements[-1].cypher.splitlines()[-1] == "MERGE (a)-[r:DEPENDS_ON]->(b)"


@given(
    st.lists(st.sampled_from(["E1", "E2", "E3", "E4"]), max_size=12),
    st.sets(st.sampled_from(["E1", "E2", "E3"])),
)
def test_each_event_is_applied_at_most_once(ids, seen):
    events = [EventWrites(event_id, "x", AT, ()) for event_id in ids]
    fresh = [event.event_id for event in new_events(events, seen)]
    assert len(fresh) == len(set(fresh))
    assert set(fresh) == set(ids) - seen


def test_the_ledger_records_every_applied_event_with_its_stories():
    statement = ledger_statement([approval("E1", "S1", "P1")], version=4)
    assert statement.params["rows"] == [
        {"id": "E1", "subject": "planning.plan.approved", "occurred_at": AT, "story_ids": ["S1"]}
    ]
    assert statement.params["version"] == 4


def test_with_known_nodes_a_relationship_is_created_when_an_end_is_new_and_merged_otherwise():
    """Rows are coalesced, and a node created in this transaction has no relationships yet."""
    batch = [approval("E1", "S1", "P1")]
    fresh = compile_writes(batch, version=1, existing={})
    known = compile_writes(batch, version=1, existing={"Story": {"S1"}, "Plan": {"P1"}})
    everything = compile_writes(
        batch, version=1, existing={"Story": {"S1"}, "Plan": {"P1"}, "PlanApproval": {"PA-E1"}}
    )

    def verbs(statements):
        return sorted(
            ("CREATE" if "CREATE (a)-" in s.cypher else "MERGE") for s in statements if "(a)-[r:" in s.cypher
        )

    assert verbs(fresh) == verbs(known) == ["CREATE", "CREATE"]
    assert verbs(everything) == ["MERGE", "MERGE"]
    assert verbs(compile_writes(batch, version=1)) == ["MERGE", "MERGE"]  # no lookups (Neo4j): MERGE
