"""The story lifecycle: which state may follow which, as one table.

The table is the original system's. "Any state but ARCHIVED -> DRAFT" is read as any *other*
state: DRAFT -> DRAFT would change nothing, so it is refused like every pair not in the table.
"""

from __future__ import annotations

from types import MappingProxyType

from swe_fleet.events.payloads import StoryState

S = StoryState

_FORWARD: dict[StoryState, frozenset[StoryState]] = {
    S.DRAFT: frozenset({S.PO_REVIEW}),
    S.PO_REVIEW: frozenset({S.READY_FOR_PLANNING, S.DRAFT}),
    S.READY_FOR_PLANNING: frozenset({S.PLANNED}),
    S.PLANNED: frozenset({S.READY_FOR_EXECUTION}),
    S.READY_FOR_EXECUTION: frozenset({S.IN_PROGRESS, S.CARRY_OVER}),
    S.IN_PROGRESS: frozenset({S.CODE_REVIEW, S.CARRY_OVER}),
    S.CODE_REVIEW: frozenset({S.TESTING, S.IN_PROGRESS, S.CARRY_OVER}),
    S.TESTING: frozenset({S.READY_TO_REVIEW, S.IN_PROGRESS, S.CARRY_OVER}),
    S.READY_TO_REVIEW: frozenset({S.ACCEPTED, S.IN_PROGRESS, S.CARRY_OVER}),
    S.ACCEPTED: frozenset({S.DONE}),
    S.DONE: frozenset({S.ARCHIVED}),
    S.CARRY_OVER: frozenset({S.DRAFT, S.READY_FOR_EXECUTION, S.ARCHIVED}),
    S.ARCHIVED: frozenset(),
}

# The reset rule: every state except ARCHIVED (terminal) and DRAFT itself may go back to DRAFT.
TRANSITIONS: MappingProxyType[StoryState, frozenset[StoryState]] = MappingProxyType(
    {
        state: targets | ({S.DRAFT} if state not in (S.ARCHIVED, S.DRAFT) else frozenset())
        for state, targets in _FORWARD.items()
    }
)

INITIAL_STATE = S.DRAFT
TERMINAL_STATES = frozenset(state for state, targets in TRANSITIONS.items() if not targets)

# States in which a plan may be proposed or approved: the story has been accepted for planning
# and execution has not started. Approving in READY_FOR_PLANNING also moves the story to PLANNED.
PLANNING_STATES = frozenset({S.READY_FOR_PLANNING, S.PLANNED})


def allowed_targets(state: StoryState) -> frozenset[StoryState]:
    return TRANSITIONS[state]


def describe_targets(targets: frozenset[StoryState]) -> str:
    """Targets in the order of the lifecycle, for messages a person reads."""
    ordered = [state.value for state in StoryState if state in targets]
    return ", ".join(ordered) if ordered else "none (terminal state)"
