"""The embedded servers the product starts for itself: real binaries, clear errors."""

from __future__ import annotations

import socket

import pytest
import valkey

from swe_fleet.backbone.connection import connect
from swe_fleet.embedded.child import EmbeddedServerError, free_port
from swe_fleet.embedded.nats_server import EmbeddedNats
from swe_fleet.embedded.valkey_server import EmbeddedValkey
from tests.support.required import require_cache_binary


async def test_embedded_nats_keeps_jetstream_under_the_data_dir_across_restarts(tmp_path) -> None:
    server = EmbeddedNats(tmp_path / "nats", port=free_port()).start()
    try:
        nc = await connect(server.url, "t", wait_seconds=5)
        js = nc.jetstream()
        await js.add_stream(name="KEEP", subjects=["keep.>"])
        await js.publish("keep.a", b"1")
        await nc.close()
        server.stop()
        assert (tmp_path / "nats" / "jetstream").is_dir()
        server.start()
        nc = await connect(server.url, "t", wait_seconds=5)
        assert (await nc.jetstream().stream_info("KEEP")).state.messages == 1
        await nc.close()
    finally:
        server.stop()


def test_a_taken_port_is_a_clear_error(tmp_path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(
            EmbeddedServerError, match=f"port {port} on 127.0.0.1 is already in use.*--nats-port"
        ):
            EmbeddedNats(tmp_path, port=port).start()


def test_embedded_cache_answers_and_stops(tmp_path) -> None:
    require_cache_binary()
    server = EmbeddedValkey(tmp_path, port=free_port()).start()
    try:
        client = valkey.Valkey.from_url(server.url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
    finally:
        server.stop()
    assert not server.running
