"""The scenarios, and running one: a fleet of real processes, traffic, a fault, the drain, the check.

Each scenario starts its own fleet (nats-server, cache server, `fleet serve` processes) in its own
directory, drives traffic while its disruptor injects the fault, then waits for the stream to drain
and the checker to pass, and reports the numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from nats.js import JetStreamContext

from fleet_testing.auth import bearer
from fleet_testing.chaos.checker import (
    AGENT_STREAMS,
    STREAMS,
    Findings,
    GraphReader,
    StreamScan,
    check,
    consumers_drained,
)
from fleet_testing.chaos.cluster import Cluster, Topology
from fleet_testing.chaos.injection import Injector
from fleet_testing.chaos.traffic import TrafficDriver, read_truth
from swe_fleet.backbone.connection import connect
from swe_fleet.embedded.nats_server import EmbeddedNatsCluster
from swe_fleet.events import streams

log = logging.getLogger(__name__)


@dataclass
class Run:
    """What a disruptor works with, and what it reports."""

    cluster: Cluster
    rng: random.Random
    traffic_done: asyncio.Event
    story_ids: Callable[[], list[str]]
    traffic_seconds: float
    notes: list[str] = field(default_factory=list)
    faults_injected: int = 0

    async def until_done(self, seconds: float) -> bool:
        """Sleep `seconds` unless the traffic ends first; True if it ended."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.traffic_done.wait(), seconds)
        return self.traffic_done.is_set()


