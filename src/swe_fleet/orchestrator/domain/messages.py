"""What a state transition asks the world to do: messages to publish, kept in the state's outbox.

A transition appends its messages to the state it returns; the state and its outbox are written in
one compare-and-set, then the messages are published and removed. Each message carries the key and
the moment its event id is derived from, so a re-publish after a crash has the very same id.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from swe_fleet.events.catalogue import model_for_subject
from swe_fleet.events.payloads import Payload
from swe_fleet.orchestrator.domain import ids


class Outgoing(BaseModel):
    model_config = ConfigDict(frozen=True)

    subject: str
    payload: dict[str, Any]
    key: str  # the event id is deterministic_event_id(key, at)
    at: float  # epoch seconds: the id's time part and the envelope's occurred_at
    correlation_id: str | None = None  # the flow it belongs to (the plan approval's correlation id)

    @classmethod
    def of(
        cls, subject: str, payload: Payload, subject_id: str, at: float, correlation_id: str | None = None
    ) -> Outgoing:
        return cls(
            subject=subject,
            payload=payload.model_dump(mode="json"),
            key=ids.event_key(subject, subject_id),
            at=at,
            correlation_id=correlation_id,
        )

    @property
    def moment(self) -> datetime:
        return datetime.fromtimestamp(self.at, UTC)

    def model(self) -> Payload:
        """The typed payload again (as consumers will see it)."""
        model = model_for_subject(self.subject)
        if model is None:
            raise ValueError(f"unknown subject {self.subject}")
        return model.model_validate(self.payload)


# Covariant: a Step[StoryRecord] is a Step[StoryRecord | None]; Step(None) means "nothing to change".
S = TypeVar("S", covariant=True)


@dataclass(frozen=True)
class Step(Generic[S]):
    """A transition's result: the new state (with the messages also in its outbox) and those messages."""

    state: S
    messages: tuple[Outgoing, ...] = ()

    @property
    def commands(self) -> tuple[Outgoing, ...]:
        return tuple(m for m in self.messages if m.subject.startswith("agent.cmd."))

    @property
    def events(self) -> tuple[Outgoing, ...]:
        return tuple(m for m in self.messages if not m.subject.startswith("agent.cmd."))


class HasOutbox(Protocol):
    outbox: list[Outgoing]

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Any: ...


WithOutbox = TypeVar("WithOutbox", bound=HasOutbox)


def without_published(state: WithOutbox | None, published: Collection[str]) -> Step[WithOutbox | None]:
    """The state with the published messages (by key) gone from its outbox; later additions stay."""
    if state is None or not any(m.key in published for m in state.outbox):
        return Step(state)
    return Step(state.model_copy(update={"outbox": [m for m in state.outbox if m.key not in published]}))
