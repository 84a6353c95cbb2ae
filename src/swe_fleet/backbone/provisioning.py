"""Idempotent provisioning of streams and durable consumers.

Running it twice changes nothing; a stream whose settings drifted is updated in place, never
deleted (deleting a stream deletes its events).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from swe_fleet.backbone.consumer_spec import ConsumerSpec
from swe_fleet.events.streams import STREAMS, StreamSpec

log = logging.getLogger(__name__)


class Change(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Provisioned:
    kind: str
    name: str
    change: Change
    detail: str = ""


def stream_config(spec: StreamSpec) -> StreamConfig:
    return StreamConfig(
        name=spec.name,
        description=spec.description,
        subjects=list(spec.subjects),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=spec.max_age_seconds,
        duplicate_window=spec.duplicate_window_seconds,
        max_msg_size=spec.max_msg_size,
        num_replicas=1,
    )


# The fields we own; anything else on an existing stream (set by an operator) is left alone.
_STREAM_FIELDS = (
    "subjects",
    "retention",
    "storage",
    "max_age",
    "duplicate_window",
    "max_msg_size",
    "description",
)


def _stream_drift(found: StreamConfig, wanted: StreamConfig) -> list[str]:
    drift = []
    for field in _STREAM_FIELDS:
        have, want = getattr(found, field), getattr(wanted, field)
        if field == "subjects":
            have, want = sorted(have or []), sorted(want or [])
        if isinstance(want, float) and have is not None:
            have = float(have)
        if have != want:
            drift.append(f"{field}: {have!r} -> {want!r}")
    return drift


async def ensure_stream(js: JetStreamContext, spec: StreamSpec, *, replicas: int = 1) -> Provisioned:
    wanted = stream_config(spec)
    wanted.num_replicas = replicas
    try:
        info = await js.stream_info(spec.name)
    except NotFoundError:
        await js.add_stream(wanted)
        log.info("stream %s created", spec.name)
        return Provisioned("stream", spec.name, Change.CREATED)
    drift = _stream_drift(info.config, wanted)
    if info.config.storage != wanted.storage:
        # Storage cannot change in place; say so rather than delete and recreate the stream.
        raise RuntimeError(
            f"stream {spec.name} exists with {info.config.storage} storage; the fleet needs file storage "
            "and never deletes a stream: migrate it by hand"
        )
    if not drift:
        return Provisioned("stream", spec.name, Change.UNCHANGED)
    # Keep everything an operator set (replicas, placement, limits we do not own), change only ours.
    merged = info.config
    for field in _STREAM_FIELDS:
        setattr(merged, field, getattr(wanted, field))
    await js.update_stream(merged)
    log.info("stream %s updated: %s", spec.name, ", ".join(drift))
    return Provisioned("stream", spec.name, Change.UPDATED, ", ".join(drift))


async def ensure_streams(js: JetStreamContext, specs: tuple[StreamSpec, ...] = STREAMS) -> list[Provisioned]:
    return [await ensure_stream(js, spec) for spec in specs]


def consumer_config(spec: ConsumerSpec) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=spec.durable,
        description=spec.description or None,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        filter_subject=spec.filter_subject,
        ack_wait=spec.ack_wait_seconds,
        max_deliver=spec.max_deliver,
        backoff=list(spec.backoff_seconds) or None,
        max_ack_pending=spec.max_ack_pending,
        max_waiting=spec.max_waiting,
    )


_CONSUMER_FIELDS = ("filter_subject", "ack_wait", "max_deliver", "backoff", "max_ack_pending", "max_waiting")


async def ensure_consumer(js: JetStreamContext, spec: ConsumerSpec) -> Provisioned:
    """Create the durable or bring it to `spec` (`pull_subscribe` alone ignores config: nats.py#506)."""
    wanted = consumer_config(spec)
    try:
        info = await js.consumer_info(spec.stream, spec.durable)
    except NotFoundError:
        await js.add_consumer(spec.stream, wanted)
        return Provisioned("consumer", spec.durable, Change.CREATED)
    drift = []
    for field in _CONSUMER_FIELDS:
        have, want = getattr(info.config, field), getattr(wanted, field)
        if field == "backoff":
            have, want = [float(v) for v in have or []], [float(v) for v in want or []]
        elif isinstance(want, float) and have is not None:
            have = float(have)
        if have != want:
            drift.append(f"{field}: {have!r} -> {want!r}")
    if not drift:
        return Provisioned("consumer", spec.durable, Change.UNCHANGED)
    await js.add_consumer(spec.stream, wanted)  # the create call updates an existing durable in place
    return Provisioned("consumer", spec.durable, Change.UPDATED, ", ".join(drift))
