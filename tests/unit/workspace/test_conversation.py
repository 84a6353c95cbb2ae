"""An agent's conversation is kept within the model's reach: old observations are shortened first."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from swe_fleet.workspace.domain.conversation import KEEP_RECENT, compact


def conversation(sizes: list[int]) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": "rules"}, {"role": "user", "content": "the task"}]
    for index, size in enumerate(sizes):
        messages.append({"role": "assistant", "content": f"call {index}"})
        messages.append({"role": "tool", "content": "x" * size})
    return messages


def test_a_conversation_that_fits_is_left_alone() -> None:
    messages = conversation([100, 200])
    assert compact(messages, 10_000) is messages


@given(st.lists(st.integers(min_value=0, max_value=5000), min_size=0, max_size=30))
def test_the_system_prompt_the_task_and_the_latest_turns_are_never_shortened(sizes: list[int]) -> None:
    messages = conversation(sizes)
    shortened = compact(messages, 3000)
    assert len(shortened) == len(messages)
    assert shortened[:2] == messages[:2]
    assert shortened[-KEEP_RECENT:] == messages[-KEEP_RECENT:]
    assert messages == conversation(sizes)  # the caller's list is not changed
    assert all(
        len(new["content"]) <= len(old["content"]) + 80 for new, old in zip(shortened, messages, strict=True)
    )


def test_old_observations_go_first() -> None:
    messages = conversation([4000] * 8)
    shortened = compact(messages, 20_000)
    lengths = [len(m["content"]) for m in shortened if m["role"] == "tool"]
    assert lengths[0] < 1000 and lengths[-1] == 4000
