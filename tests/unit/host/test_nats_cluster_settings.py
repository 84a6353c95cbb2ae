"""How the NATS settings resolve for one server, an embedded cluster and external servers (ADR 0504)."""

from __future__ import annotations

from pathlib import Path

import pytest

from swe_fleet.embedded.child import EmbeddedServerError
from swe_fleet.embedded.nats_server import EmbeddedNatsCluster, NodePorts
from swe_fleet.settings import FleetSettings


def test_one_embedded_server_is_one_url_and_one_replica() -> None:
    s = FleetSettings(nats_url=None, nats_replicas=None, nats_port=4000)
    assert s.resolved_nats_url == "nats://127.0.0.1:4000"
    assert s.resolved_nats_replicas == 1


def test_an_embedded_cluster_lists_every_node_and_asks_three_replicas() -> None:
    s = FleetSettings(nats_url=None, nats_replicas=None, nats_port=4000, nats_cluster=3)
    assert s.resolved_nats_url == "nats://127.0.0.1:4000,nats://127.0.0.1:4001,nats://127.0.0.1:4002"
    assert s.resolved_nats_replicas == 3
    assert FleetSettings(nats_url=None, nats_replicas=None, nats_cluster=5).resolved_nats_replicas == 3


def test_external_servers_keep_their_streams_replicas_unless_told() -> None:
    assert FleetSettings(nats_url="nats://a:4222,nats://b:4222").resolved_nats_replicas is None
    assert FleetSettings(nats_url="nats://a:4222", nats_replicas=3).resolved_nats_replicas == 3


def test_a_cluster_node_config_names_the_node_and_routes_to_every_node(tmp_path: Path) -> None:
    ports = [NodePorts(5000 + i, 6000 + i, 7000 + i) for i in range(3)]
    cluster = EmbeddedNatsCluster(tmp_path, ports, name="c")
    config_lines = cluster.nodes[1].cluster.config_lines("127.0.0.1")  # type: ignore[union-attr]
    assert config_lines[0] == 'server_name: "c-1"'
    assert 'listen: "127.0.0.1:6001"' in config_lines[1]
    assert all(f"nats-route://127.0.0.1:{6000 + i}" in config_lines[1] for i in range(3))
    assert cluster.url == "nats://127.0.0.1:5000,nats://127.0.0.1:5001,nats://127.0.0.1:5002"


def test_fewer_than_three_nodes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedServerError, match="at least 3 nodes"):
        EmbeddedNatsCluster(tmp_path, [NodePorts(1, 2, 3), NodePorts(4, 5, 6)])
