"""Where Ladybug and Neo4j differ (schema DDL, URLs, returned values); writes and reads do not."""

from __future__ import annotations

from pathlib import Path

import pytest
from neo4j.graph import Graph, Node, Relationship

from swe_fleet.graph.dialect import (
    ladybug_add_column_ddl,
    ladybug_columnar,
    ladybug_schema_ddl,
    ladybug_value,
    neo4j_schema_ddl,
    neo4j_value,
)
from swe_fleet.graph.factory import open_graph_store
from swe_fleet.graph.ladybug_store import LadybugGraphStore, parse_ladybug_url
from swe_fleet.graph.neo4j_store import Neo4jGraphStore, parse_neo4j_url
from swe_fleet.graph.schema import NODES, RELS


def test_ladybug_declares_every_table_with_id_as_primary_key():
    ddl = ladybug_schema_ddl()
    assert len(ddl) == len(NODES) + len(RELS)
    story = next(s for s in ddl if s.startswith("CREATE NODE TABLE IF NOT EXISTS Story("))
    assert "id STRING" in story and story.endswith("PRIMARY KEY(id))")
    assert (
        "acceptance_criteria STRING[]" in story
        and "version INT64" in story
        and "placeholder BOOLEAN" in story
    )


def test_ladybug_declares_a_relationship_with_several_label_pairs_once():
    ddl = ladybug_schema_ddl()
    affects = next(s for s in ddl if s.startswith("CREATE REL TABLE IF NOT EXISTS AFFECTS("))
    assert affects == "CREATE REL TABLE IF NOT EXISTS AFFECTS(FROM Decision TO Task, FROM Decision TO Story)"
    contains = next(s for s in ddl if "TABLE IF NOT EXISTS CONTAINS(" in s)
    assert "FROM Project TO Epic" in contains and "FROM Epic TO Story" in contains


def test_ladybug_adds_columns_missing_from_older_databases():
    statements = ladybug_add_column_ddl()
    assert "ALTER TABLE Story ADD IF NOT EXISTS state STRING" in statements
    assert not any(" ADD IF NOT EXISTS id " in statement for statement in statements)


def test_neo4j_gets_a_uniqueness_constraint_per_label_and_needs_no_relationship_ddl():
    ddl = neo4j_schema_ddl()
    constraints = [s for s in ddl if s.startswith("CREATE CONSTRAINT")]
    assert len(constraints) == len(NODES)
    assert (
        "CREATE CONSTRAINT planapproval_id_unique IF NOT EXISTS FOR (n:PlanApproval) REQUIRE n.id IS UNIQUE"
        in ddl
    )
    assert any(s.startswith("CREATE INDEX story_state_index IF NOT EXISTS") for s in ddl)
    assert not any("RELATIONSHIP" in s.upper() or "REL TABLE" in s for s in ddl)


def test_ladybug_values_become_plain_dicts_with_their_label():
    node = {"_ID": {"offset": 0, "table": 3}, "_LABEL": "PlanApproval", "id": "PA-1", "roles": []}
    rel = {
        "_SRC": {"offset": 0},
        "_DST": {"offset": 1},
        "_LABEL": "APPROVES",
        "_ID": {"offset": 0, "table": 9},
    }
    assert ladybug_value(node) == {"_label": "PlanApproval", "id": "PA-1", "roles": []}
    assert ladybug_value(rel) == {"_type": "APPROVES"}
    path = ladybug_value({"_NODES": [node], "_RELS": [rel]})
    assert path == {"nodes": [ladybug_value(node)], "relationships": [ladybug_value(rel)]}
    assert ladybug_value([{"a": 1}, 2]) == [{"a": 1}, 2]


def test_neo4j_values_become_the_same_plain_dicts():
    graph = Graph()
    node = Node(graph, "4:x:1", 1, ["PlanApproval"], {"id": "PA-1", "roles": []})
    rel = Relationship(graph, "5:x:1", 1, {"since": "t"})
    assert neo4j_value(node) == {"_label": "PlanApproval", "id": "PA-1", "roles": []}
    assert neo4j_value(rel)["since"] == "t"
    assert neo4j_value({"n": [node]}) == {"n": [{"_label": "PlanApproval", "id": "PA-1", "roles": []}]}


def test_urls_choose_the_store_and_carry_its_settings(tmp_path: Path):
    path, buffer_mb = parse_ladybug_url(f"ladybug://{tmp_path}/g.lbug?buffer_pool_mb=64")
    assert path == tmp_path / "g.lbug" and buffer_mb == 64
    assert isinstance(open_graph_store(f"ladybug://{tmp_path}/g.lbug"), LadybugGraphStore)
    assert isinstance(open_graph_store("bolt://db:7687"), Neo4jGraphStore)
    uri, auth, database = parse_neo4j_url(
        "neo4j://alice:s%40cret@db.example:7687?database=fleet", "neo4j", "x"
    )
    assert (uri, auth, database) == ("neo4j://db.example:7687", ("alice", "s@cret"), "fleet")
    uri, auth, database = parse_neo4j_url("neo4j+s://db.example", "neo4j", "pw")
    assert (uri, auth, database) == ("neo4j+s://db.example", ("neo4j", "pw"), None)
    for bad in ("postgres://x", "ladybug://", "neo4j://"):
        with pytest.raises(ValueError):
            open_graph_store(bad)


async def test_an_unreachable_neo4j_is_a_transient_unavailability():
    """The real driver against a closed port: the adapter's error mapping, not a mock's."""
    from swe_fleet.embedded.child import free_port
    from swe_fleet.errors import TransientError
    from swe_fleet.graph.port import GraphUnavailable

    store = Neo4jGraphStore(f"bolt://127.0.0.1:{free_port()}", user="neo4j", password="x")
    with pytest.raises(GraphUnavailable) as raised:
        await store.start()
    assert isinstance(raised.value, TransientError)
    with pytest.raises(GraphUnavailable):
        await store.read("RETURN 1 AS ok")
    await store.close()


def test_a_batch_becomes_arrow_columns_typed_from_their_values() -> None:
    import pyarrow as pa

    rows = [
        {"id": "a", "n": 1, "x": 1.5, "ok": True, "tags": ["t"], "gone": None, "empty": []},
        {"id": "b", "n": None, "x": None, "ok": None, "tags": [], "gone": None, "empty": []},
    ]
    cypher, params = ladybug_columnar(
        "UNWIND $rows AS row\nMATCH (n:Story {id: row.id}) SET n.t = row.tags", {"rows": rows}
    )
    assert cypher == "LOAD FROM $rows\nMATCH (n:Story {id: row_id}) SET n.t = row_tags"
    schema = params["rows"].schema
    assert [schema.field(f"row_{name}").type for name in rows[0]] == [
        pa.string(),
        pa.int64(),
        pa.float64(),
        pa.bool_(),
        pa.list_(pa.string()),
        pa.string(),  # no value at all: strings (the engine needs a type)
        pa.list_(pa.string()),  # only empty lists
    ]
    assert params["rows"].column("row_n").to_pylist() == [1, None]


def test_a_column_whose_values_disagree_is_inferred_as_before() -> None:
    _, params = ladybug_columnar("UNWIND $rows AS row\nRETURN row.v", {"rows": [{"v": 1}, {"v": 2.5}]})
    assert params["rows"].column("row_v").to_pylist() == [1.0, 2.5]
