"""Program types whose load needs more than instructions: tp_btf, fentry/fexit,
fmod_ret and lsm programs are verified against the kernel's BTF type of their target
(attach_btf_id), struct_ops programs against the member their map's struct names."""

from __future__ import annotations

import errno
import json
import platform
import socket
from pathlib import Path
from typing import Any

import pytest
from conftest import BpftoolError, assert_same_programs, renamed

import bpfbind

pytestmark = pytest.mark.kernel

BPF_PROG_TYPE_TRACING = 26
BPF_PROG_TYPE_RAW_TRACEPOINT = 17


def loadall_or_skip(libbpf_loadall: Any, path: Path, pin_dir: Path, kind: str) -> Any:
    """What libbpf loads of `path`; where the kernel refuses `kind` programs, the test
    is skipped once bpfbind is seen refused alike (EPERM)."""
    try:
        return libbpf_loadall(path, pin_dir)
    except BpftoolError as e:
        if "Operation not permitted" not in str(e):
            raise
        with pytest.raises(bpfbind.BpfPermissionError) as err:
            bpfbind.sync.load_object(path)
        assert err.value.errno == errno.EPERM
        pytest.skip(f"{platform.release()} refuses {kind} programs (EPERM)")


def test_tp_btf_program_loads_against_vmlinux_btf(
    bpf_objs: dict[str, Path], bpftool: object
) -> None:
    with bpfbind.sync.load_object(bpf_objs["btf_attach"]) as obj:
        tp = obj.programs["on_switch"]
        raw = obj.programs["on_switch_raw"]
        assert (tp.prog_type, tp.type) == (BPF_PROG_TYPE_TRACING, "tracing")
        assert raw.prog_type == BPF_PROG_TYPE_RAW_TRACEPOINT
        info = bpfbind.sync.program_info(tp)
        assert info.metadata == {"kind": "btf-attached"}


def test_unknown_attach_target_is_a_clear_error(
    bpf_objs: dict[str, Path], tmp_path: Path
) -> None:
    # Only the target changes (in the section name table and in the BTF strings that
    # name the section for func_info).
    target = b"tp_btf/sched_switch"
    bad = renamed(bpf_objs["btf_attach"], target, b"tp_btf/no_such_tpxy")
    with pytest.raises(bpfbind.BpfNotFoundError, match="btf_trace_no_such_tpxy") as e:
        bpfbind.sync.load_object(bad, name="btf_attach")
    assert e.value.errno == errno.ENOENT


def test_trampoline_programs_load_with_libbpfs_instructions(
    bpf_objs: dict[str, Path], pin_dir: Path, libbpf_loadall: Any
) -> None:
    """fentry/fexit/fmod_ret/lsm programs, verified against the kernel functions they
    name; their metadata is bound like any program's."""
    path = bpf_objs["trampolines"]
    theirs = loadall_or_skip(libbpf_loadall, path, pin_dir, "trampoline")
    with bpfbind.sync.load_object(path) as obj:
        assert_same_programs(theirs, obj)
        for prog in obj.programs.values():
            metadata = bpfbind.sync.program_info(prog).metadata
            assert metadata == {"kind": "trampolines"}, prog.name


def test_struct_ops_map_and_programs_load_as_libbpf_loads_them(
    bpf_objs: dict[str, Path],
    pin_dir: Path,
    libbpf_loadall: Any,
    bpftool: Any,
) -> None:
    """The struct_ops map gets the kernel's value type (bpf_struct_ops_<name>) and
    size; each program is loaded against the member it implements (attach_btf_id =
    the kernel's struct, expected_attach_type = the member), with libbpf's tags."""
    path = bpf_objs["struct_ops"]
    theirs = loadall_or_skip(libbpf_loadall, path, pin_dir, "struct_ops")
    with bpfbind.sync.load_object(path) as obj:
        assert_same_programs(theirs, obj)
        assert {p.type for p in obj.programs.values()} == {"struct_ops"}
        ops = obj.maps["bpfbind_cc"]
        shown = json.loads(bpftool(["-j", "map", "show", "id", str(ops.id)]))
        assert shown["type"] == "struct_ops"
        assert (shown["bytes_key"], shown["max_entries"]) == (4, 1)
        # The value is the kernel's wrapper of tcp_congestion_ops, not the local struct.
        assert ops.value_size == shown["bytes_value"] > 64
        for prog in obj.programs.values():
            assert bpfbind.sync.program_info(prog).metadata == {"kind": "struct_ops"}


