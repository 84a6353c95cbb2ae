"""Tasks waiting for the Product Owner, in a JetStream KV bucket: one record per task, changed by CAS."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from swe_fleet.backbone.provisioning import open_bucket
from swe_fleet.errors import TransientError
from swe_fleet.workspace.domain.approvals import ParkedTask

BUCKET = "workspace_approvals"
_UNAVAILABLE = (nats.errors.TimeoutError, nats.errors.NoRespondersError, nats.errors.ConnectionClosedError)
_RACES = 20


def _key(task_id: str) -> str:
    return hashlib.sha256(task_id.encode()).hexdigest()


class KvApprovalStore:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(
        cls, js: JetStreamContext, bucket: str = BUCKET, *, replicas: int | None = None
    ) -> KvApprovalStore:
        description = "Workspace: tasks parked on the PO's approval, and the verdicts given"
        return cls(await open_bucket(js, bucket, description, replicas=replicas))

    async def _entry(self, task_id: str) -> KeyValue.Entry | None:
        try:
            return await self._kv.get(_key(task_id))
        except nats.js.errors.KeyNotFoundError:
            return None
        except _UNAVAILABLE as error:
            raise TransientError(f"workspace approvals unavailable: {error!r}") from error

    async def get(self, task_id: str) -> ParkedTask | None:
        entry = await self._entry(task_id)
        return ParkedTask.model_validate_json(entry.value) if entry and entry.value else None

    async def change(
        self, task_id: str, change: Callable[[ParkedTask | None], ParkedTask | None]
    ) -> ParkedTask | None:
        for _ in range(_RACES):
            entry = await self._entry(task_id)
            current = ParkedTask.model_validate_json(entry.value) if entry and entry.value else None
            changed = change(current)
            if changed is None or changed == current:
                return current
            data = changed.model_dump_json().encode()
            try:
                if entry is None:
                    await self._kv.create(_key(task_id), data)
                else:
                    await self._kv.update(_key(task_id), data, last=entry.revision)
            except nats.js.errors.KeyWrongLastSequenceError:
                continue  # changed meanwhile (another replica, the verdict consumer): read it again
            except _UNAVAILABLE as error:
                raise TransientError(f"workspace approvals unavailable: {error!r}") from error
            return changed
        raise TransientError(f"workspace approvals: the record of task {task_id} keeps changing")
