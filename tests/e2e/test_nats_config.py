"""`fleet nats-config` as an operator runs it: a config a real nats-server starts with, and working creds."""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from swe_fleet.backbone.connection import NatsUnavailable, connect
from swe_fleet.composition import SERVICES
from swe_fleet.embedded.child import free_port
from swe_fleet.embedded.nats_server import find_nats_server
from swe_fleet.security.nats_auth import client_options
from swe_fleet.settings import FleetSettings


async def test_the_written_config_runs_a_server_that_admits_only_its_identities(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "nats"
    listen, store = f"127.0.0.1:{port}", str(tmp_path / "js")
    command = [
        sys.executable,
        "-m",
        "swe_fleet.cli",
        "nats-config",
        str(out),
        "--listen",
        listen,
        "--store-dir",
        store,
    ]
    run = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""  # nothing secret on stdout
    creds = {path.stem: path for path in (out / "creds").glob("*.json")}
    assert set(creds) == {"fleet-admin", *SERVICES}  # one identity per registered service
    for path in [out / "nats-server.conf", *creds.values()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(creds["planning"].read_text())["password"] not in run.stderr
    server = await asyncio.to_thread(
        subprocess.Popen, [find_nats_server(), "-c", str(out / "nats-server.conf")]
    )
    try:
        url = f"nats://127.0.0.1:{port}"
        planning = FleetSettings(data_dir=tmp_path, nats_url=url, nats_creds=creds["planning"])
        nc = await connect(url, "planning", wait_seconds=10, options=client_options(planning, "planning"))
        assert nc.is_connected
        await nc.close()
        # The server closes a refused client at once; a loaded machine may show that as a reset.
        with pytest.raises(NatsUnavailable, match=r"(?i)authorization|reset by peer"):
            await connect(url, "anonymous", wait_seconds=2)
    finally:
        server.terminate()
        server.wait(10)


def test_mutual_tls_needs_a_certificate_a_key_and_a_ca(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "swe_fleet.cli", "nats-config", str(tmp_path), "--mtls"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (
        run.returncode == 2 and run.stderr.strip() == "fleet: --mtls needs --tls-cert, --tls-key and --tls-ca"
    )
