"""What the workspace's use cases need from the outside: a sandbox that runs one command, confined."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from swe_fleet.workspace.domain.policy import Limits


class SandboxUnavailable(RuntimeError):
    """No isolation here (and running unconfined was not asked for): commands are refused."""


@dataclass(frozen=True)
class CommandResult:
    """One command's outcome. Output is decoded, capped while read (head and tail kept), not redacted."""

    exit_code: int | None
    stdout: str
    stderr: str
    # True when some output was dropped to stay within the limit.
    truncated: bool
    timed_out: bool
    # Why the command was stopped, when it was (wall timeout, CPU limit, file size limit, a signal).
    killed_reason: str | None
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    @property
    def output(self) -> str:
        """stdout, then stderr when there is any."""
        if not self.stderr:
            return self.stdout
        if not self.stdout:
            return self.stderr
        return f"{self.stdout.rstrip()}\n[stderr]\n{self.stderr}"


class Sandbox(Protocol):
    """Runs one command confined to a checkout. Blocking: async callers use asyncio.to_thread."""

    def available(self) -> str | None:
        """None when commands can run; otherwise one line saying why they cannot."""
        ...

    def run(
        self,
        argv: Sequence[str] | str,
        *,
        cwd: Path,
        limits: Limits,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
    ) -> CommandResult:
        """Runs `argv` (a string is split like a shell would, without a shell) with `cwd` the only
        writable place, under `limits`; raises SandboxUnavailable when `available()` is not None.
        `env` adds variables to the sandbox's minimal environment (never the caller's own)."""
        ...
