"""What a projection asks the graph to do: plain values, checked against the vocabulary.

A handler turns one event into an `EventWrites` (node upserts and relationship merges); the store
applies a batch of them in one transaction, each event at most once (see `GraphStore.apply`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from swe_fleet.graph.schema import PropType, SchemaViolation, node_label, rel_type


def guard_stamp(occurred_at: str, event_id: str) -> str:
    """The value a guarded property is ordered by: event time, ties broken by event id.

    `occurred_at` is RFC 3339 UTC with microseconds and `Z` (fixed width), so strings sort by time.
    """
    return f"{occurred_at}|{event_id}"


@dataclass(frozen=True)
class NodeUpsert:
    """Create the node if missing; set `props`; set `guarded` only if `stamp` is newer than the node's.

    `placeholder=True` says this event is not the one that defines the node (a plan approval about
    a story): the node is created with `placeholder` true if missing, and stays so until its own
    event (story.created) arrives and sets it false. Either kind may set properties.
    """

    label: str
    id: str
    props: Mapping[str, Any] = field(default_factory=dict)
    guarded: Mapping[str, Any] = field(default_factory=dict)
    stamp: str | None = None
    placeholder: bool = False

    def __post_init__(self) -> None:
        spec = node_label(self.label)
        if not self.id:
            raise SchemaViolation(f"{self.label}: empty id")
        declared = dict(spec.properties) if self.props else {}
        for name in self.props:
            if name not in declared or name in spec.guarded:
                raise SchemaViolation(f"{self.label}.{name} is not a settable property")
        for name in self.guarded:
            if name not in spec.guarded:
                raise SchemaViolation(f"{self.label}.{name} is not a guarded property")
        if self.guarded and not self.stamp:
            raise SchemaViolation(f"{self.label}: guarded properties need a stamp")


@dataclass(frozen=True)
class RelMerge:
    """Create the relationship if missing (at most one per type between two nodes)."""

    type: str
    from_label: str
    from_id: str
    to_label: str
    to_id: str
    props: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        spec = rel_type(self.type)
        if (self.from_label, self.to_label) not in spec.ends:
            raise SchemaViolation(f"{self.type} does not connect {self.from_label} to {self.to_label}")
        if not self.from_id or not self.to_id:
            raise SchemaViolation(f"{self.type}: empty end id")
        if self.props:  # most relationships carry none: no need to build the declared set
            declared = spec.all_properties()
            for name in self.props:
                if name not in declared:
                    raise SchemaViolation(f"{self.type}.{name} is not a declared property")


Write = NodeUpsert | RelMerge


@dataclass(frozen=True)
class EventWrites:
    """The graph effects of one event, applied at most once (keyed by `event_id`)."""

    event_id: str
    subject: str
    occurred_at: str
    writes: tuple[Write, ...]
    story_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApplyResult:
    """What a committed batch changed. `version` is unchanged when every event had been applied."""

    applied_event_ids: tuple[str, ...]
    skipped_event_ids: tuple[str, ...]
    story_ids: tuple[str, ...]
    version: int

    @property
    def changed(self) -> bool:
        return bool(self.applied_event_ids)


def coerce(prop_type: PropType, value: Any, where: str) -> Any:
    """A value of the declared type (ints widened to floats, tuples to lists), or SchemaViolation."""
    if value is None:
        return None
    if prop_type is PropType.STRING and isinstance(value, str):
        return value
    if prop_type is PropType.INT and isinstance(value, int) and not isinstance(value, bool):
        return value
    if prop_type is PropType.FLOAT and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if prop_type is PropType.BOOL and isinstance(value, bool):
        return value
    if (
        prop_type is PropType.STRING_LIST
        and isinstance(value, list | tuple)
        and all(isinstance(item, str) for item in value)
    ):
        return list(value)
    raise SchemaViolation(f"{where}: {value!r} is not a {prop_type.value}")
