"""Prometheus metrics of the Context service (declared once per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PROJECTED_EVENTS = Counter(
    "fleet_context_projected_events_total",
    "Events handled by the projection: applied (new) or skipped (already in the graph)",
    ["subject", "outcome"],
)
PROJECTION_BATCH_SECONDS = Histogram(
    "fleet_context_projection_batch_seconds",
    "Time to write one batch of events to the graph (one transaction)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
PROJECTION_BATCH_SIZE = Histogram(
    "fleet_context_projection_batch_events",
    "Events per projected batch",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500),
)
GRAPH_VERSION = Gauge("fleet_context_graph_version", "Graph version after the last committed batch")
GET_CONTEXT_SECONDS = Histogram(
    "fleet_context_get_seconds",
    "GetContext latency inside the service",
    ["cached"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
CACHE_OPERATIONS = Counter(
    "fleet_context_cache_operations_total", "Context cache lookups and writes", ["operation", "result"]
)
CONTEXT_REFUSED = Counter(
    "fleet_context_refused_total", "GetContext requests refused by the scope policy", ["role"]
)
