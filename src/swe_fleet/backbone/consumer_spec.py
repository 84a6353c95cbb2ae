"""How a durable pull consumer is configured: declared next to its handler, provisioned by the backbone."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConsumerSpec:
    durable: str
    stream: str
    filter_subject: str
    description: str = ""
    # Time a delivery may stay un-acked before JetStream gives it to another process. Long handlers
    # keep their lease with in-progress acks every third of it.
    ack_wait_seconds: float = 30.0
    # JetStream stops delivering after this many deliveries (crashes included). It is kept well above
    # `failure_deliveries` so that crash loops do not exhaust it before a poison message is caught.
    max_deliver: int = 20
    # A handler that keeps failing: the message goes to DEAD_LETTERS once it failed on this delivery.
    failure_deliveries: int = 5
    # Delays before redelivering after a handler failure (a nak), by delivery number.
    retry_delays_seconds: tuple[float, ...] = (1.0, 5.0, 15.0, 30.0)
    max_ack_pending: int = 1000
    max_waiting: int = 512
    batch_size: int = 100
    fetch_wait_seconds: float = 1.0
    # On stop, the batch in hand gets this long to finish and be acked; then it is cancelled and its
    # messages are handed back (nak) for another replica, instead of holding shutdown hostage.
    drain_grace_seconds: float = 10.0

    def __post_init__(self) -> None:
        if not 1 <= self.failure_deliveries <= self.max_deliver:
            raise ValueError(f"{self.durable}: failure_deliveries must be within 1..max_deliver")
        if self.ack_wait_seconds <= 0 or self.batch_size <= 0:
            raise ValueError(f"{self.durable}: ack_wait_seconds and batch_size must be positive")

    @property
    def backoff_seconds(self) -> tuple[float, ...]:
        """Redelivery delays after an ack timeout (a crashed or stalled process).

        JetStream makes backoff[0] the ack wait and requires max_deliver > len(backoff).
        """
        delays, delay = [], self.ack_wait_seconds
        for _ in range(min(4, self.max_deliver - 1)):
            delays.append(delay)
            delay = min(delay * 2, max(300.0, self.ack_wait_seconds))
        return tuple(delays)

    def retry_delay(self, num_delivered: int) -> float:
        if not self.retry_delays_seconds:
            return 0.0
        index = min(max(num_delivered - 1, 0), len(self.retry_delays_seconds) - 1)
        return self.retry_delays_seconds[index]
