"""Starting and killing real processes of the product from tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def spawn_module(
    module: str,
    *args: str,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    wait_ready: bool = True,
    timeout: float = 30.0,
) -> subprocess.Popen:
    """Start `python -m module args...`; wait for it to print 'ready' when asked.

    A service alone is `spawn_module("swe_fleet.cli", "serve", NAME, ...)`: `fleet serve` prints it.
    """
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE if wait_ready else out,
        stderr=out,
        text=True,
    )
    if wait_ready:
        deadline = time.monotonic() + timeout
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if line.strip() == "ready":
                return process
            if process.poll() is not None:
                raise RuntimeError(f"{module} exited with {process.returncode} before it was ready")
        process.kill()
        raise TimeoutError(f"{module} not ready within {timeout}s")
    return process


def kill(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    if process.poll() is None:
        process.send_signal(sig)
    process.wait(15)
