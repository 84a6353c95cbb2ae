"""The real sandbox: each command in bubblewrap, with the checkout its only writable place.

`BubblewrapSandbox` gives a command: a new mount namespace with the system directories read-only
(/usr and a few files of /etc, the Python in use), the checkout read-write at its own path with its
`.git` read-only, a private /tmp (tmpfs) as HOME; no network (`--unshare-net`: only a loopback of its
own), its own PID, IPC and UTS namespaces (it sees and signals no host process); no capabilities and
no-new-privileges; `--die-with-parent` and `--new-session` (no terminal injection). Limits: rlimits via
`prlimit` (CPU seconds, address space, file size, open files, no core) and, where the host lets us
write cgroups, a cap on processes and on memory for the whole command (cgroups.py); a wall clock that kills
the whole process group; output read in chunks and capped (head and tail kept). The environment is
built from nothing: PATH, HOME, LANG, TMPDIR and a few Python switches; never FLEET_* or credentials.

`UnconfinedSandbox` (FLEET_SANDBOX=unsafe-none) applies the same rlimits, environment, timeout and
output cap without namespaces: for hosts without bubblewrap, by explicit choice only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from swe_fleet.errors import ConfigurationError
from swe_fleet.workspace.adapters import seccomp
from swe_fleet.workspace.adapters.cgroups import Cgroups
from swe_fleet.workspace.app.ports import CommandResult, SandboxUnavailable
from swe_fleet.workspace.domain.policy import Limits

SANDBOX_MODES = ("bubblewrap", "unsafe-none")
UNSAFE_MODE = "unsafe-none"

_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/gitconfig",
)
# Variables the caller may not add: the fleet's own settings and anything that looks like a secret.
_FORBIDDEN_ENV = re.compile(r"^FLEET_|TOKEN|SECRET|PASSW|CREDENTIAL|API_?KEY|ACCESS_?KEY|PRIVATE|AUTH", re.I)
_READ_CHUNK = 65536
# A command is killed when the checkout's file system has less free space than this.
MIN_FREE_DISK_MB = 1024
_TMPFS_BYTES = 256 * 1024 * 1024


def minimal_env(extra_path: Sequence[str] = (), env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a sandboxed command gets: built from nothing, never copied from this process."""
    path = ":".join([*extra_path, "/usr/local/bin", "/usr/bin", "/bin"])
    base = {
        "PATH": path,
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        # Bytecode caches would land in the checkout and then in its commits.
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
    }
    for name, value in (env or {}).items():
        if not _FORBIDDEN_ENV.search(name):
            base[name] = value
    return base


class _CappedStream:
    """Keeps the first and the last `limit // 2` bytes of a stream, counting what it drops."""

    def __init__(self, limit: int) -> None:
        self.half = max(limit // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self.tail += chunk
        if len(self.tail) > self.half:
            cut = len(self.tail) - self.half
            self.dropped += cut
            del self.tail[:cut]

    def text(self) -> str:
        if not self.dropped:
            return (self.head + self.tail).decode(errors="replace")
        return (
            self.head.decode(errors="replace")
            + f"\n[... {self.dropped} bytes of output left out ...]\n"
            + self.tail.decode(errors="replace")
        )


_SIGNAL_REASONS = {
    signal.SIGXCPU: "CPU time limit reached",
    signal.SIGXFSZ: "file size limit reached",
    signal.SIGKILL: "killed (SIGKILL)",
    signal.SIGSEGV: "crashed (SIGSEGV; memory limit?)",
}


def _killed_reason(exit_code: int | None, limits: Limits) -> str | None:
    if exit_code is None:
        return None
    # A signal shows as a negative code from Popen, or as 128+n from a shell or bubblewrap.
    number = -exit_code if exit_code < 0 else exit_code - 128 if 128 < exit_code < 160 else None
    if number is None:
        return None
    try:
        sig = signal.Signals(number)
    except ValueError:
        return None
    reason = _SIGNAL_REASONS.get(sig, f"stopped by {sig.name}")
    if sig is signal.SIGXCPU:
        reason += f" ({limits.cpu_seconds} s)"
    elif sig is signal.SIGXFSZ:
        reason += f" ({limits.max_file_mb} MB)"
    return reason


def _prlimit_argv(limits: Limits) -> list[str]:
    mb = 1024 * 1024
    return [
        "prlimit",
        # Soft below hard: SIGXCPU (said as "CPU time limit") comes before the kernel's SIGKILL.
        f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 1}",
        f"--as={limits.memory_mb * mb}",
        f"--fsize={limits.max_file_mb * mb}",
        f"--nproc={limits.max_processes}",
        "--nofile=1024",
        "--core=0",
        "--",
    ]


