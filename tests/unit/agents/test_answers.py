import json

import pytest

from swe_fleet.agents.domain.answers import AnswerVerdict, echo_of, judge_answer, repair_request
from swe_fleet.agents.domain.inputs import read_inputs
from swe_fleet.agents.domain.json_answer import NoJsonObject, extract_json_object
from swe_fleet.agents.domain.shapes import shape_for
from swe_fleet.events.agent_protocol import LLM_KINDS, OUTPUT_MODEL_FOR_KIND, CommandKind
from tests.unit.agents.samples import GOOD_ANSWERS, INPUTS, PROPOSAL


def judge(kind, text, truncated=False):
    inputs = read_inputs(kind, INPUTS[kind])
    return judge_answer(kind, inputs, shape_for(kind, inputs), text, truncated=truncated)


@pytest.mark.parametrize("kind", LLM_KINDS)
def test_a_good_answer_is_accepted_in_the_contracts_form(kind):
    verdict = judge(kind, json.dumps(GOOD_ANSWERS[kind]))
    assert verdict.accepted and verdict.problems == ()
    OUTPUT_MODEL_FOR_KIND[kind].model_validate(verdict.output)


def test_a_score_answer_becomes_the_list_of_criterion_scores():
    output = judge(CommandKind.SCORE, json.dumps(GOOD_ANSWERS[CommandKind.SCORE])).output
    assert output == {
        "scores": [
            {"criterion": "correctness", "score": 7, "reason": "Checks the database"},
            {"criterion": "simplicity", "score": 9, "reason": "One route"},
        ]
    }


@pytest.mark.parametrize(
    "text",
    [
        "```json\n" + json.dumps(PROPOSAL) + "\n```",
        "Here is my proposal:\n" + json.dumps(PROPOSAL) + "\nThanks.",
        "  " + json.dumps(PROPOSAL, indent=2),
    ],
)
def test_json_wrapped_in_fences_or_prose_is_found(text):
    assert judge(CommandKind.GENERATE, text).output["summary"] == PROPOSAL["summary"]


def test_a_truncated_answer_is_refused_not_read_as_one_of_its_inner_objects():
    text = '{"summary": "x", "nested": {"a": 1}, "approach": "cut her'
    with pytest.raises(NoJsonObject):
        extract_json_object(text)
    verdict = judge(CommandKind.GENERATE, text, truncated=True)
    assert verdict.problems == (
        "the answer was cut off at the length limit before the JSON object was complete",
    )


def test_an_answer_that_is_not_an_object_is_refused():
    assert "not a complete JSON object" in judge(CommandKind.GENERATE, "[1, 2]").summary
    assert "no '{'" in judge(CommandKind.GENERATE, "I cannot help with that.").summary


def test_invalid_fields_are_named_with_their_place():
    verdict = judge(CommandKind.GENERATE, json.dumps({**PROPOSAL, "steps": [], "summary": ""}))
    assert not verdict.accepted
    assert "summary: String should have at least 1 character" in verdict.problems
    assert "steps: List should have at least 1 item after validation, not 0" in verdict.problems


def test_blank_text_is_refused():
    verdict = judge(
        CommandKind.GENERATE, json.dumps({**PROPOSAL, "approach": "  ...  ", "steps": ["ok", " "]})
    )
    assert verdict.problems == (
        "approach: must be written out in words, not left blank",
        "steps: must be written out in words, not left blank",
    )


def test_a_score_answer_in_the_contracts_form_must_score_every_criterion():
    verdict = judge(CommandKind.SCORE, json.dumps({"scores": [{"criterion": "simplicity", "score": 4}]}))
    assert verdict.problems == ("scores: no score for correctness",)


def test_a_repair_request_lists_the_problems_and_asks_for_the_whole_object_again():
    verdict = AnswerVerdict(problems=("summary: too short", "steps: missing"))
    request = repair_request(verdict, truncated=False)
    assert "- summary: too short\n- steps: missing" in request
    assert request.endswith("Answer again with only the complete, corrected JSON object.")
    assert "cut off" in repair_request(verdict, truncated=True)


def test_a_long_bad_answer_is_echoed_back_bounded():
    assert echo_of("short") == "short"
    long_answer = "z" * 5000
    assert len(echo_of(long_answer)) < 1600 and echo_of(long_answer).endswith("[cut]")
