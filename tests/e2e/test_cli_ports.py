"""A taken HTTP port stops `fleet up`, `fleet demo` and `fleet serve` at once, with one clear line."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def fleet(*args: str, data_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swe_fleet.cli", *args],
        env={**os.environ, "FLEET_DATA_DIR": str(data_dir), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("command", [["up", "--no-llm"], ["demo"]])
def test_up_and_demo_refuse_a_taken_http_port_before_starting_anything(command, taken_port, tmp_path):
    result = fleet(*command, "--http-port", str(taken_port), data_dir=tmp_path)
    assert result.returncode == 3
    message = f"HTTP port {taken_port} on 127.0.0.1 is already in use; choose another with --http-port"
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "nats").exists()  # refused before the embedded servers were started


def test_serve_refuses_a_taken_http_port_in_one_line_before_touching_nats(nats_server, taken_port, tmp_path):
    result = fleet(
        "serve",
        "sentinel",
        data_dir=tmp_path,
        env={"FLEET_NATS_URL": nats_server.url, "FLEET_HTTP_PORT": str(taken_port)},
    )
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip() == (
        f"fleet: could not start sentinel: HTTP port {taken_port} on 127.0.0.1 is already in use; "
        "choose another with --http-port or FLEET_HTTP_PORT"
    )
    assert (
        asyncio.run(stream_names(nats_server.url)) == []
    )  # no stream provisioned by a process that cannot serve


async def stream_names(url: str) -> list[str]:
    nc = await nats.connect(url)
    try:
        return [info.config.name for info in await nc.jetstream().streams_info()]
    finally:
        await nc.close()
