"""The shared LLM client speaks OpenAI function calling: tools offered, tool_calls read back."""

from __future__ import annotations

from fleet_testing.scripted_llm import ScriptedLlm, Turn
from swe_fleet.llm import LlmClient, LlmConfig


async def test_function_calls_come_back_as_tool_call_requests() -> None:
    server = ScriptedLlm().start()
    server.script("KEY-1", [Turn.call("read_file", path="a.py")])
    client = LlmClient(LlmConfig(server.url))
    tool = {"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}}}
    try:
        completion = await client.chat([{"role": "user", "content": "KEY-1"}], tools=[tool])
    finally:
        await client.aclose()
        server.stop()
    assert [(c.id, c.name, c.arguments) for c in completion.tool_calls] == [
        ("call_0", "read_file", '{"path": "a.py"}')
    ]
    assert server.seen[0].offered_tools == ["read_file"]
    assert completion.tool_calls[0].as_dict()["function"]["name"] == "read_file"
