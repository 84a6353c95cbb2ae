"""Council protocols against each other: tokens, and quality by the objective checks, on the same tasks.

The real Orchestrator and the real agent worker on the packaged local model (llama-server), each
protocol deliberating the same tasks, interleaved (task by task, the protocols in a rotating order so
that none always runs first on a warm cache). No Context service (as in the orchestrator bench): the
prompts are the same for every protocol.

- Tokens: prompt + completion tokens every answer of the deliberation reported (failed answers too).
- Quality: the objective checks (orchestrator/domain/checks.py) of the proposal the council selected,
  scored 0..10, without `revised_after_critique` (a check of the process that only applies when there
  is a revision); a deliberation with no proposal left scores 0. The judges' scores are not quality
  here: they are an LLM's opinion, and a protocol with fewer judges would grade itself differently.
- Quality per token: mean quality / mean tokens (x 1,000). The best council of 3 by it, among those
  within 2x the tokens of one agent, is what the packaged councils.yaml should use.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx

from bench.harness import BenchContext
from bench.orchestrator import _orchestrator, wait_terminal
from swe_fleet.agents.bootstrap import build as build_worker
from swe_fleet.backbone.connection import connect
from swe_fleet.backbone.provisioning import ensure_streams
from swe_fleet.embedded.child import free_port
from swe_fleet.embedded.llm_server import EmbeddedLlamaServer
from swe_fleet.events.envelope import decode_event
from swe_fleet.events.payloads import AgentResponseCompleted, AgentResponseFailed, Role, TaskSpec
from swe_fleet.host.service import Endpoints
from swe_fleet.orchestrator.adapters.state_store import StateStore, deliberation_key
from swe_fleet.orchestrator.app.orchestrator import Orchestrator
from swe_fleet.orchestrator.bootstrap import councils_from
from swe_fleet.orchestrator.domain import deliberation as deliberations
from swe_fleet.orchestrator.domain.budget import council_commands
from swe_fleet.orchestrator.domain.checks import objective_score, run_checks
from swe_fleet.orchestrator.domain.council import Councils
from swe_fleet.orchestrator.domain.deliberation_state import DeliberationState
from swe_fleet.settings import FleetSettings

# name -> (agents, critique rounds, judges per proposal)
PROTOCOLS: dict[str, tuple[int, int, int]] = {
    "one_agent": (1, 1, 1),
    "council_3_critique_2_judges": (3, 1, 2),
    "council_3_critique_1_judge": (3, 1, 1),
    "council_3_no_critique_2_judges": (3, 0, 2),
    "council_3_no_critique_1_judge": (3, 0, 1),
}
BASELINE = "one_agent"
TOKEN_RATIO_GOAL = 2.0

TASKS: list[tuple[TaskSpec, list[str]]] = [
    (
        TaskSpec(
            task_id="T-csv",
            title="Export invoices as CSV",
            description="Add an endpoint that streams a customer's invoices as a CSV file.",
            role=Role.DEV,
            estimate_hours=4,
        ),
        ["The CSV has one row per invoice and a header", "Totals match the ledger"],
    ),
    (
        TaskSpec(
            task_id="T-refund",
            title="Test partial refunds",
            description="Write the tests for partial refunds of a captured card payment.",
            role=Role.QA,
            estimate_hours=3,
        ),
        ["A refund above the captured amount is refused", "Two partial refunds add up"],
    ),
    (
        TaskSpec(
            task_id="T-index",
            title="Index orders by customer",
            description="Add a database index so that a customer's orders are listed quickly.",
            role=Role.DATA,
            estimate_hours=2,
        ),
        ["Listing 10,000 orders of one customer uses the index", "The migration can be rolled back"],
    ),
]


async def _usage(js: Any, deliberation_id: str) -> dict[str, int]:
    """Tokens and answers of one deliberation, from what its answers reported."""
    info = await js.stream_info("AGENT_RESPONSES")
    prompt = completion = answers = failed = 0
    for seq in range(info.state.first_seq or 1, (info.state.last_seq or 0) + 1):
        raw = await js.get_msg("AGENT_RESPONSES", seq)
        response = decode_event(raw.subject or "", raw.data or b"").payload
        assert isinstance(response, AgentResponseCompleted | AgentResponseFailed)
        if response.deliberation_id != deliberation_id:
            continue
        answers += 1
        failed += isinstance(response, AgentResponseFailed)
        if response.usage is not None:
            prompt += response.usage.prompt_tokens
            completion += response.usage.completion_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "tokens": prompt + completion,
        "answers": answers,
        "failed_answers": failed,
    }


def quality(state: DeliberationState) -> float:
    """The selected proposal's objective checks, 0..10 (0 when no proposal was selected)."""
    if state.winner is None:
        return 0.0
    final = state.latest(state.winner).proposal
    checks = run_checks(final, task=state.task, acceptance_criteria=state.acceptance_criteria, previous=None)
    return round(objective_score(checks), 3)


