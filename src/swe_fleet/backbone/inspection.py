"""Reading the backbone's state for operators: streams, consumers, a live tail of events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from swe_fleet.events.envelope import format_utc
from swe_fleet.events.streams import STREAMS, stream_for_subject


async def describe_streams(js: JetStreamContext) -> list[dict[str, Any]]:
    rows = []
    for spec in STREAMS:
        try:
            info = await js.stream_info(spec.name)
        except NotFoundError:
            rows.append(
                {
                    "stream": spec.name,
                    "found": False,
                    "subjects": list(spec.subjects),
                    "storage": "-",
                    "messages": 0,
                    "bytes": 0,
                    "last_seq": 0,
                    "consumers": 0,
                }
            )
            continue
        rows.append(
            {
                "stream": spec.name,
                "found": True,
                "subjects": list(info.config.subjects or []),
                "storage": str(getattr(info.config.storage, "value", info.config.storage) or "-"),
                "messages": info.state.messages,
                "bytes": info.state.bytes,
                "last_seq": info.state.last_seq,
                "consumers": info.state.consumer_count,
            }
        )
    return rows


async def describe_consumers(js: JetStreamContext, stream: str | None = None) -> list[dict[str, Any]]:
    names = [stream] if stream else [spec.name for spec in STREAMS]
    rows = []
    for name in names:
        try:
            infos = await js.consumers_info(name)
        except NotFoundError:
            continue
        for info in infos:
            if not info.config.durable_name:
                continue  # ephemeral: a tail, not a service
            rows.append(
                {
                    "durable": info.config.durable_name,
                    "stream": name,
                    "filter_subject": info.config.filter_subject or ">",
                    "pending": info.num_pending,
                    "ack_pending": info.num_ack_pending,
                    "redelivered": info.num_redelivered,
                    "waiting": info.num_waiting,
                    "delivered_seq": info.delivered.stream_seq if info.delivered else 0,
                    "ack_floor_seq": info.ack_floor.stream_seq if info.ack_floor else 0,
                    "max_deliver": info.config.max_deliver,
                    "ack_wait": info.config.ack_wait,
                    "max_ack_pending": info.config.max_ack_pending,
                }
            )
    return sorted(rows, key=lambda row: (row["stream"], row["durable"]))


async def tail_events(
    js: JetStreamContext, subject: str, *, last: int = 10, count: int | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Yield events on `subject` from `last` back, then as they come (an ephemeral ordered consumer)."""
    streams = [
        spec
        for spec in STREAMS
        if subject == ">"
        or stream_for_subject(subject.replace(">", "x")) is spec
        or any(s.startswith(subject.rstrip(">*.")) for s in spec.subjects)
    ]
    if not streams:
        raise LookupError(f"no stream holds subject {subject!r}")
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    subscriptions = []
    for spec in streams:
        info = await js.stream_info(spec.name)
        start = max(info.state.last_seq - last + 1, 1) if last else info.state.last_seq + 1
        filter_subject = subject if subject != ">" else None

        async def on_message(msg, stream=spec.name) -> None:
            metadata = msg.metadata
            await queue.put(
                {
                    "stream": stream,
                    "seq": metadata.sequence.stream,
                    "time": format_utc(metadata.timestamp),
                    "subject": msg.subject,
                    "data": msg.data.decode(errors="replace"),
                }
            )

        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start)
        subscriptions.append(
            await js.subscribe(
                filter_subject or spec.subjects[0],
                stream=spec.name,
                cb=on_message,
                ordered_consumer=True,
                config=config,
            )
        )
    try:
        seen = 0
        while count is None or seen < count:
            yield await queue.get()
            seen += 1
    finally:
        for subscription in subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
