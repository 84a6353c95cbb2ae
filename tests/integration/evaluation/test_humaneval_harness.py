"""The HumanEval harness on real git repositories and real child processes.

The oracle (canonical solutions committed on the story branch) must pass every problem and the null
run (stubs unchanged) none: that is what shows the harness judges changes, not itself. The full 164
of each run in `make bench`; here a subset that includes the problems with odd whitespace (81, 134)
and helper functions in the prompt (32, 38).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from swe_fleet.evaluation.adapters.problem_source import load_problems, select
from swe_fleet.evaluation.adapters.scratch_git import ScratchRepositories, git
from swe_fleet.evaluation.adapters.solvers import NullSolver, OracleSolver
from swe_fleet.evaluation.adapters.subprocess_tests import SubprocessTests
from swe_fleet.evaluation.app.harness import Harness
from swe_fleet.evaluation.app.ports import ScratchRepository, SolverResult
from swe_fleet.evaluation.domain.humaneval import (
    COMPILE_TEST_COMMAND,
    DOCSTRING_EXAMPLES_WRONG,
    SOLUTION_FILE,
    VISIBLE_TEST_COMMAND,
    Problem,
)
from swe_fleet.evaluation.domain.report import Verdict

SUBSET = [0, 2, 10, 32, 38, 50, 81, 107, 134, 163]


@pytest.fixture(scope="module")
def subset() -> list[Problem]:
    return select(load_problems(), ids=SUBSET)


def _git(path: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, check=True).stdout


async def test_oracle_passes_every_problem_with_a_commit_on_the_story_branch(
    subset: list[Problem], tmp_path: Path
) -> None:
    harness = Harness(ScratchRepositories(tmp_path, run_label="oracle"), SubprocessTests(), keep=True)
    seen: list[tuple[int, str]] = []
    report = await harness.run(
        subset, OracleSolver(), progress=lambda i, n, o, r: seen.append((i, o.task_id))
    )
    assert [(o.task_id, o.verdict) for o in report.outcomes] == [
        (f"HumanEval/{n}", Verdict.PASSED) for n in SUBSET
    ]
    assert seen == [(i, f"HumanEval/{n}") for i, n in enumerate(SUBSET, start=1)]
    assert report.pass_at_1 == 1.0
    repo = tmp_path / "humaneval-032"
    branches = _git(repo, "branch", "--format=%(refname:short)").split()
    assert sorted(branches) == ["fleet/US-ORACLE-HUMANEVAL-032", "main"]
    tested = next(o for o in report.outcomes if o.task_id == "HumanEval/32")
    assert (
        tested.changed and tested.commit == _git(repo, "rev-parse", "fleet/US-ORACLE-HUMANEVAL-032").strip()
    )
    # the base branch still holds the stub, and no hidden test was ever written into the repository
    assert "NotImplementedError" in _git(repo, "show", f"main:{SOLUTION_FILE}")
    for ref in ("main", "fleet/US-ORACLE-HUMANEVAL-032"):
        files = _git(repo, "ls-tree", "-r", "--name-only", ref).split()
        assert sorted(files) == ["README.md", SOLUTION_FILE]
        assert "def check(" not in _git(repo, "show", f"{ref}:{SOLUTION_FILE}")


async def test_null_run_fails_every_problem_and_removes_its_repositories(
    subset: list[Problem], tmp_path: Path
) -> None:
    harness = Harness(ScratchRepositories(tmp_path, run_label="null"), SubprocessTests())
    report = await harness.run(subset, NullSolver())
    assert [o.verdict for o in report.outcomes] == [Verdict.FAILED] * len(SUBSET)
    assert all(not o.changed and "NotImplementedError" in o.detail for o in report.outcomes)
    assert report.pass_at_1 == 0.0
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240 - a test reading its own scratch directory


class _Writes:
    """A solver that commits a given body for the function, as an agent's change would be."""

    name, model = "scripted", "none"

    def __init__(self, body: str | None) -> None:
        self.body = body

    async def solve(self, problem: Problem, repo: ScratchRepository) -> SolverResult:
        await git(repo.path, "switch", "--quiet", "-c", repo.story_branch)
        if self.body is None:
            await git(repo.path, "rm", "--quiet", SOLUTION_FILE)
        else:
            (repo.path / SOLUTION_FILE).write_text(problem.prompt + self.body)
            await git(repo.path, "add", SOLUTION_FILE)
        await git(repo.path, "commit", "--quiet", "-m", "scripted change")
        return SolverResult()


class _Raises:
    name, model = "broken", "none"

    async def solve(self, problem: Problem, repo: ScratchRepository) -> SolverResult:
        raise RuntimeError("the model server went away")


async def test_wrong_endless_missing_and_crashing_changes_are_told_apart(
    subset: list[Problem], tmp_path: Path
) -> None:
    problem = subset[0]  # HumanEval/0: has_close_elements
    harness = Harness(ScratchRepositories(tmp_path), SubprocessTests(timeout_seconds=3))
    wrong = await harness.judge(problem, _Writes("    return False\n"))
    assert (wrong.verdict, wrong.changed) == (Verdict.FAILED, True)
    assert "AssertionError" in wrong.detail
    endless = await harness.judge(problem, _Writes("    while True:\n        pass\n"))
    assert endless.verdict is Verdict.TIMED_OUT and "killed after 3 s" in endless.detail
    missing = await harness.judge(problem, _Writes(None))
    assert missing.verdict is Verdict.FAILED and f"no {SOLUTION_FILE}" in missing.detail
    crashed = await harness.judge(problem, _Raises())
    assert crashed.verdict is Verdict.ERROR and "went away" in crashed.detail


async def test_hidden_tests_see_none_of_the_fleets_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_LLM_URL", "http://secret.invalid")
    probe = (
        "import os, sys\n"
        "leaked = [k for k in os.environ if k.startswith('FLEET_')]\n"
        "sys.exit(3 if leaked else 0)\n"
    )
    assert (await SubprocessTests().run(probe)).passed


def test_the_visible_test_passes_every_canonical_solution_and_only_the_listed_examples_are_wrong(
    tmp_path: Path,
) -> None:
    """The agents' test command must let a right change through: the docstring examples where they hold."""
    wrong = []
    for problem in load_problems():
        (tmp_path / SOLUTION_FILE).write_text(problem.canonical_file())
        doctest = subprocess.run(
            [sys.executable, "-m", "doctest", SOLUTION_FILE], cwd=tmp_path, capture_output=True, timeout=60
        )
        if doctest.returncode != 0:
            wrong.append(problem.number)
            compiles = subprocess.run(
                [sys.executable, "-m", "py_compile", SOLUTION_FILE], cwd=tmp_path, capture_output=True
            )
            assert compiles.returncode == 0 and problem.visible_test_command == COMPILE_TEST_COMMAND
        else:
            assert problem.visible_test_command == VISIBLE_TEST_COMMAND
    assert frozenset(wrong) == DOCSTRING_EXAMPLES_WRONG
