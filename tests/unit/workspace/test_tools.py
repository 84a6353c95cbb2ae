"""The tool vocabulary: argument models, function specs and the next-action schema agree."""

from __future__ import annotations

import pytest

from swe_fleet.workspace.domain.tools import (
    NEXT_ACTION_SCHEMA,
    TOOL_SCHEMAS,
    Observation,
    ToolArgumentsError,
    ToolCall,
    ToolName,
    WriteFileArgs,
    next_action_schema,
    parse_next_action,
    tool_schemas,
)


def test_every_tool_has_one_function_spec_with_an_object_schema():
    names = [spec["function"]["name"] for spec in TOOL_SCHEMAS]
    assert names == [tool.value for tool in ToolName]
    for spec in TOOL_SCHEMAS:
        parameters = spec["function"]["parameters"]
        assert parameters["type"] == "object"
        assert parameters["additionalProperties"] is False
        assert spec["function"]["description"]
    write = next(spec for spec in TOOL_SCHEMAS if spec["function"]["name"] == "write_file")
    assert write["function"]["parameters"]["required"] == ["path", "content"]


def test_optional_integers_are_plain_integers_in_the_specs():
    read = next(spec for spec in TOOL_SCHEMAS if spec["function"]["name"] == "read_file")
    assert read["function"]["parameters"]["properties"]["start_line"]["type"] == "integer"


def test_a_role_is_shown_only_its_tools():
    allowed = {ToolName.READ_FILE, ToolName.FINISH}
    assert [spec["function"]["name"] for spec in tool_schemas(allowed)] == ["read_file", "finish"]
    options = next_action_schema(allowed)["anyOf"]
    assert [option["properties"]["tool"]["const"] for option in options] == ["read_file", "finish"]
    assert len(NEXT_ACTION_SCHEMA["anyOf"]) == len(ToolName)


def test_a_call_validates_into_its_tools_model():
    call = ToolCall(name="write_file", arguments={"path": "a.py", "content": "x = 1\n"}, call_id="c1")
    assert call.validated() == WriteFileArgs(path="a.py", content="x = 1\n")


def test_an_unknown_tool_and_bad_arguments_are_named_in_the_error():
    with pytest.raises(ToolArgumentsError, match=r"unknown tool .rm_rf.*list_files"):
        ToolCall(name="rm_rf").validated()
    with pytest.raises(ToolArgumentsError, match="write_file: content: Field required"):
        ToolCall(name="write_file", arguments={"path": "a.py"}).validated()
    with pytest.raises(ToolArgumentsError, match=r"extra_forbidden|Extra inputs"):
        ToolCall(name="read_file", arguments={"path": "a.py", "mode": "rw"}).validated()


def test_a_next_action_answer_becomes_a_call_and_a_wrong_shape_is_refused():
    call = parse_next_action({"tool": "finish", "arguments": {"summary": "done"}}, call_id="7")
    assert (call.name, call.arguments, call.call_id) == ("finish", {"summary": "done"}, "7")
    with pytest.raises(ToolArgumentsError, match="next action must be"):
        parse_next_action(["finish"])
    with pytest.raises(ToolArgumentsError, match="arguments must be an object"):
        parse_next_action({"tool": "finish", "arguments": "done"})


def test_an_observation_reads_for_a_model_as_ok_failed_or_refused():
    assert Observation(tool="finish", ok=True, summary="done").for_model() == "OK: done"
    refused = Observation(tool="x", ok=False, summary="no", refused_reason="no")
    assert refused.for_model() == "REFUSED: no"
    failed = Observation(tool="x", ok=False, summary="exit 1", output="boom", truncated=True)
    assert failed.for_model() == "FAILED: exit 1\nboom\n[output truncated]"


def test_a_call_from_an_openai_tool_call_and_bad_json_arguments():
    item = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "read_file", "arguments": '{"path": "a.py"}'},
    }
    assert ToolCall.from_openai(item) == ToolCall(
        name="read_file", arguments={"path": "a.py"}, call_id="call_1"
    )
    with pytest.raises(ToolArgumentsError, match="not valid JSON"):
        ToolCall.from_openai({"id": "2", "function": {"name": "read_file", "arguments": '{"path": '}})
    with pytest.raises(ToolArgumentsError, match="must be a JSON object"):
        ToolCall.from_openai({"id": "3", "function": {"name": "read_file", "arguments": "[1]"}})
