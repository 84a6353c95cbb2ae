"""Hidden tests in a child process: its own directory and session, limits, a deadline, a bare environment.

The fallback where the workspace sandbox is not available: no network isolation, but the program
runs outside the problem's repository, with none of the fleet's settings in its environment, limited
in CPU time, memory and file size, and its whole process group killed at the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path

from swe_fleet.evaluation.app.ports import TestRun

_OUTPUT_LIMIT = 16_000
_MEMORY_BYTES = 1 << 30
_FILE_BYTES = 16 << 20


def _limits(cpu_seconds: int) -> None:  # runs in the child between fork and exec
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    resource.setrlimit(resource.RLIMIT_AS, (_MEMORY_BYTES, _MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_FSIZE, (_FILE_BYTES, _FILE_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class SubprocessTests:
    isolation = "subprocess (own session and directory, rlimits, deadline; network not isolated)"

    def __init__(self, *, timeout_seconds: float = 15.0, python: str = sys.executable) -> None:
        self.timeout_seconds, self.python = timeout_seconds, python

    async def run(self, program: str) -> TestRun:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="fleet-hidden-test-") as scratch:
            script = Path(scratch) / "check_program.py"
            script.write_text(program, encoding="utf-8")
            cpu = int(self.timeout_seconds) + 1
            process = await asyncio.create_subprocess_exec(
                self.python,
                "-I",  # isolated: no user site, no PYTHON* variables, no script dir magic
                "-B",
                str(script),
                cwd=scratch,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": scratch},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=lambda: _limits(cpu),
            )
            timed_out = False
            try:
                output, _ = await asyncio.wait_for(process.communicate(), self.timeout_seconds)
            except TimeoutError:
                timed_out = True
                # Only while the leader is not reaped: once it is, its id (the group's) may belong to
                # another process group on a busy machine, and the kill would hit that one.
                if process.returncode is None:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(process.pid, signal.SIGKILL)
                output, _ = await process.communicate()
        text = output[-_OUTPUT_LIMIT:].decode("utf-8", "replace")
        if timed_out:
            text += f"\nkilled after {self.timeout_seconds:g} s"
        return TestRun(
            passed=not timed_out and process.returncode == 0,
            timed_out=timed_out,
            output=text,
            seconds=time.perf_counter() - started,
        )
