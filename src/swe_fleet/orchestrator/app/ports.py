"""What the Orchestrator's use cases need from the outside: a compare-and-set state store and an
outbox publisher. Adapters: `adapters/state_store.py` (JetStream KV), `adapters/outbox_publisher.py`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel

from swe_fleet.orchestrator.domain.deliberation_state import DeliberationState
from swe_fleet.orchestrator.domain.messages import Outgoing, Step
from swe_fleet.orchestrator.domain.story import StoryRecord

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Mutation(Generic[M]):
    state: M | None
    revision: int
    changed: bool
    step: Step[M | None] | None = None


@dataclass(frozen=True)
class Change:
    """A value seen by a watcher: a story record or a deliberation (None when the key was deleted)."""

    key: str
    revision: int
    value: StoryRecord | DeliberationState | None


class StateStore(Protocol):
    """Story records and deliberations by key, changed only by compare-and-set.

    Unavailability is a `TransientError` (the consumer runtime retries the batch in place)."""

    async def get(self, key: str, model: type[M]) -> tuple[M | None, int]: ...

    async def story(self, story_id: str) -> StoryRecord | None: ...

    async def deliberation(self, deliberation_id: str) -> DeliberationState | None: ...

    async def mutate(
        self, key: str, model: type[M], transition: Callable[[M | None], Step[M | None]]
    ) -> Mutation[M]:
        """Apply `transition` to the current value and write it if it changed, retrying lost races."""
        ...

    async def create(self, key: str, value: BaseModel) -> bool:
        """Write `value` only if the key does not exist; False when it already did."""
        ...

    def watch(self) -> AsyncIterator[Change | None]:
        """Every key's latest value, then every change as it happens; None marks 'caught up'."""
        ...


class OutboxPublisher(Protocol):
    async def publish(self, messages: Sequence[Outgoing], *, correlation_id: str | None) -> list[str]:
        """Publish in order under deterministic ids; the keys published, or raise TransientError."""
        ...
