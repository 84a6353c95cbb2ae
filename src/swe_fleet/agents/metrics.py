"""Prometheus metrics of the agent workers."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RESPONSES = Counter(
    "fleet_agent_responses_total",
    "Commands answered, by kind and outcome (completed, failed)",
    ["kind", "outcome"],
)
ANSWERS = Counter(
    "fleet_agent_llm_answers_total", "LLM answers checked against the kind's contract", ["kind", "verdict"]
)
CONTEXT_MISSING = Counter(
    "fleet_agent_context_missing_total", "Commands answered without their surgical context", ["kind"]
)
COMMAND_SECONDS = Histogram(
    "fleet_agent_command_seconds",
    "Time to answer one command (context, LLM calls, checks)",
    ["kind"],
    buckets=(0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600),
)
CONTEXT_REACHABLE = Gauge(
    "fleet_agent_context_reachable",
    "1 when this worker's last request reached the Context service, 0 when it was unreachable",
)
CONTEXT_HELD = Counter(
    "fleet_agent_context_held_total",
    "Commands held (to be retried) because the Context service was unreachable and the policy is wait",
    ["kind"],
)
INJECTION_SUSPECTED = Counter(
    "fleet_agent_injection_suspected_total",
    "Commands whose data (story, plan, context, proposals) held instruction-like text, answered as data",
    ["kind"],
)
