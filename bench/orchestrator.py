"""Orchestrator benchmark: orchestration overhead, and the wall time of a council of 3 vs one agent.

Two backends, each on its own fresh nats-server with the real Orchestrator service:
1. The real local LLM: llama.cpp's llama-server with the packaged small model and the real agent
   worker (swe_fleet.agents). No Context service: the workers' context URL points at a closed port
   with one attempt (a refused connection per command, about a millisecond, counted as overhead).
2. A stand-in LLM (fleet_testing.stand_in): each call takes a latency drawn uniformly in
   1-3 s (per run and piece of work, paired across council sizes) with unlimited parallel
   capacity — what a GPU server with room for the council's calls looks like. It shows what the
   orchestration itself costs when the LLM backend is not the bottleneck; on a 2-core CPU the real
   LLM is.

- Overhead: a deliberation's wall time (its own started_at..ended_at, or plan approval to the last
  deliberation's end for the whole flow) minus the union of the LLM-call intervals the workers report
  (`usage.started_at..ended_at` of every answer), as a share of the wall time.
- Council ratio: wall time of one deliberation of the same task by a council of 3 (the whole protocol:
  1 critique round, 2 judges per proposal: 3+3+3+6 commands; the packaged default is leaner, ADR 0404)
  over that of a council of 1 (1+1+1+1), runs interleaved, medians compared.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.harness import BenchContext
from fleet_testing.stand_in.worker import Script, StandInWorker
from swe_fleet.agents.bootstrap import build as build_worker
from swe_fleet.backbone.connection import connect
from swe_fleet.backbone.provisioning import ensure_streams
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.embedded.child import free_port
from swe_fleet.embedded.llm_server import EmbeddedLlamaServer
from swe_fleet.events import subjects
from swe_fleet.events.envelope import decode_event
from swe_fleet.events.payloads import (
    AgentCommand,
    AgentResponseCompleted,
    AgentResponseFailed,
    PlanApproved,
    Role,
    TaskSpec,
)
from swe_fleet.host.runner import ServiceHost
from swe_fleet.host.service import Endpoints
from swe_fleet.orchestrator.adapters.outbox_publisher import OutboxPublisher
from swe_fleet.orchestrator.adapters.state_store import StateStore, deliberation_key, story_key
from swe_fleet.orchestrator.app.orchestrator import Orchestrator
from swe_fleet.orchestrator.bootstrap import build as build_orchestrator
from swe_fleet.orchestrator.bootstrap import councils_from
from swe_fleet.orchestrator.domain import deliberation as deliberations
from swe_fleet.orchestrator.domain.council import Councils
from swe_fleet.orchestrator.domain.deliberation_state import DeliberationState
from swe_fleet.orchestrator.domain.story import DerivationStatus, StoryRecord
from swe_fleet.settings import FleetSettings

TASK = TaskSpec(
    task_id="bench-task",
    key="T1",
    title="Add a CSV export endpoint for invoices",
    description="GET /invoices/export returns the customer's invoices as CSV with a header row.",
    role=Role.DEV,
    estimate_hours=4,
)
CRITERIA = ["The CSV has one row per invoice and a header", "Totals match the ledger"]


def union_seconds(intervals: list[tuple[float, float]], start: float, end: float) -> float:
    """Length of the union of intervals, clipped to [start, end]."""
    clipped = sorted((max(a, start), min(b, end)) for a, b in intervals if b > start and a < end)
    total, current_start, current_end = 0.0, None, None
    for a, b in clipped:
        if current_end is None or a > current_end:
            if current_end is not None:
                total += current_end - current_start  # type: ignore[operator]
            current_start, current_end = a, b
        else:
            current_end = max(current_end, b)
    if current_end is not None:
        total += current_end - current_start  # type: ignore[operator]
    return total


def _epoch(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


async def llm_intervals(js: Any, *, story_id: str | None = None, deliberation_id: str | None = None):
    """(start, end) of every answer's LLM calls, and how many answers and calls there were."""
    info = await js.stream_info("AGENT_RESPONSES")
    intervals, answers, calls, failed, tokens = [], 0, 0, 0, 0
    for seq in range(info.state.first_seq or 1, (info.state.last_seq or 0) + 1):
        raw = await js.get_msg("AGENT_RESPONSES", seq)
        response = decode_event(raw.subject or "", raw.data or b"").payload
        assert isinstance(response, AgentResponseCompleted | AgentResponseFailed)
        if story_id is not None and response.story_id != story_id:
            continue
        if deliberation_id is not None and response.deliberation_id != deliberation_id:
            continue
        answers += 1
        failed += isinstance(response, AgentResponseFailed)
        usage = response.usage
        if usage is None:
            continue
        start, end = _epoch(usage.started_at), _epoch(usage.ended_at)
        if start is not None and end is not None:
            intervals.append((start, end))
            calls += usage.attempts
            tokens += usage.completion_tokens
    counts = {"answers": answers, "failed_answers": failed, "llm_calls": calls, "completion_tokens": tokens}
    return intervals, counts


