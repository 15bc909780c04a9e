"""Kernel refusals, injected with seccomp in a child process: each bpf(2) failure gives
a clear error naming the command and errno, or the documented fallback; no leaks."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import seccomp_faults
from conftest import require_fd_array_cnt

import bpfbind

pytestmark = pytest.mark.kernel

HELPER = Path(__file__).with_name("seccomp_faults.py")

MAP_CREATE, MAP_UPDATE_ELEM, PROG_LOAD, BTF_LOAD, MAP_FREEZE, PROG_BIND_MAP = (
    0,
    2,
    5,
    18,
    22,
    35,
)
# BPF_PROG_LOAD's attr is 152 bytes with fd_array_cnt; kernels before 6.14 refuse it.
PROG_LOAD_WITH_FD_ARRAY_CNT = 152
# A kernel before 6.14: loads passing fd_array_cnt are refused.
NO_FD_ARRAY_CNT = {
    "cmd": PROG_LOAD,
    "errno": errno.EINVAL,
    "size": PROG_LOAD_WITH_FD_ARRAY_CNT,
}

# Runs in the child after the filter is in place; prints one JSON line.
CHILD = r"""
import json, os, bpfbind
def fds():
    return sorted(int(x) for x in os.listdir("/proc/self/fd"))
before = fds()
out = {}
try:
    obj = bpfbind.sync.load_object(OBJ, bind=BIND)
    prog = next(iter(obj.programs.values()))
    meta = [m.id for m in obj.maps.values() if m.is_metadata]
    out.update(ok=True, binding=obj.binding, warnings=obj.warnings,
               bound=all(i in prog.used_maps() for i in meta), metadata=obj.metadata)
    if EXTRA_BIND:
        extra = bpfbind.create_map(2, 4, 8, 1, "extra")
        try:
            bpfbind.sync.bind_map(prog, extra)
            out["extra_bind"] = "ok"
        except bpfbind.BpfError as e:
            out["extra_bind"] = [type(e).__name__, e.errno, e.command, str(e)]
        extra.close()
    obj.close()
except bpfbind.BpfError as e:
    out.update(ok=False, exc=type(e).__name__, errno=e.errno, command=e.command,
               message=str(e), perm=isinstance(e, PermissionError))
