"""The project's git repository as the workspace sees it: a fresh clone at the head of `fleet/<story-id>`.

Plain `git` subprocesses (ADR 0610). The rules the fleet keeps with a repository it does not own:
- it writes only `fleet/<story-id>` (created from the base branch when absent) and never forces a
  push: history on the repository is never rewritten, other branches are never touched;
- a task's commit carries the trailer `Fleet-Task: <task-id>`; a task whose commit is already on the
  branch is found, not applied again (a redelivered task after a crash between push and publish);
- a push that loses a race with another task of the same story replays the task's one local,
  unpublished commit on the new head, and fails (nothing pushed) if that conflicts.

Git runs with hooks disabled, no terminal prompts and no system or global configuration, so
neither the repository's content nor the machine's settings run code in the fleet's process.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from swe_fleet.errors import TransientError
from swe_fleet.events.payloads import CommitRecord, DiffStats
from swe_fleet.workspace.app.execution_ports import TaskUnworkable

TRAILER = "Fleet-Task"
AUTHOR_NAME = "SWE Fleet"
AUTHOR_EMAIL = "fleet@swe-fleet.invalid"
BUILD_DEBRIS = ("__pycache__/", "*.pyc", ".pytest_cache/", ".mypy_cache/", ".ruff_cache/")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CONFIG = (
    "-c", "core.hooksPath=/dev/null",
    "-c", f"user.name={AUTHOR_NAME}",
    "-c", f"user.email={AUTHOR_EMAIL}",
    "-c", "commit.gpgsign=false",
    "-c", "protocol.ext.allow=never",
)  # fmt: skip


class GitError(Exception):
    """A git command failed; the message holds the command and git's own words."""


class RepositoryUnavailable(GitError, TransientError):
    """The repository cannot be reached now (a network error): retrying later may work."""


class RepositoryNotFound(GitError, TaskUnworkable):
    """The repository does not exist or refuses us (no such path, not a repository, no access)."""


class BaseBranchMissing(GitError, TaskUnworkable):
    """The project's base branch does not exist in its repository: retrying will not help."""


class PushRejected(GitError, TaskUnworkable):
    """The branch moved and the task's commit could not be replayed on it without a conflict."""


# What git says when retrying cannot help: the repository is not there, or not ours to read.
_PERMANENT_CLONE_ERRORS = (
    "does not exist",
    "not a git repository",
    "not found",
    "authentication failed",
    "permission denied",
    "could not read username",
    "repository not found",
)


def story_branch(story_id: str) -> str:
    if not _SAFE_ID.match(story_id):
        raise GitError(f"story id {story_id!r} cannot name a branch")
    return f"fleet/{story_id}"


def _environment() -> dict[str, str]:
    keep = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C", "LC_ALL": "C"}
    return {
        **keep,
        "HOME": tempfile.gettempdir(),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ASKPASS": "/bin/false",
        "SSH_ASKPASS": "/bin/false",
    }


