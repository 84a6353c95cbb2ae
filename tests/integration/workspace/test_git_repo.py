"""The git adapter on real repositories: the story branch, one commit per task, never a forced push."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet_testing.git_repos import branches, commits, run_git, seeded_remote
from swe_fleet.workspace.adapters.git_repo import (
    BaseBranchMissing,
    GitWorkspaces,
    PushRejected,
    RepositoryNotFound,
)


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return seeded_remote(tmp_path)


async def test_a_task_commit_lands_on_the_story_branch_only(remote: Path, tmp_path: Path) -> None:
    main_before = branches(remote)["main"]
    workspaces = GitWorkspaces(tmp_path / "ws")
    checkout = await workspaces.open(str(remote), "main", "US-1", "T-1")
    assert (checkout.branch, checkout.branch_existed, checkout.start_sha) == (
        "fleet/US-1",
        False,
        main_before,
    )
    assert await checkout.task_commit("T-1") is None
    (checkout.path / "calc.py").write_text((checkout.path / "calc.py").read_text().replace("a - b", "a + b"))
    (checkout.path / "NOTES.md").write_text("fixed\n")
    commit = await checkout.commit("T-1", "Fix add", "add subtracted")
    assert commit is not None and commit.message.endswith("Fleet-Task: T-1")
    stats = await checkout.diff_stats()
    assert (sorted(stats.files), stats.insertions, stats.deletions) == (["NOTES.md", "calc.py"], 2, 1)
    await checkout.push()
    checkout.discard()
    assert not checkout.path.exists()

    after = branches(remote)
    assert after["main"] == main_before  # the base branch is untouched
    assert after["fleet/US-1"] == commit.sha
    assert commits(remote, "fleet/US-1") == ["Fix add|T-1", "Initial commit|"]


async def test_a_task_already_on_the_branch_is_found_and_nothing_is_committed_twice(
    remote: Path, tmp_path: Path
) -> None:
    workspaces = GitWorkspaces(tmp_path / "ws")
    first = await workspaces.open(str(remote), "main", "US-1", "T-1")
    (first.path / "calc.py").write_text("changed\n")
    done = await first.commit("T-1", "Change")
    await first.push()

    again = await workspaces.open(str(remote), "main", "US-1", "T-1")
    assert done is not None and again.branch_existed and again.start_sha == done.sha
    found = await again.task_commit("T-1")
    assert found is not None and found.sha == done.sha
    assert await again.task_commit("T-10") is None  # a prefix of another task's id is not a match
    assert await again.commit("T-2", "Nothing to do") is None  # no change, no empty commit
    assert commits(remote, "fleet/US-1") == ["Change|T-1", "Initial commit|"]


async def test_two_tasks_of_a_story_racing_both_land_without_a_forced_push(
    remote: Path, tmp_path: Path
) -> None:
    workspaces = GitWorkspaces(tmp_path / "ws")
    one = await workspaces.open(str(remote), "main", "US-1", "T-1")
    two = await workspaces.open(str(remote), "main", "US-1", "T-2")
    (one.path / "one.txt").write_text("1\n")
    (two.path / "two.txt").write_text("2\n")
    first = await one.commit("T-1", "One")
    await two.commit("T-2", "Two")
    await one.push()
    await two.push()  # rejected as non-fast-forward, replayed on T-1's commit, pushed
    history = commits(remote, "fleet/US-1")
    assert history == ["Two|T-2", "One|T-1", "Initial commit|"]
    assert first is not None
    assert run_git("merge-base", "--is-ancestor", first.sha, "fleet/US-1", cwd=remote) == ""


async def test_a_conflicting_race_pushes_nothing(remote: Path, tmp_path: Path) -> None:
    workspaces = GitWorkspaces(tmp_path / "ws")
    one = await workspaces.open(str(remote), "main", "US-1", "T-1")
    two = await workspaces.open(str(remote), "main", "US-1", "T-2")
    (one.path / "calc.py").write_text("one\n")
    (two.path / "calc.py").write_text("two\n")
    await one.commit("T-1", "One")
    await two.commit("T-2", "Two")
    await one.push()
    with pytest.raises(PushRejected, match="conflicts"):
        await two.push()
    assert commits(remote, "fleet/US-1") == ["One|T-1", "Initial commit|"]


async def test_a_missing_repository_or_base_branch_is_named(remote: Path, tmp_path: Path) -> None:
    workspaces = GitWorkspaces(tmp_path / "ws")
    with pytest.raises(RepositoryNotFound, match="cannot clone"):
        await workspaces.open(str(tmp_path / "nowhere.git"), "main", "US-1", "T-1")
    with pytest.raises(BaseBranchMissing, match="'develop'"):
        await workspaces.open(str(remote), "develop", "US-1", "T-1")
    assert list((tmp_path / "ws").iterdir()) == []  # nothing left behind
