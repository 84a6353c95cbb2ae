"""A fleet of real processes, one per service (`fleet serve NAME`), that tests break and repair.

Production's shape: nats-server, a cache server, the stand-in LLM server (fleet_testing), and
planning, context, sentinel, orchestrator and agent-worker processes, each with its own HTTP port
(/readyz). `kill(name)` SIGKILLs one; `start(name)` starts it again and waits until it is ready.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from swe_fleet.cli.nats_auth import embedded_authorization
from swe_fleet.embedded.child import free_port
from swe_fleet.embedded.nats_server import EmbeddedNats
from swe_fleet.embedded.valkey_server import EmbeddedValkey
from swe_fleet.security.api_auth import ensure_local_tokens
from swe_fleet.security.nats_auth import ADMIN, client_options
from swe_fleet.settings import FleetSettings

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("planning", "context", "sentinel", "orchestrator", "agent-worker", "workspace", "review")
LLM = "llm"


@dataclass
class ProcessFleet:
    workdir: Path
    nats: EmbeddedNats
    cache: EmbeddedValkey
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, workdir: Path, **extra_env: str) -> ProcessFleet:
        # Production-shaped: NATS with authorisation on (each `fleet serve NAME` finds its own
        # credentials under the data dir), and the PO's and services' API tokens made as `fleet up` does.
        settings = FleetSettings(data_dir=workdir)
        ensure_local_tokens(settings)
        authorization = embedded_authorization(settings)
        nats = EmbeddedNats(workdir / "nats", port=free_port(), extra_config=authorization).start()
        asyncio.run(_provision(nats.url, client_options(settings, ADMIN)))  # as an operator does, first
        cache = EmbeddedValkey(workdir / "cache", port=free_port()).start()
        fleet = cls(workdir, nats, cache, extra_env=extra_env)
        fleet.ports = {name: free_port() for name in (*SERVICES, LLM)}
        return fleet

    @property
    def admin(self) -> dict[str, object]:
        """nats.connect() options of the admin identity, for tests that read the streams themselves."""
        return client_options(FleetSettings(data_dir=self.workdir), ADMIN)

    @property
    def headers(self) -> dict[str, str]:
        """The PO's bearer token, for tests that call the HTTP APIs themselves."""
        return {"Authorization": f"Bearer {(self.workdir / 'auth' / 'po.token').read_text().strip()}"}

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def env(self) -> dict[str, str]:
        """What every process and the CLI are given: where each part of the fleet is."""
        return {
            "FLEET_NATS_URL": self.nats.url,
            "FLEET_DATA_DIR": str(self.workdir),
            "FLEET_GRAPH_URL": f"ladybug://{self.workdir / 'graph' / 'fleet.lbug'}",
            "FLEET_VALKEY_URL": self.cache.url,
            "FLEET_LLM_URL": self.url(LLM),
            "FLEET_PLANNING_URL": self.url("planning"),
            "FLEET_CONTEXT_URL": self.url("context"),
            "FLEET_AGENT_CONTEXT_ATTEMPTS": "1",
            "FLEET_AGENT_PULLERS": "2",
            **self.extra_env,
        }

    def start(self, name: str, timeout: float = 90.0) -> None:
        log = (self.workdir / f"{name}.log").open("a")
        if name == LLM:
            args = ["-m", "fleet_testing.stand_in.llm_server", str(self.ports[LLM])]
        else:
            args = ["-m", "swe_fleet.cli", "serve", name, "--http-port", str(self.ports[name])]
        self.processes[name] = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.wait_answering(name, timeout)

    def wait_answering(self, name: str, timeout: float) -> None:
        path = "/health" if name == LLM else "/readyz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited; see {self.workdir / (name + '.log')}")
            try:
                if httpx.get(f"{self.url(name)}{path}", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"{name} did not answer within {timeout}s")

    def start_all(self) -> None:
        for name in (LLM, *SERVICES):
            self.start(name)

    def kill(self, name: str) -> None:
        process = self.processes[name]
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(15)

    def stop_all(self) -> None:
        for name, process in reversed(list(self.processes.items())):
            if process.poll() is None:
                process.send_signal(signal.SIGINT if name == LLM else signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
        self.cache.stop()
        self.nats.stop()


async def _provision(url: str, admin: dict[str, object]) -> None:
    """`fleet streams ensure` as the admin: service identities may not create streams."""
    from swe_fleet.backbone.connection import connect
    from swe_fleet.backbone.provisioning import ensure_streams

    nc = await connect(url, "provisioning", wait_seconds=10, options=admin)
    try:
        await ensure_streams(nc.jetstream())
    finally:
        await nc.close()