async def wait_terminal(store: StateStore, deliberation_id: str, limit: float) -> DeliberationState:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        state = await store.deliberation(deliberation_id)
        if state is not None and state.status.terminal:
            return state
        await asyncio.sleep(0.2)
    raise TimeoutError(f"deliberation {deliberation_id} did not end within {limit:.0f}s")


async def one_deliberation(
    js: Any, store: StateStore, orchestrator: Orchestrator, council_size: int, councils: Councils, run: int
) -> dict[str, Any]:
    """Start one deliberation of TASK with a council of `council_size` (as a derivation would) and time it."""
    council = councils.for_role(Role.DEV).model_copy(update={"agents": council_size})
    deliberation_id = f"dlb-bench-{council_size}-{run}"
    state = deliberations.start(
        deliberation_id=deliberation_id,
        story_id=f"bench-story-{council_size}-{run}",
        plan_id="bench-plan",
        task=TASK.model_copy(update={"task_id": f"bench-task-{council_size}-{run}"}),
        acceptance_criteria=CRITERIA,
        council=council,
        story_phase="PLANNED",
        correlation_id=None,
        now=time.time(),
    ).state
    await store.create(deliberation_key(deliberation_id), state)
    await orchestrator.settle_deliberation(deliberation_id)
    final = await wait_terminal(store, deliberation_id, 1800)
    assert final.ended_at is not None
    wall = final.ended_at - final.started_at
    intervals, counts = await llm_intervals(js, deliberation_id=deliberation_id)
    llm = union_seconds(intervals, final.started_at, final.ended_at)
    return {
        "agents": council_size,
        "status": final.status.value,
        "wall_seconds": round(wall, 3),
        "llm_seconds": round(llm, 3),
        "overhead_share": round((wall - llm) / wall, 5) if wall > 0 else None,
        # Calls in flight on average while the LLM was busy (1.0 = one at a time).
        "llm_concurrency": round(sum(b - a for a, b in intervals) / llm, 2) if llm > 0 else None,
        # Completion tokens per second of LLM-busy time: the server's delivered throughput.
        "tokens_per_second": round(counts["completion_tokens"] / llm, 1) if llm > 0 else None,
        "failures": len(final.failures),
        **counts,
    }


async def whole_flow(js: Any, store: StateStore, limit: float) -> dict[str, Any]:
    """A plan approval through derivation and every deliberation to the last dispatch."""
    approval = PlanApproved(
        story_id="bench-flow",
        plan_id="bench-flow-plan",
        approved_by="bench",
        roles=[Role.DEV, Role.QA],
        description="Customers can export their invoices as a CSV file from the billing page.",
        acceptance_criteria=CRITERIA,
    )
    started = time.time()
    await EventPublisher(js, "bench").publish(subjects.PLAN_APPROVED, approval)
    deadline = time.monotonic() + limit
    record: StoryRecord | None = None
    while time.monotonic() < deadline:
        record = (await store.get(story_key("bench-flow"), StoryRecord))[0]
        derivation = record.derivations.get("bench-flow-plan") if record else None
        settled = derivation is not None and (
            derivation.status is DerivationStatus.FAILED
            or derivation.status is DerivationStatus.CANCELLED
            or (derivation.status is DerivationStatus.DERIVED and derivation.deliberations_created)
        )
        if settled:
            break
        await asyncio.sleep(0.2)
    assert record is not None
    derivation = record.derivations["bench-flow-plan"]
    ends, statuses, failures = [time.time()], [], 0
    if derivation.status is DerivationStatus.DERIVED:
        ends = []
        for task in derivation.tasks:
            final = await wait_terminal(store, f"dlb-{task.task_id}", max(1.0, deadline - time.monotonic()))
            statuses.append(final.status.value)
            ends.append(final.ended_at or time.time())
            failures += len(final.failures)
    ended = max(ends)
    intervals, counts = await llm_intervals(js, story_id="bench-flow")
    wall = ended - started
    llm = union_seconds(intervals, started, ended)
    return {
        "derivation": derivation.status.value,
        "derive_attempts": len(derivation.attempts),
        "tasks": len(derivation.tasks),
        "deliberations": statuses,
        "failures": failures,
        "wall_seconds": round(wall, 3),
        "llm_seconds": round(llm, 3),
        "overhead_share": round((wall - llm) / wall, 5) if wall > 0 else None,
        **counts,
    }


