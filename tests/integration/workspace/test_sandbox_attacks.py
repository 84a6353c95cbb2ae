"""Attacks on the real bubblewrap sandbox: each one is refused or stopped, with its reason, and the
sandbox runs the next command normally. The table in SECURITY.md ("Workspace sandbox") lists them."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from swe_fleet.errors import ConfigurationError
from swe_fleet.workspace.adapters import seccomp
from swe_fleet.workspace.adapters.sandbox import (
    BubblewrapSandbox,
    UnavailableSandbox,
    UnconfinedSandbox,
    select_sandbox,
)
from swe_fleet.workspace.domain.policy import Limits, load_policies
from swe_fleet.workspace.domain.tools import ToolCall

LIMITS = load_policies().for_role("DEV").limits


def limits(**changes: object) -> Limits:
    return Limits.model_validate({**LIMITS.model_dump(), **changes})


def python(code: str) -> list[str]:
    return ["python", "-c", code]


def still_works(sandbox: BubblewrapSandbox, checkout: Path) -> None:
    result = sandbox.run(python("print('still here')"), cwd=checkout, limits=LIMITS)
    assert result.ok and result.stdout == "still here\n"


@pytest.fixture
def host_listener():
    """A real TCP server on the host's loopback: the sandbox must not reach it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server.getsockname()[1]
    server.close()


CONNECT = """
import socket, sys
for host, port in [("127.0.0.1", {port}), ("1.1.1.1", 53), ("8.8.8.8", 443)]:
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect((host, port)); print(host, "CONNECTED")
    except OSError as error:
        print(host, type(error).__name__, error.errno)
"""


def test_no_network_neither_the_hosts_loopback_nor_the_internet(sandbox, checkout, host_listener):
    result = sandbox.run(python(CONNECT.format(port=host_listener)), cwd=checkout, limits=LIMITS)
    assert result.ok, result.output
    assert "CONNECTED" not in result.stdout
    lines = result.stdout.splitlines()
    assert lines[0] == "127.0.0.1 ConnectionRefusedError 111"  # its own empty loopback
    assert lines[1].startswith("1.1.1.1 OSError 101") and lines[2].startswith(
        "8.8.8.8 OSError 101"
    )  # unreachable
    # The same code outside the sandbox does reach the host's listener (the test can fail).
    outside = subprocess.run(
        [sys.executable, "-c", CONNECT.format(port=host_listener)], capture_output=True, text=True, timeout=60
    )
    assert outside.stdout.splitlines()[0] == "127.0.0.1 CONNECTED"
    still_works(sandbox, checkout)


FORKS = """
import os, time
count = 0
try:
    for _ in range(500):
        if os.fork() == 0:
            time.sleep(30); os._exit(0)
        count += 1
except OSError as error:
    print("fork refused after", count, error.errno)
else:
    print("forked", count)
"""


def test_a_fork_bomb_hits_the_process_cap(sandbox, checkout):
    if sandbox.process_limit().startswith("RLIMIT_NPROC"):
        pytest.skip("no writable pids cgroup on this host: " + sandbox.process_limit())
    marker = f"# bomb {random.randrange(10**9)}"
    code = FORKS + marker
    result = sandbox.run(python(code), cwd=checkout, limits=limits(max_processes=20, wall_timeout_s=60))
    assert result.stdout.startswith("fork refused after"), result.output
    assert int(result.stdout.split()[3]) < 20
    assert result.stdout.split()[4] == "11"  # EAGAIN
    # The sleeping children died with the namespace: nothing of the bomb is left on the host.
    assert (
        "time.sleep(30)" not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    )
    still_works(sandbox, checkout)


