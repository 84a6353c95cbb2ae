"""The Context service's durable consumers: one per projected subject, declared next to the projection."""

from __future__ import annotations

from swe_fleet.backbone.consumer_spec import ConsumerSpec
from swe_fleet.context.domain.projections import PROJECTED_SUBJECTS
from swe_fleet.events.streams import stream_for_subject

# Big batches are what make the projection fast: one transaction per batch, one statement per shape.
PROJECTION_BATCH_SIZE = 256


def durable_name(subject: str) -> str:
    """`planning.plan.approved` -> `context-plan-approved` (one durable per (service, subject))."""
    return "context-" + subject.split(".", 1)[1].replace(".", "-").replace("_", "-")


def consumer_specs(batch_size: int = PROJECTION_BATCH_SIZE) -> list[ConsumerSpec]:
    specs = []
    for subject in PROJECTED_SUBJECTS:
        stream = stream_for_subject(subject)
        if stream is None:  # a subject outside every stream is a bug in the catalogue
            raise RuntimeError(f"no stream holds {subject}")
        specs.append(
            ConsumerSpec(
                durable=durable_name(subject),
                stream=stream.name,
                filter_subject=subject,
                description=f"Context graph projection of {subject}",
                # A batch commits in milliseconds; a crashed process's batch goes to the next one soon.
                ack_wait_seconds=10.0,
                batch_size=batch_size,
                max_ack_pending=max(1000, batch_size * 4),
            )
        )
    return specs