Disruptor = Callable[[Run], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Scenario:
    name: str
    fault: str  # one line for the report
    disruptor: Disruptor | None = None
    topology: Topology = field(default_factory=Topology)
    traffic_seconds: float = 30.0
    rate: float = 20.0
    actors: int = 6
    poison_every: float | None = None
    duplicate_every: float | None = None
    faults: tuple[tuple[str, str], ...] = ()  # (service, FLEET_FAULTS) at first start
    # "postgresql": planning's store is a fresh schema in the local PostgreSQL (the store ADR 0100
    # recommends for replicas), falling back to SQLite when none answers; "sqlite": a file.
    planning_store: str = "sqlite"
    drain_deadline: float = 240.0
    # NATS nodes: 1 is one nats-server; 3 a JetStream cluster with every stream at three replicas.
    nats_nodes: int = 1

    def scaled(self, seconds: float, rate: float) -> Scenario:
        return replace(self, traffic_seconds=seconds, rate=rate, actors=min(self.actors, 4))


@dataclass
class Result:
    scenario: Scenario
    findings: Findings
    changes: int
    unknown_outcomes: int
    drain_seconds: float | None  # None: never drained and matched within the deadline
    faults_injected: int
    notes: list[str]
    workdir: Path

    @property
    def ok(self) -> bool:
        return self.findings.ok and self.drain_seconds is not None


# ---------------------------------------------------------------------- disruptors


async def kill_context_repeatedly(run: Run) -> None:
    """SIGKILL the Context process again and again mid-batch: from outside at random moments, and
    from inside at the projection's fault points (before and after the graph commit)."""
    context = run.cluster.service("context")
    inside = ("context.projection.before_commit", "context.projection.after_commit")
    cycle = 0
    while not await run.until_done(run.rng.uniform(2.0, 4.0)):
        cycle += 1
        if context.alive:
            context.kill()
            run.faults_injected += 1
        elif context.exited_by_itself():
            run.faults_injected += 1  # killed itself at an armed fault point
        faults = f"{inside[cycle % 2]}:kill@{run.rng.randint(2, 6)}" if cycle % 3 else ""
        await asyncio.to_thread(context.restart, faults=faults)
    run.notes.append(
        f"context SIGKILLed {run.faults_injected} times (outside and at before/after-commit points)"
    )


async def kill_planning_repeatedly(run: Run) -> None:
    """SIGKILL planning processes mid-traffic (requests in flight, outbox rows half relayed)."""
    replicas = run.cluster.services["planning"]
    cycle = 0
    while not await run.until_done(run.rng.uniform(3.0, 5.0)):
        cycle += 1
        victim = replicas[cycle % len(replicas)]
        victim.kill()
        run.faults_injected += 1
        await asyncio.sleep(run.rng.uniform(0.3, 1.5))
        faults = f"planning.outbox.after_publish:kill@{run.rng.randint(3, 10)}" if cycle % 2 else ""
        await asyncio.to_thread(victim.restart, faults=faults)
    run.notes.append(f"planning SIGKILLed {run.faults_injected} times (outside and between publish and mark)")


async def restart_nats_mid_stream(run: Run) -> None:
    for fraction in (0.3, 0.65):
        if await run.until_done(run.traffic_seconds * fraction / 2):
            return
        await asyncio.to_thread(run.cluster.restart_nats, 2.0)
        run.faults_injected += 1
    run.notes.append("nats-server stopped for 2 s and restarted, twice, mid-stream")


async def crash_nats_mid_stream(run: Run) -> None:
    """SIGKILL: no shutdown, no flush; the server restarts on what its store files hold."""
    for fraction in (0.3, 0.65):
        if await run.until_done(run.traffic_seconds * fraction / 2):
            return
        await asyncio.to_thread(lambda: run.cluster.restart_nats(2.0, crash=True))
        run.faults_injected += 1
    run.notes.append("nats-server SIGKILLed and restarted after 2 s, twice, mid-stream")


def _nats_cluster(run: Run) -> EmbeddedNatsCluster:
    if run.cluster.nats_cluster is None:
        raise RuntimeError("this scenario needs a NATS cluster (Scenario.nats_nodes=3)")
    return run.cluster.nats_cluster


Leader = Callable[[EmbeddedNatsCluster], int]


async def _kill_node_and_restart(run: Run, pick: Leader, role: str) -> str:
    """SIGKILL the node `pick` chooses; keep it down under traffic at least 3 s and until the groups it
    led (the planning stream, the meta group) elected another leader (at most 30 s); start it again on
    its store. Say which node it was, how long the elections took, and how soon it caught up."""
    nats = _nats_cluster(run)
    victim = await asyncio.to_thread(pick, nats)
    groups: dict[str, Leader] = {streams.PLANNING_EVENTS: _stream_leader, "meta group": _meta_leader}
    led = [name for name, leader in groups.items() if await asyncio.to_thread(leader, nats) == victim]
    killed_at = time.monotonic()
    await asyncio.to_thread(nats.kill, victim)
    run.faults_injected += 1
    elected: dict[str, str] = {}
    while time.monotonic() - killed_at < 30.0:
        for name in led:
            with contextlib.suppress(Exception):
                if name not in elected and (leader := await asyncio.to_thread(groups[name], nats)) != victim:
                    elected[name] = (
                        f"{name} leader {nats.names[leader]} elected in {time.monotonic() - killed_at:.1f} s"
                    )
        if len(elected) == len(led) and time.monotonic() - killed_at >= 3.0:
            break
        await asyncio.sleep(0.1)
    down = time.monotonic() - killed_at
    await asyncio.to_thread(nats.restart, victim)  # returns once it is up and sees the meta leader
    caught_up = await _caught_up(nats, victim, await asyncio.to_thread(_stream_leader, nats))
    elections = [elected.get(name, f"{name}: NOT within 30 s") for name in led] or ["it led no group"]
    return (
        f"{role} {nats.names[victim]} SIGKILLed, down {down:.1f} s, restarted; {'; '.join(elections)}; "
        f"the node caught up {caught_up}"
    )


async def _caught_up(nats: EmbeddedNatsCluster, node: int, leader: int) -> str:
    """How long the restarted node's PLANNING_EVENTS replica took to reach the leader's last sequence."""
    target = await asyncio.to_thread(nats.stream_last_seq, leader, streams.PLANNING_EVENTS)
    started = time.monotonic()
    while time.monotonic() - started < 30.0:
        if await asyncio.to_thread(nats.stream_last_seq, node, streams.PLANNING_EVENTS) >= target:
            return f"in {time.monotonic() - started:.1f} s (seq {target})"
        await asyncio.sleep(0.1)
    return f"NOT within 30 s (seq {target})"


def _a_follower(nats: EmbeddedNatsCluster) -> int:
    """A node leading neither the planning stream nor the meta group."""
    leaders = {nats.stream_leader(streams.PLANNING_EVENTS), nats.meta_leader()}
    return next(i for i in range(len(nats.nodes)) if i not in leaders)


def _stream_leader(nats: EmbeddedNatsCluster) -> int:
    return nats.stream_leader(streams.PLANNING_EVENTS)


def _meta_leader(nats: EmbeddedNatsCluster) -> int:
    return nats.meta_leader()


async def _separate_leaders(run: Run) -> None:
    """When one node leads both the planning stream and the meta group, ask the stream's leader to step
    down (JetStream API), so that a kill hits one kind of leader only. The meta group's leader can only
    be moved from the system account, which this cluster does not configure."""
    nats = _nats_cluster(run)
    if await asyncio.to_thread(_stream_leader, nats) != await asyncio.to_thread(_meta_leader, nats):
        return
    nc = await connect(run.cluster.nats_url, "chaos-stepdown", wait_seconds=10)
    try:
        with contextlib.suppress(Exception):  # no answer: the kill goes ahead, the note says what it led
            await nc.request(f"$JS.API.STREAM.LEADER.STEPDOWN.{streams.PLANNING_EVENTS}", b"", timeout=5)
    finally:
        await nc.close()
    for _ in range(100):
        with contextlib.suppress(Exception):
            if await asyncio.to_thread(_stream_leader, nats) != await asyncio.to_thread(_meta_leader, nats):
                return
        await asyncio.sleep(0.1)


def _kill_nats_node_twice(pick: Callable[[EmbeddedNatsCluster], int], role: str) -> Disruptor:
    async def disrupt(run: Run) -> None:
        for fraction in (0.3, 0.65):
            if await run.until_done(run.traffic_seconds * fraction / 2):
                return
            await _separate_leaders(run)
            note = await _kill_node_and_restart(run, pick, role)
            run.notes.append(note)
            if "NOT within" in note:
                raise AssertionError(note)  # a restarted node that never catches up is a failure

    disrupt.__doc__ = f"SIGKILL the {role} of the NATS cluster mid-traffic and restart it, twice."
    return disrupt


async def observe_graph_outage(run: Run) -> None:
    """The outage itself is armed by FLEET_FAULTS in the Context process; this reads its traces."""
    await run.traffic_done.wait()
    log_text = run.cluster.service("context").log_path.read_text(errors="replace")
    retries = log_text.count("outage injected at graph.apply")
    if retries:
        run.faults_injected += 1
    run.notes.append(f"graph store unavailable 8 s: {retries} batch attempts refused and retried in place")


async def valkey_down_for_a_while(run: Run) -> None:
    """Stop the cache server; GetContext must keep answering (uncached) and /readyz say degraded; once
    it is back, caching must resume (a repeated request is a hit). Without a cache server: a failure."""
    if run.cluster.cache is None:
        raise RuntimeError("valkey-down needs a cache server: no valkey-server or redis-server on PATH")
    if await run.until_done(4.0):
        return
    await asyncio.to_thread(run.cluster.stop_cache)
    run.faults_injected += 1
    statuses: Counter[int] = Counter()
    degraded = False
    headers = bearer(run.cluster.workdir / "data")
    async with httpx.AsyncClient(base_url=run.cluster.context_url, timeout=10, headers=headers) as client:
        for _ in range(12):
            if await run.until_done(0.7):
                break
            for story_id in await _projected_stories(client, 3):
                statuses[(await _context_of(client, story_id)).status_code] += 1
            ready = (await client.get("/readyz")).json()
            degraded = degraded or ready["checks"].get("context.cache", {}).get("status") == "degraded"
        await asyncio.to_thread(run.cluster.start_cache)
        hits, asked = await _cache_hits_after_return(client)
    answered = statuses[200]
    run.notes.append(
        f"Valkey stopped ~9 s: GetContext (role PO, stories in the graph) answered {answered}/"
        f"{sum(statuses.values())} with 200 ({', '.join(f'{k}: {n}' for k, n in sorted(statuses.items()))}), "
        f"/readyz cache {'degraded' if degraded else 'NOT degraded'}; after it returned, "
        f"repeated requests hit the cache {hits}/{asked}"
    )
    if answered == 0 or answered != sum(statuses.values()) or not degraded or hits == 0:
        raise AssertionError(run.notes[-1])


async def _projected_stories(client: httpx.AsyncClient, count: int) -> list[str]:
    cypher = "MATCH (s:Story) RETURN s.id AS id, s.placeholder AS placeholder"
    response = await client.post("/v1/graph/query", json={"cypher": cypher})
    return [row["id"] for row in response.json().get("rows", []) if not row["placeholder"]][-count:]


async def _context_of(client: httpx.AsyncClient, story_id: str) -> httpx.Response:
    # PO may read a story in every phase: anything but 200 is the service failing, not the policy.
    return await client.get(f"/v1/context/stories/{story_id}", params={"role": "PO"})


async def _cache_hits_after_return(client: httpx.AsyncClient) -> tuple[int, int]:
    """Once /readyz says the cache is ok again: each story asked twice at once; hits of the second ask."""
    for _ in range(60):
        ready = (await client.get("/readyz")).json()
        if ready["checks"].get("context.cache", {}).get("status") == "ok":
            break
        await asyncio.sleep(0.5)
    hits = asked = 0
    for story_id in await _projected_stories(client, 10):
        await _context_of(client, story_id)
        second = await _context_of(client, story_id)
        asked += 1
        hits += second.status_code == 200 and bool(second.json().get("cached"))
    return hits, asked


async def kill_agent_workers_repeatedly(run: Run) -> None:
    """SIGKILL agent workers mid-deliberation (commands in hand, answers half published), restarted;
    every other restart armed to die between answering and publishing, or just after publishing."""
    workers = run.cluster.services["agent-worker"]
    inside = ("agents.worker.before_publish", "agents.worker.after_publish")
    cycle = 0
    while not await run.until_done(run.rng.uniform(2.5, 4.5)):
        cycle += 1
        victim = workers[cycle % len(workers)]
        if victim.alive:
            victim.kill()
            run.faults_injected += 1
        elif victim.exited_by_itself():
            run.faults_injected += 1  # killed itself at an armed fault point
        faults = f"{inside[cycle % 2]}:kill@{run.rng.randint(2, 6)}" if cycle % 2 else ""
        await asyncio.to_thread(victim.restart, faults=faults)
    run.notes.append(f"agent workers SIGKILLed {run.faults_injected} times (outside and around publishing)")


async def kill_orchestrator_repeatedly(run: Run) -> None:
    """SIGKILL the orchestrator while councils deliberate (state written, commands half sent)."""
    orchestrator = run.cluster.service("orchestrator")
    inside = ("orchestrator.after_state_write", "orchestrator.after_publish")
    cycle = 0
    while not await run.until_done(run.rng.uniform(3.0, 5.0)):
        cycle += 1
        if orchestrator.alive:
            orchestrator.kill()
            run.faults_injected += 1
        elif orchestrator.exited_by_itself():
            run.faults_injected += 1
        faults = f"{inside[cycle % 2]}:kill@{run.rng.randint(3, 12)}" if cycle % 2 else ""
        await asyncio.to_thread(orchestrator.restart, faults=faults)
    run.notes.append(f"orchestrator SIGKILLed {run.faults_injected} times (outside and at its fault points)")


async def restart_llm_server(run: Run) -> None:
    """SIGKILL the LLM server (the stand-in) mid-traffic, down 4 s, restarted; twice."""
    llm = run.cluster.llm
    for fraction in (0.3, 0.65):
        if await run.until_done(run.traffic_seconds * fraction / 2):
            break
        llm.kill()
        run.faults_injected += 1
        await asyncio.sleep(4.0)
        await asyncio.to_thread(llm.restart)
    run.notes.append(
        f"LLM server SIGKILLed {run.faults_injected} times, down 4 s each; workers held commands"
    )


async def duplicate_agent_traffic(run: Run) -> None:
    """Re-publish agent commands and answers byte for byte under new msg-ids (JetStream keeps both)."""
    nc = await connect(run.cluster.nats_url, "chaos-agent-duplicates", wait_seconds=10)
    js = nc.jetstream()
    copied: Counter[str] = Counter()
    try:
        while not await run.until_done(0.4):
            stream = run.rng.choice(AGENT_STREAMS)
            info = await js.stream_info(stream)
            if not info.state.last_seq:
                continue
            with contextlib.suppress(Exception):
                raw = await js.get_msg(stream, run.rng.randint(info.state.first_seq, info.state.last_seq))
                headers = {"Nats-Msg-Id": f"chaos-copy-{uuid.uuid4().hex}"}
                await js.publish(raw.subject or "", raw.data or b"", headers=headers)
                copied[stream] += 1
                run.faults_injected += 1
    finally:
        await nc.close()
    run.notes.append(
        "re-published under new msg-ids: "
        + ", ".join(f"{stream} {n}" for stream, n in sorted(copied.items()))
    )


async def kill_one_replica_each(run: Run) -> None:
    """With replicas sharing the durables: SIGKILL one orchestrator and one planning replica for good."""
    if await run.until_done(8.0):
        return
    run.cluster.service("orchestrator", 0).kill()
    run.cluster.service("planning", 0).kill()
    run.faults_injected += 2
    run.notes.append("one orchestrator and one planning replica SIGKILLed mid-traffic, not restarted")


# ---------------------------------------------------------------------- the catalogue


# The agent path: two agent workers answering through the stand-in LLM server, councils of two, one
# round; lighter traffic (each approval makes a derivation and a council per task on two shared cores).
AGENTS: dict[str, Any] = {"topology": Topology(agent_worker=2), "traffic_seconds": 20.0, "rate": 8.0}

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("baseline", "none"),
        Scenario(
            "context-sigkill", "SIGKILL of the Context process mid-batch, repeatedly", kill_context_repeatedly
        ),
        Scenario(
            "planning-sigkill",
            "SIGKILL of planning processes (2 replicas), repeatedly",
            kill_planning_repeatedly,
            topology=Topology(planning=2),
        ),
        Scenario("nats-restart", "nats-server restarted mid-stream, twice", restart_nats_mid_stream),
        Scenario("nats-sigkill", "nats-server SIGKILLed mid-stream, twice", crash_nats_mid_stream),
        Scenario(
            "graph-outage",
            "graph store unavailable for 8 s (FLEET_FAULTS graph.apply:outage=8@15)",
            observe_graph_outage,
            faults=(("context", "graph.apply:outage=8@15"),),
        ),
        Scenario(
            "valkey-down", "cache server stopped ~9 s while GetContext is asked", valkey_down_for_a_while
        ),
        Scenario(
            "replicas-2",
            "2 planning, 2 orchestrator, 2 sentinel replicas on shared durables",
            topology=Topology(planning=2, orchestrator=2, sentinel=2),
        ),
        Scenario(
            "replicas-3",
            "3 planning, 3 orchestrator, 3 sentinel replicas; one planning and one orchestrator SIGKILLed",
            kill_one_replica_each,
            topology=Topology(planning=3, orchestrator=3, sentinel=3),
            planning_store="postgresql",
        ),
        Scenario("duplicates", "planning events re-published under new msg-ids, 5/s", duplicate_every=0.2),
        Scenario("agents", "none (agent workers, councils, stand-in LLM)", **AGENTS),
        Scenario(
            "agents-sigkill",
            "SIGKILL of agent workers (2) mid-deliberation, repeatedly",
            kill_agent_workers_repeatedly,
            **AGENTS,
        ),
        Scenario(
            "agents-orchestrator-sigkill",
            "SIGKILL of the orchestrator while councils deliberate, repeatedly",
            kill_orchestrator_repeatedly,
            **AGENTS,
        ),
        Scenario(
            "agents-llm-restart", "LLM server SIGKILLed and restarted, twice", restart_llm_server, **AGENTS
        ),
        Scenario(
            "agents-duplicates",
            "agent commands and answers re-published under new msg-ids, 2.5/s",
            duplicate_agent_traffic,
            **AGENTS,
        ),
        Scenario("poison", "poison messages of 7 kinds, 2/s", poison_every=0.5),
        # A JetStream cluster of three nodes, every stream and KV bucket at three replicas (ADR 0504).
        Scenario(
            "nats-cluster-follower",
            "NATS cluster (3 nodes, R3): a follower SIGKILLed and restarted under load, twice",
            _kill_nats_node_twice(_a_follower, "follower"),
            nats_nodes=3,
        ),
        Scenario(
            "nats-cluster-stream-leader",
            "NATS cluster (3 nodes, R3): the PLANNING_EVENTS leader SIGKILLed and restarted, twice",
            _kill_nats_node_twice(_stream_leader, "stream leader"),
            nats_nodes=3,
        ),
        Scenario(
            "nats-cluster-meta-leader",
            "NATS cluster (3 nodes, R3): the meta leader SIGKILLed and restarted, twice",
            _kill_nats_node_twice(_meta_leader, "meta leader"),
            nats_nodes=3,
        ),
    )
}

