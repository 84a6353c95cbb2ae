"""The stand-in LLM server's answers (fleet_testing) pass the worker's own answer checks, for every kind.

Fault scenarios kill and restart it in place of the real llama-server; if its answers were invalid,
the agent path would only ever exercise repairs and failures.
"""

import json

import pytest

from fleet_testing.stand_in.llm_server import completion_for, instance_of
from swe_fleet.agents.domain.answers import judge_answer
from swe_fleet.agents.domain.inputs import read_inputs
from swe_fleet.agents.domain.shapes import shape_for
from swe_fleet.events.agent_protocol import LLM_KINDS, OUTPUT_MODEL_FOR_KIND
from tests.unit.agents.samples import INPUTS


@pytest.mark.parametrize("kind", LLM_KINDS)
def test_an_answer_built_from_the_kinds_schema_is_accepted(kind) -> None:
    inputs = read_inputs(kind, INPUTS[kind])
    shape = shape_for(kind, inputs)
    body = {
        "messages": [{"role": "user", "content": "answer"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": shape.name, "schema": shape.schema},
        },
    }
    content = completion_for(body)["choices"][0]["message"]["content"]
    verdict = judge_answer(kind, inputs, shape, content, truncated=False)
    assert verdict.accepted, verdict.summary
    OUTPUT_MODEL_FOR_KIND[kind].model_validate(verdict.output)


def test_strings_respect_their_limits_and_arrays_their_minimum() -> None:
    value = instance_of(
        {
            "type": "object",
            "properties": {
                "short": {"type": "string", "minLength": 80, "maxLength": 90},
                "items": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 3, "maximum": 3},
                    "minItems": 2,
                },
                "optional": {"type": "string"},
            },
            "required": ["short", "items"],
        }
    )
    assert 80 <= len(value["short"]) <= 90 and value["items"] == [3, 3] and "optional" not in value
    assert json.loads(json.dumps(value)) == value
