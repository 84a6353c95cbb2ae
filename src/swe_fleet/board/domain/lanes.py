"""The board's columns: stories grouped by lifecycle state, in the lifecycle's order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from swe_fleet.events.payloads import StoryState

# Shown as column headings; the lifecycle's own order (events.payloads.StoryState) is the column order.
STATE_LABELS: Mapping[StoryState, str] = {
    StoryState.DRAFT: "Draft",
    StoryState.PO_REVIEW: "PO review",
    StoryState.READY_FOR_PLANNING: "Ready for planning",
    StoryState.PLANNED: "Planned",
    StoryState.READY_FOR_EXECUTION: "Ready for execution",
    StoryState.IN_PROGRESS: "In progress",
    StoryState.CODE_REVIEW: "Code review",
    StoryState.TESTING: "Testing",
    StoryState.READY_TO_REVIEW: "Ready to review",
    StoryState.ACCEPTED: "Accepted",
    StoryState.DONE: "Done",
    StoryState.CARRY_OVER: "Carry over",
    StoryState.ARCHIVED: "Archived",
}


@dataclass(frozen=True)
class Card:
    id: str
    title: str
    state: StoryState
    owner: str
    epic_id: str | None
    version: int
    allowed: tuple[StoryState, ...]

    @classmethod
    def of(cls, story: Mapping[str, Any]) -> Card:
        return cls(
            id=story["id"],
            title=story["title"],
            state=StoryState(story["state"]),
            owner=story.get("owner", ""),
            epic_id=story.get("epic_id"),
            version=int(story["version"]),
            allowed=tuple(StoryState(state) for state in story.get("allowed_transitions", [])),
        )


@dataclass(frozen=True)
class Column:
    state: StoryState
    label: str
    cards: list[Card] = field(default_factory=list)


def columns(stories: Iterable[Mapping[str, Any]]) -> list[Column]:
    """One column per lifecycle state (empty ones too, so a move always has a place to land)."""
    by_state: dict[StoryState, Column] = {
        state: Column(state, STATE_LABELS.get(state, state.value)) for state in StoryState
    }
    for story in stories:
        card = Card.of(story)
        by_state[card.state].cards.append(card)
    return list(by_state.values())


def label(state: StoryState | str) -> str:
    try:
        return STATE_LABELS[StoryState(state)]
    except ValueError:
        return str(state)


def criteria_lines(text: str) -> list[str]:
    """Acceptance criteria typed one per line; blank lines dropped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def count(columns_: Sequence[Column]) -> int:
    return sum(len(column.cards) for column in columns_)
