"""The board's view of the backbone: the `fleet verify` table, consumers, dead letters, live events.

Live events come from plain NATS subscriptions (one set per open page, dropped when it closes): a
page sees what is published from the moment it opens, in milliseconds, and durable consumers are
left to the services that must not miss anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict
from typing import Any

from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError

from swe_fleet.backbone.dead_letters import list_dead_letters, replay_dead_letter
from swe_fleet.backbone.inspection import describe_consumers
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.board.app.ports import Json, Refused
from swe_fleet.board.domain.identity import Identity
from swe_fleet.events import subjects
from swe_fleet.events.payloads import DeadLetterHandled
from swe_fleet.events.streams import DEAD_LETTERS, STREAMS_BY_NAME

DLQ_STREAM = DEAD_LETTERS
LIVE_QUEUE = 1000  # events kept for a page that reads slowly; older ones are dropped, not the server

VerifyTable = Callable[[], Any]


class NatsBackbone:
    """`watch` is the board's own connection (it may only subscribe to events); `operate` is the
    operator's (consumers, dead letters, replay), as `fleet consumers ls` and `fleet dlq replay` use."""

    def __init__(self, watch: NATS, operate: NATS, producer: str, verify_table: VerifyTable) -> None:
        self._nc = watch
        self._js = operate.jetstream()
        self._publisher = EventPublisher(self._js, producer)
        self._verify_table = verify_table

    async def verify_table(self) -> list[Json]:
        return list(await self._verify_table())

    async def consumers(self) -> list[Json]:
        return await describe_consumers(self._js)

    async def dead_letters(self, limit: int) -> list[Json]:
        if DLQ_STREAM not in STREAMS_BY_NAME:
            return []
        letters = await list_dead_letters(self._js, limit=limit)
        rows = []
        for letter in letters:
            row = asdict(letter)
            row["data"] = letter.data.decode(errors="replace")[:2000]
            rows.append(row)
        return rows

    async def _letter(self, seq: int) -> Any:
        letters = await list_dead_letters(self._js, start_seq=seq, limit=1)
        if not letters or letters[0].seq != seq:
            raise Refused(404, f"dead letter {seq} is not in the queue (already replayed or discarded?)")
        return letters[0]

    async def replay(self, seq: int, who: Identity) -> int:
        letter = await self._letter(seq)
        replayed_as = await replay_dead_letter(self._js, self._publisher, letter)
        await self._record(subjects.DEAD_LETTER_REPLAYED, letter, who, "", replayed_as)
        return replayed_as

    async def discard(self, seq: int, who: Identity, reason: str) -> None:
        letter = await self._letter(seq)
        # Recorded first: a discard that is not on record must not happen.
        await self._record(subjects.DEAD_LETTER_DISCARDED, letter, who, reason, None)
        with contextlib.suppress(NotFoundError):
            await self._js.delete_msg(DLQ_STREAM, seq)

    async def _record(
        self, subject: str, letter: Any, who: Identity, note: str, replayed_as: int | None
    ) -> None:
        handled = DeadLetterHandled(
            dead_letter_seq=letter.seq,
            original_subject=letter.original_subject,
            failure_reason=f"{letter.reason}: {letter.detail}"[:2000],
            by=who.name,
            note=note,
            replayed_as_seq=replayed_as,
        )
        await self._publisher.publish(subject, handled)

    async def live(self, subjects: Sequence[str]) -> AsyncIterator[Json]:
        queue: asyncio.Queue[Json] = asyncio.Queue(LIVE_QUEUE)

        async def on_message(msg: Any) -> None:
            try:
                envelope = json.loads(msg.data)
            except ValueError:
                envelope = {}
            if not isinstance(envelope, dict):
                envelope = {}
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait({"subject": msg.subject, "envelope": envelope})

        subscriptions = [await self._nc.subscribe(subject, cb=on_message) for subject in subjects]
        try:
            while True:
                yield await queue.get()
        finally:
            for subscription in subscriptions:
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()
