"""Stream sentinels: one durable per stream that reads every subject, so nothing lands unseen.

A service's durables each filter one subject; a message published on a subject nobody consumes
(`planning.bogus.thing`) or that no consumer can decode would otherwise sit in the stream forever.
The sentinel's runtime decodes everything: what cannot be decoded (unknown subject, malformed JSON,
wrong schema version...) is dead-lettered with its reason; the rest is acked and left to the
services. A dead letter for a malformed message is keyed by stream and sequence, so the sentinel and
a service's consumer rejecting the same message record it once.
"""

from __future__ import annotations

from collections.abc import Sequence

from nats.aio.client import Client as NATS

from swe_fleet.backbone.consumer import ConsumerRuntime, Delivery
from swe_fleet.backbone.consumer_spec import ConsumerSpec
from swe_fleet.backbone.dead_letters import DLQ_STREAM, DeadLetterWriter
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.events.payloads import Payload
from swe_fleet.events.streams import STREAMS


def sentinel_specs() -> list[ConsumerSpec]:
    return [
        ConsumerSpec(
            durable=f"sentinel-{spec.name.lower().replace('_', '-')}",
            stream=spec.name,
            filter_subject=spec.subjects[0],
            description=f"Dead-letters anything on {spec.name} that no consumer could decode",
            batch_size=256,
            ack_wait_seconds=30.0,
        )
        for spec in STREAMS
        if spec.name != DLQ_STREAM
    ]


async def _seen(deliveries: Sequence[Delivery[Payload]]) -> None:
    """Valid events are the services' business; decoding them was the check."""


def build_sentinels(nc: NATS) -> list[ConsumerRuntime[Payload]]:
    writer = DeadLetterWriter(EventPublisher(nc.jetstream(), "sentinel"))
    return [ConsumerRuntime(nc, spec, _seen, writer, payload_type=Payload) for spec in sentinel_specs()]
