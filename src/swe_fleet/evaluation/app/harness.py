"""Runs problems through a solver and judges each change with the problem's hidden tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from swe_fleet.evaluation.app.ports import HiddenTests, Repositories, Solver
from swe_fleet.evaluation.domain.humaneval import SOLUTION_FILE, Problem
from swe_fleet.evaluation.domain.report import ProblemOutcome, RunReport, Verdict

# Called after each problem with (index from 1, total, outcome, report so far).
Progress = Callable[[int, int, ProblemOutcome, RunReport], None]
_DETAIL_LINES = 6


def _last_lines(text: str, count: int = _DETAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-count:])


class Harness:
    def __init__(self, repositories: Repositories, tests: HiddenTests, *, keep: bool = False) -> None:
        self.repositories, self.tests, self.keep = repositories, tests, keep

    async def run(
        self,
        problems: Sequence[Problem],
        solver: Solver,
        *,
        machine: dict[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> RunReport:
        report = RunReport(
            solver=solver.name, model=solver.model, machine=machine or {}, problems=len(problems)
        )
        started = time.perf_counter()
        for index, problem in enumerate(problems, start=1):
            outcome = await self.judge(problem, solver)
            report.outcomes.append(outcome)
            report.wall_seconds = time.perf_counter() - started
            if progress is not None:
                progress(index, len(problems), outcome, report)
        return report

    async def judge(self, problem: Problem, solver: Solver) -> ProblemOutcome:
        """One problem: a fresh repository, the solver's attempt, the hidden test on what it left."""
        try:
            repo = await self.repositories.create(problem)
        except Exception as error:  # a broken problem or git: recorded, the run goes on
            return ProblemOutcome(
                task_id=problem.task_id, verdict=Verdict.ERROR, detail=f"repository: {error}"
            )
        try:
            solve_started = time.perf_counter()
            try:
                solved = await solver.solve(problem, repo)
            except Exception as error:
                return ProblemOutcome(
                    task_id=problem.task_id,
                    verdict=Verdict.ERROR,
                    detail=f"{solver.name}: {error}",
                    solve_seconds=time.perf_counter() - solve_started,
                )
            solve_seconds = time.perf_counter() - solve_started
            try:
                commit, changed = await self.repositories.head(repo)
                source = await self.repositories.read(repo, commit, SOLUTION_FILE)
            except Exception as error:  # e.g. the change deleted the solution file: nothing to test
                return ProblemOutcome(
                    task_id=problem.task_id,
                    verdict=Verdict.FAILED,
                    detail=f"no {SOLUTION_FILE} to test: {error}",
                    solve_seconds=solve_seconds,
                    summary=solved.summary,
                )
            result = await self.tests.run(problem.check_program(source))
            verdict = (
                Verdict.PASSED if result.passed else Verdict.TIMED_OUT if result.timed_out else Verdict.FAILED
            )
            return ProblemOutcome(
                task_id=problem.task_id,
                verdict=verdict,
                detail="" if result.passed else _last_lines(result.output),
                solve_seconds=solve_seconds,
                test_seconds=result.seconds,
                commit=commit,
                changed=changed,
                summary=solved.summary,
            )
        finally:
            if not self.keep:
                await self.repositories.discard(repo)
