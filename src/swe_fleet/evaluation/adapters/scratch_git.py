"""A throwaway git repository per problem: the stub committed on the base branch, nothing else.

Real git through its command line, as a user's repository would be. The problem's hidden tests are
never written here.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from swe_fleet.evaluation.app.ports import ScratchRepository
from swe_fleet.evaluation.domain.humaneval import SOLUTION_FILE, Problem

BASE_BRANCH = "main"
_IDENTITY = {
    "GIT_AUTHOR_NAME": "fleet eval",
    "GIT_AUTHOR_EMAIL": "eval@swe-fleet.invalid",
    "GIT_COMMITTER_NAME": "fleet eval",
    "GIT_COMMITTER_EMAIL": "eval@swe-fleet.invalid",
}


class GitFailed(Exception):
    pass


async def git(cwd: Path, *args: str, check: bool = True) -> tuple[int, str]:
    """Run git in `cwd` with the harness's identity and no user or system config; (code, stdout)."""
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("GIT_")},
        **_IDENTITY,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
    }
    process = await asyncio.create_subprocess_exec(
        "git",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    output, errors = await process.communicate()
    if check and process.returncode != 0:
        message = (errors or output).decode("utf-8", "replace").strip()[-400:]
        raise GitFailed(f"git {' '.join(args)} failed ({process.returncode}): {message}")
    return process.returncode or 0, output.decode("utf-8", "replace")


class ScratchRepositories:
    """Creates one repository per problem under `root`: `<root>/<slug>`."""

    def __init__(self, root: Path, *, run_label: str = "eval") -> None:
        self.root, self.run_label = root, run_label

    def story_id(self, problem: Problem) -> str:
        return f"US-{self.run_label}-{problem.slug}".upper()

    async def create(self, problem: Problem) -> ScratchRepository:
        path = self.root / problem.slug
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        (path / SOLUTION_FILE).write_text(problem.stub(), encoding="utf-8")
        (path / "README.md").write_text(
            f"# {problem.task_id}\n\n{problem.story_brief()}\n\nTests: `{problem.visible_test_command}`\n",
            encoding="utf-8",
        )
        await git(path, "init", "--quiet", f"--initial-branch={BASE_BRANCH}")
        await git(path, "add", "--all")
        await git(path, "commit", "--quiet", "-m", f"{problem.task_id}: the stub to implement")
        story_id = self.story_id(problem)
        return ScratchRepository(
            path=path, base_branch=BASE_BRANCH, story_branch=f"fleet/{story_id}", story_id=story_id
        )

    async def head(self, repo: ScratchRepository) -> tuple[str, bool]:
        code, output = await git(
            repo.path, "rev-parse", "--verify", "--quiet", repo.story_branch, check=False
        )
        if code == 0:
            _, base = await git(repo.path, "rev-parse", repo.base_branch)
            story_head = output.strip()
            return story_head, story_head != base.strip()
        _, base = await git(repo.path, "rev-parse", repo.base_branch)
        return base.strip(), False

    async def read(self, repo: ScratchRepository, commit: str, path: str) -> str:
        _, text = await git(repo.path, "show", f"{commit}:{path}")
        return text

    async def discard(self, repo: ScratchRepository) -> None:
        await asyncio.to_thread(shutil.rmtree, repo.path, True)