def _feed(pipe: IO[bytes], data: bytes) -> None:
    with contextlib.suppress(OSError):
        pipe.write(data)
    with contextlib.suppress(OSError):
        pipe.close()


def _run_capped(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    limits: Limits,
    stdin: str | None,
    pass_fds: tuple[int, ...] = (),
    min_free_bytes: int = 0,
) -> CommandResult:
    """Runs `argv` in its own process group; reads at most the output cap; kills the group at the deadline."""
    started = time.monotonic()
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        close_fds=True,
        pass_fds=pass_fds,
    )
    if stdin is not None and process.stdin is not None:
        # A thread writes, so a large patch cannot deadlock against output the command writes meanwhile.
        threading.Thread(target=_feed, args=(process.stdin, stdin.encode()), daemon=True).start()
    deadline = started + limits.wall_timeout_s
    disk = _DiskGuard(cwd, min_free_bytes)
    out, err = _CappedStream(limits.capture_bytes), _CappedStream(limits.capture_bytes)
    timed_out = _pump(process, (out, err), deadline, disk)
    # The pipes are closed; the process may still run (it closed them itself): same deadline, same guard.
    exit_code, waited_out = _reap(process, deadline, disk)
    timed_out = timed_out or waited_out
    if timed_out:
        reason: str | None = f"wall-clock timeout ({limits.wall_timeout_s:g} s): the process group was killed"
    elif disk.full:
        reason = (
            f"disk nearly full (under {min_free_bytes // (1024 * 1024)} MB free where the checkout is): "
            "the process group was killed"
        )
    else:
        reason = _killed_reason(exit_code, limits)
    return CommandResult(
        exit_code=None if timed_out else exit_code,
        stdout=out.text(),
        stderr=err.text(),
        truncated=bool(out.dropped or err.dropped),
        timed_out=timed_out,
        killed_reason=reason,
        duration_s=round(time.monotonic() - started, 4),
    )


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _pump(
    process: subprocess.Popen,
    streams: tuple[_CappedStream, _CappedStream],
    deadline: float,
    disk: _DiskGuard,
) -> bool:
    """Reads stdout and stderr into their capped streams until both close; True if the deadline passed
    first (the group is then killed, as it is when the disk fills)."""
    pipes = [pipe for pipe in (process.stdout, process.stderr) if pipe is not None]
    by_fd = dict(zip((pipe.fileno() for pipe in pipes), streams, strict=True))
    selector = selectors.DefaultSelector()
    for pipe in pipes:
        os.set_blocking(pipe.fileno(), False)
        selector.register(pipe.fileno(), selectors.EVENT_READ)
    timed_out, open_pipes = False, len(pipes)
    try:
        while open_pipes:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or disk.nearly_full():
                timed_out = remaining <= 0
                _kill_group(process)
                break
            for key, _ in selector.select(timeout=min(remaining, disk.poll_seconds)):
                try:
                    chunk = os.read(key.fd, _READ_CHUNK)
                except BlockingIOError:
                    continue
                if chunk:
                    by_fd[key.fd].feed(chunk)
                else:
                    selector.unregister(key.fd)
                    open_pipes -= 1
    finally:
        selector.close()
    return timed_out


def _reap(process: subprocess.Popen, deadline: float, disk: _DiskGuard) -> tuple[int, bool]:
    """Waits for the process under the same deadline and disk guard: (exit code, timed out).

    The leader is reaped last: until then its id, which is the group's, cannot be given to another
    process, so the final kill of the group cannot hit an unrelated one."""
    timed_out, pause = False, 0.001
    while not _exited(process.pid):
        if time.monotonic() >= deadline or disk.nearly_full():
            timed_out = not disk.full
            break
        time.sleep(pause)
        pause = min(pause * 2, disk.poll_seconds)
    # Whatever is left in the group (a child that closed its pipes) goes with it.
    _kill_group(process)
    exit_code = process.wait()
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()
    return exit_code, timed_out


def _exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it (WNOWAIT)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


