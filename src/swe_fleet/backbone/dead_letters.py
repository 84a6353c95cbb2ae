"""DEAD_LETTERS: writing a message that cannot be processed, listing them, and replaying them.

A dead letter keeps the original bytes and headers and says why, where from and after how many
deliveries. Its msg-id is derived from the original's stream and sequence, so a retried write (or
several consumers rejecting the same malformed message) records it once.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from swe_fleet.backbone.publisher import MSG_ID, EventPublisher
from swe_fleet.events import streams
from swe_fleet.events.envelope import format_utc
from swe_fleet.events.subjects import dead_letter_subject

log = logging.getLogger(__name__)

DLQ_STREAM = streams.DEAD_LETTERS
H_REASON = "Fleet-Dlq-Reason"
H_DETAIL = "Fleet-Dlq-Detail"
H_SUBJECT = "Fleet-Original-Subject"
H_STREAM = "Fleet-Original-Stream"
H_SEQ = "Fleet-Original-Seq"
H_CONSUMER = "Fleet-Consumer"
H_DELIVERIES = "Fleet-Deliveries"
H_FAILED_AT = "Fleet-Failed-At"
H_HEADERS = "Fleet-Original-Headers"
H_REPLAYED_FROM = "Fleet-Replayed-From"

# Failures that belong to the message itself (any consumer would reject it): recorded once per message.
MESSAGE_FAULTS = frozenset(
    {
        "oversized",
        "unknown_subject",
        "malformed_json",
        "unsupported_schema_version",
        "subject_mismatch",
        "invalid_payload",
        "invalid_envelope",
    }
)


def _one_line(text: str, limit: int = 2000) -> str:
    return " ".join(text.split())[:limit]


@dataclass(frozen=True)
class DeadLetter:
    seq: int
    subject: str
    reason: str
    detail: str
    original_subject: str
    original_stream: str
    original_seq: int | None
    consumer: str
    deliveries: int
    failed_at: str
    original_headers: dict[str, str] = field(default_factory=dict)
    data: bytes = b""


class DeadLetterWriter:
    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    async def send(
        self,
        *,
        data: bytes,
        original_subject: str,
        original_stream: str,
        original_seq: int | None,
        original_headers: Mapping[str, str] | None,
        reason: str,
        detail: str,
        consumer: str,
        deliveries: int,
    ) -> None:
        if original_seq is not None:
            key = f"dlq:{original_stream}:{original_seq}"
            msg_id = key if reason in MESSAGE_FAULTS else f"{key}:{consumer}"
        else:
            msg_id = f"dlq:{original_subject}:{consumer}:{format_utc(datetime.now(UTC))}"
        headers = {
            H_REASON: reason,
            H_DETAIL: _one_line(detail),
            H_SUBJECT: original_subject,
            H_STREAM: original_stream,
            H_SEQ: str(original_seq or ""),
            H_CONSUMER: consumer,
            H_DELIVERIES: str(deliveries),
            H_FAILED_AT: format_utc(datetime.now(UTC)),
            H_HEADERS: json.dumps(dict(original_headers or {}), separators=(",", ":")),
        }
        await self._publisher.publish_raw(
            dead_letter_subject(original_subject), data, msg_id=msg_id, headers=headers
        )
        log.warning(
            "dead-lettered %s seq %s for %s: %s: %s",
            original_subject,
            original_seq,
            consumer,
            reason,
            detail[:200],
        )


def _from_raw(seq: int, subject: str, headers: Mapping[str, str] | None, data: bytes | None) -> DeadLetter:
    headers = dict(headers or {})
    try:
        original_headers = json.loads(headers.get(H_HEADERS) or "{}")
    except json.JSONDecodeError:
        original_headers = {}
    original_seq = headers.get(H_SEQ) or ""
    return DeadLetter(
        seq=seq,
        subject=subject,
        reason=headers.get(H_REASON, "unknown"),
        detail=headers.get(H_DETAIL, ""),
        original_subject=headers.get(H_SUBJECT, subject.removeprefix("dlq.")),
        original_stream=headers.get(H_STREAM, ""),
        original_seq=int(original_seq) if original_seq.isdigit() else None,
        consumer=headers.get(H_CONSUMER, ""),
        deliveries=int(headers.get(H_DELIVERIES) or 0),
        failed_at=headers.get(H_FAILED_AT, ""),
        original_headers=original_headers,
        data=data or b"",
    )


async def list_dead_letters(
    js: JetStreamContext, *, start_seq: int = 1, limit: int = 100, stream: str = DLQ_STREAM
) -> list[DeadLetter]:
    info = await js.stream_info(stream)
    first, last = max(info.state.first_seq, start_seq), info.state.last_seq
    letters: list[DeadLetter] = []
    seq = first
    while seq <= last and len(letters) < limit:
        try:
            raw = await js.get_msg(stream, seq)
        except NotFoundError:  # deleted (replayed) entries leave gaps
            seq += 1
            continue
        letters.append(_from_raw(raw.seq or seq, raw.subject or "", raw.headers, raw.data))
        seq += 1
    return letters


async def replay_dead_letter(
    js: JetStreamContext,
    publisher: EventPublisher,
    letter: DeadLetter,
    *,
    keep: bool = False,
    stream: str = DLQ_STREAM,
) -> int:
    """Republish the original bytes to the original subject; then remove the dead letter.

    The replay's msg-id is derived from the dead letter's sequence: replaying twice (a crash between
    the publish and the delete) publishes once within the duplicate window, and consumers are
    idempotent by event id beyond it.
    """
    headers = {k: v for k, v in letter.original_headers.items() if k != MSG_ID}
    headers[H_REPLAYED_FROM] = str(letter.seq)
    ack = await publisher.publish_raw(
        letter.original_subject, letter.data, msg_id=f"replay:{stream}:{letter.seq}", headers=headers
    )
    if not keep:
        with contextlib.suppress(NotFoundError):
            await js.delete_msg(stream, letter.seq)
    return ack.seq
