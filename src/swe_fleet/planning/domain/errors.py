"""What can go wrong in planning, as specific exception types the edges map to answers.

The HTTP adapter maps them to status codes (`Service.error_statuses`), the CLI to one line.
"""

from __future__ import annotations

from swe_fleet.events.payloads import StoryState
from swe_fleet.planning.domain.lifecycle import describe_targets


class PlanningError(Exception):
    """Base of every planning domain error."""


class NotFound(PlanningError):
    def __init__(self, kind: str, entity_id: str) -> None:
        super().__init__(f"{kind} {entity_id!r} not found")
        self.kind, self.entity_id = kind, entity_id


class IllegalTransition(PlanningError):
    def __init__(
        self, story_id: str, from_state: StoryState, to_state: StoryState, allowed: frozenset[StoryState]
    ) -> None:
        super().__init__(
            f"story {story_id} cannot go from {from_state.value} to {to_state.value}; "
            f"allowed from {from_state.value}: {describe_targets(allowed)}"
        )
        self.story_id, self.from_state, self.to_state = story_id, from_state, to_state
        self.allowed = allowed


class Conflict(PlanningError):
    """Someone else changed the thing first (stale version), or the id is already taken."""


class ActionNotAllowed(PlanningError):
    """The action is valid in general but not in the entity's current state."""


class InvalidInput(PlanningError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class InvalidPlan(InvalidInput):
    pass


class MergeRefused(ActionNotAllowed):
    """The story branch cannot be merged into the base branch as asked: nothing in the repository changed."""


class MergeConflict(MergeRefused):
    def __init__(self, base: str, branch: str, files: list[str]) -> None:
        shown = ", ".join(files[:20]) or "(git named no file)"
        super().__init__(f"merging {branch} into {base} conflicts in {shown}; nothing was merged")
        self.files = files
