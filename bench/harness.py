"""What every benchmark module gets: a scratch directory, a fresh nats-server, the machine's description."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swe_fleet.embedded.child import free_port
from swe_fleet.embedded.nats_server import EmbeddedNats


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gib = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    nats_version = subprocess.run(
        [str(Path(os.sys.executable).parent / "nats-server"), "--version"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "nats_server": nats_version,
        # The machines are shared: how busy this one was when the run started.
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


@dataclass
class BenchContext:
    scratch: Path
    quick: bool = False
    servers: list[EmbeddedNats] = field(default_factory=list)

    def nats(self, name: str) -> EmbeddedNats:
        """A fresh nats-server with its own store: no benchmark sees another's streams."""
        server = EmbeddedNats(self.scratch / name / "nats", port=free_port()).start()
        self.servers.append(server)
        return server

    def close(self) -> None:
        for server in self.servers:
            server.stop()


async def rate(n: int, body: Callable[[], Awaitable[None]]) -> float:
    """Items per second for `body`, which processes `n` items."""
    started = time.perf_counter()
    await body()
    return n / (time.perf_counter() - started)


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
