"""`fleet eval humaneval` through the real flow: each problem a story the fleet carries out.

Real processes: nats-server, Planning, Context and `fleet serve workspace` (bubblewrap), the CLI; the
orchestrator runs in this process with the stand-in agents (no LLM for derivation and councils: the
LLM path of the councils is not under test here), and the workspace's model is the scripted
OpenAI-compatible server: it writes the canonical solution for one problem and a wrong one for the
other, so the harness must report exactly one pass, judged by the hidden tests on the story branch.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet_testing.scripted_llm import ScriptedLlm, Turn
from fleet_testing.stand_in.worker import Script, StandInWorker
from swe_fleet.backbone.connection import connect
from swe_fleet.evaluation.adapters.problem_source import load_problems, select
from swe_fleet.events.payloads import ReviewVerdict
from tests.integration.orchestrator.support import RunningOrchestrator, fast_councils
from tests.support.review_process import script_review, start_review
from tests.support.workspace_fleet import WorkspaceFleet

FLEET = Path(sys.executable).with_name("fleet")


def one_task(entry_point: str) -> dict:
    """The stand-in's derivation: one DEV task naming the function (the scripted model answers by it)."""
    task = {
        "key": "T1",
        "title": "Implement the function",
        "description": f"Replace the body of {entry_point} with an implementation.",
        "role": "DEV",
        "estimate_hours": 1,
        "depends_on": [],
    }
    return {"tasks": [task]}


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


def writes(content: str) -> list[Turn]:
    return [
        Turn.call("read_file", path="solution.py"),
        Turn.call("write_file", path="solution.py", content=content),
        Turn.call("run_tests"),
        Turn.call("finish", summary="implemented"),
    ]


async def test_the_real_flow_reports_what_the_hidden_tests_find_on_each_story_branch(
    fleet: WorkspaceFleet, llm: ScriptedLlm, nats_server, tmp_path: Path
) -> None:
    right, wrong = select(load_problems(), ids=[0, 2])
    llm.script(right.entry_point, writes(right.canonical_file()))
    llm.script(wrong.entry_point, writes(wrong.prompt + "    return 0.0\n"))
    script_review(llm, ReviewVerdict.APPROVE, "implements the docstring")
    start_review(fleet)
    fleet.start_workspace()
    nc = await connect(nats_server.url, "eval-test", wait_seconds=5)
    # Problems run one after the other: the first derivation is the first problem's. The task names the
    # function, so the workspace's brief names it whether or not the Context service caught up yet.
    script = Script(derive_outputs=[one_task(right.entry_point), one_task(wrong.entry_point)])
    try:
        async with StandInWorker(nc, script), RunningOrchestrator(nats_server.url, fast_councils(agents=1)):
            env = {**os.environ, "FLEET_LLM_MODEL": "scripted", "FLEET_TOKEN": fleet.token}
            command = [
                str(FLEET), "eval", "humaneval", "--problems", "0,2", "--fleet-url", fleet.planning_url,
                "--deadline", "240", "--json", "--keep", "--work-dir", str(tmp_path / "eval"),
            ]  # fmt: skip
            run = await asyncio.to_thread(
                subprocess.run, command, capture_output=True, text=True, env=env, timeout=900
            )
    finally:
        await nc.close()
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    seen = [(x.key, x.turn, str(x.messages[-1])[:300]) for x in llm.seen]
    assert (report["solver"], report["model"], report["passed"], report["pass_at_1"]) == (
        "one agent",
        "scripted",
        1,
        0.5,
    ), (report["outcomes"], seen)
    first, second = report["outcomes"]
    assert (first["task_id"], first["verdict"], first["changed"]) == ("HumanEval/0", "passed", True)
    assert first["summary"].startswith("READY_TO_REVIEW: the suite passed")
    assert (second["task_id"], second["verdict"], second["changed"]) == ("HumanEval/2", "failed", False)
    assert (
        second["summary"].startswith("held in IN_PROGRESS: task ")
        and "the tests do not pass after the change" in second["summary"]
    )
    progress = [line for line in run.stderr.splitlines() if line.startswith("[")]
    assert len(progress) == 2
