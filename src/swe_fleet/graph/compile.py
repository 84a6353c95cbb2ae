"""Turns a batch of `EventWrites` into a few batched Cypher statements, the same on every adapter.

Writes of the whole batch are coalesced per node and per relationship, then grouped by shape, so a
batch of hundreds of events becomes one `UNWIND $rows ... MERGE` statement per (label, shape): the
statement count depends on the variety of the batch, not on its size. Coalescing also matters for
correctness: an embedded engine evaluates an UNWIND statement column-wise, so two rows updating the
same node in one statement would not see each other's guard; after coalescing there is one row per
node, carrying the newest guarded values of the batch.

Labels and relationship types in the text come only from the vocabulary (`schema.py`); event data
travels as parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from swe_fleet.graph.schema import (
    GRAPH_META_ID,
    SCHEMA_VERSION,
    Label,
    PropType,
    node_label,
    rel_type,
)
from swe_fleet.graph.writes import EventWrites, NodeUpsert, coerce


@dataclass(frozen=True)
class Statement:
    cypher: str
    params: dict[str, Any]


@dataclass
class _NodeRow:
    label: str
    id: str
    created_event_id: str
    props: dict[str, Any] = field(default_factory=dict)
    guarded: dict[str, Any] = field(default_factory=dict)
    stamp: str | None = None
    placeholder: bool = True


@dataclass
class _RelRow:
    type: str
    from_label: str
    from_id: str
    to_label: str
    to_id: str
    props: dict[str, Any] = field(default_factory=dict)


def _coalesce(events: Sequence[EventWrites]) -> tuple[list[_NodeRow], list[_RelRow]]:
    nodes: dict[tuple[str, str], _NodeRow] = {}
    rels: dict[tuple[str, str, str, str, str], _RelRow] = {}
    for event in events:
        for write in event.writes:
            if isinstance(write, NodeUpsert):
                _add_node(nodes, write, event.event_id)
                continue
            key = (write.type, write.from_label, write.from_id, write.to_label, write.to_id)
            row = rels.get(key)
            if row is None:
                row = rels[key] = _RelRow(*key)
            if write.props:
                typed = _typed(_rel_properties(write.type), write.props, write.type)
                row.props.update({k: v for k, v in typed.items() if v is not None})
            for end in ((write.from_label, write.from_id), (write.to_label, write.to_id)):
                # A relationship's ends must exist before it is merged: make sure they do.
                if end not in nodes:
                    nodes[end] = _NodeRow(end[0], end[1], event.event_id)
    return list(nodes.values()), list(rels.values())


def _add_node(nodes: dict[tuple[str, str], _NodeRow], write: NodeUpsert, event_id: str) -> None:
    key = (write.label, write.id)
    row = nodes.get(key)
    if row is None:
        row = nodes[key] = _NodeRow(write.label, write.id, event_id)
    row.placeholder = row.placeholder and write.placeholder
    declared = _node_properties(write.label)
    # A later event that does not know a property (None) must not erase what an earlier one set.
    if write.props:
        row.props.update(
            {k: v for k, v in _typed(declared, write.props, write.label).items() if v is not None}
        )
    if write.guarded and (row.stamp is None or (write.stamp or "") > row.stamp):
        row.guarded = _typed(declared, write.guarded, write.label)
        row.stamp = write.stamp


@functools.cache
def _node_properties(label: str) -> dict[str, Any]:
    return node_label(label).all_properties()


@functools.cache
def _rel_properties(type_: str) -> dict[str, Any]:
    return rel_type(type_).all_properties()


def _typed(declared: dict, values: Any, owner: str) -> dict[str, Any]:
    typed = {}
    for name, value in values.items():
        kind = declared[name]
        if value is None or (kind is PropType.STRING and type(value) is str):
            typed[name] = value  # the common case, without building coerce's error context
        else:
            typed[name] = coerce(kind, value, f"{owner}.{name}")
    return typed


def _present(values: dict[str, Any]) -> tuple[str, ...]:
    # None means "not known by this event": the property is left as it is, never cleared.
    if not values:
        return ()
    return tuple(sorted([name for name, value in values.items() if value is not None]))


def node_statement(
    label: str, placeholder: bool, prop_names: Sequence[str], guarded_names: Sequence[str]
) -> str:
    """Upsert by MERGE (the strategy for Neo4j, whose MERGE is an index lookup under a constraint)."""
    lines = ["UNWIND $rows AS row", f"MERGE (n:{node_label(label).name} {{id: row.id}})"]
    if placeholder:
        lines.append("ON CREATE SET n.created_event_id = row.eid, n.placeholder = true")
    else:
        lines.append("ON CREATE SET n.created_event_id = row.eid")
    lines.append("SET " + ", ".join(_assignments(placeholder, prop_names)))
    lines += _guarded_lines(guarded_names)
    return "\n".join(lines)


def node_update_statement(
    label: str, placeholder: bool, prop_names: Sequence[str], guarded_names: Sequence[str]
) -> str:
    """Update nodes known to exist (the lookup strategy)."""
    lines = ["UNWIND $rows AS row", f"MATCH (n:{node_label(label).name} {{id: row.id}})"]
    lines.append("SET " + ", ".join(_assignments(placeholder, prop_names)))
    lines += _guarded_lines(guarded_names)
    return "\n".join(lines)


def node_create_statement(
    label: str, placeholder: bool, prop_names: Sequence[str], guarded_names: Sequence[str]
) -> str:
    """Create nodes known to be missing (the lookup strategy): one CREATE with every property."""
    fields = [
        "id: row.id",
        "created_event_id: row.eid",
        f"placeholder: {'true' if placeholder else 'false'}",
        "version: $version",
    ]
    fields += [f"{name}: row.p_{name}" for name in prop_names]
    fields += [f"{name}: row.g_{name}" for name in guarded_names]
    if guarded_names:
        fields.append("status_at: row.at")
    return f"UNWIND $rows AS row\nCREATE (n:{node_label(label).name} {{{', '.join(fields)}}})"


def _assignments(placeholder: bool, prop_names: Sequence[str]) -> list[str]:
    assignments = (
        ["n.version = $version"] if placeholder else ["n.placeholder = false", "n.version = $version"]
    )
    return assignments + [f"n.{name} = row.p_{name}" for name in prop_names]


def _guarded_lines(guarded_names: Sequence[str]) -> list[str]:
    if not guarded_names:
        return []
    guarded = [f"n.{name} = CASE WHEN newer THEN row.g_{name} ELSE n.{name} END" for name in guarded_names]
    guarded.append("n.status_at = CASE WHEN newer THEN row.at ELSE n.status_at END")
    return ["WITH n, row, coalesce(n.status_at, '') < row.at AS newer", "SET " + ", ".join(guarded)]


def rel_statement(
    type_: str, from_label: str, to_label: str, prop_names: Sequence[str], *, create: bool = False
) -> str:
    """Merge relationships, or CREATE those known to be new (an end was created in this transaction)."""
    spec = rel_type(type_)
    start, end = node_label(from_label).name, node_label(to_label).name
    # Two MATCH clauses, not one with a comma: Ladybug plans `MATCH (a {id}), (b {id})` as a join over
    # both tables (milliseconds per row on a large graph) but two MATCHes as two index lookups.
    lines = [
        "UNWIND $rows AS row",
        f"MATCH (a:{start} {{id: row.a}})",
        f"MATCH (b:{end} {{id: row.b}})",
        f"{'CREATE' if create else 'MERGE'} (a)-[r:{spec.name}]->(b)",
    ]
    if prop_names:
        lines.append("SET " + ", ".join(f"r.{name} = row.p_{name}" for name in prop_names))
    return "\n".join(lines)


@dataclass
class WritePlan:
    """A batch's writes, coalesced: one row per node and per relationship."""

    nodes: list[_NodeRow]
    rels: list[_RelRow]

    def ids_by_label(self) -> dict[str, list[str]]:
        ids: dict[str, list[str]] = {}
        for row in self.nodes:
            ids.setdefault(row.label, []).append(row.id)
        return ids


