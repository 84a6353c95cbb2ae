"""The story lifecycle copied from the issue text, parsed independently of the implementation."""

from __future__ import annotations

from collections import deque

from swe_fleet.events.payloads import StoryState

ISSUE_TABLE = """
DRAFT -> PO_REVIEW
PO_REVIEW -> READY_FOR_PLANNING | DRAFT
READY_FOR_PLANNING -> PLANNED
PLANNED -> READY_FOR_EXECUTION
READY_FOR_EXECUTION -> IN_PROGRESS | CARRY_OVER
IN_PROGRESS -> CODE_REVIEW | CARRY_OVER
CODE_REVIEW -> TESTING | IN_PROGRESS | CARRY_OVER
TESTING -> READY_TO_REVIEW | IN_PROGRESS | CARRY_OVER
READY_TO_REVIEW -> ACCEPTED | IN_PROGRESS | CARRY_OVER
ACCEPTED -> DONE
DONE -> ARCHIVED
CARRY_OVER -> DRAFT | READY_FOR_EXECUTION | ARCHIVED
"""


def issue_pairs() -> set[tuple[StoryState, StoryState]]:
    pairs = set()
    for line in filter(None, (line.strip() for line in ISSUE_TABLE.splitlines())):
        source, _, targets = line.partition("->")
        for target in targets.split("|"):
            pairs.add((StoryState(source.strip()), StoryState(target.strip())))
    # "any state but ARCHIVED -> DRAFT" (DRAFT -> DRAFT would change nothing: not a transition).
    for state in StoryState:
        if state not in (StoryState.ARCHIVED, StoryState.DRAFT):
            pairs.add((state, StoryState.DRAFT))
    return pairs


ALLOWED = issue_pairs()


def path_to(state: StoryState) -> list[StoryState]:
    """The shortest list of moves that takes a new (DRAFT) story to `state`."""
    previous: dict[StoryState, StoryState | None] = {StoryState.DRAFT: None}
    queue = deque([StoryState.DRAFT])
    while queue:
        current = queue.popleft()
        for source, target in sorted(ALLOWED):
            if source is current and target not in previous:
                previous[target] = current
                queue.append(target)
    moves: list[StoryState] = []
    node: StoryState | None = state
    while node is not None and node is not StoryState.DRAFT:
        moves.append(node)
        node = previous[node]
    return list(reversed(moves))