out["leaked_fds"] = sorted(set(fds()) - set(before))
print(json.dumps(out))
"""


def run_child(
    rules: list[dict[str, int]], obj: Path, bind: str = "auto", extra_bind: bool = False
) -> dict[str, Any]:
    code = f"OBJ = {str(obj)!r}\nBIND = {bind!r}\nEXTRA_BIND = {extra_bind!r}\n" + CHILD
    result = seccomp_faults.run(rules, code)
    assert result["leaked_fds"] == [], result
    return result


@pytest.mark.parametrize(
    ("cmd", "err", "exc", "command"),
    [
        (MAP_CREATE, errno.EPERM, "BpfPermissionError", "BPF_MAP_CREATE"),
        (MAP_CREATE, errno.ENOMEM, "BpfError", "BPF_MAP_CREATE"),
        (MAP_UPDATE_ELEM, errno.E2BIG, "BpfError", "BPF_MAP_UPDATE_ELEM"),
        (MAP_FREEZE, errno.ENOMEM, "BpfError", "BPF_MAP_FREEZE"),
        (BTF_LOAD, errno.EPERM, "BpfPermissionError", "BPF_BTF_LOAD"),
        (PROG_LOAD, errno.EPERM, "BpfPermissionError", "BPF_PROG_LOAD"),
        (PROG_LOAD, errno.E2BIG, "BpfError", "BPF_PROG_LOAD"),
        (PROG_LOAD, errno.ENOMEM, "BpfError", "BPF_PROG_LOAD"),
        (PROG_LOAD, errno.EINTR, "BpfError", "BPF_PROG_LOAD"),
    ],
)
def test_refused_command_is_a_clear_error_and_leaks_nothing(
    bpf_objs: dict[str, Path], cmd: int, err: int, exc: str, command: str
) -> None:
    r = run_child([{"cmd": cmd, "errno": err}], bpf_objs["multi"])
    assert r["ok"] is False
    assert (r["exc"], r["errno"], r["command"]) == (exc, err, command)
    assert command in r["message"]
    assert r["perm"] == (err == errno.EPERM)
    if err == errno.EPERM:
        # The child has CAP_BPF (root): the refusal is not blamed on privileges.
        assert "CAP_BPF" not in r["message"]


def test_kernel_without_fd_array_cnt_binds_with_prog_bind_map(
    bpf_objs: dict[str, Path],
) -> None:
    rules = [NO_FD_ARRAY_CNT]
    r = run_child(rules, bpf_objs["metadata_unused"])
    assert r["ok"], r
    assert r["binding"] == "bind_map"
    assert r["bound"] is True
    assert r["metadata"] == {"a": "foo", "b": 1}


def test_kernel_without_prog_bind_map_still_binds_at_load(
    bpf_objs: dict[str, Path],
) -> None:
    require_fd_array_cnt()
    rules = [{"cmd": PROG_BIND_MAP, "errno": errno.EINVAL}]
    r = run_child(rules, bpf_objs["metadata_unused"], extra_bind=True)
    assert r["ok"], r
    assert (r["binding"], r["bound"]) == ("fd_array", True)
    name, err, command, message = r["extra_bind"]
    assert (name, err, command) == (
        "BindMapUnsupported",
        errno.EINVAL,
        "BPF_PROG_BIND_MAP",
    )
    assert "5.10" in message


def test_pre_5_10_kernel_loads_unbound_with_a_warning(
    bpf_objs: dict[str, Path],
) -> None:
    rules = [NO_FD_ARRAY_CNT, {"cmd": PROG_BIND_MAP, "errno": errno.EINVAL}]
    r = run_child(rules, bpf_objs["metadata_unused"])
    assert r["ok"], r
    assert r["binding"] == "unbound"
    assert r["bound"] is False
    assert any("not bound" in w for w in r["warnings"])
    # The object itself still knows its metadata.
    assert r["metadata"] == {"a": "foo", "b": 1}


def test_bind_map_failing_midway_fails_the_load_cleanly(
    bpf_objs: dict[str, Path],
) -> None:
    # Only EINVAL means "no such command": ENOMEM is a failure of this call (here met
    # first by the feature probe), which must unwind everything it created.
    rules = [NO_FD_ARRAY_CNT, {"cmd": PROG_BIND_MAP, "errno": errno.ENOMEM}]
    r = run_child(rules, bpf_objs["multi"])
    assert r["ok"] is False
    assert (r["exc"], r["errno"], r["command"]) == (
        "BpfError",
        errno.ENOMEM,
        "BPF_PROG_BIND_MAP",
    )
    assert "probing what the kernel supports" in r["message"]
    assert "os error" not in r["message"]


def test_unbound_metadata_is_logged(
    bpf_objs: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="bpfbind"):
        obj = bpfbind.sync.load_object(bpf_objs["metadata_unused"], bind="none")
        obj.close()
    assert obj.binding == "unbound"
    assert any("not bound" in r.getMessage() for r in caplog.records)


def test_repeat_bind_is_answered_from_the_record(bpf_objs: dict[str, Path]) -> None:
    # With every BPF_PROG_BIND_MAP failing, binding a map the program already holds
    # (its metadata map, bound at load through fd_array) still succeeds: the kernel
    # could only have answered 0. A new map reaches the kernel and fails.
    rules = [{"cmd": PROG_BIND_MAP, "errno": errno.ENOMEM}]
    code = f"""
import json, sys, bpfbind
sys.path.insert(0, {str(HELPER.parent)!r})
import seccomp_faults
obj = bpfbind.sync.load_object({str(bpf_objs["metadata_unused"])!r})
prog = obj.programs["prog"]
meta = next(m for m in obj.maps.values() if m.is_metadata)
seccomp_faults.install({rules!r})  # from here on, every bind fails in the kernel
bpfbind.sync.bind_map(prog, meta)
fresh = bpfbind.create_map(2, 4, 4, 1)
try:
    bpfbind.sync.bind_map(prog, fresh)
    out = "bound"
except bpfbind.BpfError as e:
    out = [e.errno, e.command]
print(json.dumps(out))
"""
    proc = subprocess.run(
        [sys.executable, str(HELPER), "[]", code],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [errno.ENOMEM, "BPF_PROG_BIND_MAP"]
