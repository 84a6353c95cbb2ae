"""The embedded cache: a local valkey-server (or redis-server, which speaks the same protocol).

No PyPI package ships a Valkey server, so the product uses the binary the machine has; with none,
the Context service runs uncached and says so in /readyz.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from swe_fleet.embedded.child import ChildServer, EmbeddedServerError


def find_cache_server() -> str | None:
    return shutil.which("valkey-server") or shutil.which("redis-server")


class EmbeddedValkey(ChildServer):
    name = "valkey-server"
    port_flag_hint = "--valkey-port or FLEET_VALKEY_PORT (or point FLEET_VALKEY_URL at a running Valkey)"

    def __init__(
        self, data_dir: Path, *, host: str = "127.0.0.1", port: int = 16379, max_memory: str = "256mb"
    ) -> None:
        super().__init__(data_dir, host, port)
        self.max_memory = max_memory

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def command(self) -> Sequence[str]:
        binary = find_cache_server()
        if binary is None:
            raise EmbeddedServerError("no valkey-server or redis-server binary on PATH")
        # A cache: nothing on disk, least-recently-used entries evicted when full.
        return [
            binary,
            "--bind",
            self.host,
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory",
            self.max_memory,
            "--maxmemory-policy",
            "allkeys-lru",
            "--dir",
            str(self.data_dir),
        ]

    def is_ready(self) -> bool:
        # Its own log must say so, as for nats-server: the port may have been taken by another server.
        return "Ready to accept connections" in self.log_since_start() and super().is_ready()

    def start(self, timeout: float = 30.0) -> EmbeddedValkey:
        super().start(timeout)
        return self