async def git(*args: str, cwd: Path | None = None, check: bool = True) -> str:
    """Run one git command; its stdout, or GitError with its stderr."""
    process = await asyncio.create_subprocess_exec(
        "git",
        *_CONFIG,
        *args,
        cwd=cwd,
        env=_environment(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if check and process.returncode != 0:
        raise GitError(f"git {' '.join(args[:3])}: {err.decode(errors='replace').strip()[-500:]}")
    return out.decode(errors="replace")


@dataclass
class Checkout:
    """A private clone of the repository, on the story's branch, that this task alone works in."""

    path: Path
    branch: str
    base_branch: str
    # The branch head the task started from; `base_sha` == the base branch's head when the branch is new.
    start_sha: str
    branch_existed: bool

    async def head(self) -> str:
        return (await git("rev-parse", "HEAD", cwd=self.path)).strip()

    async def task_commit(self, task_id: str) -> CommitRecord | None:
        """The commit on the branch (as pushed) that carries this task's trailer, if there is one."""
        if not self.branch_existed:
            return None
        trailer = f"{TRAILER}: {task_id}"
        log = await git(
            "log",
            "--fixed-strings",
            f"--grep={trailer}",
            "--format=%H%x00%B%x1e",
            f"origin/{self.branch}",
            cwd=self.path,
        )
        for entry in log.split("\x1e"):
            sha, _, message = entry.strip().partition("\x00")
            if sha and trailer in (line.strip() for line in message.splitlines()):
                return CommitRecord(sha=sha, message=message.strip())
        return None

    async def has_changes(self) -> bool:
        return bool((await git("status", "--porcelain", "--untracked-files=all", cwd=self.path)).strip())

    async def changed_files(self) -> list[str]:
        await git("add", "--all", cwd=self.path)
        names = await git("diff", "--cached", "--name-only", "-z", cwd=self.path)
        return [name for name in names.split("\x00") if name]

    async def commit(self, task_id: str, title: str, body: str = "") -> CommitRecord | None:
        """Commit everything the task changed, with its trailer; None when nothing changed."""
        if not await self.changed_files():
            return None
        subject = " ".join(title.split())[:72] or f"Task {task_id}"
        paragraphs = [subject, body.strip(), f"{TRAILER}: {task_id}"]
        message = "\n\n".join(part for part in paragraphs if part) + "\n"
        await _commit_with_message(self.path, message)
        return CommitRecord(sha=await self.head(), message=message.strip())

    async def _range(self, commit: str | None) -> list[str]:
        """`commit`'s own change, or everything since the start (committed or not) when None."""
        if commit is not None:
            return [f"{commit}^", commit]
        await git("add", "--all", cwd=self.path)
        return ["--cached", self.start_sha]

    async def diff_stats(self, *, commit: str | None = None) -> DiffStats:
        numstat = await git("diff", "--numstat", "-z", *await self._range(commit), cwd=self.path)
        files, insertions, deletions = [], 0, 0
        for entry in numstat.split("\x00"):
            parts = entry.split("\t")
            if len(parts) >= 3:
                added, removed, name = parts[0], parts[1], parts[2]
                files.append(name)
                insertions += int(added) if added.isdigit() else 0
                deletions += int(removed) if removed.isdigit() else 0
        return DiffStats(files=files, insertions=insertions, deletions=deletions)

    async def diff(self, *, limit: int = 200_000, commit: str | None = None) -> str:
        return (await git("diff", *await self._range(commit), cwd=self.path))[:limit]

    async def push(self) -> None:
        """Fast-forward the repository's branch to this checkout's head; never forced.

        If another task of the story pushed first, this task's own commits (not yet published) are
        replayed on the new head and pushed again; a conflict raises PushRejected.
        """
        for _ in range(3):
            result = await _push(self.path, self.branch)
            if result is None:
                return
            await git(
                "fetch",
                "--quiet",
                "origin",
                f"+refs/heads/{self.branch}:refs/remotes/origin/{self.branch}",
                cwd=self.path,
            )
            replayed = await git("rebase", f"origin/{self.branch}", cwd=self.path, check=False)
            if await _rebasing(self.path):
                await git("rebase", "--abort", cwd=self.path, check=False)
                raise PushRejected(
                    f"{self.branch} moved and this task's change conflicts with it: {replayed[-300:]}"
                )
        raise PushRejected(f"{self.branch} kept moving: gave up pushing after 3 attempts")

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


async def _commit_with_message(path: Path, message: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "git", *_CONFIG, "commit", "--quiet", "--no-verify", "-F", "-",
        cwd=path, env=_environment(),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate(message.encode())
    if process.returncode != 0:
        raise GitError(f"git commit: {err.decode(errors='replace').strip()[-500:]}")


async def _push(path: Path, branch: str) -> str | None:
    """None when pushed; git's words when the remote refused a non-fast-forward."""
    process = await asyncio.create_subprocess_exec(
        "git", *_CONFIG, "push", "--quiet", "--porcelain", "origin", f"HEAD:refs/heads/{branch}",
        cwd=path, env=_environment(),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    if process.returncode == 0:
        return None
    words = (out + err).decode(errors="replace")
    if "rejected" in words or "non-fast-forward" in words or "fetch first" in words:
        return words
    raise RepositoryUnavailable(f"git push to {branch}: {words.strip()[-500:]}")


async def _rebasing(path: Path) -> bool:
    git_dir = Path((await git("rev-parse", "--git-dir", cwd=path)).strip())
    git_dir = git_dir if git_dir.is_absolute() else path / git_dir
    return (git_dir / "rebase-merge").exists() or (git_dir / "rebase-apply").exists()


class GitWorkspaces:
    """Makes checkouts under `root`, one fresh clone per task (removed by `Checkout.discard`)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def open(self, repo: str, base_branch: str, story_id: str, task_id: str) -> Checkout:
        branch = story_branch(story_id)
        if repo.startswith("-"):
            raise GitError(f"{repo!r} is not a repository")
        self.root.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=f"{_safe(task_id)}-", dir=self.root))
        try:
            return await self._clone(repo, base_branch, branch, path)
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise

    async def _clone(self, repo: str, base_branch: str, branch: str, path: Path) -> Checkout:
        try:
            await git("clone", "--quiet", "--no-checkout", "--no-tags", "--", repo, str(path))
        except GitError as error:
            if any(words in str(error).lower() for words in _PERMANENT_CLONE_ERRORS):
                raise RepositoryNotFound(f"cannot clone {repo}: {error}") from None
            raise RepositoryUnavailable(f"cannot clone {repo}: {error}") from None
        remote_branch = await git(
            "rev-parse", "--verify", "--quiet", f"refs/remotes/origin/{branch}", cwd=path, check=False
        )
        existed = bool(remote_branch.strip())
        start = f"origin/{branch}" if existed else f"origin/{base_branch}"
        if not existed:
            found = await git(
                "rev-parse",
                "--verify",
                "--quiet",
                f"refs/remotes/origin/{base_branch}",
                cwd=path,
                check=False,
            )
            if not found.strip():
                raise BaseBranchMissing(f"base branch {base_branch!r} not found in {repo}")
        await git("checkout", "--quiet", "-B", branch, start, cwd=path)
        # What running a project's tests leaves behind is never part of a task's change.
        (path / ".git" / "info").mkdir(exist_ok=True)
        with (path / ".git" / "info" / "exclude").open("a") as exclude:
            exclude.write("\n".join(BUILD_DEBRIS) + "\n")
        start_sha = (await git("rev-parse", "HEAD", cwd=path)).strip()
        return Checkout(path, branch, base_branch, start_sha, existed)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:60] or "task"
