"""One result per task: a task delivered again after its result was decided is answered from the ledger.

In process, with the real parts: nats-server (stream, KV ledger), git, bubblewrap, the scripted model.
"""

from __future__ import annotations

import json
from pathlib import Path

from fleet_testing.git_repos import commits, seeded_remote
from fleet_testing.scripted_llm import ScriptedLlm, Turn
from swe_fleet.backbone.consumer import Delivery
from swe_fleet.events import subjects
from swe_fleet.events.payloads import Role, TaskDispatched
from swe_fleet.llm.client import LlmClient
from swe_fleet.llm.config import LlmConfig
from swe_fleet.workspace.app.execution_ports import ProjectRepository, TaskBrief
from tests.integration.workspace.conftest import real_executor

FIXED = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"


class FixedSource:
    def __init__(self, repo: Path) -> None:
        self.repo = repo

    async def brief(self, task: TaskDispatched) -> TaskBrief:
        repository = ProjectRepository(str(self.repo), "main", "python -m pytest -q -p no:cacheprovider")
        return TaskBrief(task.task_id, task.story_id, "Make add add", "", repository)


async def results(js) -> list[tuple[str, dict]]:
    info = await js.stream_info("WORKSPACE_EVENTS")
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        message = await js.get_msg("WORKSPACE_EVENTS", seq)
        if message.subject in (subjects.WORKSPACE_TASK_COMPLETED, subjects.WORKSPACE_TASK_FAILED):
            found.append((message.subject, json.loads(message.data)["payload"]))
    return found


async def test_a_redelivered_task_is_answered_from_the_ledger_without_working_again(
    js, tmp_path: Path
) -> None:
    remote = seeded_remote(tmp_path / "repo")
    llm = ScriptedLlm().start()
    llm.script(
        "T-once-1",
        [
            Turn.call("write_file", path="calc.py", content=FIXED),
            Turn.call("finish", summary="add() adds"),
        ],
    )
    client = LlmClient(LlmConfig(llm.url))
    executor, publisher = await real_executor(js, FixedSource(remote), tmp_path / "ws", client)
    task = TaskDispatched(task_id="T-once-1", story_id="US-once", role=Role.DEV, agent_id="dev-1")
    envelope = publisher.envelope(subjects.TASK_DISPATCHED, task)
    try:
        for delivered in (1, 2, 3):  # the first time, then twice more as JetStream would redeliver it
            delivery = Delivery(
                envelope, task, subjects.TASK_DISPATCHED, "ORCHESTRATOR_EVENTS", 1, delivered, None
            )  # type: ignore[arg-type]
            await executor.carry_out(delivery)
    finally:
        await client.aclose()
        llm.stop()

    [(subject, result)] = await results(js)
    assert subject == subjects.WORKSPACE_TASK_COMPLETED and len(result["commits"]) == 1
    assert len(llm.seen) == 2  # the model was asked twice, for the first delivery only
    assert commits(remote, "fleet/US-once") == ["Make add add|T-once-1", "Initial commit|"]
