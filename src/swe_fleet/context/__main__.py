"""Run the Context service alone: `python -m swe_fleet.context [--http-port N]`.

Settings come from FLEET_* variables (FLEET_NATS_URL, FLEET_GRAPH_URL, FLEET_VALKEY_URL, ...).
Prints `ready` once the HTTP API listens (tests wait for it); SIGTERM or Ctrl-C drains and stops.
The embedded graph admits one writer process: run one of these per Ladybug file.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from swe_fleet.backbone.connection import connect
from swe_fleet.backbone.supervision import on_termination
from swe_fleet.context.bootstrap import build
from swe_fleet.host.runner import ServiceHost
from swe_fleet.settings import FleetSettings


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m swe_fleet.context")
    parser.add_argument("--http-host", default=None)
    parser.add_argument("--http-port", type=int, default=None)
    args = parser.parse_args()
    settings = FleetSettings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    nc = await connect(settings.resolved_nats_url, "context", wait_seconds=30)
    service = await build(settings, nc)
    host = ServiceHost(
        [service], http_host=args.http_host or settings.host, http_port=args.http_port or settings.http_port
    )
    stop, started = asyncio.Event(), asyncio.Event()
    on_termination(stop.set)
    serving = asyncio.create_task(host.serve(stop, started))
    waiting = asyncio.create_task(started.wait())
    await asyncio.wait([serving, waiting], return_when=asyncio.FIRST_COMPLETED)
    if started.is_set():
        print("ready", flush=True)
    try:
        await serving
    finally:
        waiting.cancel()
        await nc.drain()


if __name__ == "__main__":
    asyncio.run(main())
