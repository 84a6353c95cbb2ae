"""The lifecycle driven by results, with a real planning process, a real nats-server and a real git repo.

Execution's events (tasks derived, dispatched, workspace results) are published by hand here, as the
orchestrator and the workspace service publish them; planning moves the story by itself on them, and
the PO accepts (the branch merged into the base branch) or sends the story back.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fleet_testing.auth import token_for
from swe_fleet.backbone.connection import connect
from swe_fleet.backbone.provisioning import ensure_streams
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.embedded.child import free_port
from swe_fleet.events import subjects
from swe_fleet.events.payloads import (
    CommitRecord,
    Payload,
    ReviewVerdict,
    Role,
    SuiteResult,
    TaskDispatched,
    TasksDerived,
    TaskSpec,
    WorkspaceReviewCompleted,
    WorkspaceTaskCompleted,
    WorkspaceTaskFailed,
)
from swe_fleet.planning.domain.delivery import SYSTEM_ACTOR
from tests.integration.delivery.test_story_branch_merge import commit, git
from tests.integration.planning.support import spawn_planning, store_target
from tests.support.processes import kill

STORY = "US-FIX-1"
FLEET = Path(sys.executable).with_name("fleet")
BRANCH = f"fleet/{STORY}"


@pytest.fixture
def planning_url(nats_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # The PO's token (the issuer's key is minted here first, then found by the planning process): the
    # API records its subject, "po", as the actor; the CLI sends it from FLEET_TOKEN.
    monkeypatch.setenv("FLEET_TOKEN", token_for(tmp_path, "po"))
    with store_target("sqlite", tmp_path) as target:
        port = free_port()
        process = spawn_planning(nats_server.url, target, tmp_path, port, log=tmp_path / "planning.log")
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            kill(process, signal.SIGTERM)


@pytest.fixture
async def publish(nats_server) -> AsyncIterator[Any]:
    nc = await connect(nats_server.url, "delivery-test", wait_seconds=5)
    await ensure_streams(nc.jetstream())
    publisher = EventPublisher(nc.jetstream(), "test")

    async def send(subject: str, payload: Payload) -> None:
        await publisher.publish(subject, payload)

    yield send
    await nc.close()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "shop"
    path.mkdir()
    git(path, "init", "-q", "--initial-branch=main")
    commit(path, "calc.py", "def add(a, b):\n    return a - b\n", "add, with a bug")
    return path


def fix_on_story_branch(repo: Path, text: str = "def add(a, b):\n    return a + b\n") -> str:
    """What the workspace leaves: the task's commit on fleet/<story-id>, the base untouched."""
    exists = subprocess.run(["git", "rev-parse", "--verify", "-q", BRANCH], cwd=repo, capture_output=True)
    git(repo, "switch", "-q", *((BRANCH,) if exists.returncode == 0 else ("-c", BRANCH, "main")))
    sha = commit(repo, "calc.py", text, "fix add")
    git(repo, "switch", "-q", "main")
    return sha


async def api(
    client: httpx.AsyncClient, method: str, path: str, body: dict | None = None, ok: int = 200
) -> Any:
    response = await client.request(method, path, json=body)
    assert response.status_code == ok, response.text
    return response.json()


async def story_in(client: httpx.AsyncClient, state: str, seconds: float = 30.0) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        story = await api(client, "GET", f"/v1/stories/{STORY}")
        if story["state"] == state:
            return story
        assert time.monotonic() < deadline, (
            f"story stayed {story['state']}, expected {state}: {story['history']}"
        )
        await asyncio.sleep(0.1)


async def planned_story(client: httpx.AsyncClient, repo: Path) -> None:
    await api(
        client,
        "POST",
        "/v1/projects",
        {"id": "PRJ-SHOP", "name": "Shop", "repo": str(repo)},
        201,
    )
    await api(
        client,
        "POST",
        "/v1/epics",
        {"id": "EP-1", "project_id": "PRJ-SHOP", "title": "Maths"},
        201,
    )
    story = {
        "id": STORY,
        "epic_id": "EP-1",
        "title": "add adds",
        "acceptance_criteria": ["add(2, 2) == 4"],
    }
    await api(client, "POST", "/v1/stories", story, 201)
    for state in ("PO_REVIEW", "READY_FOR_PLANNING"):
        await api(client, "POST", f"/v1/stories/{STORY}/transitions", {"to_state": state})
    plan = await api(
        client,
        "POST",
        f"/v1/stories/{STORY}/plans",
        {
            "description": "fix add",
            "acceptance_criteria": ["tests pass"],
            "roles": ["DEV"],
        },
        201,
    )
    await api(client, "POST", f"/v1/plans/{plan['id']}/approve", {})


def po_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {os.environ['FLEET_TOKEN']}"}


