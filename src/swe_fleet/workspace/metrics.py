"""Prometheus metrics of the workspace service."""

from __future__ import annotations

from prometheus_client import Counter

INJECTION_SUSPECTED = Counter(
    "fleet_workspace_injection_suspected_total",
    "Tool results and task briefs holding instruction-like text (given to the agent as data)",
    ["source"],
)