def _summary(by_size: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    """Ratios from completed deliberations only: a failed one (no proposal left) is not the same work."""
    done = {size: [r for r in runs if r["status"] == "completed"] for size, runs in by_size.items()}

    def median(size: int, key: str) -> float | None:
        values = [r[key] for r in done[size] if r.get(key) is not None]
        return round(statistics.median(values), 3) if values else None

    every_run = [run for runs in by_size.values() for run in runs]
    overheads = [r["overhead_share"] for r in every_run if r["overhead_share"] is not None]
    three, one = median(3, "wall_seconds"), median(1, "wall_seconds")
    return {
        "council_of_3": by_size[3],
        "one_agent": by_size[1],
        "completed_runs": {str(size): len(runs) for size, runs in done.items()},
        "failed_runs": {str(size): len(by_size[size]) - len(runs) for size, runs in done.items()},
        "council_3_median_seconds": three,
        "one_agent_median_seconds": one,
        "council_ratio": round(three / one, 3) if three and one else None,
        "council_3_median_tokens_per_second": median(3, "tokens_per_second"),
        "one_agent_median_tokens_per_second": median(1, "tokens_per_second"),
        "deliberation_overhead_median": round(statistics.median(overheads), 5),
        "deliberation_overhead_max": round(max(overheads), 5),
    }


async def _compare(js: Any, store: StateStore, seeding: Orchestrator, councils: Councils, runs: int):
    """`runs` completed deliberations per council size, interleaved; failed ones are kept but replaced
    (at most `runs` extra per size: the small model sometimes cannot produce a valid proposal)."""
    by_size: dict[int, list[dict[str, Any]]] = {1: [], 3: []}
    index = 0
    while index < 3 * runs:
        index += 1
        wanted = [size for size in (3, 1) if sum(r["status"] == "completed" for r in by_size[size]) < runs]
        wanted = [size for size in wanted if len(by_size[size]) < 2 * runs]
        if not wanted:
            break
        for size in wanted if index % 2 else list(reversed(wanted)):
            by_size[size].append(await one_deliberation(js, store, seeding, size, councils, index))
    return by_size


@contextlib.asynccontextmanager
async def _orchestrator(settings: FleetSettings, nc: Any, councils: Councils, *others: Any):
    """The real Orchestrator service (and any other services) hosted on `nc` until the block ends."""
    stop, started = asyncio.Event(), asyncio.Event()
    service = await build_orchestrator(settings, nc, Endpoints.from_settings(settings), councils=councils)
    host = ServiceHost([*others, service], http_host=None, http_port=None)
    serving = asyncio.create_task(host.serve(stop, started))
    await started.wait()
    try:
        js = nc.jetstream()
        store = await StateStore.open(js, settings.orchestrator_bucket)
        yield store, Orchestrator(store, OutboxPublisher(EventPublisher(js, "orchestrator")), councils)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(serving, 30)


def stand_in_latency(command: AgentCommand) -> float:
    """1-3 s, drawn per run and piece of work, the same for both council sizes (a paired comparison).

    The key is the run (from the deliberation id), the kind, whose proposal it works on, the round and,
    for a score, the judge: generating dev-1's proposal in run 4 takes as long in the council of one as
    in the council of three, so the ratio measures the council's structure, not which draws it got.
    """
    run = (command.deliberation_id or "").rsplit("-", 1)[-1]
    target = str(command.inputs.get("proposal_id", command.agent_id)).rsplit(".", 1)[-1]
    judge = command.agent_id if command.kind == "score" else ""
    key = f"{run}|{command.kind}|{target}|{command.round}|{judge}"
    return 1.0 + 2.0 * (int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF)


def full_protocol(settings: FleetSettings) -> Councils:
    """Councils of 3 with a critique round and two judges: what this bench has always measured (the
    packaged default, no critique and one judge, is lighter on orchestration)."""
    return councils_from(settings).with_overrides(rounds=1, judges_per_proposal=2)


async def stand_in_backend(ctx: BenchContext, runs: int) -> dict[str, Any]:
    nats = ctx.nats("orchestrator-stand-in")
    settings = FleetSettings(data_dir=ctx.scratch / "stand-in", nats_url=nats.url)
    councils = full_protocol(settings)
    nc = await connect(nats.url, "bench-orchestrator-stand-in", wait_seconds=10)
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        async with (
            StandInWorker(nc, Script(latency=stand_in_latency)),
            _orchestrator(settings, nc, councils) as (
                store,
                seeding,
            ),
        ):
            await one_deliberation(js, store, seeding, 1, councils, 0)  # warm-up
            return _summary(await _compare(js, store, seeding, councils, runs))
    finally:
        await nc.close()


async def real_llm_backend(ctx: BenchContext, runs: int) -> dict[str, Any]:
    nats = ctx.nats("orchestrator")
    settings = FleetSettings(
        data_dir=ctx.scratch,
        nats_url=nats.url,
        context_url=f"http://127.0.0.1:{free_port()}",  # nothing listens: answers go without context
        agent_context_attempts=1,
    )
    llm = EmbeddedLlamaServer(
        ctx.scratch / "llm", port=free_port(), parallel=settings.llm_parallel_slots, alias=settings.llm_model
    )
    llm.start(timeout=300)
    nc = await connect(nats.url, "bench-orchestrator", wait_seconds=10)
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        councils = full_protocol(settings)
        derivation = councils.derivation.model_copy(update={"max_tasks": 2 if ctx.quick else 3})
        flow_councils = councils.model_copy(update={"derivation": derivation})
        with_llm = settings.model_copy(update={"llm_url": llm.url})
        worker = await build_worker(with_llm, nc, Endpoints.from_settings(with_llm))
        async with _orchestrator(settings, nc, flow_councils, worker) as (store, seeding):
            # Warm-up: the first LLM calls pay for loading the model's pages; not measured.
            await one_deliberation(js, store, seeding, 1, councils, 0)
            by_size = await _compare(js, store, seeding, councils, runs)
            flow = await whole_flow(js, store, limit=3600)
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
        llm.stop()
    return {
        "model": settings.llm_model,
        "llm_parallel_slots": settings.llm_parallel_slots,
        "agent_pullers": settings.agent_pullers,
        **_summary(by_size),
        "whole_flow": flow,
    }


def _other_llm_servers() -> int:
    """llama-server processes not started by this benchmark (they compete for the same cores)."""
    count = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            text = cmdline.read_bytes().replace(b"\0", b" ")
            count += b"llama-server" in text and b"fleet-bench-orchestrator" not in text
    return count


async def run(ctx: BenchContext) -> dict[str, Any]:
    runs = 1 if ctx.quick else 3
    stand_in = await stand_in_backend(ctx, 2 if ctx.quick else 10)
    load_before, others_before = os.getloadavg()[0], _other_llm_servers()
    real = await real_llm_backend(ctx, runs)
    real["conditions"] = {
        "load_average_1min_before": round(load_before, 2),
        "load_average_1min_after": round(os.getloadavg()[0], 2),
        "other_llm_servers_before": others_before,
        "other_llm_servers_after": _other_llm_servers(),
    }
    return {
        "runs_per_council_size": runs,
        "real_llm": real,
        "stand_in_llm": stand_in,
        "targets": {"overhead_share_max": 0.02, "council_ratio_max": 1.3},
    }


def _mark(ok: bool) -> str:
    return "✅" if ok else "❌"


def _ratio(section: dict[str, Any]) -> str:
    if section.get("council_ratio") is None:
        return "n/a (no completed run of one size)"
    done = section.get("completed_runs", {})
    failed = section.get("failed_runs", {})
    return (
        f"**{section['council_ratio']:.2f}x** ({section['council_3_median_seconds']:.1f} s / "
        f"{section['one_agent_median_seconds']:.1f} s; completed runs {done.get('3', '?')} + "
        f"{done.get('1', '?')}, failed and replaced {failed.get('3', 0)} + {failed.get('1', 0)})"
    )


def _reading(real: dict[str, Any]) -> str:
    """What the real-LLM figures say about where a council's time goes, from this run's numbers."""
    three, one = (
        real.get("council_3_median_tokens_per_second"),
        real.get("one_agent_median_tokens_per_second"),
    )
    done = [r for r in real.get("council_of_3", []) if r["status"] == "completed"]
    alone = [r for r in real.get("one_agent", []) if r["status"] == "completed"]
    if not (three and one and done and alone):
        return "Not enough completed real-LLM runs to say where the council's time goes."
    tokens = statistics.median(r["completion_tokens"] for r in done) / statistics.median(
        r["completion_tokens"] for r in alone
    )
    gain = three / one
    return (
        f"Reading: with several calls in flight the real LLM delivered {three} completion tokens/s "
        f"against {one} for one call alone ({gain:.2f}x the throughput), while a council of 3 wrote "
        f"{tokens:.1f}x the tokens of one agent; its wall time follows from the LLM's capacity, not "
        "from the orchestration, which stays under the overhead figures above. The stand-in LLM has "
        "room for every call (as a GPU server with free batch slots would): there a council costs its "
        "slowest proposal's chain of calls."
    )


def _meets(section: dict[str, Any]) -> bool:
    return section.get("council_ratio") is not None and section["council_ratio"] <= 1.3


def _runs_table(section: dict[str, Any]) -> list[str]:
    lines = [
        "| council | run | status | wall s | LLM busy s | overhead | calls in flight | answers | LLM calls "
        "| failed answers | timed out or failed commands | completion tokens | tokens/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, label in (("council_of_3", "3 agents"), ("one_agent", "1 agent")):
        for number, run in enumerate(section[key], start=1):
            lines.append(
                f"| {label} | {number} | {run['status']} | {run['wall_seconds']:.1f} "
                f"| {run['llm_seconds']:.1f} | {run['overhead_share']:.2%} | {run['llm_concurrency']} "
                f"| {run['answers']} | {run['llm_calls']} | {run['failed_answers']} | {run['failures']} "
                f"| {run['completion_tokens']} | {run.get('tokens_per_second') or '-'} |"
            )
    return lines


def render(results: dict[str, Any]) -> str:
    real, stand_in = results["real_llm"], results["stand_in_llm"]
    flow = real["whole_flow"]
    worst_overhead = max(real["deliberation_overhead_max"], stand_in["deliberation_overhead_max"])
    conditions = real.get("conditions", {})
    load = (conditions.get("load_average_1min_before", "?"), conditions.get("load_average_1min_after", "?"))
    others = (conditions.get("other_llm_servers_before", "?"), conditions.get("other_llm_servers_after", "?"))
    lines = [
        "## Orchestrator: overhead and the cost of a council",
        "",
        "Real Orchestrator service on a fresh nats-server. **Real LLM**: llama-server "
        f"({real['model']}, {real['llm_parallel_slots']} parallel slots) and the real agent worker "
        f"({real['agent_pullers']} pullers), no Context service (one refused connection per command, counted "
        "as overhead). **Stand-in LLM**: the stand-in worker, each call 1-3 s (drawn per run and piece of "
        "work, the same for both council sizes: a paired comparison), "
        "unlimited parallel capacity. Overhead = wall time minus the union of the LLM-call intervals the "
        "workers report, as a share of wall time. Council of 3 = the whole protocol (1 round, 2 judges per "
        "proposal: 15 commands; the packaged default is leaner, ADR 0404); one agent: 4 commands.",
        "",
        "| measure | real LLM | stand-in LLM | target |",
        "|---|---|---|---|",
        f"| deliberation overhead, median (max) | {real['deliberation_overhead_median']:.2%} "
        f"({real['deliberation_overhead_max']:.2%}) | {stand_in['deliberation_overhead_median']:.2%} "
        f"({stand_in['deliberation_overhead_max']:.2%}) "
        f"| <= 2 % {_mark(worst_overhead <= 0.02)} |",
        f"| whole flow overhead (approval, derivation, {flow['tasks']} deliberations) "
        f"| {flow['overhead_share']:.2%} over {flow['wall_seconds']:.0f} s | - "
        f"| <= 2 % {_mark((flow['overhead_share'] or 1) <= 0.02)} |",
        f"| council of 3 / one agent, median wall time of completed deliberations | {_ratio(real)} "
        f"| {_ratio(stand_in)} | <= 1.3x: real {_mark(_meets(real))}, stand-in {_mark(_meets(stand_in))} |",
        f"| LLM throughput while busy, completion tokens/s (3 agents / 1 agent) "
        f"| {real.get('council_3_median_tokens_per_second')} / "
        f"{real.get('one_agent_median_tokens_per_second')} | - | - |",
        "",
        _reading(real),
        "",
        "Real LLM runs:",
        "",
        *_runs_table(real),
        "",
        "Stand-in LLM runs:",
        "",
        *_runs_table(stand_in),
        "",
        f"Conditions of the real-LLM part: 1-min load average {load[0]} before, {load[1]} after, on "
        f"{results.get('machine', {}).get('cores', '?')} cores; other llama-server processes on the "
        f"machine: {others[0]} before, {others[1]} after (they compete for the same cores).",
        "",
        f"Whole flow (real LLM): derivation {flow['derivation']} after {flow['derive_attempts']} attempt(s), "
        f"{flow['tasks']} task(s), deliberations {', '.join(flow['deliberations']) or 'none'}; "
        f"{flow['answers']} answers, {flow['llm_calls']} LLM calls, "
        f"{flow.get('failures', '?')} commands timed out or failed.",
    ]
    return "\n".join(lines)
