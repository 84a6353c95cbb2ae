"""The one envelope every event travels in, and the rules for turning bytes into a typed event.

A message is accepted in two shapes: a full envelope (what the fleet publishes), or a bare payload
on a known subject (what an operator publishes by hand with `nats pub`). Everything else raises
`EventDecodeError` with a machine-readable reason, which the consumer runtime dead-letters.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    create_model,
    field_serializer,
)
from ulid import ULID

from swe_fleet.events.catalogue import CATALOGUE
from swe_fleet.events.payloads import Payload

DEFAULT_MAX_EVENT_BYTES = 256 * 1024
# A ULID in Crockford base32; validated by pydantic-core itself, which keeps decoding on the fast path.
ULID_PATTERN = r"^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"


def new_event_id() -> str:
    return str(ULID())


def deterministic_event_id(key: str, at: datetime) -> str:
    """A valid ULID derived from `key`: the same message always gets the same id."""
    millis = int(at.timestamp() * 1000).to_bytes(6, "big")
    return str(ULID.from_bytes(millis + hashlib.sha256(key.encode()).digest()[:10]))


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str = Field(pattern=ULID_PATTERN)
    event_type: str
    schema_version: int = Field(ge=1)
    occurred_at: AwareDatetime
    producer: str = Field(min_length=1)
    correlation_id: str = Field(min_length=1)
    causation_id: str | None = None
    payload: SerializeAsAny[Payload]

    @field_serializer("occurred_at")
    def _serialize_occurred_at(self, value: datetime) -> str:
        return format_utc(value)

    @property
    def subject(self) -> str:
        return self.event_type

    @classmethod
    def new(
        cls,
        subject: str,
        payload: Payload,
        *,
        producer: str,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> Envelope:
        spec = CATALOGUE.get(subject)
        if spec is None:
            raise ValueError(f"unknown subject {subject!r}: add it to swe_fleet.events.catalogue")
        if not isinstance(payload, spec.model):
            raise TypeError(f"{subject} carries {spec.model.__name__}, not {type(payload).__name__}")
        event_id = event_id or new_event_id()
        return cls(
            event_id=event_id,
            event_type=subject,
            schema_version=spec.current_version,
            occurred_at=occurred_at or utc_now(),
            producer=producer,
            correlation_id=correlation_id or event_id,
            causation_id=causation_id,
            payload=payload,
        )


class EventDecodeError(Exception):
    """A message that can never be processed, whatever the number of retries."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@functools.cache
def _typed_envelope(subject: str) -> type[Envelope]:
    model = CATALOGUE[subject].model
    return create_model(f"{model.__name__}Envelope", __base__=Envelope, payload=(model, ...))


def encode_event(envelope: Envelope) -> bytes:
    return envelope.model_dump_json().encode()


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        location = ".".join(str(part) for part in item["loc"]) or "<root>"
        parts.append(f"{location}: {item['msg']}")
    return "; ".join(parts)


def decode_event(
    subject: str,
    data: bytes,
    *,
    message_key: str | None = None,
    received_at: datetime | None = None,
    max_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> Envelope:
    """Validate `data` received on `subject` into an Envelope, or raise EventDecodeError.

    `message_key` (such as "<stream>:<seq>") makes the id of a bare payload deterministic, so a
    redelivered hand-published message is recognised as the same event.
    """
    if len(data) > max_bytes:
        raise EventDecodeError("oversized", f"{len(data)} bytes exceeds the {max_bytes}-byte event limit")
    spec = CATALOGUE.get(subject)
    if spec is None:
        raise EventDecodeError("unknown_subject", f"no event type is defined for subject {subject!r}")
    # Fast path: a well-formed envelope parses and validates in one pass inside pydantic-core.
    try:
        envelope = _typed_envelope(subject).model_validate_json(data)
    except ValidationError:
        pass  # classify below: a bare payload, or say precisely what is wrong
    else:
        if envelope.event_type == subject and envelope.schema_version in spec.schema_versions:
            return envelope
    try:
        document: Any = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EventDecodeError("malformed_json", str(error)) from None
    if not isinstance(document, dict):
        raise EventDecodeError("malformed_json", f"expected a JSON object, got {type(document).__name__}")

    if "event_id" in document and "payload" in document:
        return _decode_envelope(subject, document, spec.schema_versions, spec.model)
    return _decode_bare_payload(subject, document, spec.current_version, spec.model, message_key, received_at)


def _decode_envelope(
    subject: str, document: dict[str, Any], versions: tuple[int, ...], model: type[Payload]
) -> Envelope:
    version = document.get("schema_version")
    if version not in versions:
        raise EventDecodeError(
            "unsupported_schema_version",
            f"{subject} schema_version {version!r} is not one of the supported versions {list(versions)}",
        )
    if document.get("event_type") != subject:
        raise EventDecodeError(
            "subject_mismatch", f"event_type {document.get('event_type')!r} was published on {subject!r}"
        )
    try:
        payload = model.model_validate(document["payload"])
    except ValidationError as error:
        raise EventDecodeError("invalid_payload", f"{model.__name__}: {_describe(error)}") from None
    try:
        return Envelope.model_validate({**document, "payload": payload})
    except ValidationError as error:
        raise EventDecodeError("invalid_envelope", _describe(error)) from None


def _decode_bare_payload(
    subject: str,
    document: dict[str, Any],
    version: int,
    model: type[Payload],
    message_key: str | None,
    received_at: datetime | None,
) -> Envelope:
    try:
        payload = model.model_validate(document)
    except ValidationError as error:
        raise EventDecodeError("invalid_payload", f"{model.__name__}: {_describe(error)}") from None
    received_at = received_at or utc_now()
    event_id = deterministic_event_id(message_key, received_at) if message_key else new_event_id()
    return Envelope(
        event_id=event_id,
        event_type=subject,
        schema_version=version,
        occurred_at=received_at,
        producer="external",
        correlation_id=event_id,
        payload=payload,
    )