class _DiskGuard:
    """Watches the free space of the checkout's file system while a command runs: a command that writes
    file after file (each under the file-size limit) must not fill the host's disk."""

    def __init__(self, path: Path, min_free_bytes: int) -> None:
        self.path = path
        self.min_free_bytes = min_free_bytes
        self.full = False
        self.poll_seconds = 0.25 if min_free_bytes > 0 else 1.0

    def nearly_full(self) -> bool:
        if self.min_free_bytes <= 0 or self.full:
            return self.full
        try:
            stats = os.statvfs(self.path)
        except OSError:
            return False
        self.full = stats.f_bavail * stats.f_frsize < self.min_free_bytes
        return self.full


def _seccomp_fd() -> int:
    """An in-memory file holding the filter, read by bubblewrap from the inherited descriptor."""
    fd = os.memfd_create("swe-fleet-seccomp")
    os.write(fd, seccomp.program())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _argv(command: Sequence[str] | str) -> list[str]:
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if not argv:
        raise ValueError("empty command")
    return argv


def _python_dirs() -> list[Path]:
    """The Python this process runs (its venv and its installation), so `python -m pytest` works inside."""
    dirs: list[Path] = []
    for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        path = Path(prefix).resolve()
        if path not in dirs and not any(path.is_relative_to(Path(system)) for system in ("/usr",)):
            dirs.append(path)
    return dirs


class BubblewrapSandbox:
    """Each command in a fresh bubblewrap sandbox (see the module's docstring for what it gives)."""

    def __init__(
        self,
        bwrap: str | None = None,
        python_dirs: Sequence[Path] | None = None,
        min_free_disk_mb: int = MIN_FREE_DISK_MB,
    ) -> None:
        self.bwrap = bwrap or shutil.which("bwrap")
        self.min_free_bytes = min_free_disk_mb * 1024 * 1024
        self.prlimit = shutil.which("prlimit")
        self.python_dirs = list(python_dirs) if python_dirs is not None else _python_dirs()
        self._cgroups = Cgroups()
        self._unavailable: str | None = None
        self._probed = False

    def process_limit(self) -> str:
        return self._cgroups.describe()

    def describe(self) -> str:
        """What confines a command here, for health checks and benchmarks."""
        return f"bubblewrap; {self._cgroups.describe()}; {seccomp.describe()}"

    def available(self) -> str | None:
        if not self._probed:
            self._unavailable = self._probe()
            self._probed = True
        return self._unavailable

    def _probe(self) -> str | None:
        if self.bwrap is None:
            return "bubblewrap (bwrap) is not installed: apt-get install bubblewrap"
        if self.prlimit is None:
            return "prlimit (util-linux) is not installed"
        seccomp_fd = _seccomp_fd() if seccomp.supported() else None
        filter_args = ["--seccomp", str(seccomp_fd)] if seccomp_fd is not None else []
        try:
            probe_argv = [self.bwrap, "--unshare-net", "--unshare-pid", "--cap-drop", "ALL", *filter_args]
            probe = subprocess.run(
                [*probe_argv, "--ro-bind", "/", "/", "true"],
                capture_output=True,
                timeout=30,
                env=minimal_env(),
                pass_fds=(seccomp_fd,) if seccomp_fd is not None else (),
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"bubblewrap does not start: {error}"
        finally:
            if seccomp_fd is not None:
                os.close(seccomp_fd)
        if probe.returncode != 0:
            detail = probe.stderr.decode(errors="replace").strip().splitlines()
            return f"bubblewrap cannot create namespaces here: {detail[-1] if detail else probe.returncode}"
        return None

    def bwrap_argv(self, cwd: Path, limits: Limits, seccomp_fd: int | None = None) -> list[str]:
        """The bubblewrap options for a command working in `cwd` (exposed for review and tests)."""
        if self.bwrap is None:
            raise SandboxUnavailable("bubblewrap (bwrap) is not installed")
        root = cwd.resolve()
        argv = [
            self.bwrap,
            "--die-with-parent",
            "--new-session",
            "--unshare-net",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--hostname",
            "sandbox",
            "--cap-drop",
            "ALL",
        ]
        for name in _SYSTEM_DIRS:
            path = Path(name)
            if path.is_symlink():
                argv += ["--symlink", os.readlink(path), name]
            elif path.is_dir():
                argv += ["--ro-bind", name, name]
        for name in _ETC_FILES:
            argv += ["--ro-bind-try", name, name]
        argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(_TMPFS_BYTES), "--tmpfs", "/tmp"]
        for path in self.python_dirs:
            argv += ["--ro-bind", str(path), str(path)]
        argv += ["--bind", str(root), str(root)]
        # git's internals stay read-only: a hook written there would run outside at the next commit.
        git = root / ".git"
        if git.exists() and not git.is_symlink():
            argv += ["--ro-bind", str(git), str(git)]
        if seccomp_fd is not None:
            argv += ["--seccomp", str(seccomp_fd)]
        argv += ["--chdir", str(root), "--"]
        return argv

    def run(
        self,
        argv: Sequence[str] | str,
        *,
        cwd: Path,
        limits: Limits,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
    ) -> CommandResult:
        reason = self.available()
        if reason is not None:
            raise SandboxUnavailable(reason)
        seccomp_fd = _seccomp_fd() if seccomp.supported() else None
        try:
            bwrap = self.bwrap_argv(cwd, limits, seccomp_fd)
            command = [str(self.prlimit), *_prlimit_argv(limits)[1:], *bwrap, *_argv(argv)]
            groups = self._cgroups.create(limits)
            # The shell joins the groups before bubblewrap starts, so no process escapes the caps.
            command = [*groups.join_prefix(), *command]
            try:
                result = _run_capped(
                    command,
                    cwd=cwd,
                    env=self._env(env),
                    limits=limits,
                    stdin=stdin,
                    pass_fds=(seccomp_fd,) if seccomp_fd is not None else (),
                    min_free_bytes=self.min_free_bytes,
                )
                killed = groups.oom_kills()
                if killed:
                    reason = f"memory limit ({limits.memory_mb} MB for the command) reached: {killed} killed"
                    result = dataclasses.replace(result, killed_reason=reason)
                return result
            finally:
                self._cgroups.remove(groups)
        finally:
            if seccomp_fd is not None:
                os.close(seccomp_fd)

    def _env(self, env: Mapping[str, str] | None) -> dict[str, str]:
        return minimal_env([str(path / "bin") for path in self.python_dirs], env)


