"""Picks the graph store for a URL: `ladybug:///path` (embedded) or `neo4j://` / `bolt://` (server)."""

from __future__ import annotations

from urllib.parse import urlparse

from swe_fleet.graph.ladybug_store import LadybugGraphStore
from swe_fleet.graph.neo4j_store import NEO4J_SCHEMES, Neo4jGraphStore
from swe_fleet.graph.port import GraphStore


def open_graph_store(url: str, *, neo4j_user: str = "neo4j", neo4j_password: str = "neo4j") -> GraphStore:
    """The store for `url`, not yet started (call `await store.start()`)."""
    scheme = urlparse(url).scheme
    if scheme == "ladybug":
        return LadybugGraphStore(url)
    if scheme in NEO4J_SCHEMES:
        return Neo4jGraphStore(url, user=neo4j_user, password=neo4j_password)
    raise ValueError(
        f"FLEET_GRAPH_URL {url!r} is not supported: use ladybug:///abs/path/fleet.lbug or neo4j://host:7687"
    )
