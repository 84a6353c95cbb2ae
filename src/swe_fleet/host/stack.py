"""The embedded stack: every server that was not given as a URL, started under the data directory.

`fleet up` and `fleet demo` use it; in production every URL is given and nothing is started here.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Callable
from typing import IO

from swe_fleet.embedded.child import ChildServer, EmbeddedServerError
from swe_fleet.host.service import Endpoints
from swe_fleet.settings import FleetSettings

log = logging.getLogger(__name__)

# (part, state, detail): state is "starting", "ok", "external", "skipped" or "failed".
Report = Callable[[str, str, str], None]


class DataDirInUse(EmbeddedServerError):
    pass


class EmbeddedStack:
    def __init__(
        self,
        settings: FleetSettings,
        *,
        report: Report | None = None,
        with_llm: bool = True,
        nats_config: str = "",
    ) -> None:
        self.settings = settings
        self.nats_config = nats_config  # e.g. the authorization block: identities and permissions
        self.report: Report = report or (
            lambda part, state, detail: log.info("%s %s %s", part, state, detail)
        )
        self.with_llm = with_llm
        self.servers: list[ChildServer] = []
        self._lock: IO[str] | None = None

    def _lock_data_dir(self) -> None:
        data_dir = self.settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        lock = (data_dir / "fleet.lock").open("a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            lock.close()
            raise DataDirInUse(
                f"the data directory {data_dir} is in use by {holder}; stop it or choose another --data-dir"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"fleet up (pid {os.getpid()})\n")
        lock.flush()
        self._lock = lock

    def _start(self, part: str, server: ChildServer, detail: str, timeout: float = 60.0) -> None:
        self.report(part, "starting", detail)
        server.die_with_parent = True  # start() runs on the owner's main thread
        server.start(timeout=timeout)
        self.servers.append(server)

    def _start_nats(self) -> str:
        from swe_fleet.embedded.nats_server import EmbeddedNats, EmbeddedNatsCluster, NodePorts

        s = self.settings
        if s.nats_cluster == 1:
            nats = EmbeddedNats(
                s.data_dir / "nats", host=s.host, port=s.nats_port, extra_config=self.nats_config
            )
            self._start("nats", nats, f"nats-server on {s.host}:{s.nats_port}")
            what = f"nats-server (JetStream in {nats.data_dir / 'jetstream'})"
            self.report("nats", "ok", f"{nats.url}  {what}")
            return what
        ports = [
            NodePorts(s.nats_port + i, s.nats_cluster_port + i, s.nats_monitor_port + i)
            for i in range(s.nats_cluster)
        ]
        cluster = EmbeddedNatsCluster(
            s.data_dir / "nats-cluster", ports, host=s.host, extra_config=self.nats_config
        )
        self.report("nats", "starting", f"{s.nats_cluster} nats-servers on {s.host}:{s.nats_port}..")
        for node in cluster.nodes:
            node.die_with_parent = True  # started from the owner's main thread
        cluster.start(timeout=120)  # elections on a loaded machine can take tens of seconds
        self.servers.extend(cluster.nodes)
        what = (
            f"JetStream cluster of {s.nats_cluster} nodes, streams at {s.resolved_nats_replicas} replicas "
            f"(stores under {cluster.data_dir})"
        )
        self.report("nats", "ok", f"{cluster.url}  {what}")
        return what

    def start(self) -> Endpoints:
        from swe_fleet.embedded.valkey_server import EmbeddedValkey, find_cache_server

        s = self.settings
        self._lock_data_dir()
        embedded: dict[str, str] = {}
        try:
            if s.nats_url:
                self.report("nats", "external", s.nats_url)
            else:
                embedded["nats"] = self._start_nats()
            valkey_url = s.valkey_url
            if valkey_url:
                self.report("cache", "external", valkey_url)
            elif find_cache_server() is None:
                self.report("cache", "skipped", "no valkey-server/redis-server binary: context runs uncached")
            else:
                cache = EmbeddedValkey(s.data_dir / "valkey", host=s.host, port=s.valkey_port)
                self._start("cache", cache, f"valkey-compatible cache on {s.host}:{s.valkey_port}")
                valkey_url = cache.url
                embedded["cache"] = "local valkey-server/redis-server, in memory"
                self.report("cache", "ok", f"{valkey_url}  {embedded['cache']}")
            llm_url = s.llm_url
            if llm_url:
                self.report("llm", "external", llm_url)
            elif not self.with_llm:
                self.report("llm", "skipped", "--no-llm: agent workers and the orchestrator are not started")
            else:
                from swe_fleet.embedded.llm_server import EmbeddedLlamaServer

                llm = EmbeddedLlamaServer(
                    s.data_dir / "llm",
                    host=s.host,
                    port=s.llm_port,
                    parallel=s.llm_parallel_slots,
                    context_per_slot=s.llm_context_per_slot,
                    threads=s.llm_threads,
                    alias=s.llm_model,
                )
                self._start(
                    "llm", llm, f"llama-server on {s.host}:{s.llm_port} (loading {s.llm_model})", timeout=180
                )
                llm_url = llm.url
                embedded["llm"] = f"llama-server, {s.llm_model}, {s.llm_parallel_slots} parallel slots"
                self.report("llm", "ok", f"{llm_url}  {embedded['llm']}")
        except Exception:
            self.stop()
            raise
        return Endpoints(
            nats_url=s.resolved_nats_url,
            graph_url=s.resolved_graph_url,
            valkey_url=valkey_url,
            llm_url=llm_url,
            api_url=s.resolved_api_url,
            embedded=embedded,
        )

    def stop(self) -> None:
        for server in reversed(self.servers):
            with contextlib.suppress(Exception):
                server.stop()
        self.servers.clear()
        if self._lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
                self._lock.close()
            self._lock = None