# The short version inside `make test`: small traffic, the faults most likely to regress.
SMOKE: dict[str, Scenario] = {
    "smoke-poison-duplicates": replace(
        SCENARIOS["baseline"],
        name="smoke-poison-duplicates",
        fault="poison 1/s and duplicates 2/s",
        poison_every=1.0,
        duplicate_every=0.5,
    ).scaled(10, 10),
    "smoke-context-sigkill": replace(SCENARIOS["context-sigkill"], name="smoke-context-sigkill").scaled(
        12, 10
    ),
    "smoke-nats-sigkill": replace(SCENARIOS["nats-sigkill"], name="smoke-nats-sigkill").scaled(10, 10),
    "smoke-agents-sigkill": replace(SCENARIOS["agents-sigkill"], name="smoke-agents-sigkill").scaled(12, 6),
    "smoke-nats-cluster-stream-leader": replace(
        SCENARIOS["nats-cluster-stream-leader"], name="smoke-nats-cluster-stream-leader"
    ).scaled(10, 10),
}


# ---------------------------------------------------------------------- running one


async def _inject(injector: Injector, scenario: Scenario, done: asyncio.Event) -> None:
    plans = [
        (every, action)
        for every, action in (
            (scenario.poison_every, injector.publish_poison),
            (scenario.duplicate_every, injector.duplicate_one),
        )
        if every
    ]
    if not plans:
        return
    next_at = [time.monotonic() + 1.0 for _ in plans]
    while not done.is_set():
        for index, (every, action) in enumerate(plans):
            if time.monotonic() >= next_at[index]:
                await action()
                next_at[index] += every
        await asyncio.sleep(0.05)


