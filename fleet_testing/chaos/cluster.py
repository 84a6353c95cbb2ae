"""A fleet of real processes on one machine, for fault injection: servers and services we can kill.

nats-server and the cache server are child processes (`swe_fleet.embedded`); every service is its own
`fleet serve NAME` process against their URLs, with its own HTTP port, log file and FLEET_FAULTS.
With `nats_nodes=3` NATS is a JetStream cluster of three nodes and every stream has three replicas.
The embedded graph is a Ladybug file owned by the one Context process.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from swe_fleet.embedded.child import free_port
from swe_fleet.embedded.nats_server import EmbeddedNats, EmbeddedNatsCluster, NodePorts
from swe_fleet.embedded.valkey_server import EmbeddedValkey, find_cache_server

# Agent scenarios: small councils, short leases (a SIGKILLed worker's command comes back in seconds).
AGENT_ENV = {
    "FLEET_COUNCIL_AGENTS": "2",
    "FLEET_COUNCIL_ROUNDS": "1",
    "FLEET_COUNCIL_JUDGES": "2",
    "FLEET_COUNCIL_DEADLINE_SECONDS": "180",
    "FLEET_AGENT_ACK_WAIT_SECONDS": "6",
    "FLEET_AGENT_PULLERS": "3",
    "FLEET_AGENT_CONTEXT_ATTEMPTS": "2",
}


class ClusterError(RuntimeError):
    pass


@dataclass
class ServiceProcess:
    """One `fleet serve NAME` process; restartable with the same port, log and environment."""

    name: str
    replica: int
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None
    # The program, when not `fleet serve NAME` (the stand-in LLM server); it answers /health, not /healthz.
    module_args: tuple[str, ...] = ()
    faults: str = ""  # FLEET_FAULTS of the running process
    restarts: int = 0
    kills: int = 0

    @property
    def label(self) -> str:
        return f"{self.name}-{self.replica}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, faults: str = "", wait: bool = True, timeout: float = 90.0) -> None:
        self.faults = faults
        env = {**os.environ, **self.env, "FLEET_FAULTS": faults, "FLEET_HTTP_PORT": str(self.port)}
        with self.log_path.open("ab") as log:
            log.write(f"\n=== start {self.label} faults={faults!r} at {time.time():.3f}\n".encode())
            log.flush()
            args = self.module_args or ("swe_fleet.cli", "serve", self.name, "--http-port", str(self.port))
            self.process = subprocess.Popen(
                [sys.executable, "-m", *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                if self.process is not None and ":kill" in self.faults and self.process.returncode == -9:
                    return  # its armed kill fired on the backlog before we saw it answer: as intended
                raise ClusterError(f"{self.label} exited before it answered; see {self.log_path}")
            health = "/health" if self.module_args else "/healthz"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}{health}", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.2)
        raise ClusterError(f"{self.label} did not answer on {self.url} within {timeout:.0f}s")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exited_by_itself(self) -> bool:
        """Died without being told to (e.g. a `kill` fault fired inside it)."""
        return self.process is not None and self.process.poll() is not None

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed, no drain."""
        if self.alive:
            assert self.process is not None
            os.kill(self.process.pid, signal.SIGKILL)
            self.kills += 1
        self.reap()

    def stop(self, timeout: float = 20.0) -> None:
        if self.alive:
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.reap()

    def reap(self) -> None:
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(15)
        self.process = None

    def restart(self, *, faults: str = "") -> None:
        """Start again (a live process is stopped first: the graph file admits one owner)."""
        self.stop()
        self.restarts += 1
        self.start(faults=faults)


@dataclass
class Topology:
    planning: int = 1
    orchestrator: int = 1
    sentinel: int = 1
    context: int = 1  # the embedded graph admits one writer process
    # Agent workers, answering through the stand-in LLM server (fleet_testing.stand_in.llm_server);
    # with none, derive commands stay unanswered and no council runs.
    agent_worker: int = 0


