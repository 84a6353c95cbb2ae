"""Checking a model's answer against the kind's contract, and telling the model what to fix.

An answer is accepted when it holds a JSON object that, in the contract's form, validates against
the kind's output model and passes the kind's few semantic checks (text fields that say something,
every rubric criterion scored). Otherwise the verdict names the problems in words a small model can
act on, and `repair_request` turns them into the next user message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from swe_fleet.agents.domain.inputs import KindInputs, TaskInputs
from swe_fleet.agents.domain.json_answer import NoJsonObject, extract_json_object
from swe_fleet.agents.domain.shapes import AnswerShape
from swe_fleet.events.agent_protocol import OUTPUT_MODEL_FOR_KIND, CommandKind

_SAYS_SOMETHING = re.compile(r"[A-Za-z0-9]")
# Text fields that must carry words, per kind (lists: every item).
_MEANINGFUL = {
    CommandKind.GENERATE: ("summary", "approach", "steps"),
    CommandKind.REVISE: ("summary", "approach", "steps"),
    CommandKind.CRITIQUE: ("weaknesses", "suggestions"),
}
_ANSWER_ECHO_LIMIT = 1500


@dataclass(frozen=True)
class AnswerVerdict:
    output: dict[str, Any] | None = None
    problems: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.output is not None

    @property
    def summary(self) -> str:
        return "; ".join(self.problems[:5]) or "accepted"


def judge_answer(
    kind: CommandKind, inputs: KindInputs, shape: AnswerShape, text: str, *, truncated: bool = False
) -> AnswerVerdict:
    try:
        answer = extract_json_object(text)
    except NoJsonObject as error:
        problem = str(error)
        if truncated:
            problem = "the answer was cut off at the length limit before the JSON object was complete"
        return AnswerVerdict(problems=(problem,))
    document = shape.to_output(answer)
    model = OUTPUT_MODEL_FOR_KIND[kind]
    try:
        output = model.model_validate(document).model_dump(mode="json")
    except ValidationError as error:
        return AnswerVerdict(problems=tuple(_describe(item) for item in error.errors()[:8]))
    problems = _blank_fields(kind, output) + _missing_scores(kind, inputs, output)
    if problems:
        return AnswerVerdict(problems=tuple(problems))
    return AnswerVerdict(output=output)


def _describe(item: Any) -> str:
    where = ""
    for part in item["loc"]:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return f"{where or 'answer'}: {item['msg']}"


def _blank_fields(kind: CommandKind, output: dict[str, Any]) -> list[str]:
    problems = []
    for name in _MEANINGFUL.get(kind, ()):
        value = output.get(name)
        values = value if isinstance(value, list) else [value]
        if any(not isinstance(item, str) or not _SAYS_SOMETHING.search(item) for item in values):
            problems.append(f"{name}: must be written out in words, not left blank")
    return problems


def _missing_scores(kind: CommandKind, inputs: KindInputs, output: dict[str, Any]) -> list[str]:
    if kind is not CommandKind.SCORE or not isinstance(inputs, TaskInputs):
        return []
    scored = {entry["criterion"] for entry in output.get("scores", [])}
    missing = [c.criterion for c in inputs.criteria if c.criterion not in scored]
    return [f"scores: no score for {', '.join(missing)}"] if missing else []


def repair_request(verdict: AnswerVerdict, *, truncated: bool) -> str:
    """The user message that asks for a corrected answer."""
    lines = ["Your answer could not be used:"]
    lines += [f"- {problem}" for problem in verdict.problems[:8]]
    if truncated:
        lines.append("It was too long and got cut off: keep every text field short.")
    lines.append("Answer again with only the complete, corrected JSON object.")
    return "\n".join(lines)


def echo_of(answer: str) -> str:
    """The bad answer as sent back to the model: bounded, so a repair fits the context window."""
    if len(answer) <= _ANSWER_ECHO_LIMIT:
        return answer
    return answer[:_ANSWER_ECHO_LIMIT] + " ...[cut]"
