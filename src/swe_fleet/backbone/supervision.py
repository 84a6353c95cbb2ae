"""Running several consumer runtimes in one process and stopping them cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterable

from swe_fleet.backbone.consumer import ConsumerRuntime

log = logging.getLogger(__name__)


def on_termination(callback: Callable[[], None]) -> None:
    """Call `callback` on SIGTERM or SIGINT (graceful drain instead of dying mid-batch)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, callback)


async def run_until_stopped(runtimes: Iterable[ConsumerRuntime], stop: asyncio.Event) -> None:
    """Run every runtime; when `stop` is set, let each finish its batch, ack it, and return."""
    runtimes = list(runtimes)
    tasks = [asyncio.create_task(runtime.run(), name=runtime.spec.durable) for runtime in runtimes]
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for runtime in runtimes:
            runtime.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        stopper.cancel()