def test_an_endless_loop_is_killed_at_the_wall_clock_with_its_process_group(sandbox, checkout):
    # It sleeps rather than spins (the CPU limit has its own test): the wall clock is what stops it.
    # A marker of this run only: other checkouts may run this same test at the same time.
    marker = f"317.{random.randrange(10**9)}"
    code = f"import subprocess, time\nsubprocess.Popen(['sleep', '{marker}'])\nprint('looping', flush=True)\n"
    code += "while True: time.sleep(0.1)"
    result = sandbox.run(python(code), cwd=checkout, limits=limits(wall_timeout_s=8))
    assert result.timed_out and result.exit_code is None and not result.ok
    assert result.killed_reason == "wall-clock timeout (8 s): the process group was killed"
    assert result.stdout == "looping\n"
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert f"sleep {marker}" not in ps
    still_works(sandbox, checkout)


def test_cpu_time_is_limited_per_process(sandbox, checkout):
    result = sandbox.run(
        python("while True: pass"), cwd=checkout, limits=limits(cpu_seconds=1, wall_timeout_s=120)
    )
    assert not result.timed_out and not result.ok
    assert result.killed_reason is not None and result.killed_reason.startswith(
        "CPU time limit reached (1 s)"
    )


def test_a_gigabyte_of_output_is_capped_while_read(sandbox, checkout):
    code = "import sys\nchunk = 'x' * 1048576\nfor _ in range(1024): sys.stdout.write(chunk)\nprint('END')"
    result = sandbox.run(python(code), cwd=checkout, limits=limits(max_output_bytes=4096, wall_timeout_s=120))
    assert result.ok and result.truncated
    kept = LIMITS.model_copy(update={"max_output_bytes": 4096}).capture_bytes  # 4 x 4096 + 64 KB
    assert len(result.stdout) < kept + 100
    assert result.stdout.endswith("END\n")  # the tail is kept
    assert f"[... {1024 * 1048576 + 4 - kept} bytes of output left out ...]" in result.stdout


def test_memory_and_file_size_are_limited(sandbox, checkout):
    memory = sandbox.run(
        python("b = bytearray(1024 * 1024 * 1024)"), cwd=checkout, limits=limits(memory_mb=256)
    )
    assert memory.exit_code == 1 and "MemoryError" in memory.stderr
    big = "open('big.bin', 'wb').write(b'x' * 5 * 1024 * 1024)"
    file_size = sandbox.run(python(big), cwd=checkout, limits=limits(max_file_mb=1))
    # Python ignores SIGXFSZ, so its write fails with EFBIG; dd gets the signal.
    assert not file_size.ok and "OSError: [Errno 27] File too large" in file_size.stderr
    dd = ["dd", "if=/dev/zero", "of=big2.bin", "bs=1M", "count=5"]
    signalled = sandbox.run(dd, cwd=checkout, limits=limits(max_file_mb=1))
    assert not signalled.ok and signalled.killed_reason == "file size limit reached (1 MB)"
    for name in ("big.bin", "big2.bin"):
        assert (checkout / name).stat().st_size <= 1024 * 1024
    still_works(sandbox, checkout)


MEMORY_HOGS = """
import os
children = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        block = bytearray(150 * 1024 * 1024)
        for i in range(0, len(block), 4096):
            block[i] = 1
        os._exit(0)
    children.append(pid)
print(sorted(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children))
"""


def test_memory_is_limited_for_the_whole_command_not_only_per_process(sandbox, checkout):
    if "memory" not in sandbox.process_limit():
        pytest.skip("no writable memory cgroup on this host: " + sandbox.process_limit())
    # Four processes of 150 MB each: every one is under the 256 MB address-space rlimit, together not.
    result = sandbox.run(python(MEMORY_HOGS), cwd=checkout, limits=limits(memory_mb=256))
    assert result.killed_reason is not None
    assert result.killed_reason.startswith("memory limit (256 MB for the command) reached"), (
        result.killed_reason
    )
    assert "-9" in result.stdout  # SIGKILLed by the kernel's OOM killer inside the group
    still_works(sandbox, checkout)


FILL_DISK = """
import time
for n in range(400):
    with open(f"fill-{n}.bin", "wb") as f:
        f.write(b"x" * 1024 * 1024)
    time.sleep(0.02)
print("wrote 400 MB")
"""


