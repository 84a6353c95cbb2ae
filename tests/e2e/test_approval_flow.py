"""A task that needs the PO's approval waits for it durably, then goes on or respects the refusal (ADR 0612).

Real processes: nats-server, Planning, Context and `fleet serve workspace` (killed and started again while
the task waits); a real git repository; the model is a scripted OpenAI-compatible server. The role's
policy (a file handed to the workspace) runs `python tools/add_dependency.py ...` only once approved: a
dependency change, with no network needed.
"""

from __future__ import annotations

import asyncio
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
from fleet_testing.git_repos import CALC, TEST_CALC, commits, run_git, seeded_remote
from fleet_testing.scripted_llm import ScriptedLlm, Turn
from swe_fleet.events import subjects
from swe_fleet.security.identity import Role as AuthRole
from tests.e2e.test_workspace_flow import graph_rows
from tests.support.workspace_fleet import WorkspaceFleet, dispatch, results_for, workspace_events

FIXED = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"
PLAN = "Add the leftpad dependency to requirements.txt with tools/add_dependency.py, then fix add()."
COMMAND = "python tools/add_dependency.py leftpad==1.0"
ADD_DEPENDENCY = (
    "import pathlib\nimport sys\n\n"
    "path = pathlib.Path('requirements.txt')\n"
    "path.write_text(path.read_text() + sys.argv[1] + '\\n')\n"
    "print('added', sys.argv[1])\n"
)
POLICY = """
version: 1
defaults:
  limits: {max_steps: 20, max_seconds: 300, max_output_bytes: 16384, cpu_seconds: 60, memory_mb: 2048,
           max_processes: 64, max_file_mb: 8, wall_timeout_s: 60}
roles:
  DEV:
    tools: [list_files, read_file, search_code, write_file, apply_patch, run_tests, run_command, finish]
    write_paths: ["*"]
    commands: [{prefix: [python, -m, pytest]}]
    requires_approval: [{prefix: [python, tools/add_dependency.py]}]
"""


