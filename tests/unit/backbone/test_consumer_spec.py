"""Consumer settings obey JetStream's rules before they ever reach a server."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swe_fleet.backbone.consumer_spec import ConsumerSpec


def spec(**overrides) -> ConsumerSpec:
    return ConsumerSpec(**{"durable": "d", "stream": "S", "filter_subject": "a.b", **overrides})


@given(ack_wait=st.floats(min_value=0.1, max_value=600), max_deliver=st.integers(min_value=1, max_value=100))
def test_backoff_starts_at_ack_wait_and_stays_shorter_than_max_deliver(
    ack_wait: float, max_deliver: int
) -> None:
    backoff = spec(ack_wait_seconds=ack_wait, max_deliver=max_deliver, failure_deliveries=1).backoff_seconds
    assert len(backoff) < max_deliver  # JetStream: max_deliver must exceed len(backoff)
    if backoff:
        assert backoff[0] == ack_wait  # JetStream makes backoff[0] the ack wait
        assert list(backoff) == sorted(backoff)


def test_failure_deliveries_must_fit_within_max_deliver() -> None:
    with pytest.raises(ValueError, match="failure_deliveries"):
        spec(max_deliver=3, failure_deliveries=4)


def test_retry_delay_follows_the_delivery_number_and_saturates() -> None:
    s = spec(retry_delays_seconds=(1.0, 5.0))
    assert [s.retry_delay(n) for n in (1, 2, 3, 10)] == [1.0, 5.0, 5.0, 5.0]
