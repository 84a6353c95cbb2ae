"""Prometheus metrics of the backbone, labelled by durable consumer."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

_PROCESSED = Counter(
    "fleet_events_processed_total", "Events whose effects were committed and acked", ["durable"]
)
_DEAD_LETTERED = Counter(
    "fleet_events_dead_lettered_total", "Events sent to DEAD_LETTERS", ["durable", "reason"]
)
_FAILURES = Counter(
    "fleet_handler_failures_total", "Handler failures (each is retried or dead-lettered)", ["durable"]
)
_TRANSIENT = Counter(
    "fleet_transient_retries_total", "In-place retries while a dependency was down", ["durable"]
)
_BATCH_SECONDS = Histogram("fleet_batch_seconds", "Time to process one fetched batch", ["durable"])


class DurableMetrics:
    """The backbone's metrics for one durable consumer."""

    def __init__(self, durable: str) -> None:
        self._durable = durable
        self.processed = _PROCESSED.labels(durable=durable)
        self.handler_failures = _FAILURES.labels(durable=durable)
        self.transient_retries = _TRANSIENT.labels(durable=durable)
        self.batch_seconds = _BATCH_SECONDS.labels(durable=durable)

    def dead_lettered(self, reason: str) -> Counter:
        return _DEAD_LETTERED.labels(durable=self._durable, reason=reason)