def plan_writes(events: Sequence[EventWrites]) -> WritePlan:
    nodes, rels = _coalesce(events)
    return WritePlan(nodes, rels)


def existing_nodes_statements(plan: WritePlan) -> list[tuple[str, Statement]]:
    """(label, statement returning the ids of that label's nodes that already exist), per label."""
    return [
        (
            label,
            Statement(
                f"UNWIND $rows AS row\nMATCH (n:{node_label(label).name} {{id: row.id}}) RETURN n.id AS id",
                {"rows": [{"id": node_id} for node_id in ids]},
            ),
        )
        for label, ids in sorted(plan.ids_by_label().items())
    ]


def compile_writes(
    events: Sequence[EventWrites] | WritePlan, version: int, *, existing: dict[str, set[str]] | None = None
) -> list[Statement]:
    """The statements that apply `events` (already filtered to the new ones) at graph `version`.

    Without `existing`, nodes are upserted by MERGE. With it (the ids of the batch's nodes that exist,
    looked up in the same transaction by a single writer), missing nodes are CREATEd whole and existing
    ones updated by MATCH: on Ladybug that is several times cheaper than MERGE.
    """
    plan = events if isinstance(events, WritePlan) else plan_writes(events)
    node_groups: dict[tuple[str, str, bool, tuple[str, ...], tuple[str, ...]], list[dict[str, Any]]] = {}
    for row in plan.nodes:
        props, guarded = _present(row.props), _present(row.guarded)
        params: dict[str, Any] = {"id": row.id, "eid": row.created_event_id}
        params.update({f"p_{name}": row.props[name] for name in props})
        if guarded:
            params.update({f"g_{name}": row.guarded[name] for name in guarded})
            params["at"] = row.stamp
        if existing is None:
            mode = "merge"
        else:
            mode = "update" if row.id in existing.get(row.label, ()) else "create"
        node_groups.setdefault((mode, row.label, row.placeholder, props, guarded), []).append(params)
    rel_groups: dict[tuple[bool, str, str, str, tuple[str, ...]], list[dict[str, Any]]] = {}
    for rel in plan.rels:
        props = _present(rel.props)
        params = {"a": rel.from_id, "b": rel.to_id, **{f"p_{name}": rel.props[name] for name in props}}
        # A relationship with an end created in this transaction cannot exist yet: CREATE it (rows are
        # coalesced, one per relationship), which on Ladybug costs a fraction of a MERGE.
        new = existing is not None and (
            rel.from_id not in existing.get(rel.from_label, ())
            or rel.to_id not in existing.get(rel.to_label, ())
        )
        rel_groups.setdefault((new, rel.type, rel.from_label, rel.to_label, props), []).append(params)

    builders = {"merge": node_statement, "update": node_update_statement, "create": node_create_statement}
    statements = [
        Statement(builders[mode](label, placeholder, props, guarded), {"rows": rows, "version": version})
        for (mode, label, placeholder, props, guarded), rows in sorted(
            node_groups.items(), key=lambda item: (item[0][0], item[0][2], item[0][1], item[0][3], item[0][4])
        )
    ]
    statements += [
        Statement(rel_statement(type_, start, end, props, create=new), {"rows": rows})
        for (new, type_, start, end, props), rows in sorted(rel_groups.items())
    ]
    return statements


