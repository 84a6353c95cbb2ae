"""An agent-worker process for crash tests: the real service, built by its bootstrap, hosted alone.

    python -m tests.integration.agents.worker_process NATS_URL LLM_URL CONTEXT_URL

Settings come from FLEET_* variables (e.g. FLEET_AGENT_ACK_WAIT_SECONDS, FLEET_FAULTS). Prints
"ready" once its consumers run.
"""

from __future__ import annotations

import asyncio
import sys

from swe_fleet import faults
from swe_fleet.agents.bootstrap import build
from swe_fleet.backbone.connection import connect
from swe_fleet.backbone.provisioning import ensure_streams
from swe_fleet.backbone.supervision import on_termination
from swe_fleet.host.runner import ServiceHost
from swe_fleet.host.service import Endpoints
from swe_fleet.settings import FleetSettings


async def main(nats_url: str, llm_url: str, context_url: str) -> None:
    nc = await connect(nats_url, "agent-worker-test", wait_seconds=30)
    await ensure_streams(nc.jetstream())
    settings = FleetSettings(llm_url=llm_url, context_url=context_url)
    faults.arm(settings.faults)
    service = await build(settings, nc, Endpoints.from_settings(settings))
    stop, started = asyncio.Event(), asyncio.Event()
    on_termination(stop.set)
    host = ServiceHost([service], http_host=None, http_port=None)
    serving = asyncio.create_task(host.serve(stop, started))
    await started.wait()
    await asyncio.sleep(0.5)  # the pullers' first fetch requests are out
    print("ready", flush=True)
    await serving
    await nc.drain()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
