"""Workspace task benchmark: the share of a task's wall time that is the fleet's own, not the model's
or the project's tests.

In one process, the real parts: a nats-server (the dispatch durable, the result ledger in KV, the
events), the real TaskExecutor under the ConsumerRuntime, a real bare git repository (clone, commit,
push), the real bubblewrap sandbox (the tools and the project's tests), and the scripted
OpenAI-compatible server over HTTP (fleet_testing/scripted_llm.py) answering four turns per task:
read_file, write_file, run_tests, finish. The task's brief comes from a fixed source (Planning and
Context are not started: their few HTTP reads are left out of the figures).

For each task the service reports its wall time, the time in the model's answers and in the
project's tests (result payload: duration_ms, llm_ms, tests_ms); overhead = wall - model - tests.
Two model speeds: answers at once (the overhead's absolute size) and 1.5 s a turn (a hosted model's
answer of a tool call, the share the target is about: <= 5 %).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import nats

from bench.harness import BenchContext, median, percentile
from fleet_testing.git_repos import seeded_remote
from fleet_testing.scripted_llm import ScriptedLlm, Turn
from swe_fleet.backbone.consumer import ConsumerRuntime
from swe_fleet.backbone.dead_letters import DeadLetterWriter
from swe_fleet.backbone.provisioning import ensure_streams
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.events import subjects
from swe_fleet.events.payloads import Role, TaskDispatched
from swe_fleet.llm.client import LlmClient
from swe_fleet.llm.config import LlmConfig
from swe_fleet.redaction import redact
from swe_fleet.workspace.adapters.git_repo import GitWorkspaces
from swe_fleet.workspace.adapters.llm_model import LlmAgentModel
from swe_fleet.workspace.adapters.result_ledger import KvResultLedger
from swe_fleet.workspace.adapters.sandbox import BubblewrapSandbox
from swe_fleet.workspace.app.execution_ports import ProjectRepository, TaskBrief
from swe_fleet.workspace.app.executor import TaskExecutor, dispatch_consumer_spec
from swe_fleet.workspace.domain.policy import load_policies

FIXED = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"
TEST_COMMAND = "python -m pytest -q -p no:cacheprovider"
LATENCIES = (0.0, 1.5)


class FixedSource:
    def __init__(self, repo: str) -> None:
        self.repo = repo

    async def brief(self, task: TaskDispatched) -> TaskBrief:
        repository = ProjectRepository(self.repo, "main", TEST_COMMAND)
        return TaskBrief(
            task.task_id, task.story_id, "Make add add", "add() subtracts.", repository, "Fix add."
        )


def script() -> list[Turn]:
    return [
        Turn.call("read_file", path="calc.py"),
        Turn.call("write_file", path="calc.py", content=FIXED),
        Turn.call("run_tests"),
        Turn.call("finish", summary="add() adds"),
    ]


async def _result(js: Any, task_id: str, within: float = 300.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            message = await js.get_last_msg("WORKSPACE_EVENTS", subjects.WORKSPACE_TASK_COMPLETED)
            payload = json.loads(message.data)["payload"]
            if payload["task_id"] == task_id:
                return dict(payload)
        except nats.js.errors.NotFoundError:
            pass
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no completed result for {task_id}")


async def _measure(ctx: BenchContext, latency: float, tasks: int) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    server = ctx.nats(f"workspace-task-{latency}")
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    await ensure_streams(js)
    llm = ScriptedLlm(latency=latency).start()
    client = LlmClient(LlmConfig(llm.url))
    remote = seeded_remote(ctx.scratch / f"repo-{latency}")
    publisher = EventPublisher(js, producer="bench")
    model = LlmAgentModel(client)
    executor = TaskExecutor(
        source=FixedSource(str(remote)),
        workspaces=GitWorkspaces(ctx.scratch / f"ws-{latency}"),
        ledger=await KvResultLedger.open(js),
        publisher=publisher,
        sandbox=BubblewrapSandbox(),
        policies=load_policies(),
        model_for=lambda role: model,
        redact=redact,
    )
    runtime = ConsumerRuntime(
        nc,
        dispatch_consumer_spec(),
        executor.handle,
        DeadLetterWriter(publisher),
        payload_type=TaskDispatched,
    )
    running = asyncio.create_task(runtime.run())
    rows = []
    try:
        for index in range(tasks + 1):  # the first is a warm-up (imports, page cache)
            task_id, story_id = f"T-bench-{latency}-{index}", f"US-bench-{index}"
            llm.script(task_id, script())
            sent = time.perf_counter()
            dispatched = TaskDispatched(task_id=task_id, story_id=story_id, role=Role.DEV, agent_id="dev-1")
            await publisher.publish(subjects.TASK_DISPATCHED, dispatched)
            result = await _result(js, task_id)
            end_to_end = (time.perf_counter() - sent) * 1000
            if index:
                rows.append((result["duration_ms"], result["llm_ms"], result["tests_ms"], end_to_end))
    finally:
        runtime.stop()
        await running
        await client.aclose()
        llm.stop()
        await nc.close()
    overheads = [wall - model_ms - tests for wall, model_ms, tests, _ in rows]
    shares = [(wall - model_ms - tests) / wall for wall, model_ms, tests, _ in rows]
    return {
        "latency_s": latency,
        "tasks": len(rows),
        "wall_ms": round(median([r[0] for r in rows]), 1),
        "llm_ms": round(median([r[1] for r in rows]), 1),
        "tests_ms": round(median([r[2] for r in rows]), 1),
        "overhead_ms": round(median(overheads), 1),
        "overhead_p90_ms": round(percentile(overheads, 90), 1),
        "overhead_share": round(median(shares), 4),
        "end_to_end_ms": round(median([r[3] for r in rows]), 1),
        # The machine is shared: its 1-minute load average before and after, to read the tests' time by.
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }


async def run(ctx: BenchContext) -> dict[str, Any]:
    tasks = 2 if ctx.quick else 5
    return {"runs": [await _measure(ctx, latency, tasks) for latency in LATENCIES]}


def render(results: dict[str, Any]) -> str:
    lines = [
        "## Workspace: a task's own overhead (not the model, not the project's tests)",
        "",
        "A DEV task of four tool calls (read_file, write_file, run_tests, finish) on a real git "
        "repository, real bubblewrap, the scripted model over HTTP; medians over the tasks. overhead = "
        "wall - model - tests (clone, sandboxed tools, events, ledger, commit, push, diff). Target: "
        "overhead <= 5 % of a task's wall time with a model answering like a hosted one.",
        "",
        "| model answer | tasks | wall ms | model ms | tests ms | overhead ms (p90) | overhead share "
        "| publish → result ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results["runs"]:
        lines.append(
            f"| {r['latency_s']:.1f} s a turn | {r['tasks']} | {r['wall_ms']:.0f} | {r['llm_ms']:.0f} | "
            f"{r['tests_ms']:.0f} | {r['overhead_ms']:.0f} ({r['overhead_p90_ms']:.0f}) | "
            f"{100 * r['overhead_share']:.1f} % | {r['end_to_end_ms']:.0f} |"
        )
    loads = [r["load_average"] for r in results["runs"] if "load_average" in r]
    if loads:
        lines += ["", f"1-minute load average on the shared machine during the runs: {loads}."]
    return "\n".join(lines)
