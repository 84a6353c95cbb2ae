"""`fleet up` as a real process for end-to-end tests: its environment, start, readiness and stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from swe_fleet.embedded.child import free_port


def embedded_env(data_dir: Path) -> dict[str, str]:
    """Environment for an embedded fleet under `data_dir`, every server on a free port of its own."""
    return {
        "FLEET_DATA_DIR": str(data_dir),
        "FLEET_NATS_PORT": str(free_port()),
        "FLEET_VALKEY_PORT": str(free_port()),
        "FLEET_LLM_PORT": str(free_port()),
        "FLEET_HTTP_PORT": str(free_port()),
    }


def spawn_fleet_up(env: dict[str, str], log: IO[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "swe_fleet.cli", "up"],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def log_tail(log: Path | None, chars: int = 4000) -> str:
    """The end of a process's log, for a failure message (a CI report shows nothing else)."""
    if log is None or not log.exists():
        return ""
    return "\n--- end of " + str(log) + " ---\n" + log.read_text(errors="replace")[-chars:]


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 240, *, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"process exited with {process.returncode} before {url} was ready{log_tail(log)}"
            )
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready within {timeout}s{log_tail(log)}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