async def one_run(
    js: Any, store: StateStore, orchestrator: Orchestrator, councils: Councils, protocol: str, task_index: int
) -> dict[str, Any]:
    agents, rounds, judges = PROTOCOLS[protocol]
    task, criteria = TASKS[task_index]
    council = councils.for_role(task.role).model_copy(
        update={"agents": agents, "rounds": rounds, "judges_per_proposal": judges}
    )
    deliberation_id = f"dlb-councils-{protocol}-{task.task_id}-{time.time_ns()}"
    state = deliberations.start(
        deliberation_id=deliberation_id,
        story_id=f"bench-councils-{task.task_id}",
        plan_id="bench-plan",
        task=task.model_copy(update={"task_id": f"{task.task_id}-{protocol}"}),
        acceptance_criteria=criteria,
        council=council,
        story_phase="PLANNED",
        correlation_id=None,
        now=time.time(),
    ).state
    await store.create(deliberation_key(deliberation_id), state)
    await orchestrator.settle_deliberation(deliberation_id)
    final = await wait_terminal(store, deliberation_id, 1800)
    return {
        "protocol": protocol,
        "task": task.task_id,
        "status": final.status.value,
        "commands": council_commands(agents, rounds, judges),
        "wall_seconds": round((final.ended_at or time.time()) - final.started_at, 1),
        "quality": quality(final),
        "first_failure": final.failures[0].error[:200] if final.failures else None,
        **await _usage(js, deliberation_id),
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    by_protocol: dict[str, dict[str, Any]] = {}
    for name in PROTOCOLS:
        mine = [r for r in runs if r["protocol"] == name]
        if not mine:
            continue
        tokens = statistics.mean(r["tokens"] for r in mine)
        mean_quality = statistics.mean(r["quality"] for r in mine)
        by_protocol[name] = {
            "agents_rounds_judges": list(PROTOCOLS[name]),
            "runs": len(mine),
            "completed": sum(r["status"] == "completed" for r in mine),
            "mean_tokens": round(tokens),
            "mean_quality": round(mean_quality, 3),
            "quality_per_1k_tokens": round(1000 * mean_quality / tokens, 4) if tokens else None,
            "median_wall_seconds": round(statistics.median(r["wall_seconds"] for r in mine), 1),
        }
    base = by_protocol.get(BASELINE, {}).get("mean_tokens")
    for entry in by_protocol.values():
        entry["tokens_vs_one_agent"] = round(entry["mean_tokens"] / base, 2) if base else None
    councils = {
        name: entry
        for name, entry in by_protocol.items()
        if entry["agents_rounds_judges"][0] == 3 and entry["quality_per_1k_tokens"] is not None
    }
    within = {n: e for n, e in councils.items() if (e["tokens_vs_one_agent"] or 99) <= TOKEN_RATIO_GOAL}
    pool = within or councils
    best = max(pool, key=lambda n: pool[n]["quality_per_1k_tokens"]) if pool else None
    return {"protocols": by_protocol, "best_council_of_3": best, "best_within_goal": bool(within)}


async def _measure(ctx: BenchContext, name: str, llm_url: str, tasks: int) -> list[dict[str, Any]]:
    """Every protocol on the first `tasks` tasks, interleaved, with the real orchestrator and worker."""
    nats = ctx.nats(name)
    settings = FleetSettings(
        data_dir=ctx.scratch / name,
        nats_url=nats.url,
        context_url=f"http://127.0.0.1:{free_port()}",  # nothing listens: the same bare prompt for all
        agent_context_attempts=1,
        llm_url=llm_url,
    )
    nc = await connect(nats.url, f"bench-{name}", wait_seconds=10)
    runs: list[dict[str, Any]] = []
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        councils = councils_from(settings)
        worker = await build_worker(settings, nc, Endpoints.from_settings(settings))
        async with _orchestrator(settings, nc, councils, worker) as (store, orchestrator):
            await one_run(js, store, orchestrator, councils, BASELINE, 0)  # warm-up, not measured
            names = list(PROTOCOLS)
            for task_index in range(tasks):
                shift = task_index % len(names)
                for protocol in itertools.chain(names[shift:], names[:shift]):
                    runs.append(await one_run(js, store, orchestrator, councils, protocol, task_index))
                    # One line per run: a run cut short still leaves its figures behind.
                    print(f"bench: {name}: {json.dumps(runs[-1])}", file=sys.stderr, flush=True)
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
    return runs


@contextlib.contextmanager
def _stand_in_llm() -> Iterator[str]:
    """The stand-in OpenAI-compatible server (fleet_testing): instant, minimal valid answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "fleet_testing.stand_in.llm_server", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


async def run(ctx: BenchContext) -> dict[str, Any]:
    tasks = 1 if ctx.quick else len(TASKS)
    with _stand_in_llm() as url:
        stand_in = summarise(await _measure(ctx, "councils-stand-in", url, len(TASKS)))
    results: dict[str, Any] = {
        "tasks": [task.task_id for task, _ in TASKS[:tasks]],
        "goal_tokens_vs_one_agent_max": TOKEN_RATIO_GOAL,
        "stand_in_llm": {"protocols": stand_in["protocols"]},
    }
    configured = councils_from(FleetSettings()).for_role(Role.DEV)
    results["packaged_default"] = [configured.agents, configured.rounds, configured.judges_per_proposal]
    if os.environ.get("FLEET_BENCH_COUNCILS_REAL_LLM", "1") == "0":
        return results  # the local model's part skipped (a machine too loaded for it), and said so
    settings = FleetSettings()
    llm = EmbeddedLlamaServer(
        ctx.scratch / "llm", port=free_port(), parallel=settings.llm_parallel_slots, alias=settings.llm_model
    )
    llm.start(timeout=300)
    try:
        runs = await _measure(ctx, "councils", llm.url, tasks)
    finally:
        llm.stop()
    results.update(model=settings.llm_model, **summarise(runs), runs=runs)
    return results


def render(results: dict[str, Any]) -> str:
    default = " x ".join(str(n) for n in results["packaged_default"])
    goal = results["goal_tokens_vs_one_agent_max"]
    lines = [
        "## Council protocols: tokens and quality per token",
        "",
        "Every protocol deliberates the same tasks with the real Orchestrator and agent worker "
        f"(bench/councils.py; tasks {', '.join(results['tasks'])}). Tokens = prompt + completion tokens of "
        "every answer of the deliberation. Quality = the selected proposal's objective checks (0..10; 0 when "
        f"the council selected nothing). The packaged default was {default} (agents x rounds x judges) "
        "when this was measured. "
        f"Goal: a council of 3 at <= {goal}x the tokens of one agent.",
        "",
        "**Stand-in LLM** (fleet_testing's OpenAI-compatible server: the worker's real prompts, minimal "
        "valid answers; prompt tokens = characters / 4). Tokens only: its answers carry no quality.",
        "",
        "| protocol | agents x rounds x judges | commands | mean tokens | vs one agent |",
        "|---|---|---:|---:|---:|",
    ]
    for name, entry in results["stand_in_llm"]["protocols"].items():
        shape = entry["agents_rounds_judges"]
        lines.append(
            f"| {name} | {' x '.join(map(str, shape))} | {council_commands(*shape)} | {entry['mean_tokens']} "
            f"| {entry['tokens_vs_one_agent']}x |"
        )
    if "protocols" not in results:
        lines += ["", "**Local model**: not run in this measurement (FLEET_BENCH_COUNCILS_REAL_LLM=0)."]
        return "\n".join(lines)
    lines += [
        "",
        f"**Local model** ({results['model']}, llama-server):",
        "",
        "| protocol | runs (completed) | mean tokens | vs one agent | mean quality | quality per 1k tokens "
        "| median wall s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, entry in results["protocols"].items():
        mark = " **best**" if name == results["best_council_of_3"] else ""
        lines.append(
            f"| {name}{mark} | {entry['runs']} ({entry['completed']}) | {entry['mean_tokens']} "
            f"| {entry['tokens_vs_one_agent']}x | {entry['mean_quality']} | {entry['quality_per_1k_tokens']} "
            f"| {entry['median_wall_seconds']} |"
        )
    within = "within" if results["best_within_goal"] else "none of the councils is within"
    configured = councils_from(FleetSettings()).for_role(Role.DEV)
    now = f"{configured.agents} x {configured.rounds} x {configured.judges_per_proposal}"
    lines += [
        "",
        f"Best council of 3 by quality per token ({within} the goal): {results['best_council_of_3']}. "
        f"The packaged default now: {now} (ADR 0404).",
    ]
    return "\n".join(lines)
