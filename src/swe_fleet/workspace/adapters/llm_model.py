"""The agent loop's model over any OpenAI-compatible server (`swe_fleet.llm.client.LlmClient`).

Function calling first (`tools` / `tool_calls`). A server that refuses tools (llama.cpp without
its chat templates, older vLLM setups) is remembered and driven through a JSON "next action" answer
instead, constrained by `next_action_schema`: the conversation is flattened for it (the model's
calls become its JSON answers, observations become user turns), so the loop never sees the difference.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from swe_fleet.llm.client import LlmClient
from swe_fleet.llm.completion import Completion, StructuredOutput
from swe_fleet.llm.errors import LlmRejected, LlmTimedOut, LlmUnavailable
from swe_fleet.workspace.app.execution_ports import ModelFailed, ModelTurn
from swe_fleet.workspace.domain.tools import (
    ToolArgumentsError,
    ToolCall,
    ToolName,
    next_action_schema,
    parse_next_action,
)

log = logging.getLogger(__name__)

NEXT_ACTION_INSTRUCTION = (
    'Answer with exactly one JSON object {"tool": "<tool name>", "arguments": {...}}: the next action. '
    "The tools:\n"
)
_TOOL_WORDS = ("tool", "jinja", "function")


class LlmAgentModel:
    def __init__(
        self, llm: LlmClient, *, role: str | None = None, max_tokens: int = 2048, tools: bool | None = None
    ) -> None:
        self._llm = llm
        self._role = role
        self._max_tokens = max_tokens
        # None: not known yet (try function calling); False: the server refused tools once.
        self.tools_supported = tools

    async def turn(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ModelTurn:
        """The next turn; ModelFailed if the model refuses or times out, LlmUnavailable if it is down."""
        try:
            return await self._turn(messages, tools)
        except (LlmRejected, LlmTimedOut) as error:
            raise ModelFailed(str(error)) from error

    async def _turn(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ModelTurn:
        if self.tools_supported is not False:
            try:
                completion = await self._llm.chat(
                    messages, tools=tools, role=self._role, max_tokens=self._max_tokens, temperature=0.0
                )
            except (LlmRejected, LlmUnavailable) as error:
                if not _refuses_tools(error):
                    raise
                log.warning("LLM server refused function calling (%s): using the next-action form", error)
                self.tools_supported = False
            else:
                self.tools_supported = True
                return _from_tool_calls(completion)
        return await self._next_action(messages, tools)

    async def _next_action(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ModelTurn:
        allowed = {ToolName(spec["function"]["name"]) for spec in tools}
        schema = next_action_schema(frozenset(allowed))
        completion = await self._llm.chat(
            flatten(messages, tools),
            output=StructuredOutput("next_action", schema),
            role=self._role,
            max_tokens=self._max_tokens,
            temperature=0.0,
        )
        call_id = f"action_{sum(1 for m in messages if m.get('role') == 'assistant')}"
        usage = _usage(completion)
        try:
            call = parse_next_action(json.loads(completion.content), call_id=call_id)
        except (ValueError, ToolArgumentsError) as error:
            problem = (
                f"Your answer was not a next action ({str(error)[:200]}). {NEXT_ACTION_INSTRUCTION.strip()}"
            )
            return ModelTurn((), completion.content, problem, message=_assistant(completion.content), **usage)
        message = {"role": "assistant", "content": None, "tool_calls": [_call_dict(call)]}
        return ModelTurn((call,), completion.content, message=message, **usage)


def _refuses_tools(error: LlmRejected | LlmUnavailable) -> bool:
    if isinstance(error, LlmRejected) and error.status not in (400, 422, 500, 501):
        return False
    return any(word in str(error).lower() for word in _TOOL_WORDS)


def _usage(completion: Completion) -> dict[str, Any]:
    return {
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "llm_seconds": completion.latency_ms / 1000,
    }


def _assistant(content: str) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


def _call_dict(call: ToolCall) -> dict[str, Any]:
    return {
        "id": call.call_id,
        "type": "function",
        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
    }


def _from_tool_calls(completion: Completion) -> ModelTurn:
    calls: list[ToolCall] = []
    problems: list[str] = []
    for request in completion.tool_calls:
        try:
            arguments = json.loads(request.arguments or "{}")
        except ValueError as error:
            problems.append(f"the arguments of your call to {request.name} are not JSON: {error}")
            continue
        if not isinstance(arguments, dict):
            problems.append(f"the arguments of your call to {request.name} must be a JSON object")
            continue
        calls.append(ToolCall(name=request.name, arguments=arguments, call_id=request.id))
    message: dict[str, Any] = {"role": "assistant", "content": completion.content or None}
    if completion.tool_calls:
        message["tool_calls"] = [request.as_dict() for request in completion.tool_calls]
    usage = _usage(completion)
    if problems and not calls:
        # The bad calls are dropped from the conversation: a tool turn must answer every call id.
        message.pop("tool_calls", None)
        return ModelTurn((), completion.content, "; ".join(problems), message=message, **usage)
    if problems:
        message["tool_calls"] = [_call_dict(call) for call in calls]
    return ModelTurn(tuple(calls), completion.content, message=message, **usage)


def flatten(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation for a server without function calling: plain system/user/assistant turns."""
    catalogue = "\n".join(
        f"- {spec['function']['name']}: {spec['function']['description']} "
        f"arguments: {json.dumps(spec['function']['parameters'].get('properties', {}))}"
        for spec in tools
    )
    flat: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for message in messages:
        role = message.get("role")
        if role == "system":
            flat.append(
                {"role": "system", "content": f"{message['content']}\n\n{NEXT_ACTION_INSTRUCTION}{catalogue}"}
            )
        elif role == "assistant" and message.get("tool_calls"):
            for call in message["tool_calls"]:
                names[call["id"]] = call["function"]["name"]
                action = {
                    "tool": call["function"]["name"],
                    "arguments": json.loads(call["function"]["arguments"]),
                }
                flat.append({"role": "assistant", "content": json.dumps(action)})
        elif role == "tool":
            tool = names.get(message.get("tool_call_id", ""), "the tool")
            flat.append({"role": "user", "content": f"Result of {tool}:\n{message['content']}"})
        else:
            flat.append({"role": role, "content": message.get("content") or ""})
    return _merge_consecutive(flat)


def _merge_consecutive(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat templates (Gemma's among them) require user and assistant turns to alternate."""
    merged: list[dict[str, Any]] = []
    for message in messages:
        if merged and merged[-1]["role"] == message["role"] and message["role"] != "system":
            merged[-1] = {**merged[-1], "content": f"{merged[-1]['content']}\n\n{message['content']}"}
        else:
            merged.append(dict(message))
    return merged
