"""Outcomes of a benchmark run and what they add up to: pass@1, per-problem verdicts, timing."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class Verdict(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # the hidden test ran and an assertion or an error stopped it
    TIMED_OUT = "timed out"  # the hidden test was killed at its deadline
    ERROR = "error"  # the harness could not get as far as the hidden test (solver or git failure)


class ProblemOutcome(BaseModel):
    task_id: str
    verdict: Verdict
    detail: str = ""  # the first lines of the failure, or why there was nothing to test
    solve_seconds: float = 0.0
    test_seconds: float = 0.0
    commit: str | None = None  # the commit whose solution file was tested
    changed: bool = False  # the solver left a commit on the story branch
    summary: str = ""  # the solver's own account (e.g. where the story ended in the fleet)

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASSED


class RunReport(BaseModel):
    """One run of a solver over a list of problems, with what it ran on."""

    benchmark: str = "HumanEval"
    solver: str  # "oracle", "null", "one agent", "council of 3"
    model: str  # the LLM, or what stands in for one
    machine: dict[str, str | int | float | None] = Field(default_factory=dict)
    problems: int
    outcomes: list[ProblemOutcome] = Field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def passed(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome.passed)

    @property
    def pass_at_1(self) -> float:
        """Share of problems whose one attempt passed its hidden tests (0 for an empty run)."""
        return self.passed / self.problems if self.problems else 0.0

    def counts(self) -> dict[str, int]:
        return {verdict.value: sum(1 for o in self.outcomes if o.verdict is verdict) for verdict in Verdict}

    def summary(self) -> dict[str, object]:
        return {
            "benchmark": self.benchmark,
            "solver": self.solver,
            "model": self.model,
            "problems": self.problems,
            "passed": self.passed,
            "pass_at_1": round(self.pass_at_1, 4),
            "verdicts": self.counts(),
            "wall_seconds": round(self.wall_seconds, 1),
            "machine": self.machine,
        }
