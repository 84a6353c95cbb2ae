"""The fleet's one retry policy: delays, bounds, what is retried, stopping, and what is raised."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swe_fleet.retrying import Backoff


class Flaky(Exception):
    pass


class Fatal(Exception):
    pass


def test_delays_grow_by_the_multiplier_up_to_the_cap() -> None:
    backoff = Backoff(first=0.5, maximum=3.0)
    assert [backoff.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert [Backoff(first=1, maximum=100, multiplier=3).delay(n) for n in (1, 2, 3)] == [1, 3, 9]


@given(st.integers(min_value=1, max_value=40), st.floats(min_value=0.0, max_value=1.0))
def test_jitter_only_shortens_a_delay_by_at_most_its_fraction(retry: int, jitter: float) -> None:
    plain, jittered = Backoff(first=0.1, maximum=2.0), Backoff(first=0.1, maximum=2.0, jitter=jitter)
    delay = jittered.delay(retry)
    assert plain.delay(retry) * (1 - jitter) - 1e-12 <= delay <= plain.delay(retry)


@pytest.mark.parametrize(
    "settings",
    [{"first": -1}, {"first": 2, "maximum": 1}, {"multiplier": 0.5}, {"jitter": 1.5}, {"attempts": 0}],
)
def test_a_nonsensical_policy_is_refused_at_once(settings: dict) -> None:
    with pytest.raises(ValueError):
        Backoff(**settings)


async def test_retries_until_success_sleeping_the_policys_delays() -> None:
    slept: list[float] = []
    seen: list[tuple[str, float, int]] = []
    calls = 0

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def flaky_twice() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise Flaky(f"call {calls}")
        return "done"

    backoff = Backoff(first=0.1, maximum=1.0, attempts=5)
    retrying = backoff.retrying(
        Flaky, sleep=sleep, before_sleep=lambda error, delay, n: seen.append((str(error), delay, n))
    )
    async for attempt in retrying:
        with attempt:
            result = await flaky_twice()
    assert (result, calls) == ("done", 3)
    assert slept == [0.1, 0.2]
    assert seen == [("call 1", 0.1, 1), ("call 2", 0.2, 2)]


async def test_after_the_last_attempt_the_last_error_is_raised_as_itself() -> None:
    calls = 0

    async def no_sleep(_: float) -> None:
        return None

    with pytest.raises(Flaky, match="call 3"):
        async for attempt in Backoff(attempts=3).retrying(Flaky, sleep=no_sleep):
            with attempt:
                calls += 1
                raise Flaky(f"call {calls}")
    assert calls == 3


async def test_an_error_not_retried_goes_up_on_the_first_attempt() -> None:
    calls = 0

    async def no_sleep(_: float) -> None:
        return None

    retry_on = lambda error: isinstance(error, Flaky) and "again" in str(error)  # noqa: E731
    with pytest.raises(Fatal):
        async for attempt in Backoff(attempts=10).retrying(retry_on, sleep=no_sleep):
            with attempt:
                calls += 1
                raise Fatal("no")
    assert calls == 1


async def test_an_unbounded_policy_stops_when_its_owner_says_so() -> None:
    calls = 0
    stopping = False

    async def sleep(_: float) -> None:
        nonlocal stopping
        stopping = calls >= 4  # e.g. SIGTERM arrives while the dependency is still down

    with pytest.raises(Flaky):
        async for attempt in Backoff(first=0.0, maximum=0.0).retrying(
            Flaky, stop_when=lambda: stopping, sleep=sleep
        ):
            with attempt:
                calls += 1
                raise Flaky("down")
    assert calls == 5


def test_the_blocking_loop_follows_the_same_policy() -> None:
    slept: list[float] = []
    calls = 0
    for attempt in Backoff(first=0.01, maximum=0.02, attempts=4).retrying_sync(Flaky, sleep=slept.append):
        with attempt:
            calls += 1
            if calls < 4:
                raise Flaky("locked")
    assert calls == 4 and slept == [0.01, 0.02, 0.02]