# ------------------------------------------------------------------ the ledger and the graph version

SEEN_EVENTS = f"UNWIND $rows AS row\nMATCH (e:{Label.PROJECTED_EVENT.value} {{id: row.id}}) RETURN e.id AS id"

# The GraphMeta node exists from start-up on (ENSURE_META).
BUMP_VERSION = (
    f"MATCH (m:{Label.GRAPH_META.value} {{id: $id}}) "
    "SET m.version = m.version + 1 RETURN m.version AS version"
)

READ_VERSION = f"MATCH (m:{Label.GRAPH_META.value} {{id: $id}}) RETURN m.version AS version"

ENSURE_META = (
    f"MERGE (m:{Label.GRAPH_META.value} {{id: $id}}) "
    "ON CREATE SET m.version = 0, m.schema_version = $schema_version, m.instance_id = $instance_id, "
    "m.placeholder = false "
    "RETURN m.instance_id AS instance_id"
)


def ensure_meta_statement() -> Statement:
    """Creates the GraphMeta node at start-up with a fresh instance id; returns the stored one."""
    import uuid

    return Statement(
        ENSURE_META, {"id": GRAPH_META_ID, "schema_version": SCHEMA_VERSION, "instance_id": uuid.uuid4().hex}
    )


def seen_events_statement(event_ids: Iterable[str]) -> Statement:
    return Statement(SEEN_EVENTS, {"rows": [{"id": event_id} for event_id in event_ids]})


def bump_version_statement() -> Statement:
    return Statement(BUMP_VERSION, {"id": GRAPH_META_ID})


def read_version_statement() -> Statement:
    return Statement(READ_VERSION, {"id": GRAPH_META_ID})


# CREATE, not MERGE: the batch was filtered against the ledger in this transaction. Should another
# replica commit the same event meanwhile (Neo4j), the uniqueness constraint fails this transaction,
# which is retried and then skips the event.
LEDGER = (
    "UNWIND $rows AS row\n"
    f"CREATE (e:{Label.PROJECTED_EVENT.value} {{id: row.id, subject: row.subject, "
    "occurred_at: row.occurred_at, story_ids: row.story_ids, created_event_id: row.id, placeholder: false, "
    "version: $version})"
)


def ledger_statement(events: Sequence[EventWrites], version: int) -> Statement:
    rows = [
        {
            "id": event.event_id,
            "subject": event.subject,
            "occurred_at": event.occurred_at,
            "story_ids": list(event.story_ids),
        }
        for event in events
    ]
    return Statement(LEDGER, {"rows": rows, "version": version})


def new_events(events: Sequence[EventWrites], seen: set[str]) -> list[EventWrites]:
    """The events of the batch not applied before, each once (a batch may hold a duplicate)."""
    fresh: list[EventWrites] = []
    taken = set(seen)
    for event in events:
        if event.event_id not in taken:
            taken.add(event.event_id)
            fresh.append(event)
    return fresh