@dataclass
class Cluster:
    workdir: Path
    topology: Topology = field(default_factory=Topology)
    planning_db_url: str | None = None
    planning_db_schema: str | None = None
    faults: dict[str, str] = field(default_factory=dict)  # service name -> FLEET_FAULTS at first start
    nats: EmbeddedNats | None = None
    # With nats_nodes > 1: a JetStream cluster instead of `nats`, every stream at that many replicas.
    nats_nodes: int = 1
    nats_cluster: EmbeddedNatsCluster | None = None
    cache: EmbeddedValkey | None = None
    services: dict[str, list[ServiceProcess]] = field(default_factory=dict)
    llm_latency: float = 0.3  # seconds per stand-in completion: deliberations last long enough to hit

    @property
    def nats_url(self) -> str:
        if self.nats_cluster is not None:
            return self.nats_cluster.url  # every node, comma-separated: clients fail over
        assert self.nats is not None
        return self.nats.url

    @property
    def graph_url(self) -> str:
        return f"ladybug://{(self.workdir / 'graph' / 'fleet.lbug').resolve()}"

    @property
    def valkey_url(self) -> str | None:
        return self.cache.url if self.cache is not None else None

    def service(self, name: str, replica: int = 0) -> ServiceProcess:
        return self.services[name][replica]

    def planning_urls(self) -> list[str]:
        return [process.url for process in self.services.get("planning", [])]

    @property
    def context_url(self) -> str:
        return self.service("context").url

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        if self.nats_nodes > 1:
            ports = [NodePorts(free_port(), free_port(), free_port()) for _ in range(self.nats_nodes)]
            self.nats_cluster = EmbeddedNatsCluster(self.workdir / "nats", ports).start()
        else:
            self.nats = EmbeddedNats(self.workdir / "nats", port=free_port())
            self.nats.start()
        if find_cache_server() is not None:
            self.cache = EmbeddedValkey(self.workdir / "valkey", port=free_port())
            self.cache.start()
        try:
            # Context first: it provisions the streams and owns the graph; then the rest in parallel.
            for name, count in (
                ("context", self.topology.context),
                ("sentinel", self.topology.sentinel),
                ("orchestrator", self.topology.orchestrator),
                ("planning", self.topology.planning),
                ("agent-worker", self.topology.agent_worker),
            ):
                self.services[name] = [self._process(name, replica) for replica in range(count)]
            if self.topology.agent_worker:
                self.services["llm"] = [self.llm]
                self.llm.start()
            self.service("context").start(faults=self.faults.get("context", ""))
            started = ("context", "llm")
            rest = [p for name, group in self.services.items() if name not in started for p in group]
            for process in rest:
                process.start(faults=self.faults.get(process.name, ""), wait=False)
            for process in rest:
                process.wait_ready()
        except Exception:
            self.stop()
            raise

    def _process(self, name: str, replica: int) -> ServiceProcess:
        env = {
            "FLEET_NATS_URL": self.nats_url,
            "FLEET_GRAPH_URL": self.graph_url,
            "FLEET_DATA_DIR": str(self.workdir / "data"),
            "FLEET_PLANNING_DB_URL": self.planning_db_url or f"sqlite:///{self.workdir / 'planning.sqlite3'}",
            # Short relay timings: a restarted or surviving replica takes over a dead one's lease quickly.
            "FLEET_PLANNING_OUTBOX_POLL_SECONDS": "0.2",
            "FLEET_PLANNING_OUTBOX_LEASE_SECONDS": "2",
            "FLEET_LOG_LEVEL": "WARNING",
            # One identity drives all the traffic: no rate limit may shape what the scenario measures.
            "FLEET_API_RATE_PER_MINUTE": "1000000",
            "FLEET_API_RATE_BURST": "100000",
        }
        if self.nats_cluster is not None:
            env["FLEET_NATS_REPLICAS"] = str(min(3, self.nats_nodes))
        if self.planning_db_schema:
            env["FLEET_PLANNING_DB_SCHEMA"] = self.planning_db_schema
        if self.valkey_url:
            env["FLEET_VALKEY_URL"] = self.valkey_url
        if self.topology.agent_worker:
            env.update(AGENT_ENV, FLEET_LLM_URL=self.llm.url)
        env = {key: value for key, value in env.items() if value}
        return ServiceProcess(
            name, replica, free_port(), env, self.workdir / "logs" / f"{name}-{replica}.log"
        )

    @functools.cached_property
    def llm(self) -> ServiceProcess:
        port = free_port()
        return ServiceProcess(
            "llm",
            0,
            port,
            {"FLEET_STAND_IN_LLM_LATENCY": str(self.llm_latency)},
            self.workdir / "logs" / "llm-0.log",
            module_args=("fleet_testing.stand_in.llm_server", str(port)),
        )

    def all_processes(self) -> list[ServiceProcess]:
        return [process for group in self.services.values() for process in group]

    # ------------------------------------------------------------------ the servers

    def restart_nats(self, down_seconds: float = 2.0, *, crash: bool = False) -> None:
        """Stop nats-server (SIGTERM, or SIGKILL when `crash`), keep it down a while, start it again:
        same port, same store."""
        assert self.nats is not None
        if crash:
            self.nats.kill()
        else:
            self.nats.stop()
        time.sleep(down_seconds)
        self.nats.start()

    def stop_cache(self) -> None:
        if self.cache is not None:
            self.cache.stop()

    def start_cache(self) -> None:
        if self.cache is not None:
            self.cache.start()

    def stop(self) -> None:
        for process in reversed(self.all_processes()):
            with contextlib.suppress(Exception):
                process.stop()
        for server in (self.cache, self.nats, self.nats_cluster):
            if server is not None:
                with contextlib.suppress(Exception):
                    server.stop()

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
