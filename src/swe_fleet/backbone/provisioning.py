"""Idempotent provisioning of streams and durable consumers.

Running it twice changes nothing; a stream whose settings drifted is updated in place, never
deleted (deleting a stream deletes its events). Replicas too: on a cluster the server moves a
stream to more or fewer replicas in place; where it cannot (a single server asked for more than one),
provisioning fails saying so and changes nothing.
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
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import APIError, BadRequestError, BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from swe_fleet.backbone.consumer_spec import ConsumerSpec
from swe_fleet.errors import ConfigurationError
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


class ReplicasUnchangeable(ConfigurationError):
    """The server refused the replicas the fleet asked for; the message says which stream and why
    (the CLI prints it as one line)."""


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


async def ensure_stream(js: JetStreamContext, spec: StreamSpec, *, replicas: int | None = 1) -> Provisioned:
    """`replicas` None: keep an existing stream's replicas (one if it has to be created)."""
    wanted = stream_config(spec)
    wanted.num_replicas = replicas or 1
    try:
        info = await js.stream_info(spec.name)
    except NotFoundError:
        try:
            await js.add_stream(wanted)
        except APIError as error:
            raise _replicas_refused(spec.name, None, wanted.num_replicas, error) from error
        log.info("stream %s created with %d replica(s)", spec.name, wanted.num_replicas)
        return Provisioned("stream", spec.name, Change.CREATED)
    drift = _stream_drift(info.config, wanted)
    have_replicas = info.config.num_replicas or 1
    if replicas is not None and have_replicas != replicas:
        drift.append(f"num_replicas: {have_replicas} -> {replicas}")
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
    if replicas is not None:
        merged.num_replicas = replicas
    try:
        await js.update_stream(merged)
    except APIError as error:
        if merged.num_replicas == have_replicas:
            raise
        raise _replicas_refused(spec.name, have_replicas, merged.num_replicas or 1, error) from error
    log.info("stream %s updated: %s", spec.name, ", ".join(drift))
    return Provisioned("stream", spec.name, Change.UPDATED, ", ".join(drift))


async def ensure_bucket_replicas(js: JetStreamContext, bucket: str, replicas: int | None) -> Provisioned:
    """A KV bucket is the stream `KV_<bucket>`: move an existing one to `replicas` in place, as streams."""
    stream = f"KV_{bucket}"
    info = await js.stream_info(stream)
    have = info.config.num_replicas or 1
    if replicas is None or have == replicas:
        return Provisioned("bucket", bucket, Change.UNCHANGED)
    config = info.config
    config.num_replicas = replicas
    try:
        await js.update_stream(config)
    except APIError as error:
        raise _replicas_refused(stream, have, replicas, error) from error
    log.info("bucket %s moved from %d to %d replicas", bucket, have, replicas)
    return Provisioned("bucket", bucket, Change.UPDATED, f"num_replicas: {have} -> {replicas}")


async def open_bucket(
    js: JetStreamContext, bucket: str, description: str, *, replicas: int | None = None
) -> KeyValue:
    """A file-backed KV bucket holding one value per key (1 MiB at most): opened, and moved to `replicas`
    in place if it exists; created if not (by whichever service instance comes first)."""
    try:
        kv = await js.key_value(bucket)
        await ensure_bucket_replicas(js, bucket, replicas)
        return kv
    except BucketNotFoundError:
        pass
    try:
        return await js.create_key_value(
            KeyValueConfig(
                bucket=bucket,
                description=description,
                history=1,
                storage=StorageType.FILE,
                max_value_size=1024 * 1024,
                replicas=replicas or 1,
            )
        )
    except BadRequestError:
        return await js.key_value(bucket)  # another instance created it first


def _replicas_refused(stream: str, have: int | None, want: int, error: APIError) -> Exception:
    if want == 1 and have is None:
        return error  # not about replicas
    change = f"created with {want} replicas" if have is None else f"moved from {have} to {want} replicas"
    return ReplicasUnchangeable(
        f"stream {stream} cannot be {change}: the server says {error.description or error!r} "
        f"(err_code {error.err_code}). More than one replica needs a JetStream cluster of at least as many "
        "nodes; set FLEET_NATS_REPLICAS to what the servers hold. Nothing was deleted."
    )


async def ensure_streams(
    js: JetStreamContext, specs: tuple[StreamSpec, ...] = STREAMS, *, replicas: int | None = None
) -> list[Provisioned]:
    """Every stream at `replicas` (settings.resolved_nats_replicas; None keeps what each has, 1 when
    created); durables inherit their stream's replicas."""
    return [await ensure_stream(js, spec, replicas=replicas) for spec in specs]


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
