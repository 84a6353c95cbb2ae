"""How an LLM call can fail, by what the caller should do about it."""

from __future__ import annotations

from swe_fleet.errors import TransientError


class LlmError(Exception):
    """Any failure of an LLM call."""


class LlmUnavailable(LlmError, TransientError):
    """The server could not be reached, or kept answering 5xx/429, through every retry.

    A TransientError: the consumer runtime holds the work and retries it until the server is back.
    """


class LlmTimedOut(LlmError):
    """The server took the request but gave no answer within the timeout, on every attempt.

    Not transient for the caller: the same request is likely to be as slow again, so an agent
    reports it as a failed answer instead of holding the work.
    """


class LlmRejected(LlmError):
    """The server refused the request (4xx other than 429): retrying the same request cannot help."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"LLM server refused the request ({status}): {detail}")
        self.status = status
        self.detail = detail
