"""The seccomp filter, run by a small classic-BPF interpreter over seccomp_data: what it answers for
each system call. (The kernel's answers are tested in tests/integration/workspace.)"""

from __future__ import annotations

import errno
import struct

import pytest

from swe_fleet.workspace.adapters import seccomp

X86_64 = 0xC000003E
ALLOW, KILL = 0x7FFF0000, 0x80000000


def run_filter(nr: int, arch: int = X86_64, arg0: int = 0) -> int:
    program = seccomp.program()
    code = [struct.unpack("<HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    data = struct.pack("<iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    accumulator, pc = 0, 0
    while True:
        op, jt, jf, k = code[pc]
        if op == 0x20:  # ld [k]
            (accumulator,) = struct.unpack_from("<I", data, k)
            pc += 1
        elif op in (0x15, 0x35, 0x45):  # jeq, jge, jset
            taken = {0x15: accumulator == k, 0x35: accumulator >= k, 0x45: bool(accumulator & k)}[op]
            pc += 1 + (jt if taken else jf)
        elif op == 0x06:  # ret
            return k
        else:
            raise AssertionError(f"unexpected opcode {op:#x}")


def test_every_denied_call_gets_eperm():
    for name, number in seccomp.denied_calls().items():
        assert run_filter(number) == 0x00050000 | errno.EPERM, name


@pytest.mark.parametrize("nr", [0, 1, 2, 57, 59, 60, 231, 39])  # read, write, open, fork, execve, exit...
def test_ordinary_calls_are_allowed(nr: int):
    assert run_filter(nr) == ALLOW


def test_clone_is_allowed_without_namespace_flags_and_refused_with_them():
    clone_thread = (
        0x00010000 | 0x00000100 | 0x00000200 | 0x00000400 | 0x00000800
    )  # THREAD|VM|FS|FILES|SIGHAND
    assert run_filter(56, arg0=clone_thread) == ALLOW
    assert run_filter(56, arg0=0x11) == ALLOW  # fork: SIGCHLD
    for flag in (0x10000000, 0x20000000, 0x40000000, 0x00020000):  # NEWUSER, NEWPID, NEWNET, NEWNS
        assert run_filter(56, arg0=0x11 | flag) == 0x00050000 | errno.EPERM
    assert run_filter(435) == 0x00050000 | errno.ENOSYS  # clone3


def test_other_architectures_and_x32_calls_are_killed():
    assert run_filter(0, arch=0x40000003) == KILL  # i386 (int 0x80)
    assert run_filter(0x40000000 | 1) == KILL  # x32 ABI
