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
from swe_fleet.events import subjects
from swe_fleet.events.payloads import ReviewVerdict
from swe_fleet.planning.domain.delivery import SYSTEM_ACTOR
from tests.support.review_process import REVIEW_KEY, script_review, start_orchestrator, start_review
from tests.support.workspace_fleet import TEST_COMMAND, WorkspaceFleet, dispatch

FLEET = Path(sys.executable).with_name("fleet")
FIXED = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"
FLOATS = "def add(a, b):\n    return float(a) + float(b)\n\n\ndef mul(a, b):\n    return a * b\n"
WRONG = "def add(a, b):\n    return a * b\n\n\ndef mul(a, b):\n    return a * b\n"
PLAN = "In calc.py, add() subtracts: make it return a + b. test_calc.py::test_add checks it."


def script(content: str, summary: str = "add() now adds") -> list[Turn]:
    return [
        Turn.call("read_file", path="calc.py"),
        Turn.call("write_file", path="calc.py", content=content),
        Turn.call("run_tests"),
        Turn.call("finish", summary=summary),
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
        start_orchestrator(fleet)  # re-dispatches reworked tasks
        yield fleet
    finally:
        fleet.stop()


def po(fleet: WorkspaceFleet, *args: str) -> subprocess.CompletedProcess[str]:
    # A product owner's token naming po-ana: the API records that identity as the actor.
    env = {
        **os.environ,
        "FLEET_PLANNING_URL": fleet.planning_url,
        "FLEET_CONTEXT_URL": fleet.context_url,
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


async def planning_events(js) -> list[tuple[str, dict[str, Any]]]:
    """Every event in PLANNING_EVENTS, in order: (subject, payload)."""
    info = await js.stream_info("PLANNING_EVENTS")
    events = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1) if info.state.messages else ():
        message = await js.get_msg("PLANNING_EVENTS", seq)
        events.append((message.subject, json.loads(message.data or b"{}")["payload"]))
    return events


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


def briefing(llm: ScriptedLlm, task_id: str) -> str:
    """The first request of `task_id`'s agent: its system prompt and task, with the context pack."""
    seen = [
        "\n".join(str(m.get("content") or "") for m in s.messages)
        for s in llm.seen
        if s.key == task_id and s.turn == 0
    ]
    assert seen, f"no agent was asked to carry out {task_id}"
    return seen[0]


def reviews(llm: ScriptedLlm, **verdicts: tuple[ReviewVerdict, str, tuple[str, ...]]) -> None:
    """Review answers chosen by the agent's summary (in the review's prompt); the default one last."""
    default = verdicts.pop("default")
    scripts: dict[str, list[Turn]] = {}
    for summary, (verdict, said, findings) in verdicts.items():
        scripts[summary.replace("_", " ")] = [Turn.say(json.dumps(answer(verdict, said, findings)))]
    scripts[REVIEW_KEY] = [Turn.say(json.dumps(answer(*default)))]
    # first in the dict, and these answers rather than the fixture's
    llm.scripts = {**scripts, **{k: v for k, v in llm.scripts.items() if k not in scripts}}


def answer(verdict: ReviewVerdict, summary: str, findings: tuple[str, ...]) -> dict[str, Any]:
    return {"verdict": verdict.value, "summary": summary, "findings": list(findings)}


def attempts(llm: ScriptedLlm, task_id: str, *contents: tuple[str, str]) -> None:
    """Scripts of a task's attempts (`T`, `T~2`, ...): the latest first, as `T~2` also holds `T`."""
    for n, (content, summary) in reversed(list(enumerate(contents, start=1))):
        llm.script(task_id if n == 1 else f"{task_id}~{n}", script(content, summary))


async def test_a_story_sent_back_is_dispatched_again_with_the_reason_and_moves_on_by_itself(
    fleet: WorkspaceFleet, llm: ScriptedLlm, js, tmp_path: Path
) -> None:
    remote = seeded_remote(tmp_path / "repo")
    story_id = planned_story(fleet, remote)
    attempts(llm, "T-round", (FIXED, "add() adds"), (FLOATS, "add() takes strings now"))
    fleet.start_workspace()
    await dispatch(js, story_id, "T-round", "Make add add", PLAN)
    await wait_for(fleet, story_id, "READY_TO_REVIEW")

    reason = "add must also take numbers written as strings"
    sent = po(fleet, "story", "send-back", story_id, "--reason", reason, "--json")
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["state"] == "IN_PROGRESS"
    # Nobody re-dispatches by hand: planning asks for the task again, the orchestrator dispatches it.
    story = await wait_for(fleet, story_id, "READY_TO_REVIEW")
    assert f"sent back: {reason}" in briefing(llm, "T-round~2")
    assert run_git("show", f"fleet/{story_id}:calc.py", cwd=remote) == FLOATS
    assert [(h["to_state"], h["by"]) for h in story["history"]][-4:] == [
        ("IN_PROGRESS", "po-ana"),
        ("CODE_REVIEW", SYSTEM_ACTOR),
        ("TESTING", SYSTEM_ACTOR),
        ("READY_TO_REVIEW", SYSTEM_ACTOR),
    ]
    found = await delivery(fleet, story_id)
    assert [(t["task_id"], t["current_id"], t["status"]) for t in found["tasks"]] == [
        ("T-round", "T-round~2", "DONE")
    ]
    dispatched = [
        e
        for s, e in await planning_events(js)
        if s == subjects.TASK_REWORK_REQUESTED and e["story_id"] == story_id
    ]
    assert [e["rework_task_id"] for e in dispatched] == ["T-round~2"]  # once, whatever was redelivered


async def test_a_review_requesting_changes_sends_the_task_back_to_the_workspace_with_its_findings(
    fleet: WorkspaceFleet, llm: ScriptedLlm, js, tmp_path: Path
) -> None:
    remote = seeded_remote(tmp_path / "repo")
    story_id = planned_story(fleet, remote)
    finding = "add('2', '3') raises TypeError"
    reviews(
        llm,
        add_takes_strings_now=(ReviewVerdict.APPROVE, "strings are handled now", ()),
        default=(ReviewVerdict.REQUEST_CHANGES, "add must also take numbers written as strings", (finding,)),
    )
    attempts(llm, "T-review", (FIXED, "add() adds"), (FLOATS, "add takes strings now"))
    fleet.start_workspace()
    await dispatch(js, story_id, "T-review", "Make add add", PLAN)

    story = await wait_for(fleet, story_id, "READY_TO_REVIEW")
    moves = [
        (h["from_state"], h["to_state"], h["reason"]) for h in story["history"] if h["by"] == SYSTEM_ACTOR
    ]
    assert (
        "CODE_REVIEW",
        "IN_PROGRESS",
        "the QA review requested changes to task T-review (1/2): "
        "add must also take numbers written as strings",
    ) in moves
    assert moves[-2][2] == "QA review: task T-review approved: strings are handled now"
    # The next attempt's agent was briefed with the review's findings (the Review node, through Context).
    assert finding in briefing(llm, "T-review~2")
    assert run_git("show", f"fleet/{story_id}:calc.py", cwd=remote) == FLOATS
    shown = po(fleet, "tasks", "show", "T-review")
    assert shown.returncode == 0, shown.stderr
    assert "review request_changes of" in shown.stdout and f"finding: {finding}" in shown.stdout
    assert "reworked by: T-review~2" in shown.stdout
    again = po(fleet, "tasks", "show", "T-review~2")
    assert "rework of T-review: the QA review requested changes" in again.stdout
    assert "review approve of" in again.stdout


async def test_beyond_the_bound_of_review_rounds_the_task_fails_and_nothing_is_merged(
    fleet: WorkspaceFleet, llm: ScriptedLlm, js, tmp_path: Path
) -> None:
    remote = seeded_remote(tmp_path / "repo")
    before_main = branches(remote)["main"]
    story_id = planned_story(fleet, remote)
    reviews(llm, default=(ReviewVerdict.REQUEST_CHANGES, "still not what the story asks", ("no",)))
    ints = FIXED.replace("return a + b", "return int(a) + int(b)")
    attempts(llm, "T-bound", (FIXED, "one"), (FLOATS, "two"), (ints, "three"))
    fleet.start_workspace()
    await dispatch(js, story_id, "T-bound", "Make add add", PLAN)

    deadline = time.monotonic() + 300
    while (found := await delivery(fleet, story_id))["tasks"][0]["status"] != "FAILED":
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.5)
    assert found["blocked_reason"] == (
        "the QA review requested changes to task T-bound 3 times (bound 2): still not what the story asks"
    )
    assert found["tasks"][0]["current_id"] == "T-bound~3"
    await asyncio.sleep(3)  # nothing more is dispatched: no fourth attempt
    assert not [s for s in llm.seen if s.key == "T-bound~4"]
    assert (await story_state(fleet, story_id))["state"] == "CODE_REVIEW"
    shown = po(fleet, "story", "delivery", story_id)
    assert shown.returncode == 0 and "3 times (bound 2)" in shown.stdout
    story_shown = po(fleet, "story", "show", story_id)
    assert story_shown.returncode == 0 and "held: the QA review requested changes" in story_shown.stdout
    task_shown = po(fleet, "tasks", "show", "T-bound~3")
    assert task_shown.returncode == 0, task_shown.stderr
    assert "delivery: FAILED (attempt T-bound~3): the QA review requested changes" in task_shown.stdout
    assert "rework of T-bound: the QA review requested changes" in task_shown.stdout
    refused = po(fleet, "story", "accept", story_id)
    assert refused.returncode == 1 and "only in READY_TO_REVIEW" in refused.stderr
    assert branches(remote)["main"] == before_main