def script() -> list[Turn]:
    return [
        Turn.call("run_command", command=COMMAND),
        Turn.call("write_file", path="calc.py", content=FIXED),
        Turn.call("run_tests"),
        Turn.call("finish", summary="leftpad added if allowed; add() adds"),
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
        yield fleet
    finally:
        fleet.stop()


def remote_with_tools(tmp_path: Path) -> Path:
    files = {
        "calc.py": CALC,
        "test_calc.py": TEST_CALC,
        "requirements.txt": "pytest\n",
        "tools/add_dependency.py": ADD_DEPENDENCY,
    }
    return seeded_remote(tmp_path / "repo", files)


def start_workspace(fleet: WorkspaceFleet, tmp_path: Path) -> subprocess.Popen:
    policy = tmp_path / "policies.yaml"
    policy.write_text(POLICY)
    return fleet.start_workspace(env={"FLEET_WORKSPACE_POLICIES": str(policy)})


async def approval_requested(js, task_id: str, within: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for subject, payload in await workspace_events(js):
            if subject == subjects.WORKSPACE_APPROVAL_REQUESTED and payload["task_id"] == task_id:
                return payload
        await asyncio.sleep(0.5)
    raise AssertionError(f"no approval requested for {task_id}")


async def pending_in_planning(fleet: WorkspaceFleet, approval_id: str, within: float = 60.0) -> dict:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=fleet.planning_url, headers=fleet.headers, timeout=10) as http:
        while time.monotonic() < deadline:
            rows = (await http.get("/v1/approvals", params={"status": "PROPOSED"})).json()
            found = [row for row in rows if row["id"] == approval_id]
            if found:
                return found[0]
            await asyncio.sleep(0.5)
    raise AssertionError(f"approval {approval_id} not pending in planning")


def fleet_cli(fleet: WorkspaceFleet, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLEET_PLANNING_URL": fleet.planning_url, "FLEET_TOKEN": fleet.token}
    command = [str(Path(sys.executable).with_name("fleet")), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


def file_on_branch(remote: Path, branch: str, path: str) -> str:
    return run_git("show", f"{branch}:{path}", cwd=remote)


async def command_calls(js, task_id: str) -> list[dict[str, Any]]:
    return [
        payload
        for subject, payload in await workspace_events(js)
        if subject == subjects.WORKSPACE_TOOL_CALLED
        and payload["task_id"] == task_id
        and payload["tool"] == "run_command"
    ]


async def test_a_task_waits_through_a_restart_for_the_approval_then_runs_the_command_once_and_finishes(
    fleet: WorkspaceFleet, llm: ScriptedLlm, js, tmp_path: Path
) -> None:
    remote = remote_with_tools(tmp_path)
    story = fleet.story_with_repository(remote)
    llm.script("T-apr-1", script())
    worker = start_workspace(fleet, tmp_path)
    await dispatch(js, story, "T-apr-1", "Add leftpad", PLAN)

    request = await approval_requested(js, "T-apr-1")
    assert request["command"] == COMMAND and request["role"] == "DEV"
    assert "needs the Product Owner's approval" in request["reason"]
    pending = await pending_in_planning(fleet, request["approval_id"])
    assert pending["task_id"] == "T-apr-1" and pending["title"] == f"Approve `{COMMAND}` for task T-apr-1"
    listed = fleet_cli(fleet, "approvals", "list")
    assert listed.returncode == 0 and request["approval_id"] in listed.stdout, listed.stderr
    delivery = fleet_cli(fleet, "story", "delivery", story, "--json")
    assert f"the PO's verdict on {request['approval_id']}" in delivery.stdout, delivery.stderr

    # The worker dies while the task waits; the PO approves while no worker runs; a new worker goes on.
    worker.kill()
    worker.wait(15)
    approved = fleet_cli(fleet, "approvals", "approve", request["approval_id"], "--reason", "leftpad is fine")
    assert approved.returncode == 0, approved.stderr
    assert await results_for(js, "T-apr-1", within=3) == []
    start_workspace(fleet, tmp_path)

    [(subject, result)] = await results_for(js, "T-apr-1")
    assert subject == subjects.WORKSPACE_TASK_COMPLETED, result
    branch = f"fleet/{story}"
    assert file_on_branch(remote, branch, "requirements.txt") == "pytest\nleftpad==1.0\n"
    assert commits(remote, branch) == ["Add leftpad|T-apr-1", "Initial commit|"]
    calls = await command_calls(js, "T-apr-1")
    assert [call["outcome"] for call in calls] == ["denied", "ok"]  # asked once, then ran once
    assert "added leftpad==1.0" in calls[1]["output"]
    requests = [s for s, p in await workspace_events(js) if s == subjects.WORKSPACE_APPROVAL_REQUESTED]
    assert len(requests) == 1

    # Decided once: a second verdict is refused (409), an unknown approval is not found (404).
    async with httpx.AsyncClient(base_url=fleet.planning_url, headers=fleet.headers, timeout=10) as http:
        again = await http.post(f"/v1/approvals/{request['approval_id']}/refuse", json={"reason": "late"})
        assert again.status_code == 409, again.text
        unknown = await http.post("/v1/approvals/APR-0000/approve", json={"reason": "?"})
        assert unknown.status_code == 404, unknown.text
    missing = fleet_cli(fleet, "approvals", "approve", "APR-0000", "--reason", "?")
    assert missing.returncode != 0 and missing.stderr.count("\n") == 1


async def test_a_refused_command_never_runs_the_agent_is_told_why_and_the_refusal_is_recorded(
    fleet: WorkspaceFleet, llm: ScriptedLlm, js, tmp_path: Path
) -> None:
    remote = remote_with_tools(tmp_path)
    story = fleet.story_with_repository(remote)
    llm.script("T-apr-2", script())
    start_workspace(fleet, tmp_path)
    await dispatch(js, story, "T-apr-2", "Add leftpad", PLAN)
    request = await approval_requested(js, "T-apr-2")
    await pending_in_planning(fleet, request["approval_id"])

    async with httpx.AsyncClient(base_url=fleet.planning_url, headers=fleet.headers, timeout=10) as http:
        # Only the PO decides: not a viewer, not the workspace's own service identity, not a stranger.
        path = f"/v1/approvals/{request['approval_id']}/approve"
        for name, role, status in (("vera", AuthRole.VIEWER, 403), ("workspace", AuthRole.SERVICE, 403)):
            token = token_for(fleet.root / "planning", name, (role,))
            answer = await http.post(
                path, json={"reason": "me"}, headers={"Authorization": f"Bearer {token}"}
            )
            assert answer.status_code == status, (name, answer.text)
        stranger = await http.post(
            path, json={"reason": "me"}, headers={"Authorization": "Bearer not-a-token"}
        )
        assert stranger.status_code == 401
        refused = await http.post(
            f"/v1/approvals/{request['approval_id']}/refuse", json={"reason": "no new dependencies here"}
        )
        assert refused.status_code == 200, refused.text
        assert refused.json()["status"] == "REJECTED"

    [(subject, result)] = await results_for(js, "T-apr-2")
    assert subject == subjects.WORKSPACE_TASK_COMPLETED, result  # the agent went on without it
    branch = f"fleet/{story}"
    assert file_on_branch(remote, branch, "requirements.txt") == "pytest\n"
    calls = await command_calls(js, "T-apr-2")
    assert [call["outcome"] for call in calls] == ["denied", "denied"]
    told = "the Product Owner refused `python tools/add_dependency.py leftpad==1.0`: no new dependencies here"
    assert told in calls[1]["output"]
    assert any(told in str(seen.messages) for seen in llm.seen if seen.key == "T-apr-2")

    # Recorded: the refusal event, and the decision in the graph, on the task.
    planning_events = await js.stream_info("PLANNING_EVENTS")
    subjects_seen = [
        (await js.get_msg("PLANNING_EVENTS", seq)).subject
        for seq in range(planning_events.state.first_seq, planning_events.state.last_seq + 1)
    ]
    assert subjects.APPROVAL_REFUSED in subjects_seen and subjects.APPROVAL_GRANTED not in subjects_seen
    rows = await graph_rows(
        fleet.context_url,
        "MATCH (d:Decision {id: $id})-[:AFFECTS]->(t:Task {id: 'T-apr-2'}) "
        "RETURN d.status AS status, d.rationale AS rationale",
        {"id": request["approval_id"]},
        wait=True,
        headers=fleet.headers,
    )
    assert rows == [{"status": "REJECTED", "rationale": "no new dependencies here"}]
