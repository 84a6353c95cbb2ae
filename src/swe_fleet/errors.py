"""Error kinds that cross layers: how a failure should be retried or reported, not where it came from."""


class TransientError(Exception):
    """A dependency (graph store, cache, LLM, NATS) is unavailable right now.

    The consumer runtime retries the same batch in-process, holding its messages with in-progress
    acks, and never counts the attempt against the message: an outage must not dead-letter work.
    """


class ConfigurationError(ValueError):
    """A service cannot start with the settings it was given (a bad file, a missing URL).

    The message names what is wrong; the CLI prints it as one line and exits with code 2.
    """
