"""Waiting for something the fleet does on its own schedule (consumers fetch when they fetch)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str = "condition", *, within: float = 60.0, every: float = 0.1
) -> None:
    """Poll `check` until it holds: a liveness bound, not a speed assertion."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(every)
    raise AssertionError(f"{what} did not hold within {within:.0f}s")
