"""A story's decision graph as a picture: nodes and edges a few hops out from the story.

Hops follow the relationship types the vocabulary declares (graph.schema.RELS), one query per type
and direction; labels and types come from the vocabulary, ids are parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from swe_fleet.graph.schema import RELS
from swe_fleet.graph.schema import Label as L

MAX_NODES = 400
DEPTH = 3
# The property shown under each label's nodes.
CAPTIONS: Mapping[str, str] = {
    L.PROJECT: "name",
    L.EPIC: "title",
    L.STORY: "title",
    L.PLAN: "status",
    L.PLAN_APPROVAL: "approved_by",
    L.PLAN_REJECTION: "rejected_by",
    L.PHASE_TRANSITION: "to_state",
    L.TASK: "title",
    L.DERIVATION_FAILURE: "reason",
    L.DECISION: "title",
    L.DELIBERATION: "outcome",
    L.PROPOSAL: "agent_id",
    L.CRITIQUE: "author_agent_id",
    L.SCORE: "judge_agent_id",
    L.AGENT: "id",
    L.TASK_DISPATCH: "agent_id",
}
# Leaves that would crowd the picture: a proposal's critiques and scores are on the story page.
LEFT_OUT = frozenset({L.CRITIQUE, L.SCORE})


@dataclass(frozen=True)
class Hop:
    rel: str
    start: str
    end: str
    outgoing: bool  # from the frontier (start) to new nodes (end); else into the frontier
    cypher: str

    @property
    def new_label(self) -> str:
        return self.end if self.outgoing else self.start


def hops_from(labels: Iterable[str]) -> list[Hop]:
    frontier = set(labels)
    hops = []
    for rel in RELS.values():
        for start, end in rel.ends:
            if start in frontier and end in CAPTIONS and end not in LEFT_OUT:
                cypher = (
                    f"MATCH (a:{start})-[:{rel.name}]->(b:{end}) WHERE a.id IN $ids "
                    f"RETURN a.id AS source, b.id AS target, b.{CAPTIONS[end]} AS caption"
                )
                hops.append(Hop(rel.name, start, end, True, cypher))
            if end in frontier and start in CAPTIONS and start not in LEFT_OUT:
                cypher = (
                    f"MATCH (b:{start})-[:{rel.name}]->(a:{end}) WHERE a.id IN $ids "
                    f"RETURN b.id AS source, a.id AS target, b.{CAPTIONS[start]} AS caption"
                )
                hops.append(Hop(rel.name, start, end, False, cypher))
    return hops


def level_query(hops: Sequence[Hop]) -> str:
    """All of a level's hops as one statement (UNION ALL), each row naming its hop by index: one
    question per level instead of one per relationship type (a page view is one request to the
    person's rate limit, not dozens). The frontier's ids are parameters, one list per label."""
    return " UNION ALL ".join(
        hop.cypher.replace("$ids", f"$ids_{hop.start if hop.outgoing else hop.end}").replace(
            " RETURN ", f" RETURN {index} AS hop, ", 1
        )
        for index, hop in enumerate(hops)
    )


def level_params(frontier: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    return {f"ids_{label}": list(ids) for label, ids in frontier.items()}


@dataclass
class Picture:
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: dict[str, dict[str, Any]] = field(default_factory=dict)
    truncated: bool = False

    def add_node(self, node_id: str, label: str, caption: Any) -> bool:
        if node_id in self.nodes:
            return False
        if len(self.nodes) >= MAX_NODES:
            self.truncated = True
            return False
        text = "" if caption is None else str(caption)
        self.nodes[node_id] = {"id": node_id, "label": label, "caption": text[:80]}
        return True

    def add_edge(self, source: str, target: str, rel: str) -> None:
        if source in self.nodes and target in self.nodes:
            key = f"{source}|{rel}|{target}"
            self.edges[key] = {"id": key, "source": source, "target": target, "rel": rel}

    def add_rows(self, hop: Hop, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
        """Adds a hop's answer; returns the new nodes by label (the next frontier)."""
        added: dict[str, list[str]] = {}
        for row in rows:
            new_id = row["target"] if hop.outgoing else row["source"]
            if new_id is None:
                continue
            if self.add_node(str(new_id), hop.new_label, row.get("caption")):
                added.setdefault(hop.new_label, []).append(str(new_id))
            self.add_edge(str(row["source"]), str(row["target"]), hop.rel)
        return added

    def elements(self) -> list[dict[str, Any]]:
        """cytoscape.js elements."""
        return [{"group": "nodes", "data": n} for n in self.nodes.values()] + [
            {"group": "edges", "data": e} for e in self.edges.values()
        ]
