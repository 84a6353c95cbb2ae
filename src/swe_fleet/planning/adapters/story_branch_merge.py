"""The PO's acceptance on the repository: the story branch merged into the base branch, never forced.

The merge is computed without a working tree (`git merge-tree --write-tree`, git >= 2.38), so a
conflict is found before anything changes and is reported with the conflicting files. The merge
commit (two parents: base head, story head) then moves the base branch by compare-and-swap
(`update-ref <new> <old>`): if someone moved the base meanwhile, nothing is overwritten. When the
base branch is checked out in a clean working tree, that tree follows by a fast-forward to the merge
commit (what the user would see after `git merge`); a checked-out base with local changes is refused.
History is never rewritten: the merge only adds a commit on top of the base.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from swe_fleet.planning.app.ports import MergeResult
from swe_fleet.planning.domain.errors import MergeConflict, MergeRefused

_IDENTITY = {
    "GIT_AUTHOR_NAME": "SWE Fleet",
    "GIT_AUTHOR_EMAIL": "fleet@swe-fleet.invalid",
    "GIT_COMMITTER_NAME": "SWE Fleet",
    "GIT_COMMITTER_EMAIL": "fleet@swe-fleet.invalid",
}


async def _git(repo: Path, *args: str, check: bool = True) -> tuple[int, str, str]:
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("GIT_")},
        **_IDENTITY,
        "GIT_TERMINAL_PROMPT": "0",
    }
    process = await asyncio.create_subprocess_exec(
        "git", *args, cwd=repo, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    code = process.returncode or 0
    stdout, stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    if check and code != 0:
        raise MergeRefused(f"git {' '.join(args[:3])} failed: {(stderr or stdout).strip()[-300:]}")
    return code, stdout, stderr


async def _commit_of(repo: Path, ref: str, what: str) -> str:
    code, out, _ = await _git(
        repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{ref}^{{commit}}", check=False
    )
    if code != 0:
        raise MergeRefused(f"the repository at {repo} has no {what} branch {ref!r}")
    return out.strip()


async def _earlier_merge(repo: Path, base_head: str, story_head: str) -> str | None:
    """The merge commit on the base whose second parent is the story head, if it was merged before."""
    code, _, _ = await _git(repo, "merge-base", "--is-ancestor", story_head, base_head, check=False)
    if code != 0:
        return None
    _, out, _ = await _git(repo, "log", "--merges", "--format=%H %P", f"{story_head}..{base_head}")
    for line in out.splitlines():
        commit, *parents = line.split()
        if story_head in parents[1:]:
            return commit
    return base_head  # merged some other way (e.g. by hand): the base already holds the story


async def _checked_out_clean(repo: Path, base: str) -> bool | None:
    """None: base is not checked out here; True/False: it is, with a clean / dirty working tree."""
    code, out, _ = await _git(repo, "rev-parse", "--is-bare-repository", check=False)
    if code != 0 or out.strip() == "true":
        return None
    code, head, _ = await _git(repo, "symbolic-ref", "--quiet", "HEAD", check=False)
    if code != 0 or head.strip() != f"refs/heads/{base}":
        return None
    _, status, _ = await _git(repo, "status", "--porcelain", "--untracked-files=no")
    return not status.strip()


async def merge_story_branch(repo: Path, base: str, branch: str, message: str) -> MergeResult:
    """Merge `branch` into `base` with a merge commit; MergeConflict / MergeRefused change nothing."""
    if not await asyncio.to_thread(repo.is_dir):
        raise MergeRefused(f"no repository at {repo}")
    base_head = await _commit_of(repo, base, "base")
    story_head = await _commit_of(repo, branch, "story")
    earlier = await _earlier_merge(repo, base_head, story_head)
    if earlier is not None:
        return MergeResult(earlier, base_head, story_head, already_merged=True)
    clean = await _checked_out_clean(repo, base)
    if clean is False:
        raise MergeRefused(
            f"{base} is checked out at {repo} with uncommitted changes; commit or stash them first"
        )
    code, out, _ = await _git(
        repo, "merge-tree", "--write-tree", "--name-only", "--no-messages", base_head, story_head, check=False
    )
    lines = out.splitlines()
    if code == 1:
        raise MergeConflict(base, branch, list(dict.fromkeys(line for line in lines[1:] if line.strip())))
    if code != 0 or not lines:
        raise MergeRefused(f"git merge-tree failed for {branch} into {base}: {out.strip()[-300:]}")
    tree = lines[0].strip()
    _, commit, _ = await _git(repo, "commit-tree", tree, "-p", base_head, "-p", story_head, "-m", message)
    merge_commit = commit.strip()
    if clean:
        # the user's checkout follows: a fast-forward to the merge commit, refused if the base moved
        await _git(repo, "merge", "--ff-only", "--quiet", merge_commit)
    else:
        code, _, err = await _git(
            repo, "update-ref", "-m", message, f"refs/heads/{base}", merge_commit, base_head, check=False
        )
        if code != 0:
            raise MergeRefused(
                f"{base} moved while merging {branch}; nothing was merged ({err.strip()[-200:]})"
            )
    return MergeResult(merge_commit, base_head, story_head)


class GitStoryBranches:
    """`StoryBranches` on a repository this machine can reach as a directory."""

    async def merge(self, repo: str, base: str, branch: str, message: str) -> MergeResult:
        path = Path(repo)
        if not await asyncio.to_thread(path.is_dir):
            raise MergeRefused(
                f"the project's repository {repo!r} is not a directory on this machine; "
                "the fleet merges only local repositories"
            )
        return await merge_story_branch(path, base, branch, message)
