"""Makes chosen bpf(2) commands fail in this process, with a seccomp filter: the way to
see what bpfbind does when the kernel refuses, runs out of memory, or is too old.

Run as a child: ``python3 seccomp_faults.py '<json rules>' '<python code>'``. Each rule
is {"cmd": N, "errno": E} and optionally "size": S (only calls whose attr size is S,
e.g. 152 = BPF_PROG_LOAD with fd_array_cnt, which kernels before 6.14 refuse). The code
runs after the filter is installed and prints its findings as JSON."""

from __future__ import annotations

import ctypes
import json
import platform
import struct
import subprocess
import sys
from typing import Any

_NR_BPF = {"x86_64": 321, "aarch64": 280}
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}

# classic BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def install(rules: list[dict[str, int]]) -> None:
    machine = platform.machine()
    prog = [
        _insn(_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        _insn(_JEQ_K, 1, 0, _AUDIT_ARCH[machine]),
        _insn(_RET_K, 0, 0, _RET_ALLOW),
        _insn(_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
        _insn(_JEQ_K, 1, 0, _NR_BPF[machine]),
        _insn(_RET_K, 0, 0, _RET_ALLOW),
    ]
    for rule in rules:
        # Each rule: load args[0] (cmd); on mismatch skip the rule's remaining insns.
        body = []
        if "size" in rule:
            body += [
                _insn(_LD_W_ABS, 0, 0, 32),  # args[2] (attr size), low word
                ("size", rule["size"]),
            ]
        body.append(_insn(_RET_K, 0, 0, _RET_ERRNO | rule["errno"]))
        # Jumps are relative: the rule's length decides how far a mismatch skips.
        n_after_cmd = len(body)
        prog.append(_insn(_LD_W_ABS, 0, 0, 16))  # args[0], low word
        prog.append(_insn(_JEQ_K, 0, n_after_cmd, rule["cmd"]))
        for i, item in enumerate(body):
            if isinstance(item, tuple):
                # JEQ size: fall through to the rest of the rule, else skip it.
                prog.append(_insn(_JEQ_K, 0, n_after_cmd - i - 1, item[1]))
            else:
                prog.append(item)
    prog.append(_insn(_RET_K, 0, 0, _RET_ALLOW))
    code = b"".join(prog)
    buf = ctypes.create_string_buffer(code, len(code))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(prog), ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0):
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")


def run(rules: list[dict[str, int]], code: str, timeout: float = 60) -> dict[str, Any]:
    """Runs `code` in a child under `rules`; returns its last output line, as JSON."""
    proc = subprocess.run(
        [sys.executable, __file__, json.dumps(rules), code],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


if __name__ == "__main__":
    install(json.loads(sys.argv[1]))
    exec(compile(sys.argv[2], "<fault-test>", "exec"))
