"""The tool vocabulary an agent works a checkout with: a contract shared by every model and every test.

Eight tools (`ToolName`), each with a pydantic model of its arguments (`ARGUMENT_MODELS`), described
to a model either as OpenAI function-calling specs (`TOOL_SCHEMAS`) or, for servers without tools
support, as one JSON schema of the next action (`NEXT_ACTION_SCHEMA`: {"tool": ..., "arguments": ...}).
A tool call gives back an `Observation`: short and structured (what changed, or why not), its output
already truncated and redacted, never an exception.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ToolName(StrEnum):
    LIST_FILES = "list_files"
    READ_FILE = "read_file"
    SEARCH_CODE = "search_code"
    WRITE_FILE = "write_file"
    APPLY_PATCH = "apply_patch"
    RUN_TESTS = "run_tests"
    RUN_COMMAND = "run_command"
    FINISH = "finish"


# Tools that change files in the checkout (a role without write rights has none of them).
WRITING_TOOLS = frozenset({ToolName.WRITE_FILE, ToolName.APPLY_PATCH})
# Tools that start a process in the sandbox.
COMMAND_TOOLS = frozenset({ToolName.RUN_TESTS, ToolName.RUN_COMMAND})


class ToolArguments(BaseModel):
    # Unknown arguments are refused: a model that invents one learns so at once.
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListFilesArgs(ToolArguments):
    path: str = Field(default=".", max_length=1000, description="Directory relative to the checkout's root")


class ReadFileArgs(ToolArguments):
    path: str = Field(min_length=1, max_length=1000, description="File relative to the checkout's root")
    start_line: int | None = Field(default=None, ge=1, description="First line to show (1-based)")
    end_line: int | None = Field(default=None, ge=1, description="Last line to show (inclusive)")


class SearchCodeArgs(ToolArguments):
    pattern: str = Field(min_length=1, max_length=500, description="Regular expression (Python syntax)")
    path: str = Field(default=".", max_length=1000, description="Directory or file to search in")


class WriteFileArgs(ToolArguments):
    path: str = Field(min_length=1, max_length=1000, description="File relative to the checkout's root")
    content: str = Field(description="The file's whole new content")


class ApplyPatchArgs(ToolArguments):
    patch: str = Field(min_length=1, description="A unified diff (as `git diff` prints it), paths relative")


class RunTestsArgs(ToolArguments):
    pass


class RunCommandArgs(ToolArguments):
    command: str = Field(
        min_length=1, max_length=2000, description="One command line, no shell (no pipes, ;, && or >)"
    )


class FinishArgs(ToolArguments):
    summary: str = Field(min_length=1, max_length=4000, description="What was done and how it was checked")


ARGUMENT_MODELS: dict[ToolName, type[ToolArguments]] = {
    ToolName.LIST_FILES: ListFilesArgs,
    ToolName.READ_FILE: ReadFileArgs,
    ToolName.SEARCH_CODE: SearchCodeArgs,
    ToolName.WRITE_FILE: WriteFileArgs,
    ToolName.APPLY_PATCH: ApplyPatchArgs,
    ToolName.RUN_TESTS: RunTestsArgs,
    ToolName.RUN_COMMAND: RunCommandArgs,
    ToolName.FINISH: FinishArgs,
}

DESCRIPTIONS: dict[ToolName, str] = {
    ToolName.LIST_FILES: "List the files under a directory of the checkout (recursively, .git left out).",
    ToolName.READ_FILE: "Read a text file of the checkout, or a range of its lines.",
    ToolName.SEARCH_CODE: "Search the checkout's text files for a regular expression; gives path:line: text.",
    ToolName.WRITE_FILE: "Create or overwrite a file with the given content (a Python file must parse).",
    ToolName.APPLY_PATCH: "Apply a unified diff to the checkout (Python files it touches must still parse).",
    ToolName.RUN_TESTS: "Run the project's test command; gives pass/fail and the failing tests.",
    ToolName.RUN_COMMAND: "Run one allowed command in the sandbox (no network); gives exit code and output.",
    ToolName.FINISH: "Declare the task done, with a summary of the change and how it was verified.",
}


class ToolArgumentsError(ValueError):
    """A tool call names no known tool, or its arguments do not fit the tool's model."""


