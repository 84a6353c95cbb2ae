"""Orchestration state in a JetStream KV bucket, changed only by compare-and-set.

One key per story (`story.<id>`: phase and derivations) and one per deliberation
(`deliberation.<id>`). `mutate` reads a value and its revision, applies a pure transition and
writes the result with `update(last=revision)`; if another replica wrote first
(KeyWrongLastSequenceError) it reads again and re-applies. So any number of orchestrator replicas
share the work, and a restarted one finds every in-flight deliberation where it was left.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue
from pydantic import BaseModel

from swe_fleet.backbone.provisioning import ensure_bucket_replicas
from swe_fleet.errors import TransientError
from swe_fleet.orchestrator.app.ports import Change, Mutation
from swe_fleet.orchestrator.domain.deliberation_state import DeliberationState
from swe_fleet.orchestrator.domain.messages import Step
from swe_fleet.orchestrator.domain.state_keys import (
    DELIBERATION_PREFIX,
    STORY_PREFIX,
    deliberation_key,
    key_part,
    story_key,
)
from swe_fleet.orchestrator.domain.story import StoryRecord
from swe_fleet.retrying import Backoff

log = logging.getLogger(__name__)

# Every way the server or the connection can be briefly unavailable: retried by the consumer runtime.
UNAVAILABLE = (
    nats.errors.TimeoutError,
    asyncio.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.NoStreamResponseError,
)

M = TypeVar("M", bound=BaseModel)


__all__ = [
    "DELIBERATION_PREFIX",
    "STORY_PREFIX",
    "Change",
    "Mutation",
    "StateStore",
    "deliberation_key",
    "key_part",
    "story_key",
]


class StateStore:
    """The JetStream KV implementation of `app.ports.StateStore`."""

    def __init__(self, kv: KeyValue, *, max_attempts: int = 100) -> None:
        self._kv = kv
        self._max_attempts = max_attempts
        # Lost compare-and-set races: retry at once-ish, full jitter so racing replicas spread out.
        self._contention = Backoff(first=0.002, maximum=0.05, jitter=1.0, attempts=max_attempts)

    @classmethod
    async def open(cls, js: JetStreamContext, bucket: str, *, replicas: int | None = None) -> StateStore:
        """Bind the bucket, creating it (file storage, one revision per key, `replicas` copies on a
        cluster) on first use."""
        try:
            kv = await js.key_value(bucket)
            await ensure_bucket_replicas(js, bucket, replicas)  # an existing bucket is moved, not recreated
        except nats.js.errors.BucketNotFoundError:
            try:
                kv = await js.create_key_value(
                    KeyValueConfig(
                        bucket=bucket,
                        description="Orchestrator: story phases, task derivations, deliberations",
                        history=1,
                        storage=StorageType.FILE,
                        replicas=replicas or 1,
                    )
                )
            except nats.js.errors.BadRequestError:
                kv = await js.key_value(bucket)  # another replica created it first
        return cls(kv)

    # ------------------------------------------------------------------ reads

    async def get(self, key: str, model: type[M]) -> tuple[M | None, int]:
        try:
            entry = await self._kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            return None, 0
        except UNAVAILABLE as error:
            raise TransientError(f"orchestrator state unavailable: {error!r}") from error
        return model.model_validate_json(entry.value or b"{}"), entry.revision or 0

    async def story(self, story_id: str) -> StoryRecord | None:
        return (await self.get(story_key(story_id), StoryRecord))[0]

    async def deliberation(self, deliberation_id: str) -> DeliberationState | None:
        return (await self.get(deliberation_key(deliberation_id), DeliberationState))[0]

    # ------------------------------------------------------------------ writes

    async def mutate(
        self, key: str, model: type[M], transition: Callable[[M | None], Step[M | None]]
    ) -> Mutation[M]:
        """Apply `transition` to the current value and write it if it changed, retrying lost races."""
        try:
            async for attempt in self._contention.retrying(nats.js.errors.KeyWrongLastSequenceError):
                with attempt:
                    return await self._mutate_once(key, model, transition)
        except nats.js.errors.KeyWrongLastSequenceError:
            pass
        raise TransientError(f"{key}: still contended after {self._max_attempts} compare-and-set attempts")

    async def _mutate_once(
        self, key: str, model: type[M], transition: Callable[[M | None], Step[M | None]]
    ) -> Mutation[M]:
        """One read-transition-write; KeyWrongLastSequenceError when another replica wrote first."""
        current, revision = await self.get(key, model)
        step = transition(current)
        if step.state is None or step.state == current:
            return Mutation(current, revision, False, step)
        data = step.state.model_dump_json().encode()
        try:
            if current is None:
                revision = await self._kv.create(key, data)
            else:
                revision = await self._kv.update(key, data, last=revision)
        except UNAVAILABLE as error:
            raise TransientError(f"orchestrator state unavailable: {error!r}") from error
        return Mutation(step.state, revision, True, step)

    async def create(self, key: str, value: BaseModel) -> bool:
        """Write `value` only if the key does not exist; False when it already did (idempotent create)."""
        try:
            await self._kv.create(key, value.model_dump_json().encode())
        except nats.js.errors.KeyWrongLastSequenceError:
            return False
        except UNAVAILABLE as error:
            raise TransientError(f"orchestrator state unavailable: {error!r}") from error
        return True

    # ------------------------------------------------------------------ watching

    async def watch(self) -> AsyncIterator[Change | None]:
        """Every key's latest value, then every change as it happens; None marks 'caught up'."""
        watcher = await self._kv.watchall()
        try:
            async for entry in watcher:
                if entry is None:
                    yield None
                    continue
                if entry.operation in (KV_DEL, KV_PURGE):
                    yield Change(entry.key, entry.revision or 0, None)
                    continue
                value = _decode(entry.key, entry.value)
                if value is not None:
                    yield Change(entry.key, entry.revision or 0, value)
        finally:
            try:
                await watcher.stop()
            except Exception as error:  # the connection may be gone already
                log.debug("stopping the state watcher: %r", error)

    async def keys(self, prefix: str) -> list[str]:
        try:
            keys = await self._kv.keys()
        except nats.js.errors.NoKeysError:
            return []
        return sorted(key for key in keys if key.startswith(prefix))

    async def ping(self) -> str:
        status = await self._kv.status()
        return f"bucket {status.bucket}: {status.values} values"


def _decode(key: str, data: bytes | None) -> StoryRecord | DeliberationState | None:
    try:
        if key.startswith(STORY_PREFIX):
            return StoryRecord.model_validate_json(data or b"{}")
        if key.startswith(DELIBERATION_PREFIX):
            return DeliberationState.model_validate_json(data or b"{}")
    except ValueError as error:
        log.error("orchestrator state %s cannot be read: %s", key, error)
    return None
