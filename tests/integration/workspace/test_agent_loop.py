"""The agent loop driving a real OpenAI-compatible server (scripted), with and without function calling."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fleet_testing.scripted_llm import ScriptedLlm, Turn
from swe_fleet.llm.client import LlmClient
from swe_fleet.llm.config import LlmConfig, RetryPolicy
from swe_fleet.workspace.adapters.llm_model import LlmAgentModel
from swe_fleet.workspace.app.agent_loop import AgentLoop, LoopLimits, Step, StopReason
from swe_fleet.workspace.domain.tools import TOOL_SCHEMAS, Observation, ToolCall

TASK = "TASK-loop-1: make add() add"


class RecordingTools:
    """Answers every call with a short observation naming it (the toolbox itself is tested apart)."""

    def __init__(self) -> None:
        self.calls: list[ToolCall] = []

    async def execute(self, call: ToolCall) -> Observation:
        self.calls.append(call)
        return Observation(
            tool=call.name, call_id=call.call_id, ok=True, summary=f"did {call.name} #{len(self.calls)}"
        )


def fix_script() -> list[Turn]:
    return [
        Turn.call("read_file", path="calc.py"),
        Turn.call("write_file", path="calc.py", content="def add(a, b):\n    return a + b\n"),
        Turn.call("run_tests"),
        Turn.call("finish", summary="add() adds; the tests pass"),
    ]


@pytest.fixture(params=[True, False], ids=["function-calling", "next-action"])
def server(request: pytest.FixtureRequest) -> Iterator[ScriptedLlm]:
    scripted = ScriptedLlm(tools=request.param).start()
    yield scripted
    scripted.stop()


def model_for(server: ScriptedLlm) -> tuple[LlmClient, LlmAgentModel]:
    client = LlmClient(LlmConfig(server.url, retry=RetryPolicy(max_attempts=2, first_delay=0.01)))
    return client, LlmAgentModel(client, max_tokens=256)


async def test_the_model_fixes_the_task_and_finishes(server: ScriptedLlm) -> None:
    server.script("TASK-loop-1", fix_script())
    client, model = model_for(server)
    tools, steps = RecordingTools(), []

    async def on_step(step: Step) -> None:
        steps.append(step)

    loop = AgentLoop(model, tools, TOOL_SCHEMAS, LoopLimits(max_steps=10), on_step=on_step)
    try:
        result = await loop.run("You are a developer.", TASK)
    finally:
        await client.aclose()

    assert (result.stop, result.summary, result.steps) == (
        StopReason.FINISHED,
        "add() adds; the tests pass",
        4,
    )
    assert [(c.name, c.arguments) for c in tools.calls] == [
        ("read_file", {"path": "calc.py"}),
        ("write_file", {"path": "calc.py", "content": "def add(a, b):\n    return a + b\n"}),
        ("run_tests", {}),
    ]
    assert [s.call.name for s in steps] == ["read_file", "write_file", "run_tests", "finish"]
    assert result.prompt_tokens > 0 and result.completion_tokens == 4 * 20
    # Each observation went back to the model before its next choice.
    last = server.seen[-1]
    assert "did run_tests #3" in str(last.messages) and "did read_file #1" in str(last.messages)
    assert model.tools_supported is server.tools
    if server.tools:
        assert all(
            seen.offered_tools == [t["function"]["name"] for t in TOOL_SCHEMAS] for seen in server.seen
        )
    else:
        # Refused once with tools, then every request is a plain conversation with the action schema.
        assert server.seen[0].offered_tools and not any(seen.offered_tools for seen in server.seen[1:])
        assert all(m["role"] in ("system", "user", "assistant") for m in last.messages)


async def test_the_loop_stops_at_its_step_limit(server: ScriptedLlm) -> None:
    server.script("TASK-loop-1", [Turn.call("list_files", path=".")] * 20)
    client, model = model_for(server)
    tools = RecordingTools()
    try:
        result = await AgentLoop(model, tools, TOOL_SCHEMAS, LoopLimits(max_steps=3)).run("dev", TASK)
    finally:
        await client.aclose()
    assert (result.stop, result.steps, len(tools.calls)) == (StopReason.MAX_STEPS, 3, 3)


async def test_the_loop_stops_at_its_token_budget(server: ScriptedLlm) -> None:
    server.script("TASK-loop-1", [Turn.call("list_files", path=".")] * 20)
    client, model = model_for(server)
    tools = RecordingTools()
    try:
        result = await AgentLoop(model, tools, TOOL_SCHEMAS, LoopLimits(max_tokens=1)).run("dev", TASK)
    finally:
        await client.aclose()
    assert result.stop is StopReason.MAX_TOKENS and len(tools.calls) == 1


async def test_talk_and_a_bad_finish_are_told_back_and_the_loop_goes_on(server: ScriptedLlm) -> None:
    server.script(
        "TASK-loop-1",
        [Turn.say("I think I should look around."), Turn.call("finish"), Turn.call("finish", summary="done")],
    )
    client, model = model_for(server)
    tools = RecordingTools()
    try:
        result = await AgentLoop(model, tools, TOOL_SCHEMAS, LoopLimits(max_steps=10)).run("dev", TASK)
    finally:
        await client.aclose()
    assert (result.stop, result.summary, result.steps, tools.calls) == (StopReason.FINISHED, "done", 3, [])
    conversation = str(server.seen[-1].messages)
    assert "Call one of the tools" in conversation or "not a next action" in conversation
    assert "finish: Field required" in conversation


async def test_a_model_that_refuses_the_request_stops_the_loop_saying_why(server: ScriptedLlm) -> None:
    refusal = Turn(error=(400, "the request exceeds the available context size"))
    server.script("TASK-loop-1", [Turn.call("list_files", path="."), refusal])
    client, model = model_for(server)
    tools = RecordingTools()
    try:
        result = await AgentLoop(model, tools, TOOL_SCHEMAS, LoopLimits(max_steps=10)).run("dev", TASK)
    finally:
        await client.aclose()
    assert result.stop is StopReason.MODEL_FAILED and len(tools.calls) == 1
    assert "exceeds the available context size" in result.summary


async def test_a_command_that_needs_approval_stops_the_loop_awaiting_it(server: ScriptedLlm) -> None:
    server.script(
        "TASK-loop-1",
        [
            Turn.call("read_file", path="calc.py"),
            Turn.call("run_command", command="pip install requests"),
            Turn.call("finish", summary="never reached"),
        ],
    )
    client, model = model_for(server)

    class ApprovalTools(RecordingTools):
        async def execute(self, call: ToolCall) -> Observation:
            if call.name != "run_command":
                return await super().execute(call)
            self.calls.append(call)
            text = "approval required: `pip install requests`"
            return Observation(
                tool=call.name,
                call_id=call.call_id,
                ok=False,
                summary=text,
                refused_reason=text,
                approval_required=True,
            )

    tools = ApprovalTools()
    try:
        result = await AgentLoop(model, tools, TOOL_SCHEMAS, LoopLimits(max_steps=10)).run("system", TASK)
    finally:
        await client.aclose()
    assert result.stop is StopReason.AWAITING_APPROVAL and not result.finished
    assert result.steps == 2 and [c.name for c in tools.calls] == ["read_file", "run_command"]
    assert result.waiting_on is not None and result.waiting_on.call.arguments == {
        "command": "pip install requests"
    }
    assert result.summary == "approval required: `pip install requests`"
