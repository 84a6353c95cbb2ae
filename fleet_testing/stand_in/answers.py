"""Scripted agent answers: valid protocol outputs built from a command's inputs, no LLM.

`broken_artifact_agents` makes chosen agents' proposals claim python that does not parse, so a test
can check that objective checks really decide against them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from swe_fleet.events.agent_protocol import CommandKind


def _number(*parts: object, modulo: int) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest(), 16) % modulo


def derive_answer(inputs: dict[str, Any], *, count: int = 2) -> dict[str, Any]:
    roles = inputs.get("roles") or ["DEV"]
    tasks = []
    for index in range(count):
        tasks.append(
            {
                "key": f"T{index + 1}",
                "title": f"Implement part {index + 1} of the plan",
                "description": f"Part {index + 1}: {inputs['plan']['description'][:200]}",
                "role": roles[index % len(roles)],
                "estimate_hours": 2 + index,
                "depends_on": [f"T{index}"] if index else [],
            }
        )
    return {"tasks": tasks}


def proposal_answer(task: dict[str, Any], agent: str, *, broken_artifact: bool = False) -> dict[str, Any]:
    title = task["title"]
    artifact = f"def handler(event):\n    return {{'ok': True, 'task': {title!r}}}\n"
    if broken_artifact:
        artifact = "def handler(event)\n    return {'ok': True\n"
    return {
        "summary": f"{agent} proposes to {title.lower()} in small, tested steps.",
        "approach": (
            f"To {title.lower()}, {agent} writes a focused module, covers it with unit tests and wires it "
            "behind the existing interface so nothing else changes. " + task.get("description", "")
        ),
        "steps": [
            f"Write failing tests for: {title}",
            f"Implement the code that makes the tests for {title} pass",
            "Review the change with a peer and merge it",
        ],
        "risks": ["The existing interface may not fit the new behaviour"],
        "artifact": artifact,
        "artifact_language": "python",
    }


def answer(
    command: dict[str, Any], *, broken_artifact_agents: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """A valid output for an AgentCommand (as a dict), according to its kind."""
    kind = CommandKind(command["kind"])
    inputs = command["inputs"]
    agent = command["agent_id"]
    if kind is CommandKind.DERIVE:
        return derive_answer(inputs)
    if kind is CommandKind.GENERATE:
        return proposal_answer(inputs["task"], agent, broken_artifact=agent in broken_artifact_agents)
    if kind is CommandKind.CRITIQUE:
        return {
            "strengths": ["Small steps"],
            "weaknesses": [f"{agent} finds the rollback story thin"],
            "suggestions": ["Say how the change is rolled back"],
        }
    if kind is CommandKind.REVISE:
        revised = dict(inputs["proposal"])
        revised["steps"] = [*revised["steps"], "Document how the change is rolled back"]
        revised["changes"] = ["Added a rollback step after the critique"]
        return revised
    if kind is CommandKind.SCORE:
        target = inputs["proposal_id"]
        return {
            "scores": [
                {"criterion": c["criterion"], "score": 5 + _number(agent, target, c["criterion"], modulo=5)}
                for c in inputs["rubric"]
            ]
        }
    if kind is CommandKind.PROBE:  # a stand-in has no Context service to fetch from, and says so
        return {"plan_id": inputs.get("plan_id", ""), "context_error": "a stand-in worker fetches no context"}
    raise ValueError(kind)
