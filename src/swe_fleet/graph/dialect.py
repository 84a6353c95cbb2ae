"""Where the two Cypher dialects differ: schema DDL and how values come back. Nothing else.

The write statements (`compile.py`) and the services' read queries are the same text on both
stores; the differences below are the ones the dialects force, and each is unit-tested.
"""

from __future__ import annotations

import re
from typing import Any

from swe_fleet.graph.schema import NODES, RELS, PropType

# ------------------------------------------------------------------ Ladybug (Kùzu's successor)

LADYBUG_TYPES = {
    PropType.STRING: "STRING",
    PropType.INT: "INT64",
    PropType.FLOAT: "DOUBLE",
    PropType.BOOL: "BOOLEAN",
    PropType.STRING_LIST: "STRING[]",
}


def ladybug_schema_ddl() -> list[str]:
    """Node and rel tables: Ladybug needs every table declared, the primary key is the unique index.

    A rel table that connects several label pairs is declared once with several FROM/TO pairs. Columns
    added to the vocabulary later are added to existing tables by `ladybug_add_column_ddl`.
    """
    statements = []
    for node in NODES.values():
        columns = [f"{name} {LADYBUG_TYPES[kind]}" for name, kind in node.all_properties().items()]
        statements.append(
            f"CREATE NODE TABLE IF NOT EXISTS {node.name}({', '.join(columns)}, PRIMARY KEY(id))"
        )
    for rel in RELS.values():
        parts = [f"FROM {start} TO {end}" for start, end in rel.ends]
        parts += [f"{name} {LADYBUG_TYPES[kind]}" for name, kind in rel.all_properties().items()]
        statements.append(f"CREATE REL TABLE IF NOT EXISTS {rel.name}({', '.join(parts)})")
    return statements


def ladybug_add_column_ddl() -> list[str]:
    statements = []
    for node in NODES.values():
        for name, kind in node.all_properties().items():
            if name != "id":
                statements.append(f"ALTER TABLE {node.name} ADD IF NOT EXISTS {name} {LADYBUG_TYPES[kind]}")
    for rel in RELS.values():
        for name, kind in rel.all_properties().items():
            statements.append(f"ALTER TABLE {rel.name} ADD IF NOT EXISTS {name} {LADYBUG_TYPES[kind]}")
    return statements


def ladybug_value(value: Any) -> Any:
    """Ladybug returns nodes and rels as dicts with `_LABEL`, `_ID` (and `_SRC`/`_DST`, `_NODES`)."""
    if isinstance(value, dict):
        if "_LABEL" in value and "_ID" in value:
            is_rel = "_SRC" in value
            plain = {key: ladybug_value(item) for key, item in value.items() if not key.startswith("_")}
            return {("_type" if is_rel else "_label"): value["_LABEL"], **plain}
        if "_NODES" in value and "_RELS" in value:
            return {
                "nodes": [ladybug_value(node) for node in value["_NODES"]],
                "relationships": [ladybug_value(rel) for rel in value["_RELS"]],
            }
        return {key: ladybug_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [ladybug_value(item) for item in value]
    return value


# ------------------------------------------------------------------ Neo4j

# Secondary indexes for operators' ad-hoc queries; the services' reads go by id and relationships.
NEO4J_INDEXES: tuple[tuple[str, str], ...] = (
    ("Story", "state"),
    ("Decision", "story_id"),
    ("ProjectedEvent", "occurred_at"),
)


def neo4j_schema_ddl() -> list[str]:
    """Uniqueness constraints on `id` for every label (they also index it), then secondary indexes.

    Neo4j is schema-optional: relationship types and properties need no declaration.
    """
    statements = [
        f"CREATE CONSTRAINT {node.name.lower()}_id_unique IF NOT EXISTS "
        f"FOR (n:{node.name}) REQUIRE n.id IS UNIQUE"
        for node in NODES.values()
    ]
    statements += [
        f"CREATE INDEX {label.lower()}_{prop}_index IF NOT EXISTS FOR (n:{label}) ON (n.{prop})"
        for label, prop in NEO4J_INDEXES
    ]
    return statements


def neo4j_value(value: Any) -> Any:
    """Neo4j driver values (Node, Relationship, Path, temporal types) as plain JSON-able values."""
    from neo4j.graph import Node, Path, Relationship  # the driver's own types

    if isinstance(value, Node):
        labels = sorted(value.labels)
        return {"_label": labels[0] if len(labels) == 1 else labels, **dict(value.items())}
    if isinstance(value, Relationship):
        return {"_type": value.type, **dict(value.items())}
    if isinstance(value, Path):
        return {
            "nodes": [neo4j_value(node) for node in value.nodes],
            "relationships": [neo4j_value(rel) for rel in value.relationships],
        }
    if isinstance(value, dict):
        return {key: neo4j_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [neo4j_value(item) for item in value]
    if hasattr(value, "iso_format"):  # neo4j.time.DateTime and friends
        return value.iso_format()
    return value


# ------------------------------------------------------------------ Ladybug: batches as Arrow tables

_ROW_FIELD = re.compile(r"\brow\.(\w+)")
_ROWS_PREFIX = "UNWIND $rows AS row\n"


def ladybug_columnar(cypher: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """`UNWIND $rows AS row ... row.x` becomes `LOAD FROM $rows ... row_x` over an Arrow table.

    Ladybug converts a list-of-maps parameter value by value (about 40-50 µs a row for our shapes,
    measured), while it scans an Arrow table column-wise (1-5 µs a row). Same statement, same
    semantics: only how the batch travels into the engine differs. Columns are named `row_<field>` so
    they cannot collide with the statement's own variables (`a`, `b`, `n`, `r`).
    """
    rows = params.get("rows")
    if not cypher.startswith(_ROWS_PREFIX) or not isinstance(rows, list) or not rows:
        return cypher, params
    import pyarrow as pa  # only the embedded store needs it

    fields = list(rows[0])
    columns: dict[str, Any] = {}
    for name in fields:
        columns[f"row_{name}"] = _arrow_column([row.get(name) for row in rows])
    body = _ROW_FIELD.sub(r"row_\1", cypher[len(_ROWS_PREFIX) :])
    # A WITH that carries `row` on must carry its columns instead.
    body = body.replace("WITH n, row,", "WITH n, " + ", ".join(columns) + ",")
    # Table.from_arrays, not pa.table(dict): the latter probes for pandas (an import attempt) each call.
    table = pa.Table.from_arrays(list(columns.values()), names=list(columns))
    return "LOAD FROM $rows\n" + body, {**params, "rows": table}


def _arrow_column(values: list[Any]) -> Any:
    """An Arrow array typed from the column's values rather than inferred by pyarrow, whose inference
    costs ~6x more and tries to import `dateutil` on every call (when it is not installed, a failed
    import searches sys.path each time). Only a column of one Python type is typed so (pyarrow would
    truncate 2.5 into an int64 column without a word); a mixed one is inferred as before; one with no
    value at all, or only empty lists, gets strings (Ladybug needs a type)."""
    import pyarrow as pa

    kinds = {type(value) for value in values if value is not None}
    if not kinds:
        return pa.array(values, type=pa.string())
    if len(kinds) == 1:
        (kind,) = kinds
        arrow_type = (
            pa.list_(pa.string())  # the vocabulary's only list type
            if kind in (list, tuple)
            else {str: pa.string(), bool: pa.bool_(), int: pa.int64(), float: pa.float64()}.get(kind)
        )
        if arrow_type is not None:
            try:
                return pa.array(values, type=arrow_type)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                pass
    return pa.array(values)
