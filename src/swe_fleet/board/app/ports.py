"""What the board needs from the rest of the fleet. The web adapter depends on these, never on a service.

The board changes nothing itself: every change goes through the fleet's HTTP API with the signed-in
person's credentials, so the API's own rules (lifecycle, versions, roles) decide and its refusals are
shown as they are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from swe_fleet.board.domain.identity import Identity

Json = dict[str, Any]


@dataclass
class Refused(Exception):
    """The API said no: its status, its one-sentence reason and, for invalid input, the reason per field."""

    status: int
    detail: str
    fields: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.detail


class Authenticator(Protocol):
    async def identify(self, token: str) -> Identity | None:
        """Who a bearer token stands for; None when it is not valid (unknown, expired, tampered)."""
        ...


class FleetApi(Protocol):
    """The planning and context HTTP APIs, called as `who`; a refusal raises `Refused`."""

    async def projects(self, who: Identity) -> list[Json]: ...
    async def epics(self, who: Identity, project_id: str | None) -> list[Json]: ...
    async def stories(self, who: Identity, *, project_id: str | None, epic_id: str | None) -> list[Json]: ...
    async def story(self, who: Identity, story_id: str) -> Json: ...
    async def create_story(self, who: Identity, body: Json) -> Json: ...
    async def transition(
        self, who: Identity, story_id: str, to_state: str, version: int, reason: str | None
    ) -> Json: ...
    async def delivery(self, who: Identity, story_id: str) -> Json | None:
        """The story's delivery (tasks, the branch's suite, why it waits), or None where there is none."""
        ...

    async def review(self, who: Identity, story_id: str, verdict: str, text: str, version: int) -> Json:
        """At READY_TO_REVIEW: accept (the branch is merged) or send back with the reason."""
        ...

    async def propose_plan(self, who: Identity, story_id: str, body: Json) -> Json: ...
    async def approve_plan(self, who: Identity, plan_id: str, notes: str) -> Json: ...
    async def reject_plan(self, who: Identity, plan_id: str, reason: str) -> Json: ...
    async def decisions(self, who: Identity, *, story_id: str | None, status: str | None) -> list[Json]: ...
    async def decide(self, who: Identity, decision_id: str, verdict: str, rationale: str) -> Json: ...
    async def graph(self, who: Identity, cypher: str, params: Mapping[str, Any]) -> list[Json]: ...
    async def usage(self, who: Identity, story_id: str) -> Json | None:
        """The story's tokens from its recorded LLM calls (None when the Context service has none)."""
        ...


class Backbone(Protocol):
    """The fleet's health as operators see it, and the events as they happen."""

    async def verify_table(self) -> list[Json]: ...
    async def consumers(self) -> list[Json]: ...
    async def dead_letters(self, limit: int) -> list[Json]: ...
    async def replay(self, seq: int, who: Identity) -> int: ...
    async def discard(self, seq: int, who: Identity, reason: str) -> None: ...
    def live(self, subjects: Sequence[str]) -> AsyncIterator[Json]: ...
