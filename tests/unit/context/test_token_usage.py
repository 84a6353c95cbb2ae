"""Every token accounted for: answers projected as LLM-use records, rolled up so that totals are sums."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from swe_fleet.context.domain.projections import project
from swe_fleet.context.domain.usage import CallUsage, roll_up
from swe_fleet.events import payloads as p
from swe_fleet.events import subjects as s
from swe_fleet.graph.schema import Label
from swe_fleet.graph.writes import NodeUpsert

from .factories import envelope

CALLS = st.lists(
    st.builds(
        CallUsage,
        id=st.uuids().map(str),
        kind=st.sampled_from(["generate", "critique", "score", "workspace"]),
        role=st.sampled_from([None, "DEV", "QA"]),
        task_id=st.sampled_from([None, "T-1", "T-2"]),
        deliberation_id=st.sampled_from([None, "DL-1", "DL-2"]),
        agent_id=st.just("a1"),
        outcome=st.sampled_from(["completed", "failed"]),
        prompt_tokens=st.integers(0, 50_000),
        completion_tokens=st.integers(0, 5_000),
        llm_ms=st.floats(0, 60_000, allow_nan=False),
        calls=st.integers(0, 5),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(calls=CALLS)
def test_the_story_total_is_the_sum_of_its_calls_and_every_grouping_adds_up_to_it(calls):
    usage = roll_up("US-1", calls).as_dict()
    total = usage["total"]
    assert total["prompt_tokens"] == sum(call.prompt_tokens for call in calls)
    assert total["completion_tokens"] == sum(call.completion_tokens for call in calls)
    assert total["llm_calls"] == sum(call.calls for call in calls)
    assert total["answers"] == len(calls)
    for grouping in ("by_task", "by_deliberation", "by_role", "by_kind"):
        groups = usage[grouping].values()
        assert sum(group["tokens"] for group in groups) == total["tokens"]
        assert sum(group["answers"] for group in groups) == len(calls)


def _command(**fields) -> p.AgentCommand:
    base = {
        "command_id": "C-1",
        "kind": p.CommandKind.GENERATE,
        "story_id": "US-1",
        "task_id": "T-1",
        "deliberation_id": "DL-1",
        "role": "QA",
        "agent_id": "a1",
    }
    return p.AgentCommand(**{**base, **fields})


def test_an_answer_carries_the_role_its_command_asked_for():
    answer = p.AgentResponseCompleted.answering(_command(), worker_id="w1", output={})
    assert answer.role == "QA"


def test_an_answer_is_projected_as_one_llm_use_record_that_leaves_the_story_untouched():
    usage = p.LlmUsage(model="m", prompt_tokens=900, completion_tokens=120, latency_ms=2500.0, attempts=2)
    answer = p.AgentResponseCompleted.answering(_command(), worker_id="w1", output={}, usage=usage)
    writes = project(envelope(s.AGENT_RESPONSE_COMPLETED, answer))
    assert writes.story_ids == ()  # no context pack changes: the cache keeps its entries
    [node] = writes.writes
    assert isinstance(node, NodeUpsert) and node.label == Label.LLM_CALL
    assert node.props["prompt_tokens"] == 900 and node.props["completion_tokens"] == 120
    assert node.props["calls"] == 2 and node.props["role"] == "QA" and node.props["story_id"] == "US-1"


def test_a_failed_answer_counts_the_calls_it_still_made():
    usage = p.LlmUsage(prompt_tokens=300, completion_tokens=40, attempts=3)
    failed = p.AgentResponseFailed.answering(_command(), worker_id="w1", error="bad json", usage=usage)
    [node] = project(envelope(s.AGENT_RESPONSE_FAILED, failed)).writes
    assert isinstance(node, NodeUpsert)
    assert node.props["outcome"] == "failed" and node.props["prompt_tokens"] == 300
    no_call = p.AgentResponseFailed.answering(_command(), worker_id="w1", error="context refused")
    [empty] = project(envelope(s.AGENT_RESPONSE_FAILED, no_call)).writes
    assert isinstance(empty, NodeUpsert) and empty.props["calls"] == 0
