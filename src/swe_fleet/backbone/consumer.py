"""The consumer runtime: durable pull consumers that hand validated batches to a handler.

Written once for every service. For each fetched batch it validates every message (a message that
cannot be decoded is dead-lettered at once and terminated), gives the valid ones to the handler,
which commits their effects, and then acks them. While the handler runs it keeps the batch's lease
with in-progress acks. A failing batch is retried message by message so one poison message cannot
hold the others back; a message that keeps failing is dead-lettered on its last allowed delivery.
A `TransientError` (a dependency down) is retried in place without spending deliveries.

Dispatch is typed: a runtime is built for one payload model (`payload_type`), checked at start-up
against the catalogue's subjects under its filter, and its handler receives `Delivery[that model]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from swe_fleet.backbone.consumer_spec import ConsumerSpec
from swe_fleet.backbone.dead_letters import DeadLetterWriter
from swe_fleet.backbone.metrics import DurableMetrics
from swe_fleet.backbone.provisioning import ensure_consumer, ensure_stream
from swe_fleet.errors import TransientError
from swe_fleet.events.catalogue import subjects_not_of
from swe_fleet.events.envelope import DEFAULT_MAX_EVENT_BYTES, Envelope, EventDecodeError, decode_event
from swe_fleet.events.payloads import Payload
from swe_fleet.events.streams import STREAMS_BY_NAME
from swe_fleet.retrying import Backoff

log = logging.getLogger(__name__)


P = TypeVar("P", bound=Payload)

# Waiting for NATS or JetStream to be back (provisioning, fetching): 0.2 s doubling up to 5 s.
RECONNECT = Backoff(first=0.2, maximum=5.0)


@dataclass(frozen=True)
class Delivery(Generic[P]):
    """One validated event as delivered by JetStream; `payload` is the envelope's, of the handler's type."""

    envelope: Envelope
    payload: P
    subject: str
    stream: str
    stream_seq: int
    num_delivered: int
    msg: Msg = field(repr=False, compare=False)


BatchHandler = Callable[[Sequence[Delivery[P]]], Awaitable[None]]


class PayloadMismatch(ValueError):
    """A durable's filter takes in subjects whose payload its handler does not accept."""


@dataclass
class ConsumerStats:
    batches: int = 0
    processed: int = 0
    dead_lettered: int = 0
    handler_failures: int = 0
    transient_retries: int = 0
    last_batch_at: float | None = None


