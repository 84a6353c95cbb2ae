"""From what the workspace saw to what its events say: test runs, tool outcomes, failure reasons."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from swe_fleet.events.payloads import SuiteResult, ToolOutcome
from swe_fleet.workspace.domain.tools import Observation, TestReport

_COUNT = re.compile(r"(\d+) (passed|failed|error|errors)\b")
TAIL_CHARACTERS = 4000
ARGUMENT_CHARACTERS = 2000


def suite_result(report: TestReport, redact: Callable[[str], str]) -> SuiteResult:
    counts = {"passed": 0, "failed": 0}
    for number, word in _COUNT.findall(report.summary):
        counts["passed" if word == "passed" else "failed"] += int(number)
    failed = max(counts["failed"], len(report.failing_tests))
    tail = redact(report.output)[-TAIL_CHARACTERS:]
    return SuiteResult(
        ok=report.passed,
        passed=counts["passed"],
        failed=failed,
        failing=list(report.failing_tests),
        output_tail=f"{report.summary}\n{tail}".strip(),
    )


def tool_outcome(observation: Observation) -> ToolOutcome:
    if observation.ok:
        return ToolOutcome.OK
    if observation.refused_reason is not None:
        return ToolOutcome.DENIED
    if "timed out" in observation.summary or "stopped:" in observation.summary:
        return ToolOutcome.TIMEOUT
    return ToolOutcome.ERROR


def shortened_arguments(arguments: dict[str, Any], redact: Callable[[str], str]) -> dict[str, Any]:
    """A call's arguments for its event: long texts (a file's content, a patch) cut, secrets redacted."""
    shown: dict[str, Any] = {}
    for name, value in arguments.items():
        if isinstance(value, str):
            text = redact(value)
            cut = len(text) - ARGUMENT_CHARACTERS
            shown[name] = (
                text if cut <= 0 else f"{text[:ARGUMENT_CHARACTERS]}\n[... {cut} characters left out]"
            )
        else:
            shown[name] = value
    return shown


def failure_reason(finished: bool, stop_summary: str, tests_after: SuiteResult | None) -> str | None:
    """Why the task's change is not committed, or None when it is good to commit."""
    if not finished:
        return f"the agent did not finish: {stop_summary}"
    if tests_after is not None and not tests_after.ok:
        if tests_after.failing:
            return f"the tests fail after the change: {', '.join(tests_after.failing[:10])}"
        first_line = tests_after.output_tail.splitlines()[0] if tests_after.output_tail else "no output"
        return f"the tests do not pass after the change: {first_line}"
    return None
