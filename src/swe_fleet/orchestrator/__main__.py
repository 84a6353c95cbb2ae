"""`python -m swe_fleet.orchestrator`: the Orchestrator alone in a process (settings from FLEET_* variables).

Prints `ready` once its consumers and timer are running; SIGTERM/SIGINT drain it cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from swe_fleet.backbone.connection import connect
from swe_fleet.backbone.supervision import on_termination
from swe_fleet.host.runner import ServiceHost
from swe_fleet.orchestrator.bootstrap import build
from swe_fleet.orchestrator.domain.council import CouncilConfigError
from swe_fleet.settings import FleetSettings


async def main() -> int:
    settings = FleetSettings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        nc = await connect(settings.resolved_nats_url, "orchestrator", wait_seconds=30)
        service = await build(settings, nc)
    except CouncilConfigError as error:
        print(f"orchestrator: {error}", file=sys.stderr)
        return 2
    stop, started = asyncio.Event(), asyncio.Event()
    on_termination(stop.set)
    host = ServiceHost([service], http_host=None, http_port=None)
    serving = asyncio.create_task(host.serve(stop, started))
    await started.wait()
    print("ready", flush=True)
    await serving
    await nc.drain()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
