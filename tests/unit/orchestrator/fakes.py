"""In-memory stand-ins for the Orchestrator's ports (app/ports.py): the same compare-and-set contract."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import TypeVar

from pydantic import BaseModel

from swe_fleet.errors import TransientError
from swe_fleet.orchestrator.app.ports import Change, Mutation
from swe_fleet.orchestrator.domain.deliberation_state import DeliberationState
from swe_fleet.orchestrator.domain.messages import Outgoing, Step
from swe_fleet.orchestrator.domain.state_keys import deliberation_key, story_key
from swe_fleet.orchestrator.domain.story import StoryRecord

M = TypeVar("M", bound=BaseModel)


class MemoryStateStore:
    """Values stored as JSON (as the KV bucket does), each with a revision bumped on every write."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[str, int]] = {}
        self.writes = 0

    async def get(self, key: str, model: type[M]) -> tuple[M | None, int]:
        if key not in self.values:
            return None, 0
        data, revision = self.values[key]
        return model.model_validate_json(data), revision

    async def story(self, story_id: str) -> StoryRecord | None:
        return (await self.get(story_key(story_id), StoryRecord))[0]

    async def deliberation(self, deliberation_id: str) -> DeliberationState | None:
        return (await self.get(deliberation_key(deliberation_id), DeliberationState))[0]

    async def mutate(
        self, key: str, model: type[M], transition: Callable[[M | None], Step[M]]
    ) -> Mutation[M]:
        current, revision = await self.get(key, model)
        step = transition(current)
        if step.state is None or step.state == current:
            return Mutation(current, revision, False, step)
        self.values[key] = (step.state.model_dump_json(), revision + 1)
        self.writes += 1
        return Mutation(step.state, revision + 1, True, step)

    async def create(self, key: str, value: BaseModel) -> bool:
        if key in self.values:
            return False
        self.values[key] = (value.model_dump_json(), 1)
        self.writes += 1
        return True

    async def watch(self) -> AsyncIterator[Change | None]:
        yield None


class RecordingOutbox:
    """Publishes into a list, keeping one message per key (JetStream's duplicate window does that);
    `unavailable` makes every publish fail as a NATS outage would."""

    def __init__(self) -> None:
        self.published: dict[str, Outgoing] = {}
        self.attempts = 0
        self.unavailable = False

    async def publish(self, messages: Sequence[Outgoing], *, correlation_id: str | None) -> list[str]:
        self.attempts += 1
        if self.unavailable:
            raise TransientError("NATS unavailable")
        for message in messages:
            self.published.setdefault(message.key, message)
        return [message.key for message in messages]

    def on(self, subject: str) -> list[Outgoing]:
        return [m for m in self.published.values() if m.subject == subject]
