"""The JSON shape the LLM is asked for, per command kind: the contract's output model, tightened.

Every answer that fits a shape validates against its contract model in swe_fleet.events.agent_protocol
once `to_output` has turned it into that model's form. The shapes are tighter than the contract so
that a grammar-constrained small model finishes within its token cap (short strings, few items)
and cannot get the structure wrong: a score answer has exactly one entry per rubric criterion, in
rubric order; derived tasks use only the roles the plan allows and keys T1..Tn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from swe_fleet.agents.domain.inputs import DeriveInputs, KindInputs, TaskInputs
from swe_fleet.events.agent_protocol import CommandKind

ARTIFACT_LANGUAGES = ["", "python", "json", "yaml", "sql", "shell"]


@dataclass(frozen=True)
class AnswerShape:
    name: str
    schema: dict[str, Any] = field(repr=False)
    max_tokens: int
    temperature: float
    # The shape's answer turned into the contract model's form (validated afterwards).
    to_output: Callable[[dict[str, Any]], dict[str, Any]] = field(repr=False)


def _text(max_length: int, min_length: int = 1) -> dict[str, Any]:
    """A string of bounded length; a required one must start with a letter or digit.

    minLength alone let the 270M model fill a required field with a space or a dot (5 of 16 first
    revise answers invalid, 4 of them blank, measured), which the answer check (answers.py, kept for
    servers without a grammar) then refused; a pattern makes the grammar refuse it instead.
    llama.cpp ignores min/maxLength when a pattern is given, so the pattern carries the length too,
    and it leaves out quotes, backslashes and control characters: what the grammar emits between a
    pattern's quotes is not escaped.
    """
    text: dict[str, Any] = {"type": "string", "minLength": min_length, "maxLength": max_length}
    if min_length >= 1:
        text["pattern"] = rf'^[A-Za-z0-9][^"\\\x00-\x1f]{{{min_length - 1},{max_length - 1}}}$'
    return text


def _list(item: dict[str, Any], min_items: int, max_items: int) -> dict[str, Any]:
    return {"type": "array", "items": item, "minItems": min_items, "maxItems": max_items}


def _object(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
        "additionalProperties": False,
    }


_SENTENCE = _text(160)

_PROPOSAL_FIELDS: dict[str, Any] = {
    "summary": _text(200),
    "approach": _text(600),
    "steps": _list(_SENTENCE, 1, 6),
    "risks": _list(_SENTENCE, 0, 3),
}
_ARTIFACT_FIELDS: dict[str, Any] = {
    "artifact": _text(600, 0),
    "artifact_language": {"type": "string", "enum": ARTIFACT_LANGUAGES},
}


def _same(answer: dict[str, Any]) -> dict[str, Any]:
    return answer


def proposal_shape() -> AnswerShape:
    return AnswerShape("Proposal", _object(_PROPOSAL_FIELDS, _ARTIFACT_FIELDS), 720, 0.8, _same)


def revision_shape() -> AnswerShape:
    fields = {**_PROPOSAL_FIELDS, "changes": _list(_SENTENCE, 1, 4)}
    return AnswerShape("Revision", _object(fields, _ARTIFACT_FIELDS), 800, 0.5, _same)


def critique_shape() -> AnswerShape:
    fields = {
        "strengths": _list(_SENTENCE, 0, 3),
        "weaknesses": _list(_SENTENCE, 1, 3),
        "suggestions": _list(_SENTENCE, 1, 3),
    }
    return AnswerShape("Critique", _object(fields), 480, 0.4, _same)


def score_shape(inputs: TaskInputs) -> AnswerShape:
    """One required property per rubric criterion: the grammar makes every score present, once."""
    names = [criterion.criterion for criterion in inputs.criteria]
    entry = _object({"score": {"type": "integer", "minimum": 0, "maximum": 10}, "reason": _text(200, 0)})
    schema = _object({name: entry for name in names})

    def to_output(answer: dict[str, Any]) -> dict[str, Any]:
        if isinstance(answer.get("scores"), list):
            return answer  # already in the contract's form (a server without json_schema)
        scores = [{"criterion": name, **answer[name]} for name in names if isinstance(answer.get(name), dict)]
        return {"scores": scores}

    return AnswerShape("RubricScores", schema, 64 + 72 * len(names), 0.2, to_output)


def derive_shape(inputs: DeriveInputs) -> AnswerShape:
    count = inputs.max_tasks
    keys = [f"T{n}" for n in range(1, count + 1)]
    task = _object(
        {
            "key": {"type": "string", "enum": keys},
            "title": _text(100, 3),
            "description": _text(400),
            "role": {"type": "string", "enum": [role.value for role in inputs.allowed_roles]},
            "estimate_hours": {"type": "integer", "minimum": 1, "maximum": int(inputs.max_estimate_hours)},
            "depends_on": _list({"type": "string", "enum": keys}, 0, 4),
        }
    )
    schema = _object({"tasks": _list(task, 1, count)})
    return AnswerShape("DerivedTasks", schema, min(64 + 170 * count, 1600), 0.3, normalize_task_keys)


def normalize_task_keys(answer: dict[str, Any]) -> dict[str, Any]:
    """Renumber tasks T1..Tn in answer order and keep only dependencies on earlier tasks.

    A small model repeats keys or points forward; by position the tasks always form an acyclic
    plan, and a dependency on a key the answer never gave is dropped rather than guessed.
    """
    tasks = answer.get("tasks")
    if not isinstance(tasks, list) or not all(isinstance(task, dict) for task in tasks):
        return answer
    position: dict[str, int] = {}
    for index, task in enumerate(tasks):
        position.setdefault(str(task.get("key", "")), index)
    normalized = []
    for index, task in enumerate(tasks):
        depends_on = task.get("depends_on") if isinstance(task.get("depends_on"), list) else []
        earlier = [position[str(key)] for key in depends_on if position.get(str(key), index) < index]
        normalized.append(
            {**task, "key": f"T{index + 1}", "depends_on": [f"T{n + 1}" for n in dict.fromkeys(earlier)]}
        )
    return {**answer, "tasks": normalized}


def shape_for(kind: CommandKind, inputs: KindInputs) -> AnswerShape:
    # read_inputs gave DeriveInputs exactly for DERIVE: dispatching on it lets mypy see the type.
    if isinstance(inputs, DeriveInputs):
        return derive_shape(inputs)
    if kind is CommandKind.SCORE:
        return score_shape(inputs)
    return {
        CommandKind.GENERATE: proposal_shape,
        CommandKind.CRITIQUE: critique_shape,
        CommandKind.REVISE: revision_shape,
    }[kind]()
