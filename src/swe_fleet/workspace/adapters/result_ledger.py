"""The ledger of task results in a JetStream KV bucket: the first result recorded for a task is the one."""

from __future__ import annotations

import hashlib

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from swe_fleet.backbone.provisioning import open_bucket
from swe_fleet.errors import TransientError

BUCKET = "workspace_results"
_UNAVAILABLE = (nats.errors.TimeoutError, nats.errors.NoRespondersError, nats.errors.ConnectionClosedError)


def _key(task_id: str) -> str:
    # KV keys allow few characters; a task id may hold others (":" from derived ids).
    return hashlib.sha256(task_id.encode()).hexdigest()


class KvResultLedger:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(
        cls, js: JetStreamContext, bucket: str = BUCKET, *, replicas: int | None = None
    ) -> KvResultLedger:
        description = "Workspace: the one result of each task (its encoded event)"
        return cls(await open_bucket(js, bucket, description, replicas=replicas))

    async def get(self, task_id: str) -> bytes | None:
        try:
            entry = await self._kv.get(_key(task_id))
        except nats.js.errors.KeyNotFoundError:
            return None
        except _UNAVAILABLE as error:
            raise TransientError(f"workspace results unavailable: {error!r}") from error
        return entry.value

    async def record(self, task_id: str, envelope: bytes) -> bytes:
        try:
            await self._kv.create(_key(task_id), envelope)
        except nats.js.errors.KeyWrongLastSequenceError:
            kept = await self.get(task_id)
            return kept if kept is not None else envelope
        except _UNAVAILABLE as error:
            raise TransientError(f"workspace results unavailable: {error!r}") from error
        return envelope
