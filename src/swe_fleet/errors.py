"""Error kinds that cross layers: how a failure should be retried, not where it came from."""


class TransientError(Exception):
    """A dependency (graph store, cache, LLM, NATS) is unavailable right now.

    The consumer runtime retries the same batch in-process, holding its messages with in-progress
    acks, and never counts the attempt against the message: an outage must not dead-letter work.
    """
