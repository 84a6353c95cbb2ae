"""The JetStream streams of the design and the settings each is provisioned with."""

from __future__ import annotations

from dataclasses import dataclass

DAY = 24 * 3600.0


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    description: str
    max_age_seconds: float
    duplicate_window_seconds: float = 120.0
    max_msg_size: int = 1024 * 1024

    def covers(self, subject: str) -> bool:
        return any(subject_matches(pattern, subject) for pattern in self.subjects)


def subject_matches(pattern: str, subject: str) -> bool:
    pattern_tokens, subject_tokens = pattern.split("."), subject.split(".")
    for index, token in enumerate(pattern_tokens):
        if token == ">":
            return len(subject_tokens) > index
        if index >= len(subject_tokens):
            return False
        if token != "*" and token != subject_tokens[index]:
            return False
    return len(pattern_tokens) == len(subject_tokens)


STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("PLANNING_EVENTS", ("planning.>",), "Stories, plans and PO decisions", 365 * DAY),
    StreamSpec("CONTEXT_EVENTS", ("context.>",), "Context graph updates", 30 * DAY),
    StreamSpec("ORCHESTRATOR_EVENTS", ("orchestration.>",), "Tasks, deliberations, dispatches", 365 * DAY),
    StreamSpec("AGENT_COMMANDS", ("agent.cmd.>",), "Work for agent workers", 7 * DAY),
    StreamSpec("AGENT_RESPONSES", ("agent.response.>",), "Agent answers", 7 * DAY),
    # A day-long duplicate window: a poison message seen by several consumers is recorded once.
    StreamSpec(
        "DEAD_LETTERS",
        ("dlq.>",),
        "Every message that could not be processed, with the reason",
        365 * DAY,
        duplicate_window_seconds=DAY,
    ),
    # A day-long duplicate window: a task's result, re-sent after a crash, is recorded once.
    StreamSpec(
        "WORKSPACE_EVENTS",
        ("workspace.>",),
        "Tool calls and task results from the workspaces",
        365 * DAY,
        duplicate_window_seconds=DAY,
    ),
    StreamSpec(
        "OPERATIONS_EVENTS", ("operations.>",), "What people did by hand to the backbone, and who", 365 * DAY
    ),
)

STREAMS_BY_NAME = {spec.name: spec for spec in STREAMS}

# The names, for code that binds, reads or provisions a stream by name (no string literal elsewhere;
# a unit test checks each one names a stream above).
PLANNING_EVENTS = "PLANNING_EVENTS"
CONTEXT_EVENTS = "CONTEXT_EVENTS"
ORCHESTRATOR_EVENTS = "ORCHESTRATOR_EVENTS"
AGENT_COMMANDS = "AGENT_COMMANDS"
AGENT_RESPONSES = "AGENT_RESPONSES"
DEAD_LETTERS = "DEAD_LETTERS"
WORKSPACE_EVENTS = "WORKSPACE_EVENTS"
OPERATIONS_EVENTS = "OPERATIONS_EVENTS"


def stream_for_subject(subject: str) -> StreamSpec | None:
    return next((spec for spec in STREAMS if spec.covers(subject)), None)
