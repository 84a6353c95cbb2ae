"""Cgroup selection and bookkeeping on a directory tree shaped like /sys/fs/cgroup (v1 and v2).

The kernel side (that the caps hold) is tested on the real host in tests/integration/workspace."""

from __future__ import annotations

from pathlib import Path

from swe_fleet.workspace.adapters.cgroups import Cgroups, CommandGroups
from swe_fleet.workspace.domain.policy import load_policies

LIMITS = load_policies().for_role("DEV").limits


def _v1(root: Path) -> Path:
    for controller in ("pids", "memory"):
        (root / controller).mkdir(parents=True)
        (root / controller / "cgroup.procs").write_text("")
    return root


def _v2(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("cpu io memory pids\n")
    (root / "cgroup.subtree_control").write_text("cpu\n")
    return root


def test_v1_gets_a_pids_and_a_memory_group_per_command(tmp_path: Path):
    cgroups = Cgroups(_v1(tmp_path))
    assert cgroups.describe() == f"pids and memory cgroups (v1) under {tmp_path}"
    groups = cgroups.create(LIMITS)
    pids, memory = groups.paths
    assert (pids / "pids.max").read_text() == str(LIMITS.max_processes)
    assert (memory / "memory.limit_in_bytes").read_text() == str(LIMITS.memory_mb * 1024 * 1024)
    assert groups.join_prefix()[:2] == ["/bin/sh", "-c"]
    assert f"echo $$ > {pids}/cgroup.procs && echo $$ > {memory}/cgroup.procs" in groups.join_prefix()[2]
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    assert groups.oom_kills() == 3
    for control in [*pids.iterdir(), *memory.iterdir()]:  # cgroupfs removes a group with its files
        control.unlink()
    cgroups.remove(groups)
    assert not pids.exists() and not memory.exists()


def test_v2_enables_the_controllers_and_uses_one_group(tmp_path: Path):
    cgroups = Cgroups(_v2(tmp_path))
    assert cgroups.describe() == f"pids and memory cgroup (v2) under {tmp_path}"
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+memory +pids"
    groups = cgroups.create(LIMITS)
    (group,) = groups.paths
    assert (group / "pids.max").read_text() == str(LIMITS.max_processes)
    assert (group / "memory.max").read_text() == str(LIMITS.memory_mb * 1024 * 1024)
    (group / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n")
    assert groups.oom_kills() == 1


def test_without_cgroups_there_is_nothing_to_join_and_it_says_so(tmp_path: Path):
    cgroups = Cgroups(tmp_path / "absent")
    assert cgroups.describe().startswith("RLIMIT_NPROC only")
    groups = cgroups.create(LIMITS)
    assert groups.join_prefix() == [] and groups.oom_kills() == 0
    assert CommandGroups().join_prefix() == []