class ConsumerRuntime(Generic[P]):
    """Runs one durable pull consumer until stopped; any number of processes may run the same durable."""

    def __init__(
        self,
        nc: NATS,
        spec: ConsumerSpec,
        handler: BatchHandler[P],
        dead_letters: DeadLetterWriter,
        *,
        payload_type: type[P],
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        transient_backoff_max: float = 5.0,
    ) -> None:
        foreign = subjects_not_of(spec.filter_subject, payload_type)
        if foreign:
            raise PayloadMismatch(
                f"{spec.durable}: its handler takes {payload_type.__name__}, "
                f"but {spec.filter_subject} also delivers {', '.join(foreign)}"
            )
        self.payload_type = payload_type
        self._nc = nc
        self._js: JetStreamContext = nc.jetstream()
        self.spec = spec
        self._handler = handler
        self._dead_letters = dead_letters
        self._max_event_bytes = max_event_bytes
        self._transient_backoff = Backoff(
            first=min(0.2, transient_backoff_max), maximum=transient_backoff_max
        )
        self._stopping = asyncio.Event()
        self.stats = ConsumerStats()
        self._metrics = DurableMetrics(spec.durable)

    def stop(self) -> None:
        """Finish the batch in hand (within the drain grace), ack it, and return from `run`."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        await self._ensure_until_stopped()
        if self._stopping.is_set():
            return
        subscription = await self._js.pull_subscribe_bind(self.spec.durable, stream=self.spec.stream)
        # Backstop for a message whose last allowed delivery died with its process: JetStream will
        # not deliver it again, but tells whoever listens; every replica listens, the DLQ dedupes.
        advisory = await self._nc.subscribe(
            f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{self.spec.stream}.{self.spec.durable}",
            cb=self._on_max_deliveries,
        )
        log.info(
            "consumer %s on %s (%s) started", self.spec.durable, self.spec.stream, self.spec.filter_subject
        )
        fetch_failures = 0
        try:
            while not self._stopping.is_set():
                try:
                    messages = await subscription.fetch(
                        self.spec.batch_size, timeout=self.spec.fetch_wait_seconds
                    )
                except TimeoutError:
                    # Nothing there: fetch raises rather than returning []. Usually nats.errors.
                    # TimeoutError, but a batch fetch whose deadline ran out after its no-wait probe
                    # raises the builtin one (its base class): both mean "try again", not a failure.
                    continue
                except Exception as error:
                    # Disconnected, reconnecting, JetStream recovering after a restart (503), or the
                    # durable deleted by hand: none of these may stop a service. Wait and re-ensure.
                    log.warning("consumer %s: fetch failed (%r); retrying", self.spec.durable, error)
                    fetch_failures += 1
                    await self._sleep_unless_stopping(RECONNECT.delay(fetch_failures))
                    with contextlib.suppress(Exception):
                        await ensure_consumer(self._js, self.spec)
                    continue
                fetch_failures = 0
                if messages:
                    await self._process_within_grace(messages)
        finally:
            for sub in (subscription, advisory):
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
            log.info("consumer %s stopped", self.spec.durable)

    async def _ensure_until_stopped(self) -> None:
        """Provision the stream (if it is one of the fleet's) and the durable; retry while NATS or
        JetStream is not ready yet, so a service started before its streams exist waits, not dies."""

        def announce(error: BaseException, _delay: float, _attempt: int) -> None:
            log.warning("consumer %s: cannot provision yet (%r); retrying", self.spec.durable, error)

        if self._stopping.is_set():
            return
        try:
            async for attempt in RECONNECT.retrying(
                Exception,
                stop_when=self._stopping.is_set,
                sleep=self._sleep_unless_stopping,
                before_sleep=announce,
            ):
                with attempt:
                    stream = STREAMS_BY_NAME.get(self.spec.stream)
                    if stream is not None:
                        await ensure_stream(self._js, stream, replicas=None)  # as provisioned
                    await ensure_consumer(self._js, self.spec)
        except Exception:
            if not self._stopping.is_set():
                raise

    async def _on_max_deliveries(self, advisory: Msg) -> None:
        try:
            notice = json.loads(advisory.data)
            seq, deliveries = int(notice["stream_seq"]), int(notice.get("deliveries", 0))
            raw = await self._js.get_msg(self.spec.stream, seq)
            await self._dead_letters.send(
                data=raw.data or b"",
                original_subject=raw.subject or "",
                original_stream=self.spec.stream,
                original_seq=seq,
                original_headers=raw.headers,
                reason="max_deliveries",
                detail=f"JetStream stopped after {deliveries} deliveries without an ack",
                consumer=self.spec.durable,
                deliveries=deliveries,
            )
            self.stats.dead_lettered += 1
            self._metrics.dead_lettered("max_deliveries").inc()
        except Exception as error:
            log.error("consumer %s: max-deliveries advisory not handled: %r", self.spec.durable, error)

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    # ------------------------------------------------------------------ one batch

    async def _process_within_grace(self, messages: Sequence[Msg]) -> None:
        batch = asyncio.create_task(self.process_batch(messages))
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait([batch, stopping], return_when=asyncio.FIRST_COMPLETED)
            if not batch.done():
                done, _ = await asyncio.wait([batch], timeout=self.spec.drain_grace_seconds)
                if not done:
                    log.warning(
                        "consumer %s: batch not done %.0fs after stop; handing it back",
                        self.spec.durable,
                        self.spec.drain_grace_seconds,
                    )
                    batch.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await batch
                    for msg in messages:  # acked ones refuse the nak; the rest come back at once
                        with contextlib.suppress(Exception):
                            await msg.nak()
                    return
            batch.result()
        finally:
            stopping.cancel()

    async def process_batch(self, messages: Sequence[Msg]) -> None:
        started = time.perf_counter()
        deliveries: list[Delivery[P]] = []
        for msg in messages:
            delivery = await self._decode_or_dead_letter(msg)
            if delivery is not None:
                deliveries.append(delivery)
        if deliveries:
            await self._handle_batch(deliveries)
        self.stats.batches += 1
        self.stats.last_batch_at = time.time()
        self._metrics.batch_seconds.observe(time.perf_counter() - started)

    async def _decode_or_dead_letter(self, msg: Msg) -> Delivery[P] | None:
        metadata = msg.metadata
        key = f"{metadata.stream}:{metadata.sequence.stream}"
        try:
            envelope = decode_event(
                msg.subject,
                msg.data,
                message_key=key,
                received_at=metadata.timestamp,
                max_bytes=self._max_event_bytes,
            )
        except EventDecodeError as error:
            await self._dead_letter(msg, error.reason, error.detail)
            return None
        payload = envelope.payload
        if not isinstance(payload, self.payload_type):
            # Only a subject added to the catalogue after this process started can get here.
            detail = f"{self.spec.durable} takes {self.payload_type.__name__}, not {type(payload).__name__}"
            await self._dead_letter(msg, "unexpected_payload", detail)
            return None
        return Delivery(
            envelope,
            payload,
            msg.subject,
            metadata.stream,
            metadata.sequence.stream,
            metadata.num_delivered,
            msg,
        )

    async def _handle_batch(self, deliveries: list[Delivery[P]]) -> None:
        try:
            await self._run_handler(deliveries)
        except Exception as error:
            if len(deliveries) == 1:
                await self._handler_failed(deliveries[0], error)
                return
            # Isolate the failure: the good messages of the batch must not wait for a poison one.
            log.info(
                "consumer %s: batch of %d failed (%r); retrying one by one",
                self.spec.durable,
                len(deliveries),
                error,
            )
            for delivery in deliveries:
                try:
                    await self._run_handler([delivery])
                except Exception as single_error:
                    await self._handler_failed(delivery, single_error)
                else:
                    await self._ack([delivery])
            return
        await self._ack(deliveries)

    async def _run_handler(self, deliveries: list[Delivery[P]]) -> None:
        """Call the handler, keeping the lease; retry in place while a dependency is down."""

        def announce(error: BaseException, delay: float, _attempt: int) -> None:
            self.stats.transient_retries += 1
            self._metrics.transient_retries.inc()
            log.warning(
                "consumer %s: dependency unavailable (%s); retrying in %.1fs", self.spec.durable, error, delay
            )

        # Until the dependency is back (no delivery is spent); when stopping, the error goes up.
        async with self._keep_lease(deliveries):
            async for attempt in self._transient_backoff.retrying(
                TransientError, stop_when=self._stopping.is_set, before_sleep=announce
            ):
                with attempt:
                    await self._handler(deliveries)

    @contextlib.asynccontextmanager
    async def _keep_lease(self, deliveries: list[Delivery[P]]):
        interval = max(self.spec.ack_wait_seconds / 3, 0.1)

        async def tick() -> None:
            while True:
                await asyncio.sleep(interval)
                for delivery in deliveries:
                    with contextlib.suppress(Exception):
                        await delivery.msg.in_progress()

        ticker = asyncio.create_task(tick())
        try:
            yield
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    async def _ack(self, deliveries: list[Delivery[P]]) -> None:
        for delivery in deliveries:
            with contextlib.suppress(nats.errors.MsgAlreadyAckdError):
                await delivery.msg.ack()
        # One round trip per batch: the acks have reached the server when this returns. A lost ack
        # only means a redelivery, which the idempotent handler absorbs.
        with contextlib.suppress(Exception):
            await self._nc.flush(timeout=5)
        self.stats.processed += len(deliveries)
        self._metrics.processed.inc(len(deliveries))

    async def _handler_failed(self, delivery: Delivery[P], error: BaseException) -> None:
        self.stats.handler_failures += 1
        self._metrics.handler_failures.inc()
        if isinstance(error, TransientError):
            # Only while stopping: hand the message back at once for another replica.
            await delivery.msg.nak()
            return
        if delivery.num_delivered >= self.spec.failure_deliveries:
            await self._dead_letter(
                delivery.msg,
                "handler_failed",
                f"failed on delivery {delivery.num_delivered} of {self.spec.failure_deliveries}: {error!r}",
            )
            return
        delay = self.spec.retry_delay(delivery.num_delivered)
        log.warning(
            "consumer %s: %s seq %d failed on delivery %d (%r); redelivery in %.1fs",
            self.spec.durable,
            delivery.subject,
            delivery.stream_seq,
            delivery.num_delivered,
            error,
            delay,
        )
        await delivery.msg.nak(delay=delay)

    async def _dead_letter(self, msg: Msg, reason: str, detail: str) -> None:
        metadata = msg.metadata
        try:
            await self._dead_letters.send(
                data=msg.data,
                original_subject=msg.subject,
                original_stream=metadata.stream,
                original_seq=metadata.sequence.stream,
                original_headers=msg.headers,
                reason=reason,
                detail=detail,
                consumer=self.spec.durable,
                deliveries=metadata.num_delivered,
            )
        except Exception as error:
            # Not recorded, so not terminated: the message comes back and we try again.
            log.error(
                "consumer %s: could not dead-letter seq %d (%r)",
                self.spec.durable,
                metadata.sequence.stream,
                error,
            )
            with contextlib.suppress(Exception):
                await msg.nak(delay=self.spec.retry_delay(metadata.num_delivered))
            return
        with contextlib.suppress(nats.errors.MsgAlreadyAckdError):
            await msg.term()
        self.stats.dead_lettered += 1
        self._metrics.dead_lettered(reason).inc()
