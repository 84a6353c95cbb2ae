"""The embedded store's write strategy against the real Ladybug graph: lookups decide CREATE or MERGE."""

from __future__ import annotations

from pathlib import Path

from swe_fleet.graph.ladybug_store import LadybugGraphStore
from swe_fleet.graph.schema import Label, Rel
from swe_fleet.graph.writes import EventWrites, RelMerge
from tests.unit.graph.test_compile import AT, approval


def reasserting(event_id: str, story: str, approval_id: str) -> EventWrites:
    """A later event that states again a relationship between two nodes that already exist."""
    return EventWrites(
        event_id,
        "planning.plan.approved",
        AT,
        (RelMerge(Rel.HAS_APPROVAL, Label.STORY, story, Label.PLAN_APPROVAL, approval_id),),
        (story,),
    )


async def count(store: LadybugGraphStore, cypher: str) -> int:
    [row] = await store.read(cypher)
    return int(row["n"])


async def test_relationships_to_new_nodes_are_created_and_known_ones_never_doubled(tmp_path: Path):
    store = LadybugGraphStore(f"ladybug://{tmp_path / 'graph.lbug'}")
    await store.start()
    try:
        await store.apply([approval("E1", "S1", "P1")])
        # Existing ends (S1, PA-E1) merge; a new approval of the same story and plan is created.
        await store.apply([reasserting("E2", "S1", "PA-E1"), approval("E3", "S1", "P1")])
        await store.apply([reasserting("E4", "S1", "PA-E3"), reasserting("E5", "S1", "PA-E1")])
        assert await count(store, "MATCH (:Story {id: 'S1'})-[r:HAS_APPROVAL]->() RETURN count(r) AS n") == 2
        assert (
            await count(store, "MATCH (:PlanApproval)-[r:APPROVES]->(:Plan {id: 'P1'}) RETURN count(r) AS n")
            == 2
        )
        assert (
            await count(
                store, "MATCH (:Story {id: 'S1'})-[r:HAS_APPROVAL]->({id: 'PA-E1'}) RETURN count(r) AS n"
            )
            == 1
        )
    finally:
        await store.close()
