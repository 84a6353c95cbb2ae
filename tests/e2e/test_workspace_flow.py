"""A dispatched task carried out by a real workspace process: real git, real sandbox, a scripted model.

Real processes: nats-server, Planning, Context and `fleet serve workspace`; the model is a real
OpenAI-compatible HTTP server answering from a script (fleet_testing/scripted_llm.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet_testing.git_repos import branches, commits, run_git, seeded_remote
from fleet_testing.scripted_llm import ScriptedLlm, Turn
from swe_fleet.events import subjects
from tests.support.workspace_fleet import WorkspaceFleet, dispatch, results_for, workspace_events

FIXED = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"
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
        yield fleet
    finally:
        fleet.stop()


def fleet_cli(context_url: str, *args: str, token: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLEET_CONTEXT_URL": context_url, "FLEET_TOKEN": token}
    command = [str(Path(sys.executable).with_name("fleet")), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


def suite_passes_on(remote: Path, branch: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clone = tmp_path / f"verify-{branch.replace('/', '-')}"
    run_git("clone", "--quiet", "--branch", branch, str(remote), str(clone))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=clone,
        capture_output=True,
        text=True,
    )


async def test_a_right_fix_is_committed_on_the_story_branch_and_its_suite_passes_there(
    fleet: WorkspaceFleet, llm: ScriptedLlm, js, tmp_path: Path
) -> None:
    remote = seeded_remote(tmp_path / "repo")
    main_before = branches(remote)["main"]
    story = fleet.story_with_repository(remote)
    llm.script("T-fix-1", script(FIXED))
    fleet.start_workspace()
    await dispatch(js, story, "T-fix-1", "Make add add", PLAN)

    [(subject, result)] = await results_for(js, "T-fix-1")
    assert subject == subjects.WORKSPACE_TASK_COMPLETED, result
    branch = f"fleet/{story}"
    assert result["branch"] == branch
    assert result["tests_before"]["ok"] is False and result["tests_before"]["failing"] == [
        "test_calc.py::test_add"
    ]
    assert result["tests_after"]["ok"] is True and result["tests_after"]["failing"] == []
    assert result["diff"] == {"files": ["calc.py"], "insertions": 1, "deletions": 1}
    assert "+    return a + b" in result["patch"]
    [commit] = result["commits"]
    assert commit["message"].endswith("Fleet-Task: T-fix-1")
    assert result["usage"]["completion_tokens"] == 4 * 20 and result["steps"] == 4

    heads = branches(remote)
    assert heads["main"] == main_before and heads[branch] == commit["sha"]
    assert commits(remote, branch) == ["Make add add|T-fix-1", "Initial commit|"]
    verified = suite_passes_on(remote, branch, tmp_path)
    assert verified.returncode == 0, verified.stdout

    # The model was briefed with the council's winning proposal, fetched from the Context service.
    assert PLAN in str(llm.seen[0].messages)
    tools = [p["tool"] for s, p in await workspace_events(js) if s == subjects.WORKSPACE_TOOL_CALLED]
    assert tools == ["read_file", "write_file", "run_tests", "finish"]

    # The Context graph links the result, the commit and the tool calls to the task.
    rows = await graph_rows(
        fleet.context_url,
        "MATCH (s:Story {id: $story})-[:HAS_TASK]->(t:Task {id: 'T-fix-1'})-[:HAS_RESULT]->(r:TaskResult) "
        "MATCH (t)-[:HAS_COMMIT]->(c:Commit) "
        "RETURN r.outcome AS outcome, r.failing_before AS failing_before, r.tests_after_ok AS after, "
        "r.files AS files, c.id AS sha",
        {"story": story},
        wait=True,
        headers=fleet.headers,
    )
    assert rows == [
        {
            "outcome": "completed",
            "failing_before": ["test_calc.py::test_add"],
            "after": True,
            "files": ["calc.py"],
            "sha": commit["sha"],
        }
    ]
    calls = await graph_rows(
        fleet.context_url,
        "MATCH (t:Task {id: 'T-fix-1'})-[:HAS_TOOL_CALL]->(c:ToolCall) RETURN c.step AS step, c.tool AS tool",
        {},
        wait=True,
        count=4,
        headers=fleet.headers,
    )
    assert sorted((row["step"], row["tool"]) for row in calls) == list(enumerate(tools))

    # Agents of later tasks see the result in their context.
    import httpx

    async with httpx.AsyncClient(base_url=fleet.context_url, timeout=10, headers=fleet.headers) as http:
        params = {"role": "DEV", "phase": "IN_PROGRESS", "token_budget": 3000}
        pack = (await http.get(f"/v1/context/stories/{story}", params=params)).json()
    assert f"carried out on {branch} (calc.py), tests pass" in pack["blocks"]["context"]

    # `fleet tasks show` tells the same story from the shell.
    shown = fleet_cli(fleet.context_url, "tasks", "show", "T-fix-1", "--diff", token=fleet.token)
    assert shown.returncode == 0, shown.stderr
    assert "result: completed on " + branch in shown.stdout
    assert (
        "tests before: FAIL: test_calc.py::test_add" in shown.stdout and "tests after:  pass" in shown.stdout
    )
    assert "diff: calc.py (+1 -1)" in shown.stdout and "+    return a + b" in shown.stdout
    assert f"commit {commit['sha'][:12]} Make add add" in shown.stdout
    as_json = json.loads(
        fleet_cli(fleet.context_url, "tasks", "show", "T-fix-1", "--json", token=fleet.token).stdout
    )
    assert [call["tool"] for call in as_json["timeline"]] == tools
    missing = fleet_cli(fleet.context_url, "tasks", "show", "T-nope", token=fleet.token)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "T-nope" in missing.stderr


async def test_a_wrong_fix_fails_naming_the_failing_test_and_changes_nothing(
    fleet: WorkspaceFleet, llm: ScriptedLlm, js, tmp_path: Path
) -> None:
    remote = seeded_remote(tmp_path / "repo")
    before = branches(remote)
    story = fleet.story_with_repository(remote)
    llm.script("T-wrong-1", script(WRONG))
    fleet.start_workspace()
    await dispatch(js, story, "T-wrong-1", "Make add add", PLAN)

    [(subject, result)] = await results_for(js, "T-wrong-1")
    assert subject == subjects.WORKSPACE_TASK_FAILED, result
    assert result["tests_after"]["failing"] == ["test_calc.py::test_add"]
    assert result["reason"] == "the tests fail after the change: test_calc.py::test_add"
    assert result["commits"] == [] and "+    return a * b" in result["patch"]  # what was tried, not applied
    assert branches(remote) == before  # no story branch, main untouched

    # A story whose project names no repository: failed at once, saying so; the service goes on.
    plain = fleet.story_with_repository(None)
    await dispatch(js, plain, "T-norepo-1", "Write the docs", PLAN)
    [(subject, result)] = await results_for(js, "T-norepo-1")
    assert subject == subjects.WORKSPACE_TASK_FAILED
    assert "names no repository" in result["reason"] and result["commits"] == []
    # One whose repository does not exist: failed at once (not retried forever), naming it.
    missing = fleet.story_with_repository(tmp_path / "nowhere.git")
    await dispatch(js, missing, "T-badrepo-1", "Write the docs", PLAN)
    [(subject, result)] = await results_for(js, "T-badrepo-1")
    assert subject == subjects.WORKSPACE_TASK_FAILED
    assert result["reason"].startswith(f"cannot clone {tmp_path / 'nowhere.git'}")


async def test_a_worker_killed_mid_task_and_one_killed_after_pushing_each_give_one_result_and_one_commit(
    fleet: WorkspaceFleet, llm: ScriptedLlm, js, tmp_path: Path
) -> None:
    import threading

    remote = seeded_remote(tmp_path / "repo")
    story = fleet.story_with_repository(remote)
    held = threading.Event()
    turns = script(FIXED)
    turns[1] = Turn(tool="write_file", arguments=turns[1].arguments, hold=held)
    llm.script("T-kill-1", turns)

    # Killed while the model is thinking (its second turn): nothing was pushed.
    first = fleet.start_workspace()
    await dispatch(js, story, "T-kill-1", "Make add add", PLAN)
    await _in_thread(llm.wait_for, "T-kill-1", 1)
    first.kill()
    first.wait(15)
    held.set()
    # Then a worker that dies right after its push, before the result is recorded.
    second = fleet.start_workspace(faults="workspace.after_push:kill@1")
    second.wait(240)
    assert second.returncode == -9
    assert commits(remote, f"fleet/{story}") == ["Make add add|T-kill-1", "Initial commit|"]
    fleet.start_workspace()

    results = await results_for(js, "T-kill-1")
    assert [subject for subject, _ in results] == [subjects.WORKSPACE_TASK_COMPLETED]
    [(_, result)] = results
    assert result["summary"].startswith("recovered from")
    assert result["diff"]["files"] == ["calc.py"]
    assert commits(remote, f"fleet/{story}") == ["Make add add|T-kill-1", "Initial commit|"]


async def graph_rows(
    url: str, cypher: str, params: dict, *, wait: bool = False, count: int = 1, headers: dict | None = None
) -> list[dict]:
    """Rows of a read-only query through the Context API; with `wait`, until at least `count` come back."""
    import asyncio
    import time

    import httpx

    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=url, timeout=10, headers=headers) as client:
        while True:
            response = await client.post("/v1/graph/query", json={"cypher": cypher, "params": params})
            response.raise_for_status()
            rows = response.json()["rows"]
            if not wait or len(rows) >= count or time.monotonic() > deadline:
                return rows
            await asyncio.sleep(0.5)


async def _in_thread(function, *args):
    import asyncio

    return await asyncio.to_thread(function, *args)