CONGESTION = Path("/proc/sys/net/ipv4/tcp_available_congestion_control")
TCP_CONGESTION = 13


def connect_with(cc: bytes) -> None:
    """A loopback TCP connection whose client socket uses congestion control `cc`."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.socket() as client:
            client.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, cc)
            client.connect(server.getsockname())
            conn, _ = server.accept()
            conn.close()


def register_struct_ops(ops: bpfbind.Map) -> bpfbind.Link:
    """`ops.attach_struct_ops()`, or a skip where this kernel cannot register it."""
    try:
        return ops.attach_struct_ops()
    except bpfbind.BpfError as e:
        # EPERM, or the kernel's ENOTSUPP (524): no trampolines on this kernel.
        if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, 524):
            raise
        pytest.skip(f"{platform.release()} cannot register struct_ops: {e}")


def test_struct_ops_registers_and_closing_unregisters(
    bpf_objs: dict[str, Path],
) -> None:
    """Map.attach_struct_ops writes the kernel's value (the name, each member's program
    fd) into the map, which registers the congestion control: the kernel lists it, a
    socket can take it and runs its init; closing the link unregisters it."""
    path = bpf_objs["struct_ops"]
    try:
        obj = bpfbind.sync.load_object(path)
    except bpfbind.BpfPermissionError:
        pytest.skip(f"{platform.release()} refuses struct_ops programs (EPERM)")
    with obj:
        with register_struct_ops(obj.maps["bpfbind_cc"]):
            assert "bpfbind_cc" in CONGESTION.read_text().split()
            connect_with(b"bpfbind_cc")
            assert obj.maps[".bss"].lookup(0)["inits"] >= 1
        assert "bpfbind_cc" not in CONGESTION.read_text().split()
        with pytest.raises(OSError) as err:
            connect_with(b"bpfbind_cc")
        assert err.value.errno == errno.ENOENT
        # A map that is not struct_ops has nothing to register.
        with pytest.raises(bpfbind.BpfError, match="not a struct_ops map"):
            obj.maps[".bss"].attach_struct_ops()


def test_struct_ops_link_maps_register_through_a_link(
    bpf_objs: dict[str, Path], bpftool: Any
) -> None:
    """A `.struct_ops.link` map is created with BPF_F_LINK; registering it makes a BPF
    link of type struct_ops, and closing that link unregisters the ops."""
    path = bpf_objs["struct_ops_link"]
    try:
        obj = bpfbind.sync.load_object(path)
    except bpfbind.BpfPermissionError:
        pytest.skip(f"{platform.release()} refuses struct_ops programs (EPERM)")
    except bpfbind.UnsupportedFeatureError as e:
        # Before Linux 6.4 the kernel has no struct_ops links: said, not a bare EINVAL.
        assert "struct_ops links" in str(e) and "6.4" in str(e), e
        pytest.skip(f"{platform.release()} has no struct_ops links (Linux 6.4+)")
    with obj:
        ops = obj.maps["bpfbind_cc_link"]
        assert ops.flags & (1 << 13)  # BPF_F_LINK
        with register_struct_ops(ops) as link:
            (link_id,) = link.ids
            shown = json.loads(bpftool(["-j", "link", "show", "id", str(link_id)]))
            assert shown["type"] == "struct_ops"
            assert "bpfbind_cc_link" in CONGESTION.read_text().split()
            connect_with(b"bpfbind_cc_link")
            assert obj.maps[".bss"].lookup(0)["inits"] >= 1
        assert "bpfbind_cc_link" not in CONGESTION.read_text().split()
