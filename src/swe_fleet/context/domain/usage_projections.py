"""Projection of the agents' answers' LLM use: one `LlmCall` node per answer, keyed by story.

Every answer counts, failed ones too (their calls were paid for), and each under its own event id:
two workers answering the same command both spent tokens. A redelivered answer is the same event
and changes nothing (the ledger). The node names its story by property, not by an edge: touching the
story node would move its context version and empty the context cache at every answer, though no
context pack changes (so no story is announced either).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from swe_fleet.events import payloads as p
from swe_fleet.graph.schema import Label as L
from swe_fleet.graph.writes import NodeUpsert, Write

if TYPE_CHECKING:
    from swe_fleet.context.domain.projections import _Event


def _call(
    e: _Event, answer: p.AgentResponse, usage: p.LlmUsage | None, outcome: str
) -> tuple[list[Write], tuple[str, ...]]:
    used = usage or p.LlmUsage(attempts=0)
    props = {
        "story_id": answer.story_id,
        "task_id": answer.task_id,
        "deliberation_id": answer.deliberation_id,
        "command_id": answer.command_id,
        "kind": str(answer.kind),
        "role": str(answer.role) if answer.role else None,
        "agent_id": answer.agent_id,
        "model": used.model or None,
        "outcome": outcome,
        "prompt_tokens": used.prompt_tokens,
        "completion_tokens": used.completion_tokens,
        "latency_ms": used.latency_ms,
        "calls": used.attempts if usage is not None else 0,
        "at": e.at,
    }
    return [NodeUpsert(L.LLM_CALL, f"LC-{e.id}", props=props)], ()


def answer_completed(e: _Event, payload: p.AgentResponseCompleted) -> tuple[list[Write], tuple[str, ...]]:
    return _call(e, payload, payload.usage, "completed")


def answer_failed(e: _Event, payload: p.AgentResponseFailed) -> tuple[list[Write], tuple[str, ...]]:
    return _call(e, payload, payload.usage, "failed")
