"""What the benchmark run needs from the world: problems' repositories, a solver, the hidden tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from swe_fleet.evaluation.domain.humaneval import Problem


@dataclass(frozen=True)
class ScratchRepository:
    """A git repository made for one problem: the stub committed on the base branch."""

    path: Path
    base_branch: str
    story_branch: str  # where the solver's change goes: `fleet/<story-id>`
    story_id: str


@dataclass(frozen=True)
class SolverResult:
    summary: str = ""


@dataclass(frozen=True)
class TestRun:
    passed: bool
    timed_out: bool
    output: str  # the end of the combined output: the failure a person reads
    seconds: float


class Repositories(Protocol):
    async def create(self, problem: Problem) -> ScratchRepository: ...

    async def head(self, repo: ScratchRepository) -> tuple[str, bool]:
        """The commit to test and whether it is on the story branch (a change) or the base's stub."""
        ...

    async def read(self, repo: ScratchRepository, commit: str, path: str) -> str: ...

    async def discard(self, repo: ScratchRepository) -> None: ...


class Solver(Protocol):
    name: str  # "oracle", "null", "one agent", "council of 3"
    model: str

    async def solve(self, problem: Problem, repo: ScratchRepository) -> SolverResult:
        """Leave the change, if any, as commits on `repo.story_branch`."""
        ...


class HiddenTests(Protocol):
    async def run(self, program: str) -> TestRun:
        """Run one check program (the solution followed by the problem's hidden `check`)."""
        ...