async def _heal(cluster: Cluster, stop: asyncio.Event) -> int:
    """Restart (without faults) any process that died by itself, until stopped."""
    healed = 0
    while not stop.is_set():
        for process in cluster.all_processes():
            if process.exited_by_itself():
                await asyncio.to_thread(process.restart)
                healed += 1
        await asyncio.sleep(0.3)
    return healed


POSTGRES_URL = os.environ.get("FLEET_CHAOS_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextlib.contextmanager
def planning_store(kind: str, notes: list[str]) -> Iterator[tuple[str | None, str | None]]:
    """(database url, schema) for planning: None for the SQLite file under the scenario's directory."""
    if kind != "postgresql":
        yield None, None
        return
    from swe_fleet.planning.adapters.database import Database

    schema = f"chaos_{uuid.uuid4().hex[:12]}"
    database = Database(POSTGRES_URL, schema=schema)
    try:
        database.ping()
    except Exception as error:
        database.dispose()
        notes.append(f"PostgreSQL unavailable ({type(error).__name__}): planning ran on SQLite")
        yield None, None
        return
    notes.append("planning replicas on PostgreSQL")
    try:
        yield POSTGRES_URL, schema
    finally:
        with contextlib.suppress(Exception):
            database.drop_schema()
        database.dispose()


async def _restore(cluster: Cluster, scenario: Scenario) -> None:
    """Whatever a disruptor left dead or armed with a kill comes back clean: the drain is measured on a
    healed fleet (replicas killed for good in a replica scenario stay dead)."""
    for process in cluster.all_processes():
        killed_for_good = scenario.topology.planning > 1 and process.kills and not process.restarts
        if (not process.alive and not killed_for_good) or ":kill" in process.faults:
            await asyncio.to_thread(process.restart)


def _closing_notes(
    injector: Injector, scenario: Scenario, behind: str, agent_findings: Findings | None
) -> list[str]:
    notes = []
    if injector.poison:
        kinds = Counter(item.kind for item in injector.poison)
        notes.append("poison: " + ", ".join(f"{kind}: {n}" for kind, n in sorted(kinds.items())))
    if injector.duplicates:
        notes.append(f"{len(injector.duplicates)} events re-published under a new msg-id")
    if behind:
        notes.append(f"not drained after {scenario.drain_deadline:.0f} s: {behind}")
    if agent_findings is not None:
        notes.append(agent_findings.agent_summary)
    return notes


async def _drain_and_check(
    js: JetStreamContext, check_now: Callable[[JetStreamContext], Awaitable[Findings]], deadline: float
) -> tuple[Findings, float | None, str]:
    """Until `deadline`: once every durable is drained, run the checker; (findings, when it passed or
    None, what was still behind)."""
    findings, settled_wrong_since, behind = Findings(), None, ""
    while time.monotonic() < deadline:
        try:
            drained, behind = await consumers_drained(js)
        except Exception as error:  # a NATS node or leader still coming back: look again
            drained, behind = False, f"consumers not readable yet ({error!r})"
        if drained and settled_wrong_since is not None and time.monotonic() - settled_wrong_since > 20:
            break  # drained, and still wrong 20 s later: it will not put itself right
        if drained:
            try:
                findings = await check_now(js)
            except httpx.HTTPError as error:  # the Context API restarting: look again
                log.info("checker: graph not readable yet (%r)", error)
            else:
                if findings.ok:
                    return findings, time.monotonic(), behind
                settled_wrong_since = settled_wrong_since or time.monotonic()
        await asyncio.sleep(0.5)
    return findings, None, behind


async def run_scenario(scenario: Scenario, workdir: Path, *, seed: int = 1) -> Result:
    notes: list[str] = []
    with planning_store(scenario.planning_store, notes) as (db_url, db_schema):
        result = await _run_scenario(scenario, workdir, seed, db_url, db_schema)
    result.notes[:0] = notes
    return result


async def _run_scenario(
    scenario: Scenario, workdir: Path, seed: int, db_url: str | None, db_schema: str | None
) -> Result:
    cluster = Cluster(
        workdir,
        scenario.topology,
        planning_db_url=db_url,
        planning_db_schema=db_schema,
        faults=dict(scenario.faults),
        nats_nodes=scenario.nats_nodes,
    )
    await asyncio.to_thread(cluster.start)
    run_id = scenario.name.replace("_", "-")
    nc = await connect(cluster.nats_url, "chaos-checker", wait_seconds=10)
    headers = bearer(workdir / "data")  # the cluster's processes share this data dir's issuer
    driver = TrafficDriver(
        cluster.planning_urls,
        run_id=run_id,
        rate=scenario.rate,
        actors=scenario.actors,
        seed=seed,
        headers=headers,
    )
    injector = Injector(nc.jetstream(), run_id, seed=seed)
    graph = GraphReader(cluster.context_url, headers)
    traffic_done = asyncio.Event()
    run = Run(
        cluster,
        random.Random(seed),
        traffic_done,
        lambda: list(driver.record.story_ids),
        scenario.traffic_seconds,
    )
    try:
        disruptor = asyncio.create_task(scenario.disruptor(run)) if scenario.disruptor else None
        injecting = asyncio.create_task(_inject(injector, scenario, traffic_done))
        try:
            record = await driver.run(scenario.traffic_seconds)
        finally:
            traffic_done.set()
            await injecting
            if disruptor is not None:
                await disruptor
        traffic_end = time.monotonic()
        await _restore(cluster, scenario)
        stop_healing = asyncio.Event()
        healing = asyncio.create_task(_heal(cluster, stop_healing))
        agents = scenario.topology.agent_worker > 0
        scan = StreamScan(STREAMS + AGENT_STREAMS if agents else STREAMS)

        async def check_now(js: JetStreamContext) -> Findings:
            # Planning's records are read again at each check: planning moves stories by itself after
            # the traffic too (a dispatched task puts its story IN_PROGRESS).
            truth = await read_truth(driver)
            return await check(
                js=js,
                graph=graph,
                truth=truth,
                record=record,
                poison=injector.poison,
                duplicates=injector.duplicates,
                scan=scan,
                agents=agents,
            )

        findings, drained_at, behind = await _drain_and_check(
            nc.jetstream(), check_now, traffic_end + scenario.drain_deadline
        )
        stop_healing.set()
        await healing
        run.notes += _closing_notes(injector, scenario, behind, findings if agents else None)
        return Result(
            scenario,
            findings,
            record.changes,
            sum(record.unknown.values()),
            None if drained_at is None else drained_at - traffic_end,
            run.faults_injected,
            run.notes,
            workdir,
        )
    finally:
        await graph.close()
        await driver.close()
        with contextlib.suppress(Exception):
            await nc.close()
        await asyncio.to_thread(cluster.stop)
