"""A server run as a child process: port checks, start with a readiness wait, clean stop, crash."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started; the message says why in one line."""


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def port_answers(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM us when the thread that started us dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the parent's clean stop is all there is


class ChildServer:
    """Base for the embedded servers. Subclasses say how to launch and when the server is ready."""

    name = "server"
    port_flag_hint = "--port"

    def __init__(self, data_dir: Path, host: str, port: int) -> None:
        self.data_dir = Path(data_dir)
        self.host, self.port = host, port
        self.process: subprocess.Popen | None = None
        self._log_start = 0
        # Set by long-lived owners that start servers from their main thread (fleet up): a crash of
        # the owner then takes its servers with it instead of leaving orphans holding the ports.
        self.die_with_parent = False

    # ---- for subclasses
    def command(self) -> Sequence[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        return port_answers(self.host, self.port)

    # ----
    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.name}.log"

    def log_since_start(self) -> str:
        """What this run has logged so far (the log file is appended to across restarts)."""
        with contextlib.suppress(OSError), self.log_path.open("rb") as log_file:
            log_file.seek(self._log_start)
            return log_file.read().decode(errors="replace")
        return ""

    def start(self, timeout: float = 30.0) -> ChildServer:
        if self.running:
            return self
        if not port_is_free(self.host, self.port):
            raise EmbeddedServerError(
                f"{self.name}: port {self.port} on {self.host} is already in use; "
                f"choose another with {self.port_flag_hint}"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = list(self.command())
        with self.log_path.open("ab") as log_file:
            self._log_start = log_file.tell()
            self.process = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.data_dir,
                start_new_session=True,  # Ctrl-C reaches us, and we stop the child in order
                preexec_fn=_die_with_parent if self.die_with_parent else None,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            # Alive after answering: another server that took the port in the meantime answers too.
            if self.is_ready() and self.process.poll() is None:
                return self
            time.sleep(0.05)
        tail = self.log_tail()
        exited = self.process.poll() is not None
        self.stop()
        state = "exited" if exited else f"was not ready within {timeout:.0f}s"
        raise EmbeddedServerError(f"{self.name} on {self.host}:{self.port} {state}: {tail}")

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            lines = [line for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
            errors = [
                line for line in lines if any(mark in line for mark in ("[FTL]", "[ERR]", "error", "Error"))
            ]
            return (errors or lines or ["no output"])[-1].strip()
        return "no log"

    def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def kill(self) -> None:
        """SIGKILL: a crash, for fault injection."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> ChildServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