class UnconfinedSandbox:
    """FLEET_SANDBOX=unsafe-none: rlimits, a clean environment, the timeout and the output cap, but no
    isolation: a command can read and write anything this process can, and reach the network."""

    def __init__(self, min_free_disk_mb: int = MIN_FREE_DISK_MB) -> None:
        self.prlimit = shutil.which("prlimit")
        self.min_free_bytes = min_free_disk_mb * 1024 * 1024

    def describe(self) -> str:
        return "UNCONFINED (FLEET_SANDBOX=unsafe-none): rlimits, clean environment and wall clock only"

    def available(self) -> str | None:
        return None

    def run(
        self,
        argv: Sequence[str] | str,
        *,
        cwd: Path,
        limits: Limits,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
    ) -> CommandResult:
        prefix = [self.prlimit, *_prlimit_argv(limits)[1:]] if self.prlimit else []
        python_bin = [str(Path(sys.prefix) / "bin")]
        return _run_capped(
            [*prefix, *_argv(argv)],
            cwd=cwd,
            env=minimal_env(python_bin, env),
            limits=limits,
            stdin=stdin,
            min_free_bytes=self.min_free_bytes,
        )


class UnavailableSandbox:
    """No isolation and unconfined runs not asked for: every command is refused with `reason`."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def describe(self) -> str:
        return f"no sandbox: {self.reason}"

    def available(self) -> str | None:
        return self.reason

    def run(
        self,
        argv: Sequence[str] | str,
        *,
        cwd: Path,
        limits: Limits,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
    ) -> CommandResult:
        raise SandboxUnavailable(self.reason)


def select_sandbox(mode: str | None) -> BubblewrapSandbox | UnconfinedSandbox | UnavailableSandbox:
    """The sandbox FLEET_SANDBOX asks for: `bubblewrap` (the default) or `unsafe-none` (no isolation).

    Without bubblewrap the result refuses every command with one line saying why and what to do."""
    mode = (mode or "bubblewrap").strip().lower()
    if mode == UNSAFE_MODE:
        return UnconfinedSandbox()
    if mode != "bubblewrap":
        raise ConfigurationError(f"FLEET_SANDBOX={mode!r} is not one of {', '.join(SANDBOX_MODES)}")
    sandbox = BubblewrapSandbox()
    reason = sandbox.available()
    if reason is None:
        return sandbox
    return UnavailableSandbox(
        f"{reason}; commands are refused (FLEET_SANDBOX=unsafe-none runs them without isolation)"
    )
