"""Bad input published straight to NATS: poison messages, and duplicates JetStream cannot drop.

Poison: malformed JSON, wrong types, an unknown subject under a stream, a payload over the 256 KiB
event limit (but under the server's 1 MiB max payload), an unsupported schema version, a bare payload
that does not validate. Each is recorded with its stream sequence and the reason DEAD_LETTERS must
give for it.

Duplicates: a message already in PLANNING_EVENTS re-published byte for byte under another
Nats-Msg-Id, so JetStream stores it twice and only the consumers' idempotency stands between it and a
second effect.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from swe_fleet.events import streams, subjects
from swe_fleet.events.envelope import DEFAULT_MAX_EVENT_BYTES, EventDecodeError, decode_event, new_event_id

PLANNING = streams.PLANNING_EVENTS
ORCHESTRATION = streams.ORCHESTRATOR_EVENTS


@dataclass(frozen=True)
class Poison:
    kind: str
    subject: str
    stream: str
    seq: int
    expected_reason: str


@dataclass(frozen=True)
class Duplicate:
    stream: str
    original_seq: int
    copy_seq: int
    event_id: str
    subject: str


def _envelope(subject: str, payload: object, *, schema_version: int = 1) -> dict[str, object]:
    event_id = new_event_id()
    return {
        "event_id": event_id,
        "event_type": subject,
        "schema_version": schema_version,
        "occurred_at": "2026-01-01T00:00:00.000000Z",
        "producer": "chaos",
        "correlation_id": event_id,
        "causation_id": None,
        "payload": payload,
    }


def _transition_payload(story_id: str) -> dict[str, object]:
    return {"story_id": story_id, "from_state": "DRAFT", "to_state": "PO_REVIEW", "transitioned_by": "chaos"}


# kind -> (subject, stream, expected DLQ reason, bytes maker)
PoisonMaker = Callable[[int], bytes]
POISON_KINDS: dict[str, tuple[str, str, str, PoisonMaker]] = {
    "malformed_json": (
        subjects.STORY_TRANSITIONED,
        PLANNING,
        "malformed_json",
        lambda n: b'{"event_id": "01J',
    ),
    "wrong_types": (
        subjects.PLAN_APPROVED,
        PLANNING,
        "invalid_payload",
        lambda n: json.dumps(
            _envelope(subjects.PLAN_APPROVED, {"story_id": 12345, "plan_id": ["x"], "roles": "DEV"})
        ).encode(),
    ),
    "unknown_subject": (
        "planning.bogus.created",
        PLANNING,
        "unknown_subject",
        lambda n: json.dumps({"bogus": n}).encode(),
    ),
    "oversized": (
        subjects.STORY_CREATED,
        PLANNING,
        "oversized",
        lambda n: json.dumps(
            {"story_id": f"HUGE-{n}", "title": "x" * (DEFAULT_MAX_EVENT_BYTES + 4096)}
        ).encode(),
    ),
    "wrong_schema_version": (
        subjects.STORY_TRANSITIONED,
        PLANNING,
        "unsupported_schema_version",
        lambda n: json.dumps(
            _envelope(subjects.STORY_TRANSITIONED, _transition_payload(f"GHOST-{n}"), schema_version=99)
        ).encode(),
    ),
    "invalid_bare_payload": (
        subjects.DECISION_APPROVED,
        PLANNING,
        "invalid_payload",
        lambda n: json.dumps({"decision_id": f"GHOST-{n}"}).encode(),
    ),
    "orchestration_malformed": (
        subjects.TASK_DISPATCHED,
        ORCHESTRATION,
        "malformed_json",
        lambda n: b"\xff\xfe not even text",
    ),
}


@dataclass
class Injector:
    js: JetStreamContext
    run_id: str
    seed: int = 11
    poison: list[Poison] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    failed: int = 0  # publishes that did not get an ack (NATS down): not injected, not expected

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)
        self._count = 0

    async def publish_poison(self, kind: str | None = None) -> Poison | None:
        kind = kind or sorted(POISON_KINDS)[self._count % len(POISON_KINDS)]
        subject, stream, reason, make = POISON_KINDS[kind]
        self._count += 1
        msg_id = f"chaos-poison-{self.run_id}-{self._count}"
        try:
            ack = await self.js.publish(
                subject, make(self._count), headers={"Nats-Msg-Id": msg_id}, timeout=5
            )
        except Exception:
            self.failed += 1
            return None
        poison = Poison(kind, subject, stream, ack.seq, reason)
        self.poison.append(poison)
        return poison

    async def duplicate_one(self) -> Duplicate | None:
        """Re-publish a random valid planning event under a new msg-id (a second copy in the stream)."""
        try:
            info = await self.js.stream_info(PLANNING)
            first, last = info.state.first_seq, info.state.last_seq
            if last < first:
                return None
            poisoned = {p.seq for p in self.poison if p.stream == PLANNING}
            for _ in range(10):
                seq = self.random.randint(first, last)
                if seq in poisoned:
                    continue
                try:
                    raw = await self.js.get_msg(PLANNING, seq)
                except NotFoundError:
                    continue
                try:
                    envelope = decode_event(raw.subject or "", raw.data or b"")
                except EventDecodeError:
                    continue
                self._count += 1
                msg_id = f"chaos-dup-{self.run_id}-{self._count}"
                ack = await self.js.publish(
                    raw.subject or "", raw.data or b"", headers={"Nats-Msg-Id": msg_id}, timeout=5
                )
                duplicate = Duplicate(PLANNING, seq, ack.seq, envelope.event_id, raw.subject or "")
                self.duplicates.append(duplicate)
                return duplicate
        except Exception:
            self.failed += 1
        return None
