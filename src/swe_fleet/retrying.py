"""One retry policy for the whole fleet: capped exponential backoff with optional jitter.

Every place that waits and tries again (publishing, provisioning and fetching in the consumer
runtime, a handler whose dependency is down, the LLM and Context HTTP clients, the orchestrator's
compare-and-set, SQLite's switch to WAL) describes its policy with one `Backoff` and runs its loop
with `Backoff.retrying()` (tenacity's `AsyncRetrying`/`Retrying`), or asks `Backoff.delay(n)` when
the loop is a long-running one that resets after a success. The last error is re-raised as itself.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_never,
)

# What to retry: exception types, or a predicate on the exception raised.
RetryOn = type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], bool]


@dataclass(frozen=True)
class Backoff:
    """Delay before retry n (1-based): `first * multiplier**(n-1)`, capped at `maximum`, then
    scaled by a random factor in [1 - jitter, 1] (0: none; 1: "full jitter"). `attempts` bounds
    the tries including the first (None: until the caller's stop condition)."""

    first: float = 0.2
    maximum: float = 5.0
    multiplier: float = 2.0
    jitter: float = 0.0
    attempts: int | None = None

    def __post_init__(self) -> None:
        if self.first < 0 or self.maximum < self.first or self.multiplier < 1:
            raise ValueError(f"backoff needs 0 <= first <= maximum and multiplier >= 1: {self}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter is a fraction in [0, 1]: {self.jitter}")
        if self.attempts is not None and self.attempts < 1:
            raise ValueError(f"attempts must be at least 1: {self.attempts}")

    def delay(self, retry_number: int) -> float:
        """Seconds to wait before retry `retry_number` (the first retry is 1)."""
        base = min(self.first * self.multiplier ** max(retry_number - 1, 0), self.maximum)
        if self.jitter:
            base *= 1.0 - self.jitter * random.random()
        return base

    def retrying(
        self,
        retry_on: RetryOn,
        *,
        stop_when: Callable[[], bool] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        before_sleep: Callable[[BaseException, float, int], None] | None = None,
    ) -> AsyncRetrying:
        """An async retry loop: `async for attempt in backoff.retrying(...): with attempt: ...`.

        `stop_when` is asked after each failure (e.g. "the service is stopping"); `before_sleep`
        gets (error, delay, attempt number) for logs and counters.
        """
        return AsyncRetrying(sleep=sleep, **self._tenacity(retry_on, stop_when, before_sleep))

    def retrying_sync(
        self,
        retry_on: RetryOn,
        *,
        sleep: Callable[[float], None] = time.sleep,
        before_sleep: Callable[[BaseException, float, int], None] | None = None,
    ) -> Retrying:
        """The same loop for blocking code: `for attempt in backoff.retrying_sync(...): with attempt: ...`."""
        return Retrying(sleep=sleep, **self._tenacity(retry_on, None, before_sleep))

    def _tenacity(
        self,
        retry_on: RetryOn,
        stop_when: Callable[[], bool] | None,
        before_sleep: Callable[[BaseException, float, int], None] | None,
    ) -> dict[str, Any]:
        predicate = _predicate(retry_on)
        bounded = stop_after_attempt(self.attempts) if self.attempts is not None else stop_never

        def stop(state: RetryCallState) -> bool:
            return bool(bounded(state)) or (stop_when is not None and stop_when())

        def wait(state: RetryCallState) -> float:
            return self.delay(state.attempt_number)

        def announce(state: RetryCallState) -> None:
            if before_sleep is not None and state.outcome is not None:
                error = state.outcome.exception()
                if error is not None:
                    before_sleep(error, state.upcoming_sleep, state.attempt_number)

        return {
            "retry": retry_if_exception(predicate),
            "stop": stop,
            "wait": wait,
            "before_sleep": announce,
            "reraise": True,
        }


def _predicate(retry_on: RetryOn) -> Callable[[BaseException], bool]:
    if isinstance(retry_on, type | tuple):
        types = retry_on
        return lambda error: isinstance(error, types)
    return retry_on
