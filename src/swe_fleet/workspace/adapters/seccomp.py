"""A seccomp filter for sandboxed commands: system calls a test or a build never needs are refused.

Classic BPF written out here (no library): on x86_64 a command gets EPERM for kernel modules, kexec,
keyrings, bpf, perf events, userfaultfd, io_uring, ptrace and process_vm_*, mounting and pivoting,
namespaces (unshare, setns, and clone with a namespace flag), clock and swap changes, and the legacy
calls Docker's default profile also refuses; clone3 answers ENOSYS (its flags sit in memory a filter
cannot read, and glibc then falls back to clone, whose flags it can). A 32-bit or x32 system call is
refused too (the numbers below would not mean the same there). Other architectures get no filter;
`describe()` says so. The numbers come from the kernel's asm/unistd_64.h.
"""

from __future__ import annotations

import errno
import platform
import struct

_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_BIT = 0x40000000

# x86_64 system call numbers.
_DENIED_X86_64 = {
    "ptrace": 101, "uselib": 134, "ustat": 136, "sysfs": 139, "vhangup": 153, "pivot_root": 155,
    "_sysctl": 156, "chroot": 161, "acct": 163, "settimeofday": 164, "mount": 165, "umount2": 166,
    "swapon": 167, "swapoff": 168, "reboot": 169, "iopl": 172, "ioperm": 173, "create_module": 174,
    "init_module": 175, "delete_module": 176, "get_kernel_syms": 177, "query_module": 178,
    "quotactl": 179, "nfsservctl": 180, "lookup_dcookie": 212, "clock_settime": 227, "kexec_load": 246,
    "add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "clock_adjtime": 305, "setns": 308,
    "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "finit_module": 313,
    "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "pidfd_getfd": 438, "mount_setattr": 442,
}  # fmt: skip
_CLONE, _CLONE3 = 56, 435
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

# Classic BPF opcodes and seccomp return values.
_LD_W_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _KILL_PROCESS, _ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
# Offsets in struct seccomp_data: nr, arch, instruction pointer, args[0] (low word, little-endian).
_NR, _ARCH, _ARG0 = 0, 4, 16


def supported() -> bool:
    return platform.machine() in ("x86_64", "AMD64")


def describe() -> str:
    if not supported():
        return f"no seccomp filter on {platform.machine()} (written for x86_64)"
    return f"seccomp: {len(_DENIED_X86_64)} system calls refused, namespaces refused, clone3 ENOSYS"


def denied_calls() -> dict[str, int]:
    return dict(_DENIED_X86_64)


def program() -> bytes:
    """The filter as `struct sock_filter[]`, what `bwrap --seccomp FD` reads."""
    # (opcode, jump-if-true label, jump-if-false label, k); labels resolve to relative offsets below.
    code: list[tuple[int, str | None, str | None, int]] = [
        (_LD_W_ABS, None, None, _ARCH),
        (_JEQ, None, "kill", _AUDIT_ARCH_X86_64),
        (_LD_W_ABS, None, None, _NR),
        (_JGE, "kill", None, _X32_BIT),
        (_JEQ, "enosys", None, _CLONE3),
        (_JEQ, "clone", None, _CLONE),
    ]
    code += [(_JEQ, "eperm", None, number) for number in sorted(_DENIED_X86_64.values())]
    code += [(_RET, None, None, _ALLOW)]
    labels = {"clone": len(code)}
    code += [
        (_LD_W_ABS, None, None, _ARG0),
        (_JSET, "eperm", None, _NAMESPACE_FLAGS),
        (_RET, None, None, _ALLOW),
    ]
    labels["eperm"] = len(code)
    code.append((_RET, None, None, _ERRNO | errno.EPERM))
    labels["enosys"] = len(code)
    code.append((_RET, None, None, _ERRNO | errno.ENOSYS))
    labels["kill"] = len(code)
    code.append((_RET, None, None, _KILL_PROCESS))

    def offset(index: int, label: str | None) -> int:
        if label is None:
            return 0
        jump = labels[label] - index - 1
        if not 0 <= jump <= 255:
            raise ValueError(f"jump to {label} out of range")
        return jump

    return b"".join(
        struct.pack("<HBBI", op, offset(i, true), offset(i, false), k)
        for i, (op, true, false, k) in enumerate(code)
    )
