"""A cgroup per sandboxed command: a hard cap on its processes and on its memory, all processes together.

RLIMIT_NPROC is not enforced for root and RLIMIT_AS is per process (64 processes of 2 GB each would be
128 GB), so where the host lets us write cgroups each command gets its own: `pids.max` and a memory
limit (with swap included where the kernel accounts it). cgroup v1 (one hierarchy per controller, as
on this project's machines) and v2 (one unified group) are both handled; without either, the rlimits
are all there is, and `describe()` says so.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from swe_fleet.workspace.domain.policy import Limits

ROOT = Path("/sys/fs/cgroup")
_MB = 1024 * 1024


@dataclass
class CommandGroups:
    """The cgroups one command runs in."""

    paths: list[Path] = field(default_factory=list)
    memory: Path | None = None
    v2: bool = False

    def join_prefix(self) -> list[str]:
        """argv that moves the shell into every group, then execs the command (so nothing escapes)."""
        if not self.paths:
            return []
        joins = " && ".join(f"echo $$ > {shlex.quote(str(path / 'cgroup.procs'))}" for path in self.paths)
        return ["/bin/sh", "-c", f'{joins} && exec "$@"', "sh"]

    def oom_kills(self) -> int:
        """Processes the kernel killed for reaching the memory limit."""
        if self.memory is None:
            return 0
        name = "memory.events" if self.v2 else "memory.oom_control"
        try:
            for line in (self.memory / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            return 0
        return 0


class Cgroups:
    def __init__(self, root: Path = ROOT) -> None:
        self.root = root
        self.v1_pids = self._v1(root / "pids")
        self.v1_memory = self._v1(root / "memory")
        self.v2 = self._v2(root) if not (self.v1_pids or self.v1_memory) else None

    @staticmethod
    def _v1(base: Path) -> Path | None:
        return base if (base / "cgroup.procs").exists() and os.access(base, os.W_OK) else None

    @staticmethod
    def _v2(root: Path) -> Path | None:
        controllers = root / "cgroup.controllers"
        if not controllers.exists() or not os.access(root, os.W_OK):
            return None
        wanted = {"pids", "memory"} & set(controllers.read_text().split())
        if not wanted:
            return None
        with contextlib.suppress(OSError):
            subtree = root / "cgroup.subtree_control"
            missing = wanted - set(subtree.read_text().split())
            if missing:
                subtree.write_text(" ".join(f"+{name}" for name in sorted(missing)))
            return root
        return None

    def describe(self) -> str:
        if self.v1_pids or self.v1_memory:
            kinds = [name for name, base in (("pids", self.v1_pids), ("memory", self.v1_memory)) if base]
            return f"{' and '.join(kinds)} cgroups (v1) under {self.root}"
        if self.v2:
            return f"pids and memory cgroup (v2) under {self.v2}"
        return "RLIMIT_NPROC only (no writable pids cgroup; not enforced for root)"

    @property
    def caps_processes(self) -> bool:
        return bool(self.v1_pids or self.v2)

    def create(self, limits: Limits) -> CommandGroups:
        name = f"swe-fleet-{uuid.uuid4().hex[:12]}"
        groups = CommandGroups(v2=self.v2 is not None)
        memory = str(limits.memory_mb * _MB)
        try:
            if self.v2 is not None:
                group = self._make(self.v2 / name, groups)
                self._write(group / "pids.max", str(limits.max_processes))
                self._write(group / "memory.max", memory)
                self._write(group / "memory.swap.max", "0")
                groups.memory = group
                return groups
            if self.v1_pids is not None:
                group = self._make(self.v1_pids / name, groups)
                (group / "pids.max").write_text(str(limits.max_processes))
            if self.v1_memory is not None:
                group = self._make(self.v1_memory / name, groups)
                (group / "memory.limit_in_bytes").write_text(memory)
                self._write(group / "memory.memsw.limit_in_bytes", memory)  # swap counted where accounted
                groups.memory = group
        except OSError:
            self.remove(groups)
            return CommandGroups()
        return groups

    @staticmethod
    def _make(path: Path, groups: CommandGroups) -> Path:
        path.mkdir()
        groups.paths.append(path)
        return path

    @staticmethod
    def _write(path: Path, value: str) -> None:
        # Optional knobs (swap accounting may be off): absent files are skipped.
        with contextlib.suppress(FileNotFoundError, PermissionError):
            path.write_text(value)

    def remove(self, groups: CommandGroups) -> None:
        for path in groups.paths:
            _rmdir(path)


def _rmdir(group: Path) -> None:
    # The namespace's processes are gone once bubblewrap has exited, but the kernel may take a
    # millisecond or so to let go of the group: retry with a short, growing pause (about 2 s at most).
    pause = 0.0005
    for _ in range(40):
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
