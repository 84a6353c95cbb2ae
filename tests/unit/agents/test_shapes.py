"""The shapes asked of the LLM are tighter than the contract: anything that fits them validates."""

import re

import pytest

from swe_fleet.agents.domain.inputs import read_inputs
from swe_fleet.agents.domain.shapes import ARTIFACT_LANGUAGES, normalize_task_keys, shape_for
from swe_fleet.events.agent_protocol import LLM_KINDS, OUTPUT_MODEL_FOR_KIND, CommandKind
from tests.unit.agents.samples import GOOD_ANSWERS, INPUTS


def shape(kind, **extra):
    return shape_for(kind, read_inputs(kind, {**INPUTS[kind], **extra}))


def largest_instance(schema):
    """The biggest answer the schema allows: longest strings, most items, every property."""
    kind = schema.get("type")
    if "enum" in schema:
        return max(schema["enum"], key=len)
    if kind == "string":
        return "x" * schema.get("maxLength", 50)
    if kind == "integer":
        return schema.get("maximum", 10)
    if kind == "array":
        return [largest_instance(schema["items"]) for _ in range(schema.get("maxItems", 3))]
    if kind == "object":
        return {name: largest_instance(sub) for name, sub in schema["properties"].items()}
    raise AssertionError(f"unexpected schema {schema}")


def smallest_instance(schema):
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "string":
        return "y" * schema.get("minLength", 0)
    if kind == "integer":
        return schema.get("minimum", 0)
    if kind == "array":
        return [smallest_instance(schema["items"]) for _ in range(schema.get("minItems", 0))]
    if kind == "object":
        return {name: smallest_instance(schema["properties"][name]) for name in schema["required"]}
    raise AssertionError(f"unexpected schema {schema}")


@pytest.mark.parametrize("kind", LLM_KINDS)
@pytest.mark.parametrize("instance", [largest_instance, smallest_instance])
def test_the_extremes_of_every_shape_validate_against_the_contract(kind, instance):
    answer_shape = shape(kind)
    document = answer_shape.to_output(instance(answer_shape.schema))
    OUTPUT_MODEL_FOR_KIND[kind].model_validate(document)


@pytest.mark.parametrize("kind", LLM_KINDS)
def test_the_good_sample_answers_validate(kind):
    answer_shape = shape(kind)
    OUTPUT_MODEL_FOR_KIND[kind].model_validate(answer_shape.to_output(GOOD_ANSWERS[kind]))


def test_every_object_is_closed_so_the_grammar_allows_no_extra_keys():
    def objects(schema):
        if schema.get("type") == "object":
            yield schema
            for sub in schema["properties"].values():
                yield from objects(sub)
        elif schema.get("type") == "array":
            yield from objects(schema["items"])

    for kind in LLM_KINDS:
        for found in objects(shape(kind).schema):
            assert found["additionalProperties"] is False


def string_schemas(schema):
    if schema.get("type") == "string":
        yield schema
    elif schema.get("type") == "object":
        for sub in schema["properties"].values():
            yield from string_schemas(sub)
    elif schema.get("type") == "array":
        yield from string_schemas(schema["items"])


@pytest.mark.parametrize("kind", LLM_KINDS)
def test_required_text_must_start_with_a_word_within_its_length(kind):
    """The grammar, not the answer check, refuses a blank or a dot where words are needed."""
    patterned = [text for text in string_schemas(shape(kind).schema) if text.get("minLength", 0) >= 1]
    assert patterned or kind is CommandKind.SCORE  # a score's reasons may be empty
    for text in patterned:
        fits = re.compile(text["pattern"]).fullmatch
        shortest, longest = text["minLength"], text["maxLength"]
        assert fits("a" * shortest) and fits("7" + "b" * (longest - 1))
        assert not fits("a" * (longest + 1))
        if shortest > 1:
            assert not fits("a" * (shortest - 1))
        for refused in ("", " ", ".", " Add the route", "-", 'say "hi"', "two\nlines", "back\\slash"):
            assert not fits(refused), (refused, text["pattern"])


def test_a_score_answer_has_one_required_entry_per_rubric_criterion_in_order():
    answer_shape = shape(CommandKind.SCORE)
    assert answer_shape.schema["required"] == ["correctness", "simplicity"]
    output = answer_shape.to_output(
        {"simplicity": {"score": 9, "reason": ""}, "correctness": {"score": 7, "reason": "ok"}}
    )
    assert output == {
        "scores": [
            {"criterion": "correctness", "score": 7, "reason": "ok"},
            {"criterion": "simplicity", "score": 9, "reason": ""},
        ]
    }


def test_a_score_answer_already_in_the_contracts_form_is_kept():
    document = {"scores": [{"criterion": "correctness", "score": 3}]}
    assert shape(CommandKind.SCORE).to_output(document) == document


def test_derived_tasks_may_only_take_the_allowed_roles_and_bounded_estimates():
    task = shape(CommandKind.DERIVE, roles=["QA"], max_tasks=4, max_estimate_hours=16).schema["properties"][
        "tasks"
    ]
    assert task["maxItems"] == 4
    properties = task["items"]["properties"]
    assert properties["role"]["enum"] == ["QA"]
    assert properties["key"]["enum"] == ["T1", "T2", "T3", "T4"]
    assert properties["estimate_hours"]["maximum"] == 16


def test_proposals_may_name_only_known_artifact_languages():
    properties = shape(CommandKind.GENERATE).schema["properties"]
    assert properties["artifact_language"]["enum"] == ARTIFACT_LANGUAGES
    assert "artifact" not in shape(CommandKind.GENERATE).schema["required"]


def test_the_token_cap_grows_with_the_work_asked():
    assert (
        shape(CommandKind.DERIVE, max_tasks=8).max_tokens > shape(CommandKind.DERIVE, max_tasks=2).max_tokens
    )
    assert shape(CommandKind.SCORE).max_tokens < shape(CommandKind.GENERATE).max_tokens


def task(key, *depends_on):
    return {"key": key, "title": f"task {key}", "depends_on": list(depends_on)}


def test_task_keys_are_renumbered_in_answer_order():
    answer = {"tasks": [task("T3"), task("T1", "T3")]}
    assert normalize_task_keys(answer)["tasks"] == [
        {"key": "T1", "title": "task T3", "depends_on": []},
        {"key": "T2", "title": "task T1", "depends_on": ["T1"]},
    ]


def test_self_forward_unknown_and_repeated_dependencies_are_dropped():
    answer = {
        "tasks": [task("T1", "T1", "T2"), task("T2", "T1", "T1", "T9", "T2", "T3"), task("T3", "T2", "T1")]
    }
    assert [t["depends_on"] for t in normalize_task_keys(answer)["tasks"]] == [[], ["T1"], ["T2", "T1"]]


def test_a_repeated_key_points_at_its_first_task():
    answer = {"tasks": [task("T1"), task("T1"), task("T2", "T1")]}
    assert [t["depends_on"] for t in normalize_task_keys(answer)["tasks"]] == [[], [], ["T1"]]


def test_answers_that_are_not_task_lists_are_left_for_validation_to_refuse():
    assert normalize_task_keys({"tasks": "none"}) == {"tasks": "none"}
    assert normalize_task_keys({"tasks": ["T1"]}) == {"tasks": ["T1"]}
