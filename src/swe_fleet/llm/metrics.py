"""Prometheus metrics of LLM calls, labelled by model."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "fleet_llm_requests_total",
    "LLM chat requests by outcome (ok, retried, rejected, unavailable, timed_out)",
    ["model", "outcome"],
)
LATENCY = Histogram(
    "fleet_llm_request_seconds",
    "Time from sending a chat request to its answer, retries included",
    ["model"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600),
)
QUEUED = Histogram(
    "fleet_llm_queued_seconds",
    "Time a chat request waited for the client's concurrency limit",
    ["model"],
    buckets=(0.001, 0.01, 0.1, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
)
TOKENS = Counter("fleet_llm_tokens_total", "Tokens by model and direction", ["model", "direction"])
IN_FLIGHT = Gauge("fleet_llm_in_flight", "Chat requests being answered right now")