def test_file_after_file_cannot_fill_the_disk(checkout):
    # Each file is under the file-size limit; the guard watches the free space of the checkout's disk.
    # The floor is set just under what is free now, so the test writes tens of MB, not a disk's worth.
    stats = os.statvfs(checkout)
    floor_mb = (stats.f_bavail * stats.f_frsize) // (1024 * 1024) - 40
    guarded = BubblewrapSandbox(min_free_disk_mb=floor_mb)
    result = guarded.run(python(FILL_DISK), cwd=checkout, limits=limits(max_file_mb=2, wall_timeout_s=120))
    assert not result.ok and not result.timed_out
    assert result.killed_reason == (
        f"disk nearly full (under {floor_mb} MB free where the checkout is): the process group was killed"
    )
    assert "wrote 400 MB" not in result.stdout
    written = sum(path.stat().st_size for path in checkout.glob("fill-*.bin"))
    assert written < 400 * 1024 * 1024


def test_the_fleets_settings_and_credentials_are_not_in_the_environment(sandbox, checkout, monkeypatch):
    monkeypatch.setenv("FLEET_NATS_URL", "nats://admin:s3cret@127.0.0.1:4222")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCD")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_abcdefghijklmnopqrstuvwxyz0123456789")
    passed = {"FLEET_LLM_URL": "http://x", "MY_API_KEY": "k", "DB_PASSWORD": "p", "PYTEST_ADDOPTS": "-q"}
    result = sandbox.run(["env"], cwd=checkout, limits=LIMITS, env=passed)
    names = {line.split("=", 1)[0] for line in result.stdout.splitlines()}
    assert not {name for name in names if name.startswith("FLEET_")}
    assert not names & {"AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "MY_API_KEY", "DB_PASSWORD"}
    assert "s3cret" not in result.stdout and "ghp_" not in result.stdout
    assert "PYTEST_ADDOPTS" in names and "PATH" in names  # harmless variables do pass
    assert "HOME=/tmp" in result.stdout.splitlines()


def test_the_host_outside_the_checkout_is_not_visible(sandbox, checkout):
    hidden = [
        "/etc/shadow",
        "/etc/ssh",
        "/root/.ssh",
        "/root/.bashrc",
        "/root/.cache",
        "/home",
        # The fleet's own source and the other trees around it (only its venv is bound, read-only).
        str(Path(__file__).resolve().parent),
        str(Path(__file__).resolve().parents[3] / "src"),
        "/work/.library",
        "/var/run/docker.sock",
        str(checkout.parent / "outside-secret.txt"),
    ]
    code = f"import os\nfor p in {hidden!r}:\n    print(p, os.path.exists(p))\n"
    result = sandbox.run(python(code), cwd=checkout, limits=LIMITS)
    assert result.ok, result.output
    assert result.stdout.splitlines() == [f"{path} False" for path in hidden]
    assert Path("/etc/shadow").exists()  # it is there on the host


def test_system_dirs_and_git_internals_are_read_only_and_capabilities_dropped(sandbox, checkout):
    hook = checkout / ".git" / "hooks" / "post-commit"
    code = (
        "import os\n"
        f"for p in ['/usr/pwned', {str(hook)!r}, '.git/config']:\n"
        "    try:\n"
        "        open(p, 'a').write('x'); print(p, 'WRITTEN')\n"
        "    except OSError as e:\n"
        "        print(p, e.errno)\n"
        "print([l for l in open('/proc/self/status') if l.startswith('CapEff')][0].split()[1])\n"
    )
    config_before = (checkout / ".git" / "config").read_text()
    result = sandbox.run(python(code), cwd=checkout, limits=LIMITS)
    assert "WRITTEN" not in result.stdout, result.stdout
    assert result.stdout.count(" 30\n") == 3  # EROFS
    assert result.stdout.splitlines()[-1] == "0000000000000000"
    assert not hook.exists() and (checkout / ".git" / "config").read_text() == config_before
    mount = sandbox.run(["mount", "-o", "remount,rw", "/usr"], cwd=checkout, limits=LIMITS)
    assert not mount.ok
    # Writing the checkout itself is what the sandbox is for.
    assert sandbox.run(["touch", "made-inside.txt"], cwd=checkout, limits=LIMITS).ok
    assert (checkout / "made-inside.txt").exists()


SYSCALLS = """
import ctypes, os, subprocess, threading
libc = ctypes.CDLL(None, use_errno=True)
def check(name, result):
    print(name, result, ctypes.get_errno())
check("ptrace", libc.ptrace(0, 0, 0, 0))
check("keyctl", libc.syscall(250, 0, 0))
check("bpf", libc.syscall(321, 0, 0, 0))
check("io_uring_setup", libc.syscall(425, 1, 0))
check("userfaultfd", libc.syscall(323, 0))
check("unshare_user", libc.unshare(0x10000000))
check("clone3", libc.syscall(435, 0, 0))
print(subprocess.run(["unshare", "-U", "-r", "true"], capture_output=True, text=True).stderr.strip())
pid = os.fork()
if pid == 0:
    os._exit(7)
print("fork", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
worker = threading.Thread(target=print, args=("thread",))
worker.start()
worker.join()
"""


def test_system_calls_a_test_never_needs_are_refused_by_seccomp(sandbox, checkout):
    if not seccomp.supported():
        pytest.skip(seccomp.describe())
    result = sandbox.run(python(SYSCALLS), cwd=checkout, limits=LIMITS)
    assert result.ok, result.output
    lines = result.stdout.splitlines()
    for name in ("ptrace", "keyctl", "bpf", "io_uring_setup", "userfaultfd", "unshare_user"):
        assert f"{name} -1 1" in lines, (name, lines)  # EPERM
    assert "clone3 -1 38" in lines  # ENOSYS: glibc falls back to clone, whose flags the filter reads
    assert "unshare: unshare failed: Operation not permitted" in lines
    assert "fork 7" in lines and "thread" in lines  # ordinary processes and threads still work
    # Outside the sandbox the same unshare works: the refusal is the filter's.
    outside = subprocess.run(["unshare", "-U", "-r", "true"], capture_output=True, text=True)
    assert outside.returncode == 0, outside.stderr


def test_host_processes_are_invisible(sandbox, checkout):
    result = sandbox.run(["ps", "-eo", "pid,args"], cwd=checkout, limits=LIMITS)
    assert result.ok
    assert str(os.getpid()) not in result.stdout.split()
    assert len(result.stdout.splitlines()) <= 4  # header, bwrap's init, ps


def test_a_test_the_agent_wrote_cannot_phone_home_or_read_credentials(toolbox_for, checkout, monkeypatch):
    monkeypatch.setenv("FLEET_NATS_PASSWORD", "hunter2")
    attack = (
        "import os, socket\n\n\n"
        "def test_exfiltrate():\n"
        "    assert 'FLEET_NATS_PASSWORD' not in os.environ\n"
        "    s = socket.socket()\n"
        "    s.settimeout(3)\n"
        "    s.connect(('1.1.1.1', 80))\n"
    )
    box = toolbox_for("QA")
    assert box.execute(
        ToolCall(name="write_file", arguments={"path": "tests/test_x.py", "content": attack})
    ).ok
    report = box.run_tests()
    assert not report.passed and report.failing_tests == ("tests/test_x.py::test_exfiltrate",)
    assert "Network is unreachable" in report.output
    assert "hunter2" not in report.output


SNEAKY_CONFTEST = """
import os, pathlib, subprocess
pathlib.Path("app.py").write_text("def add(a, b):\\n    return 0\\n")
os.remove("README.md")
pathlib.Path(".github/workflows").mkdir(parents=True, exist_ok=True)
pathlib.Path(".github/workflows/ci.yml").write_text("on: push\\n")
os.symlink("/etc/passwd", "passwd-link")
subprocess.run(["git", "init", "-q", "nested"], check=True)
pathlib.Path("tests/test_extra.py").write_text("def test_extra():\\n    pass\\n")
"""


def test_code_qa_runs_cannot_change_what_qa_may_not_write(toolbox_for, checkout):
    box = toolbox_for("QA")
    assert box.execute(
        ToolCall(name="write_file", arguments={"path": "conftest.py", "content": SNEAKY_CONFTEST})
    ).ok
    report = box.run_tests()
    assert "undone: changes this role may not make" in report.summary
    for path in ("README.md", "app.py", ".github/workflows/ci.yml", "passwd-link", "nested/"):
        assert path in report.summary
    assert (checkout / "app.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert (checkout / "README.md").read_text() == "# demo\n"
    for path in (".github/workflows/ci.yml", "passwd-link", "nested"):
        assert not (checkout / path).exists() and not (checkout / path).is_symlink()
    # What QA may write stays: its conftest.py and the test file the conftest wrote.
    assert (checkout / "conftest.py").exists() and (checkout / "tests" / "test_extra.py").exists()
    # A DEV's tests may change the code: nothing is undone.
    (checkout / "conftest.py").write_text("import pathlib\npathlib.Path('notes.txt').write_text('x')\n")
    dev = toolbox_for("DEV").run_tests()
    assert "undone" not in dev.summary and (checkout / "notes.txt").exists()


def test_without_bubblewrap_commands_are_refused_with_one_line_unless_unsafe_is_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    refused = select_sandbox(None)
    assert isinstance(refused, UnavailableSandbox)
    assert refused.available() == (
        "bubblewrap (bwrap) is not installed: apt-get install bubblewrap; commands are refused "
        "(FLEET_SANDBOX=unsafe-none runs them without isolation)"
    )
    unsafe = select_sandbox("unsafe-none")
    assert isinstance(unsafe, UnconfinedSandbox) and unsafe.describe().startswith("UNCONFINED")
    with pytest.raises(
        ConfigurationError, match="FLEET_SANDBOX='docker' is not one of bubblewrap, unsafe-none"
    ):
        select_sandbox("docker")


def test_the_toolbox_refuses_commands_when_there_is_no_sandbox(checkout):
    from swe_fleet.workspace.app.toolbox import Toolbox

    box = Toolbox(checkout, load_policies().for_role("DEV"), UnavailableSandbox("no bwrap"), "pytest", str)
    observation = box.execute(ToolCall(name="run_command", arguments={"command": "ls"}))
    assert observation.refused_reason == "no sandbox: no bwrap"
    report = box.run_tests()
    assert not report.passed and report.summary == "tests not run: no bwrap"
    assert box.execute(ToolCall(name="read_file", arguments={"path": "app.py"})).ok


def test_unsafe_none_keeps_the_environment_limits_and_clock_but_not_the_isolation(
    checkout, monkeypatch, host_listener
):
    monkeypatch.setenv("FLEET_NATS_PASSWORD", "hunter2")
    unsafe = UnconfinedSandbox()
    env = unsafe.run(["env"], cwd=checkout, limits=LIMITS)
    assert env.ok and "FLEET_" not in env.stdout and "hunter2" not in env.stdout
    loop = unsafe.run(
        python("import time\nwhile True: time.sleep(0.1)"), cwd=checkout, limits=limits(wall_timeout_s=1)
    )
    assert loop.timed_out and loop.killed_reason is not None
    memory = unsafe.run(
        python("b = bytearray(1024 * 1024 * 1024)"), cwd=checkout, limits=limits(memory_mb=256)
    )
    assert memory.exit_code == 1 and "MemoryError" in memory.stderr
    # What the name warns about: without namespaces the host's loopback is reachable.
    reach = unsafe.run(python(CONNECT.format(port=host_listener)), cwd=checkout, limits=LIMITS)
    assert reach.stdout.splitlines()[0] == "127.0.0.1 CONNECTED"