class ToolCall(BaseModel):
    """One action a model asked for. `name` is kept as given so an unknown tool can be refused politely."""

    model_config = ConfigDict(frozen=True)
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    call_id: str = ""

    @classmethod
    def from_openai(cls, tool_call: dict[str, Any]) -> ToolCall:
        """A call from a chat completion's `message.tool_calls[i]` (arguments arrive as JSON text);
        ToolArgumentsError when that text is not a JSON object."""
        function = tool_call.get("function") or {}
        raw = function.get("arguments") or "{}"
        try:
            arguments = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError as error:
            raise ToolArgumentsError(f"the arguments are not valid JSON: {error}") from None
        if not isinstance(arguments, dict):
            raise ToolArgumentsError("the arguments must be a JSON object")
        return cls(
            name=str(function.get("name", "")), arguments=arguments, call_id=str(tool_call.get("id", ""))
        )

    def tool(self) -> ToolName:
        """The tool named, or ToolArgumentsError naming the tools there are."""
        try:
            return ToolName(self.name)
        except ValueError:
            known = ", ".join(tool.value for tool in ToolName)
            raise ToolArgumentsError(f"unknown tool {self.name!r}; the tools are: {known}") from None

    def validated(self) -> ToolArguments:
        """The arguments as the tool's model, or ToolArgumentsError saying what is wrong."""
        tool = self.tool()
        try:
            return ARGUMENT_MODELS[tool].model_validate(self.arguments)
        except ValidationError as error:
            raise ToolArgumentsError(f"{tool.value}: {_describe(error)}") from None


class Observation(BaseModel):
    """What a tool call did: `summary` says what changed or what went wrong in one or two lines;
    `output` is the tool's text, truncated to the role's limit and redacted of secrets."""

    model_config = ConfigDict(frozen=True)
    tool: str
    call_id: str = ""
    ok: bool
    summary: str
    output: str = ""
    truncated: bool = False
    # Set when the call was not carried out at all (policy, confinement, bad arguments, no sandbox).
    refused_reason: str | None = None
    # The command is allowed only after the Product Owner approves it (the approval flow is issue 12).
    approval_required: bool = False
    duration_s: float = 0.0

    def for_model(self) -> str:
        """The text given back to the model as the tool's result."""
        head = ("OK: " if self.ok else ("REFUSED: " if self.refused_reason else "FAILED: ")) + self.summary
        tail = "\n[output truncated]" if self.truncated else ""
        return f"{head}\n{self.output}{tail}" if self.output else head


class TestReport(BaseModel):
    """The outcome of the project's test command."""

    __test__ = False  # not a pytest test class
    model_config = ConfigDict(frozen=True)
    passed: bool
    exit_code: int | None
    failing_tests: tuple[str, ...] = ()
    summary: str
    output: str = ""
    truncated: bool = False
    timed_out: bool = False
    duration_s: float = 0.0


def _clean_schema(model: type[ToolArguments]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    schema.pop("description", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
        # `int | None` comes out as anyOf [integer, null]; a model reads a plain optional integer better.
        any_of = prop.pop("anyOf", None)
        if any_of:
            prop.update(next(option for option in any_of if option.get("type") != "null"))
    schema["additionalProperties"] = False
    schema.setdefault("properties", {})
    return schema


def _tool_schemas() -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": tool.value,
                "description": DESCRIPTIONS[tool],
                "parameters": _clean_schema(ARGUMENT_MODELS[tool]),
            },
        }
        for tool in ToolName
    ]


# OpenAI function-calling specs: `tools=TOOL_SCHEMAS` in a chat completion request.
TOOL_SCHEMAS: list[dict[str, Any]] = _tool_schemas()


def tool_schemas(allowed: frozenset[ToolName] | set[ToolName]) -> list[dict[str, Any]]:
    """The function specs of the allowed tools only (a role is not shown what it may not use)."""
    return [spec for spec in TOOL_SCHEMAS if spec["function"]["name"] in allowed]


def next_action_schema(allowed: frozenset[ToolName] | set[ToolName] | None = None) -> dict[str, Any]:
    """One JSON schema of {"tool": <name>, "arguments": {...}} for servers without tools support."""
    tools = [tool for tool in ToolName if allowed is None or tool in allowed]
    return {
        "type": "object",
        "anyOf": [
            {
                "type": "object",
                "properties": {
                    "tool": {"type": "string", "const": tool.value},
                    "arguments": _clean_schema(ARGUMENT_MODELS[tool]),
                },
                "required": ["tool", "arguments"],
                "additionalProperties": False,
            }
            for tool in tools
        ],
    }


NEXT_ACTION_SCHEMA: dict[str, Any] = next_action_schema()


def parse_next_action(document: Any, call_id: str = "") -> ToolCall:
    """A ToolCall from a NEXT_ACTION_SCHEMA answer; ToolArgumentsError when it has not that shape."""
    if not isinstance(document, dict) or not isinstance(document.get("tool"), str):
        raise ToolArgumentsError('the next action must be {"tool": "<name>", "arguments": {...}}')
    arguments = document.get("arguments", {})
    if not isinstance(arguments, dict):
        raise ToolArgumentsError("the next action's arguments must be an object")
    return ToolCall(name=document["tool"], arguments=arguments, call_id=call_id)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        location = ".".join(str(part) for part in item["loc"]) or "<arguments>"
        parts.append(f"{location}: {item['msg']}")
    return "; ".join(parts)
