"""The PO's acceptance on a real git repository: a merge commit on the base; a conflict is refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from swe_fleet.planning.adapters.story_branch_merge import merge_story_branch
from swe_fleet.planning.domain.errors import MergeConflict, MergeRefused

BRANCH = "fleet/US-1"


def git(repo: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "po",
        "GIT_AUTHOR_EMAIL": "po@example.invalid",
        "GIT_COMMITTER_NAME": "po",
        "GIT_COMMITTER_EMAIL": "po@example.invalid",
        "PATH": "/usr/bin:/bin",
        "HOME": str(repo),
    }
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    ).stdout


def commit(repo: Path, name: str, text: str, message: str) -> str:
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with main checked out, and a story branch with a fix on top of main's first commit."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "--initial-branch=main")
    commit(path, "app.py", "def add(a, b):\n    return a - b\n", "the bug")
    git(path, "switch", "-q", "-c", BRANCH)
    commit(path, "app.py", "def add(a, b):\n    return a + b\n", "the fix")
    git(path, "switch", "-q", "main")
    return path


def parents(repo: Path, commit: str) -> list[str]:
    return git(repo, "rev-list", "--parents", "-n", "1", commit).split()[1:]


async def test_accepting_merges_with_a_merge_commit_and_the_checkout_follows(repo: Path) -> None:
    base_before, story_head = git(repo, "rev-parse", "main").strip(), git(repo, "rev-parse", BRANCH).strip()
    result = await merge_story_branch(repo, "main", BRANCH, "Merge fleet/US-1: accepted by po")
    assert git(repo, "rev-parse", "main").strip() == result.merge_commit
    assert parents(repo, result.merge_commit) == [base_before, story_head]
    assert (result.base_before, result.story_head, result.already_merged) == (base_before, story_head, False)
    assert "return a + b" in (repo / "app.py").read_text()  # the checked-out base shows the fix
    assert git(repo, "status", "--porcelain") == ""
    again = await merge_story_branch(repo, "main", BRANCH, "again")
    assert (again.merge_commit, again.already_merged) == (result.merge_commit, True)
    assert git(repo, "rev-parse", "main").strip() == result.merge_commit  # nothing merged twice


async def test_a_base_that_is_not_checked_out_moves_by_compare_and_swap(repo: Path) -> None:
    git(repo, "switch", "-q", "-c", "elsewhere")
    result = await merge_story_branch(repo, "main", BRANCH, "Merge")
    assert git(repo, "rev-parse", "main").strip() == result.merge_commit
    assert git(repo, "rev-parse", "HEAD").strip() != result.merge_commit  # the user's branch untouched


async def test_a_conflict_is_reported_with_its_files_and_nothing_changes(repo: Path) -> None:
    commit(repo, "app.py", "def add(a, b):\n    return b + a + 0\n", "someone else fixed it differently")
    before = git(repo, "rev-parse", "main").strip()
    refs_before = git(repo, "for-each-ref")
    with pytest.raises(MergeConflict, match=r"conflicts in app\.py") as caught:
        await merge_story_branch(repo, "main", BRANCH, "Merge")
    assert caught.value.files == ["app.py"]
    assert git(repo, "rev-parse", "main").strip() == before
    assert git(repo, "for-each-ref") == refs_before
    assert git(repo, "status", "--porcelain") == ""


async def test_local_changes_on_the_checked_out_base_are_never_overwritten(repo: Path) -> None:
    (repo / "app.py").write_text("work in progress\n")
    before = git(repo, "rev-parse", "main").strip()
    with pytest.raises(MergeRefused, match="uncommitted changes"):
        await merge_story_branch(repo, "main", BRANCH, "Merge")
    assert git(repo, "rev-parse", "main").strip() == before
    assert (repo / "app.py").read_text() == "work in progress\n"


async def test_missing_branch_or_repository_is_refused(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(MergeRefused, match="no story branch 'fleet/US-2'"):
        await merge_story_branch(repo, "main", "fleet/US-2", "Merge")
    with pytest.raises(MergeRefused, match="no base branch 'trunk'"):
        await merge_story_branch(repo, "trunk", BRANCH, "Merge")
    with pytest.raises(MergeRefused, match="no repository"):
        await merge_story_branch(tmp_path / "nowhere", "main", BRANCH, "Merge")
