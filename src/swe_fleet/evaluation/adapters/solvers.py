"""The two solvers that check the harness itself: the oracle (canonical solutions) and null (no change)."""

from __future__ import annotations

from swe_fleet.evaluation.adapters.scratch_git import git
from swe_fleet.evaluation.app.ports import ScratchRepository, SolverResult
from swe_fleet.evaluation.domain.humaneval import SOLUTION_FILE, Problem


class OracleSolver:
    """Commits the problem's canonical solution on the story branch, as an agent's change would be."""

    name = "oracle"
    model = "none (HumanEval's canonical solutions)"

    async def solve(self, problem: Problem, repo: ScratchRepository) -> SolverResult:
        await git(repo.path, "switch", "--quiet", "-c", repo.story_branch, repo.base_branch)
        (repo.path / SOLUTION_FILE).write_text(problem.canonical_file(), encoding="utf-8")
        await git(repo.path, "add", SOLUTION_FILE)
        await git(repo.path, "commit", "--quiet", "-m", f"{problem.task_id}: the canonical solution")
        await git(repo.path, "switch", "--quiet", repo.base_branch)
        return SolverResult(summary="applied the canonical solution")


class NullSolver:
    """Changes nothing: the stubs are tested as they are (every problem must fail)."""

    name = "null"
    model = "none (the stubs unchanged)"

    async def solve(self, problem: Problem, repo: ScratchRepository) -> SolverResult:
        return SolverResult(summary="no change")