def fleet(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FLEET_PLANNING_URL": url}
    return subprocess.run([str(FLEET), *args], capture_output=True, text=True, env=env, timeout=60)


def derived(*task_ids: str) -> TasksDerived:
    tasks = [TaskSpec(task_id=t, title=f"task {t}", role=Role.DEV, estimate_hours=1) for t in task_ids]
    return TasksDerived(story_id=STORY, plan_id="PL-1", tasks=tasks, attempts=1)


def completed(task_id: str, sha: str, ok: bool = True) -> WorkspaceTaskCompleted:
    return WorkspaceTaskCompleted(
        task_id=task_id,
        story_id=STORY,
        role=Role.DEV,
        agent_id="dev-1",
        branch=BRANCH,
        commits=[CommitRecord(sha=sha, message="fix add")],
        tests_after=SuiteResult(
            ok=ok,
            passed=3 if ok else 2,
            failed=0 if ok else 1,
            failing=[] if ok else ["test_calc.py::test_add"],
        ),
    )


def approved(task_id: str, sha: str) -> WorkspaceReviewCompleted:
    return WorkspaceReviewCompleted(
        review_id=f"RV-{task_id}-{sha[:8]}", task_id=task_id, story_id=STORY, reviewer="qa",
        verdict=ReviewVerdict.APPROVE, summary="adds as the story asks", head=sha,
    )  # fmt: skip


async def started(client: httpx.AsyncClient, publish: Any, *task_ids: str) -> None:
    await publish(subjects.TASKS_DERIVED, derived(*task_ids))
    await publish(
        subjects.TASK_DISPATCHED,
        TaskDispatched(task_id=task_ids[0], story_id=STORY, role=Role.DEV, agent_id="dev-1"),
    )
    await story_in(client, "IN_PROGRESS")


async def test_done_and_tested_work_reaches_ready_to_review_and_the_po_merges_it(
    planning_url: str, publish: Any, repo: Path
) -> None:
    async with httpx.AsyncClient(base_url=planning_url, timeout=30, headers=po_headers()) as client:
        await planned_story(client, repo)
        await started(client, publish, "T-1", "T-2")
        sha = fix_on_story_branch(repo)
        await publish(subjects.WORKSPACE_TASK_COMPLETED, completed("T-1", sha))
        await publish(subjects.WORKSPACE_TASK_COMPLETED, completed("T-2", sha))
        await story_in(client, "CODE_REVIEW")
        waiting = await api(client, "GET", f"/v1/stories/{STORY}/delivery")
        assert (waiting["blocked_reason"], waiting["waiting_for"]) == (
            None,
            "the QA review of task(s) T-1, T-2",
        )
        await publish(subjects.WORKSPACE_REVIEW_COMPLETED, approved("T-1", sha))
        await publish(subjects.WORKSPACE_REVIEW_COMPLETED, approved("T-2", sha))
        story = await story_in(client, "READY_TO_REVIEW")
        by_system = [(h["to_state"], h["reason"]) for h in story["history"] if h["by"] == SYSTEM_ACTOR]
        assert [state for state, _ in by_system] == [
            "READY_FOR_EXECUTION",
            "IN_PROGRESS",
            "CODE_REVIEW",
            "TESTING",
            "READY_TO_REVIEW",
        ]
        assert by_system[-1][1] == f"the suite passed at {sha[:12]} after task T-2 (3 passed)"
        delivery = await api(client, "GET", f"/v1/stories/{STORY}/delivery")
        assert (delivery["all_done"], delivery["blocked_reason"], delivery["branch"]) == (True, None, BRANCH)
        assert "return a - b" in git(repo, "show", "main:calc.py")  # nothing merged before the PO says so

        accepted = await api(client, "POST", f"/v1/stories/{STORY}/accept", {"note": "thanks"})
        merge = accepted["merge_commit"]
        assert accepted["story"]["state"] == "ACCEPTED" and not accepted["already_merged"]
        assert git(repo, "rev-parse", "main").strip() == merge
        assert git(repo, "rev-list", "--parents", "-n", "1", merge).split()[1:] == [
            accepted["base_before"],
            sha,
        ]
        assert "return a + b" in git(repo, "show", "main:calc.py")
        story = await api(client, "GET", f"/v1/stories/{STORY}")
        assert story["history"][-1]["reason"] == f"merged {BRANCH} into main as {merge}: thanks"
        assert (await api(client, "GET", f"/v1/stories/{STORY}/delivery"))["merge_commit"] == merge


async def test_a_failed_task_or_a_failing_suite_holds_the_story_and_nothing_is_merged(
    planning_url: str, publish: Any, repo: Path
) -> None:
    async with httpx.AsyncClient(base_url=planning_url, timeout=30, headers=po_headers()) as client:
        await planned_story(client, repo)
        await started(client, publish, "T-1", "T-2")
        sha = fix_on_story_branch(repo, "def add(a, b):\n    return a * b\n")  # a wrong fix
        await publish(subjects.WORKSPACE_TASK_COMPLETED, completed("T-1", sha, ok=False))
        failed = WorkspaceTaskFailed(
            task_id="T-2",
            story_id=STORY,
            role=Role.DEV,
            agent_id="dev-1",
            branch=BRANCH,
            reason="3 steps left and test_add still fails",
        )
        await publish(subjects.WORKSPACE_TASK_FAILED, failed)
        deadline = time.monotonic() + 30
        while (delivery := await api(client, "GET", f"/v1/stories/{STORY}/delivery"))["tasks"][1][
            "status"
        ] != "FAILED":
            assert time.monotonic() < deadline, delivery
            await asyncio.sleep(0.1)
        assert delivery["blocked_reason"] == "task T-2 failed (1x): 3 steps left and test_add still fails"
        assert delivery["suite"]["failing"] == ["test_calc.py::test_add"]
        assert (await api(client, "GET", f"/v1/stories/{STORY}"))["state"] == "IN_PROGRESS"
        refused = await client.post(f"/v1/stories/{STORY}/accept", json={})
        assert refused.status_code == 409 and "only in READY_TO_REVIEW" in refused.json()["detail"]
        assert "return a - b" in git(repo, "show", "main:calc.py")


async def test_sent_back_work_starts_a_new_round_with_the_reason_in_the_history(
    planning_url: str, publish: Any, repo: Path
) -> None:
    async with httpx.AsyncClient(base_url=planning_url, timeout=30, headers=po_headers()) as client:
        await planned_story(client, repo)
        await started(client, publish, "T-1")
        sha = fix_on_story_branch(repo)
        await publish(subjects.WORKSPACE_TASK_COMPLETED, completed("T-1", sha))
        await publish(subjects.WORKSPACE_REVIEW_COMPLETED, approved("T-1", sha))
        await story_in(client, "READY_TO_REVIEW")
        back = await asyncio.to_thread(
            fleet,
            planning_url,
            "story",
            "send-back",
            STORY,
            "--reason",
            "add must also accept floats",
            "--json",
        )
        assert back.returncode == 0, back.stderr
        assert json.loads(back.stdout)["state"] == "IN_PROGRESS"
        story = await api(client, "GET", f"/v1/stories/{STORY}")
        assert (story["history"][-1]["by"], story["history"][-1]["reason"]) == (
            "po",
            "sent back: add must also accept floats",
        )
        delivery = await api(client, "GET", f"/v1/stories/{STORY}/delivery")
        assert (delivery["round"], delivery["send_backs"], delivery["tasks"][0]["status"]) == (
            2,
            ["add must also accept floats"],
            "PENDING",
        )
        # the task is asked for again as its next attempt (ADR 0703), whose result moves the story on
        assert delivery["tasks"][0]["current_id"] == "T-1~2"
        sha = fix_on_story_branch(repo, "def add(a, b):\n    return float(a) + float(b)\n")
        await publish(subjects.WORKSPACE_TASK_COMPLETED, completed("T-1~2", sha))
        await publish(subjects.WORKSPACE_REVIEW_COMPLETED, approved("T-1~2", sha))
        await story_in(client, "READY_TO_REVIEW")


async def test_a_merge_conflict_is_refused_and_the_story_waits(
    planning_url: str, publish: Any, repo: Path
) -> None:
    async with httpx.AsyncClient(base_url=planning_url, timeout=30, headers=po_headers()) as client:
        await planned_story(client, repo)
        await started(client, publish, "T-1")
        sha = fix_on_story_branch(repo)
        await publish(subjects.WORKSPACE_TASK_COMPLETED, completed("T-1", sha))
        await publish(subjects.WORKSPACE_REVIEW_COMPLETED, approved("T-1", sha))
        await story_in(client, "READY_TO_REVIEW")
        commit(repo, "calc.py", "def add(a, b):\n    return sum((a, b))\n", "someone fixed main meanwhile")
        before = git(repo, "rev-parse", "main").strip()
        refused = await client.post(f"/v1/stories/{STORY}/accept", json={})
        assert refused.status_code == 409
        assert (
            refused.json()["detail"] == f"merging {BRANCH} into main conflicts in calc.py; nothing was merged"
        )
        by_cli = await asyncio.to_thread(fleet, planning_url, "story", "accept", STORY)
        assert by_cli.returncode == 1
        assert by_cli.stderr.strip() == (
            f"fleet: merging {BRANCH} into main conflicts in calc.py; nothing was merged (HTTP 409)"
        )
        assert git(repo, "rev-parse", "main").strip() == before
        assert (await api(client, "GET", f"/v1/stories/{STORY}"))["state"] == "READY_TO_REVIEW"
