"""The story state machine, exactly as the issue states it: every pair is checked, both ways."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from swe_fleet.events.payloads import StoryState
from swe_fleet.planning.domain import lifecycle
from swe_fleet.planning.domain.errors import IllegalTransition
from swe_fleet.planning.domain.model import Story
from tests.unit.planning.issue_table import ALLOWED, path_to

ALL_PAIRS = list(itertools.product(StoryState, StoryState))
AT = datetime(2026, 1, 1, tzinfo=UTC)


def story_in(state: StoryState) -> Story:
    return Story(
        id="US-1",
        epic_id=None,
        title="t",
        brief="",
        acceptance_criteria=[],
        owner="po",
        created_by="po",
        created_at=AT,
        updated_at=AT,
        correlation_id="01J00000000000000000000000",
        state=state,
    )


def test_the_table_is_the_issues_table() -> None:
    implemented = {(a, b) for a in StoryState for b in lifecycle.allowed_targets(a)}
    assert implemented == ALLOWED
    assert {StoryState.ARCHIVED} == lifecycle.TERMINAL_STATES


@pytest.mark.parametrize(("source", "target"), ALL_PAIRS, ids=[f"{a}->{b}" for a, b in ALL_PAIRS])
def test_every_pair_is_accepted_or_refused_as_the_table_says(source: StoryState, target: StoryState) -> None:
    story = story_in(source)
    if (source, target) in ALLOWED:
        event, record = story.transition(target, by="po", reason="why", at=AT)
        assert (story.state, story.version) == (target, 2)
        assert (event.story_id, event.from_state, event.to_state, event.transitioned_by) == (
            "US-1",
            source,
            target,
            "po",
        )
        assert (record.from_state, record.to_state, record.reason) == (source, target, "why")
    else:
        with pytest.raises(IllegalTransition) as refused:
            story.transition(target, by="po", reason=None, at=AT)
        assert (story.state, story.version) == (source, 1)  # a refusal changes nothing
        assert refused.value.allowed == lifecycle.allowed_targets(source)
        message = str(refused.value)
        assert f"from {source.value} to {target.value}" in message
        for allowed in lifecycle.allowed_targets(source):
            assert allowed.value in message
        if source is StoryState.ARCHIVED:
            assert "terminal" in message


class StoryLifecycle(RuleBasedStateMachine):
    """Random walks through the lifecycle: the story and a plain model must always agree."""

    def __init__(self) -> None:
        super().__init__()
        self.story = story_in(StoryState.DRAFT)
        self.model_state = StoryState.DRAFT
        self.accepted = 0

    @rule(to_state=st.sampled_from(list(StoryState)))
    def try_any_target(self, to_state: StoryState) -> None:
        target = to_state
        if (self.model_state, target) in ALLOWED:
            event, _ = self.story.transition(target, by="po", reason=None, at=AT)
            assert event.from_state == self.model_state
            self.model_state = target
            self.accepted += 1
        else:
            with pytest.raises(IllegalTransition):
                self.story.transition(target, by="po", reason=None, at=AT)

    @rule(data=st.data())
    def take_an_allowed_step(self, data: st.DataObject) -> None:
        targets = sorted(lifecycle.allowed_targets(self.model_state))
        if targets:
            target = data.draw(st.sampled_from(targets))
            self.story.transition(target, by="po", reason=None, at=AT)
            self.model_state = target
            self.accepted += 1

    @invariant()
    def story_matches_model(self) -> None:
        assert self.story.state == self.model_state
        assert self.story.version == 1 + self.accepted


TestStoryLifecycle = StoryLifecycle.TestCase
TestStoryLifecycle.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


@given(st.sampled_from(list(StoryState)))
def test_only_archived_cannot_return_to_draft(state: StoryState) -> None:
    can_reset = StoryState.DRAFT in lifecycle.allowed_targets(state)
    assert can_reset == (state not in (StoryState.ARCHIVED, StoryState.DRAFT))


@pytest.mark.parametrize("state", list(StoryState))
def test_every_state_is_reachable_from_draft(state: StoryState) -> None:
    story = story_in(StoryState.DRAFT)
    for step in path_to(state):
        story.transition(step, by="po", reason=None, at=AT)
    assert story.state is state
