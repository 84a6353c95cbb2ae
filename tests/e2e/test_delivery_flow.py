"""From a dispatched task to an accepted story, with real processes, real git and a scripted model.

Real processes: nats-server, Planning (with its delivery consumers), Context and `fleet serve
workspace` in its sandbox; the model is a real OpenAI-compatible HTTP server answering from a script.
The orchestrator's events for one task (derived, deliberated, dispatched) are published as it does.
The story moves by itself on the workspace's results; the PO accepts or sends it back (the CLI).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fleet_testing.auth import token_for
from fleet_testing.git_repos import branches, run_git, seeded_remote
from fleet_testing.scripted_llm import ScriptedLlm, Turn
from swe_fleet.events.payloads import ReviewVerdict
from swe_fleet.planning.domain.delivery import SYSTEM_ACTOR
from tests.support.review_process import script_review, start_review
from tests.support.workspace_fleet import TEST_COMMAND, WorkspaceFleet, dispatch

FLEET = Path(sys.executable).with_name("fleet")
FIXED = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"
FLOATS = "def add(a, b):\n    return float(a) + float(b)\n\n\ndef mul(a, b):\n    return a * b\n"
WRONG = "def add(a, b):\n    return a * b\n\n\ndef mul(a, b):\n    return a * b\n"
PLAN = "In calc.py, add() subtracts: make it return a + b. test_calc.py::test_add checks it."


def script(content: str) -> list[Turn]:
    return [
        Turn.call("read_file", path="calc.py"),
        Turn.call("write_file", path="calc.py", content=content),
        Turn.call("run_tests"),
        Turn.call("finish", summary="add() now adds"),
    ]


@pytest.fixture
def llm() -> Iterator[ScriptedLlm]:
    server = ScriptedLlm().start()
    yield server
    server.stop()


@pytest.fixture
def fleet(nats_server, tmp_path: Path, llm: ScriptedLlm) -> Iterator[WorkspaceFleet]:
    fleet = WorkspaceFleet(nats_server.url, tmp_path, llm.url).start()
    try:
        script_review(llm, ReviewVerdict.APPROVE, "add() adds, as the story asks; its test covers it")
        start_review(fleet)
        yield fleet
    finally:
        fleet.stop()


def po(fleet: WorkspaceFleet, *args: str) -> subprocess.CompletedProcess[str]:
    # A product owner's token naming po-ana: the API records that identity as the actor.
    env = {
        **os.environ,
        "FLEET_PLANNING_URL": fleet.planning_url,
        "FLEET_TOKEN": token_for(fleet.root / "planning", "po-ana"),
    }
    return subprocess.run([str(FLEET), *args], capture_output=True, text=True, env=env, timeout=60)


def planned_story(fleet: WorkspaceFleet, repo: Path) -> str:
    """A story of a project on `repo`, taken by the PO to an approved plan (PLANNED)."""
    with httpx.Client(base_url=fleet.planning_url, timeout=10, headers=fleet.headers) as http:

        def ok(response: httpx.Response) -> Any:
            assert response.status_code < 300, response.text
            return response.json()

        project = ok(
            http.post(
                "/v1/projects",
                json={"name": "Calc", "repo": str(repo), "test_command": TEST_COMMAND},
            )
        )
        epic = ok(http.post("/v1/epics", json={"project_id": project["id"], "title": "Maths"}))
        story = ok(
            http.post(
                "/v1/stories",
                json={
                    "title": "add adds",
                    "epic_id": epic["id"],
                    "acceptance_criteria": ["add(2, 3) == 5"],
                },
            )
        )
        for state in ("PO_REVIEW", "READY_FOR_PLANNING"):
            ok(http.post(f"/v1/stories/{story['id']}/transitions", json={"to_state": state}))
        plan = ok(
            http.post(
                f"/v1/stories/{story['id']}/plans",
                json={
                    "description": PLAN,
                    "acceptance_criteria": ["tests pass"],
                    "roles": ["DEV"],
                },
            )
        )
        ok(http.post(f"/v1/plans/{plan['id']}/approve", json={}))
    return str(story["id"])


async def story_state(fleet: WorkspaceFleet, story_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=fleet.planning_url, timeout=10, headers=fleet.headers) as http:
        return (await http.get(f"/v1/stories/{story_id}")).json()


async def delivery(fleet: WorkspaceFleet, story_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=fleet.planning_url, timeout=10, headers=fleet.headers) as http:
        return (await http.get(f"/v1/stories/{story_id}/delivery")).json()


async def wait_for(fleet: WorkspaceFleet, story_id: str, state: str, within: float = 240.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while (story := await story_state(fleet, story_id))["state"] != state:
        assert time.monotonic() < deadline, f"{story_id} is {story['state']}, not {state}: {story['history']}"
        await asyncio.sleep(0.5)
    return story


async def wait_for_result(fleet: WorkspaceFleet, story_id: str, task_id: str, within: float = 240.0) -> dict:
    deadline = time.monotonic() + within
    while True:
        found = await delivery(fleet, story_id)
        task = next((t for t in found["tasks"] if t["task_id"] == task_id), None)
        if task and task["status"] in ("DONE", "FAILED"):
            return found
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.5)


async def test_a_passing_fix_reaches_ready_to_review_by_itself_and_the_po_merges_it(
    fleet: WorkspaceFleet, llm: ScriptedLlm, js, tmp_path: Path
) -> None:
    remote = seeded_remote(tmp_path / "repo")
    main_before = branches(remote)["main"]
    story_id = planned_story(fleet, remote)
    llm.script("T-fix-1", script(FIXED))
    fleet.start_workspace()
    await dispatch(js, story_id, "T-fix-1", "Make add add", PLAN)

    story = await wait_for(fleet, story_id, "READY_TO_REVIEW")
    moves = [(h["to_state"], h["reason"]) for h in story["history"] if h["by"] == SYSTEM_ACTOR]
    assert [state for state, _ in moves] == [
        "READY_FOR_EXECUTION",
        "IN_PROGRESS",
        "CODE_REVIEW",
        "TESTING",
        "READY_TO_REVIEW",
    ]
    story_head = branches(remote)[f"fleet/{story_id}"]
    assert (
        moves[-2][1] == "QA review: task T-fix-1 approved: add() adds, as the story asks; its test covers it"
    )
    assert moves[-1][1].startswith(f"the suite passed at {story_head[:12]} after task T-fix-1")
    assert branches(remote)["main"] == main_before  # nothing reaches main before the PO accepts

    accepted = po(fleet, "story", "accept", story_id, "--json")
    assert accepted.returncode == 0, accepted.stderr
    merge = json.loads(accepted.stdout)["merge_commit"]
    assert branches(remote)["main"] == merge
    assert run_git("rev-list", "--parents", "-n", "1", merge, cwd=remote).split()[1:] == [
        main_before,
        story_head,
    ]
    assert run_git("show", "main:calc.py", cwd=remote) == FIXED
    story = await story_state(fleet, story_id)
    assert story["state"] == "ACCEPTED"
    assert (story["history"][-1]["by"], story["history"][-1]["reason"]) == (
        "po-ana",
        f"merged fleet/{story_id} into main as {merge}",
    )


async def test_a_wrong_fix_does_not_advance_the_story_and_nothing_is_merged(
    fleet: WorkspaceFleet, llm: ScriptedLlm, js, tmp_path: Path
) -> None:
    remote = seeded_remote(tmp_path / "repo")
    before = branches(remote)
    story_id = planned_story(fleet, remote)
    llm.script("T-wrong-1", script(WRONG))
    fleet.start_workspace()
    await dispatch(js, story_id, "T-wrong-1", "Make add add", PLAN)

    found = await wait_for_result(fleet, story_id, "T-wrong-1")
    assert found["blocked_reason"] == (
        "task T-wrong-1 failed (1x): the tests fail after the change: test_calc.py::test_add"
    )
    assert (await story_state(fleet, story_id))["state"] == "IN_PROGRESS"
    shown = po(fleet, "story", "delivery", story_id)
    assert shown.returncode == 0 and "test_calc.py::test_add" in shown.stdout
    refused = po(fleet, "story", "accept", story_id)
    assert refused.returncode == 1 and "only in READY_TO_REVIEW" in refused.stderr
    assert branches(remote) == before  # no story branch, main untouched


async def test_a_story_sent_back_goes_to_in_progress_and_the_next_agent_sees_the_reason(
    fleet: WorkspaceFleet, llm: ScriptedLlm, js, tmp_path: Path
) -> None:
    remote = seeded_remote(tmp_path / "repo")
    story_id = planned_story(fleet, remote)
    llm.script("T-round-1", script(FIXED))
    fleet.start_workspace()
    await dispatch(js, story_id, "T-round-1", "Make add add", PLAN)
    await wait_for(fleet, story_id, "READY_TO_REVIEW")

    reason = "add must also take numbers written as strings"
    sent = po(fleet, "story", "send-back", story_id, "--reason", reason, "--json")
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["state"] == "IN_PROGRESS"
    assert (await delivery(fleet, story_id))["send_backs"] == [reason]

    # The next round's task (re-dispatched as the orchestrator would): its agent is briefed with the reason.
    del llm.scripts["T-round-1"]  # the script server answers by the first task id it finds in the messages
    llm.script("T-round-2", script(FLOATS))
    await dispatch(js, story_id, "T-round-2", "Make add take strings", PLAN)
    story = await wait_for(fleet, story_id, "READY_TO_REVIEW")
    briefing = [str(seen.messages) for seen in llm.seen if seen.key == "T-round-2"]
    assert briefing and f"sent back: {reason}" in briefing[0]
    assert run_git("show", f"fleet/{story_id}:calc.py", cwd=remote) == FLOATS
    assert [h["to_state"] for h in story["history"]][-4:] == [
        "IN_PROGRESS",
        "CODE_REVIEW",
        "TESTING",
        "READY_TO_REVIEW",
    ]


async def test_a_review_requesting_changes_sends_the_work_back_with_the_review_in_the_next_agents_context(
    fleet: WorkspaceFleet, llm: ScriptedLlm, js, tmp_path: Path
) -> None:
    remote = seeded_remote(tmp_path / "repo")
    story_id = planned_story(fleet, remote)
    findings = "add must also take numbers written as strings"
    script_review(llm, ReviewVerdict.REQUEST_CHANGES, findings, ("add('2', '3') fails",))
    llm.script("T-review-1", script(FIXED))
    fleet.start_workspace()
    await dispatch(js, story_id, "T-review-1", "Make add add", PLAN)
    story = await wait_for(fleet, story_id, "IN_PROGRESS")
    deadline = time.monotonic() + 240
    while story["history"][-1]["from_state"] != "CODE_REVIEW":
        assert time.monotonic() < deadline, story["history"]
        await asyncio.sleep(0.5)
        story = await story_state(fleet, story_id)
    last = story["history"][-1]
    assert (last["by"], last["reason"]) == (
        SYSTEM_ACTOR,
        f"the QA review requested changes to task T-review-1 (1/2): {findings}",
    )

    # The task again (re-dispatched as the orchestrator would); its agent is briefed with the review.
    script_review(llm, ReviewVerdict.APPROVE, "strings are handled now")
    del llm.scripts["T-review-1"]
    llm.script("T-review-2", script(FLOATS))
    await dispatch(js, story_id, "T-review-2", "Make add take strings", PLAN)
    await wait_for(fleet, story_id, "READY_TO_REVIEW")
    briefing = [str(seen.messages) for seen in llm.seen if seen.key == "T-review-2"]
    assert briefing and findings in briefing[0]
