"""Publishing to JetStream without losing or duplicating: ack awaited, timeouts retried under one msg-id."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import APIError, NoStreamResponseError

from swe_fleet.events.envelope import Envelope, encode_event
from swe_fleet.events.payloads import Payload
from swe_fleet.retrying import Backoff

log = logging.getLogger(__name__)

MSG_ID = "Nats-Msg-Id"

# Failures after which the message may or may not be stored: safe to retry under the same msg-id.
RETRYABLE = (
    nats.errors.TimeoutError,
    asyncio.TimeoutError,
    NoStreamResponseError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
)

# A stream that is leader-less or restoring answers 503-like API errors: transient too.
_TRANSIENT_API_CODES = {10008, 10023}


class PublishFailed(Exception):
    def __init__(self, subject: str, attempts: int, error: BaseException) -> None:
        super().__init__(f"publish to {subject} failed after {attempts} attempts: {error!r}")
        self.subject, self.attempts, self.error = subject, attempts, error


class EventPublisher:
    """Publishes envelopes; `event_id` goes out as `Nats-Msg-Id` so JetStream drops retried copies."""

    def __init__(
        self,
        js: JetStreamContext,
        producer: str,
        *,
        ack_timeout: float = 5.0,
        max_attempts: int = 8,
        first_backoff: float = 0.2,
        max_backoff: float = 5.0,
    ) -> None:
        self._js = js
        self.producer = producer
        self.ack_timeout = ack_timeout
        self.max_attempts = max_attempts
        # Jittered so that publishers that failed together do not all retry together.
        self.backoff = Backoff(first=first_backoff, maximum=max_backoff, jitter=0.5, attempts=max_attempts)

    def envelope(
        self,
        subject: str,
        payload: Payload,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        event_id: str | None = None,
    ) -> Envelope:
        return Envelope.new(
            subject,
            payload,
            producer=self.producer,
            correlation_id=correlation_id,
            causation_id=causation_id,
            event_id=event_id,
        )

    async def publish(
        self,
        subject: str,
        payload: Payload,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        event_id: str | None = None,
    ) -> PubAck:
        envelope = self.envelope(
            subject, payload, correlation_id=correlation_id, causation_id=causation_id, event_id=event_id
        )
        return await self.publish_envelope(envelope)

    async def publish_envelope(self, envelope: Envelope) -> PubAck:
        return await self.publish_raw(envelope.event_type, encode_event(envelope), msg_id=envelope.event_id)

    async def publish_raw(
        self, subject: str, data: bytes, *, msg_id: str, headers: Mapping[str, str] | None = None
    ) -> PubAck:
        all_headers = {**(headers or {}), MSG_ID: msg_id}

        def announce(error: BaseException, delay: float, attempt: int) -> None:
            log.warning(
                "publish %s attempt %d failed (%r); retrying in %.2fs", subject, attempt, error, delay
            )

        try:
            async for attempt in self.backoff.retrying(_retryable, before_sleep=announce):
                with attempt:
                    ack = await self._js.publish(subject, data, timeout=self.ack_timeout, headers=all_headers)
                    if ack.duplicate:
                        log.debug("publish %s msg-id %s: duplicate of seq %s", subject, msg_id, ack.seq)
                    return ack
        except Exception as error:
            if _retryable(error):
                raise PublishFailed(subject, self.max_attempts, error) from error
            raise
        raise AssertionError("unreachable: the retry loop returns or raises")


def _retryable(error: BaseException) -> bool:
    if isinstance(error, APIError) and not isinstance(error, NoStreamResponseError):
        return error.err_code in _TRANSIENT_API_CODES
    return isinstance(error, RETRYABLE)
