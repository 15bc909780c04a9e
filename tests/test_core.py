"""CO-RE relocations (issue 10): bpfbind must give the kernel exactly the
instructions libbpf gives it. Each test loads one object both ways, with Debian's
bpftool (libbpf 1.1) and with bpfbind, and compares the kernel's program tags (a hash
of the final instructions, map fds zeroed): equal tags mean the same relocated code.

The objects (tests/bpf/core_*.bpf.c) read the kernel through local type definitions
that differ from the kernel's (`___flavour` names, fields reordered, other sizes and
signedness, fields, types and enumerators the kernel lacks) and cover every relocation
kind libbpf knows; test_objects_cover_every_relocation_kind checks that from libbpf's
own log. core_run and core_matches also run (BPF_PROG_TEST_RUN) and report what their
relocations resolved to, checked against /sys/kernel/btf/vmlinux and /proc."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import LibbpfPinned, assert_same_programs, pinned_value, require_obj

import bpfbind
import bpfbind.sync

pytestmark = pytest.mark.kernel

VMLINUX = Path("/sys/kernel/btf/vmlinux")

# libbpf's names of the relocation kinds (relo_core.c, core_relo_kind_str).
FIELD_KINDS = ("byte_off", "byte_sz", "field_exists", "signed", "lshift_u64")
ALL_KINDS = frozenset(
    (
        *FIELD_KINDS,
        "rshift_u64",
        "local_type_id",
        "target_type_id",
        "type_exists",
        "type_size",
        "enumval_exists",
        "enumval_value",
        "type_matches",
    )
)

CORE_OBJECTS = [
    "core_run",
    "core_fields",
    "core_guarded",
    "core_matches",
    "core_vmlinux",
]


# --- helpers --------------------------------------------------------------------------


def pinned_bss(maps_dir: Path) -> Path:
    """libbpf pins `<obj>.bss` as `<obj>_bss`."""
    (name,) = [n for n in os.listdir(maps_dir) if n.endswith("bss")]
    return maps_dir / name


def bpftool_exe() -> str:
    exe = shutil.which("bpftool") or shutil.which("bpftool", path="/usr/sbin:/sbin")
    assert exe is not None  # the bpftool fixture skipped otherwise
    return exe


def libbpf_debug_log(obj: Path, pin_dir: Path) -> tuple[int, str]:
    """`bpftool -d prog loadall`: libbpf's debug log, with each CO-RE relocation."""
    proc = subprocess.run(
        [bpftool_exe(), "-d", "prog", "loadall", str(obj), str(pin_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.returncode, proc.stderr


def local_type_id(bpftool: Any, obj: Path, kind: str, name: str) -> int:
    """The id of a named type in the object's own BTF."""
    types = json.loads(bpftool(["-j", "btf", "dump", "file", obj]))["types"]
    (found,) = [t["id"] for t in types if t["kind"] == kind and t.get("name") == name]
    return int(found)


class KernelBtf:
    """/sys/kernel/btf/vmlinux as `bpftool -j btf dump` gives it: the facts the
    relocations must resolve to, found without the loader's code."""

    def __init__(self, types: list[dict[str, Any]]) -> None:
        self.by_id = {int(t["id"]): t for t in types}
        self.by_name: dict[tuple[str, str], dict[str, Any]] = {}
        for t in types:
            self.by_name.setdefault((t["kind"], t.get("name", "")), t)

    def named(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.by_name.get((kind, name))

    def struct(self, name: str) -> dict[str, Any]:
        found = self.named("STRUCT", name)
        assert found is not None, f"no struct {name} in {VMLINUX}"
        return found

    def resolve(self, type_id: int) -> dict[str, Any]:
        """Through typedefs and modifiers, as libbpf's skip_mods_and_typedefs."""
        t = self.by_id[type_id]
        while t["kind"] in ("TYPEDEF", "CONST", "VOLATILE", "RESTRICT", "TYPE_TAG"):
            t = self.by_id[int(t["type_id"])]
        return t

    def member(self, struct: dict[str, Any], name: str) -> tuple[int, dict[str, Any]]:
        """(bit offset, member record) of `name`, looking into anonymous members."""
        for m in struct.get("members", []):
            if m["name"] == name:
                return int(m["bits_offset"]), m
            if m["name"] == "(anon)":
                inner = self.resolve(int(m["type_id"]))
                if inner["kind"] in ("STRUCT", "UNION"):
                    try:
                        off, found = self.member(inner, name)
                    except KeyError:
                        continue
                    return int(m["bits_offset"]) + off, found
        raise KeyError(name)

    def offset(self, struct_name: str, *path: str) -> int:
        """Byte offset of struct_name.path[0].path[1]... (embedded structs)."""
        t, bits = self.struct(struct_name), 0
        for name in path:
            off, m = self.member(t, name)
            bits += off
            t = self.resolve(int(m["type_id"]))
        assert bits % 8 == 0
        return bits // 8

    def size(self, t: dict[str, Any]) -> int:
        if t["kind"] == "PTR":
            return 8
        if t["kind"] == "ARRAY":
            return int(t["nr_elems"]) * self.size(self.resolve(int(t["type_id"])))
        return int(t["size"])

    def field_size(self, struct_name: str, name: str) -> int:
        _, m = self.member(self.struct(struct_name), name)
        return self.size(self.resolve(int(m["type_id"])))

    def signed(self, struct_name: str, name: str) -> int:
        _, m = self.member(self.struct(struct_name), name)
        t = self.resolve(int(m["type_id"]))
        return int(t.get("encoding") == "SIGNED")

    def bitfield(self, struct_name: str, name: str) -> tuple[int, int, int, int]:
        """(byte_off, byte_sz, lshift_u64, rshift_u64) of a bitfield, computed as
        libbpf's bpf_core_calc_field_relo does on a little-endian target."""
        bit_off, m = self.member(self.struct(struct_name), name)
        bit_sz = int(m["bitfield_size"])
        byte_sz = self.size(self.resolve(int(m["type_id"])))
        byte_off = bit_off // 8 // byte_sz * byte_sz
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
        return byte_off, byte_sz, 64 - (bit_off + bit_sz - byte_off * 8), 64 - bit_sz

    def enumerator(self, enum_name: str, name: str) -> int | None:
        t = self.named("ENUM", enum_name) or self.named("ENUM64", enum_name)
        if t is None:
            return None
        values = {v["name"]: int(v["val"]) for v in t["values"]}
        value = values.get(name)
        # bpftool prints a signed 32-bit enumerator as negative; the program sees u64.
        return None if value is None else value % (1 << 64)


@pytest.fixture(scope="module")
def vmlinux(bpftool: Any) -> KernelBtf:
    if not VMLINUX.exists():
        pytest.skip(f"{VMLINUX} missing: the kernel has no BTF, CO-RE cannot load")
    return KernelBtf(
        json.loads(bpftool(["-j", "btf", "dump", "file", VMLINUX]))["types"]
    )


@pytest.fixture
def packet(tmp_path: Path) -> Path:
    """64 zero bytes for `bpftool prog run ... data_in`, as bpfbind's test_run sends."""
    path = tmp_path / "packet"
    path.write_bytes(bytes(64))
    return path


# --- the relocated code is libbpf's ---------------------------------------------------


@pytest.mark.parametrize("case", CORE_OBJECTS)
def test_core_object_loads_with_libbpfs_instructions(
    case: str, bpf_objs: Mapping[str, Path], pin_dir: Path, libbpf_loadall: Any
) -> None:
    # core_fields: byte_off in ALU immediates (BPF_CORE_READ), in direct loads
    #   through BTF pointers (tp_btf, iter/task) and from the context (kprobe
    #   pt_regs, tracepoint, iterator context), nested structs, array elements,
    #   members inside anonymous unions/structs (sk_buff), load sizes narrowed
    #   8 -> 4, byte_sz, field_exists, signed, lshift/rshift of task_struct and
    #   sk_buff bitfields, and an unresolved read behind bpf_core_field_exists.
    # core_run: every kind but type_matches (ALU and LD_IMM64 patches), ENUM64.
    # core_guarded: unresolved relocations of each poisonable kind, never reached.
    # core_matches: type_matches (built with clang-19).
    # core_vmlinux: built against the build host's vmlinux.h; on the kernel matrix's
    #   6.1 and 6.12 its task_struct offsets move.
    obj = require_obj(bpf_objs, case)
    theirs = libbpf_loadall(obj, pin_dir / "bpftool")
    with bpfbind.sync.load_object(obj) as ours:
        assert_same_programs(theirs, ours)


def test_unresolved_relocations_the_verifier_never_reaches_load(
    bpf_objs: Mapping[str, Path], pin_dir: Path, libbpf_loadall: Any
) -> None:
    # Behind false bpf_core_field_exists / bpf_core_type_exists /
    # bpf_core_enum_value_exists checks: byte_off, byte_sz, signed, lshift_u64,
    # rshift_u64 of a missing field and bitfield, fields of a missing type,
    # enumval_value of a missing enumerator and of a missing enum. libbpf
    # poisons each instruction; the verifier prunes the dead branches.
    obj = bpf_objs["core_guarded"]
    theirs = libbpf_loadall(obj, pin_dir / "bpftool")
    assert sorted(theirs) == ["guarded_enums", "guarded_fields", "guarded_types"]
    with bpfbind.sync.load_object(obj) as ours:
        assert_same_programs(theirs, ours)


REFUSED = [
    # (object, relocation kind as libbpf spells it, local type)
    ("core_fail_byte_off", "byte_off", "task_struct___missing"),
    ("core_fail_byte_sz", "byte_sz", "no_such_type___missing"),
    ("core_fail_lshift", "lshift_u64", "task_struct___missing"),
    ("core_fail_enumval", "enumval_value", "pid_type___missing"),
]


@pytest.mark.parametrize(("case", "kind", "local_type"), REFUSED)
def test_unresolved_relocation_the_verifier_reaches_is_refused(
    case: str,
    kind: str,
    local_type: str,
    bpf_objs: Mapping[str, Path],
    pin_dir: Path,
    bpftool: Any,
    fd_snapshot: Any,
) -> None:
    obj = bpf_objs[case]
    with pytest.raises(RuntimeError) as libbpf_refused:
        bpftool(["prog", "loadall", obj, pin_dir / "bpftool"])
    # libbpf's rewritten verifier log, e.g. "failed to resolve CO-RE relocation
    # <byte_off> [5] struct task_struct___missing.no_such_field (0:1 @ offset 8)"
    stderr = getattr(libbpf_refused.value, "stderr", "")
    assert "failed to resolve CO-RE relocation" in stderr, stderr
    assert f"<{kind}>" in stderr, stderr
    assert local_type in stderr, stderr
    assert not (pin_dir / "bpftool").exists()

    before = fd_snapshot()
    with pytest.raises(bpfbind.VerifierError) as refused:
        bpfbind.sync.load_object(obj)
    message = str(refused.value)
    assert "CO-RE relocation" in message, message
    assert kind in message, message
    assert local_type in message, message
    assert fd_snapshot() == before


# --- what the relocations resolved to, seen by running programs -----------------------

# struct core_results of core_run.bpf.c: every field a __u64 but `comm`.
RESULT_FIELDS = (
    "runs",
    "pid",
    "tgid",
    "parent_tgid",
    "start_code",
    "end_code",
    "start_stack",
    "comm1",
    "comm",
    "pid_off",
    "start_stack_off",
    "vruntime_off",
    "comm_size",
    "mm_size",
    "prio_signed",
    "flags_signed",
    "pid_exists",
    "no_such_field_exists",
    "no_such_field_value",
    "execve_off",
    "execve_size",
    "execve_lshift",
    "execve_rshift",
    "execve_signed",
    "execve_value",
    "task_local_id",
    "task_kernel_id",
    "no_such_type_kernel_id",
    "task_exists",
    "no_such_type_exists",
    "task_size",
    "mm_struct_size",
    "pid_type_size",
    "sid_exists",
    "no_such_enumerator_exists",
    "sid_value",
    "pid_value",
    "max_value",
    "no_such_enumerator_value",
    "iov_exists",
    "iov_max_value",
    "iov_iouring_value",
)
RESULT_FORMAT = "<" + "".join("16s" if f == "comm" else "Q" for f in RESULT_FIELDS)


def core_results(raw: bytes) -> dict[str, Any]:
    assert len(raw) == struct.calcsize(RESULT_FORMAT)
    return dict(zip(RESULT_FIELDS, struct.unpack(RESULT_FORMAT, raw), strict=True))


def expected_core_results(vmlinux: KernelBtf, local_task_id: int) -> dict[str, int]:
    """What every relocation of core_run must resolve to on this kernel."""
    off, size, lshift, rshift = vmlinux.bitfield("task_struct", "in_execve")
    iov_max = vmlinux.enumerator("net_iov_type", "NET_IOV_MAX")
    iov_iouring = vmlinux.enumerator("net_iov_type", "NET_IOV_IOURING")
    pid_type = vmlinux.named("ENUM", "pid_type")
    assert pid_type is not None
    return {
        "pid_off": vmlinux.offset("task_struct", "pid"),
        "start_stack_off": vmlinux.offset("mm_struct", "start_stack"),
        "vruntime_off": vmlinux.offset("task_struct", "se", "vruntime"),
        "comm_size": vmlinux.field_size("task_struct", "comm"),
        "mm_size": vmlinux.field_size("task_struct", "mm"),
        "prio_signed": vmlinux.signed("task_struct", "prio"),
        "flags_signed": vmlinux.signed("task_struct", "flags"),
        "pid_exists": 1,
        "no_such_field_exists": 0,
        "no_such_field_value": 0,
        "execve_off": off,
        "execve_size": size,
        "execve_lshift": lshift,
        "execve_rshift": rshift,
        "execve_signed": vmlinux.signed("task_struct", "in_execve"),
        "execve_value": 0,  # the running task is not inside execve()
        "task_local_id": local_task_id,
        "task_kernel_id": int(vmlinux.struct("task_struct")["id"]),
        "no_such_type_kernel_id": 0,
        "task_exists": 1,
        "no_such_type_exists": 0,
        "task_size": int(vmlinux.struct("task_struct")["size"]),
        "mm_struct_size": int(vmlinux.struct("mm_struct")["size"]),
        "pid_type_size": int(pid_type["size"]),
        "sid_exists": 1,
        "no_such_enumerator_exists": 0,
        "sid_value": vmlinux.enumerator("pid_type", "PIDTYPE_SID") or 0,
        "pid_value": vmlinux.enumerator("pid_type", "PIDTYPE_PID") or 0,
        "max_value": vmlinux.enumerator("pid_type", "PIDTYPE_MAX") or 0,
        "no_such_enumerator_value": 0,
        # an ENUM64 on 6.18 (NET_IOV_MAX = ~0ULL): the relocated value needs 64 bits
        "iov_exists": int(iov_max is not None),
        "iov_max_value": iov_max or 0,
        "iov_iouring_value": iov_iouring or 0,
    }


def proc_stat(path: str, field: int) -> int:
    """Field `field` of /proc/.../stat, numbered as in proc(5) (comm is field 2)."""
    text = Path(path).read_text()
    return int(text[text.rindex(")") + 2 :].split()[field - 3])


def test_core_run_resolves_as_the_kernel_btf_says(
    libbpf_pinned: LibbpfPinned,
    vmlinux: KernelBtf,
    bpftool: Any,
    packet: Path,
) -> None:
    obj, progs, maps, theirs = libbpf_pinned("core_run")
    expected = expected_core_results(
        vmlinux, local_type_id(bpftool, obj, "STRUCT", "task_struct___mine")
    )

    # libbpf: the program runs in bpftool's process, a child of this one.
    bpftool(["prog", "run", "pinned", progs / "core_run", "data_in", packet])
    got = core_results(pinned_value(bpftool, pinned_bss(maps)))
    assert {k: got[k] for k in expected} == expected
    assert got["runs"] == 1
    assert got["comm"].rstrip(b"\0") == b"bpftool"
    assert got["comm1"] == ord("p")
    assert got["pid"] == got["tgid"] > 0
    assert got["parent_tgid"] == os.getpid()
    assert 0 < got["start_code"] < got["end_code"] < got["start_stack"]

    # bpfbind: the same instructions, run in this thread.
    with bpfbind.sync.load_object(obj) as ours:
        assert_same_programs(theirs, ours)
        retval, _ = ours.programs["core_run"].test_run(bytes(64))
        assert retval == 0
        got = core_results(ours.maps[".bss"].lookup(bytes(4), raw=True) or b"")
    assert {k: got[k] for k in expected} == expected
    tid = threading.get_native_id()
    comm = Path(f"/proc/self/task/{tid}/comm").read_bytes().rstrip(b"\n")
    assert got["runs"] == 1
    assert got["comm"].rstrip(b"\0") == comm
    assert got["comm1"] == comm[1]
    assert (got["pid"], got["tgid"], got["parent_tgid"]) == (
        tid,
        os.getpid(),
        os.getppid(),
    )
    # proc(5): startcode 26, endcode 27, startstack 28
    assert (got["start_code"], got["end_code"], got["start_stack"]) == tuple(
        proc_stat("/proc/self/stat", field) for field in (26, 27, 28)
    )


# struct match_results of core_matches.bpf.c, in order, with what each must be.
MATCHES = {
    "runs": 1,
    "task_ok": 1,
    "task_wrong_size": 0,
    "task_no_member": 0,
    "task_wrong_kind": 0,
    "pid_type_ok": 1,
    "pid_type_no_enumerator": 0,
    "no_such_type": 0,
    "wrong_size_exists": 1,
}


def match_results(raw: bytes) -> dict[str, int]:
    values = struct.unpack(f"<{len(MATCHES)}Q", raw)
    return dict(zip(MATCHES, values, strict=True))


def test_type_matches_answers_as_libbpf(
    libbpf_pinned: LibbpfPinned,
    bpftool: Any,
    packet: Path,
) -> None:
    obj, progs, maps, theirs = libbpf_pinned("core_matches")
    bpftool(["prog", "run", "pinned", progs / "core_matches", "data_in", packet])
    assert match_results(pinned_value(bpftool, pinned_bss(maps))) == MATCHES

    with bpfbind.sync.load_object(obj) as ours:
        assert_same_programs(theirs, ours)
        ours.programs["core_matches"].test_run(bytes(64))
        assert (
            match_results(ours.maps[".bss"].lookup(bytes(4), raw=True) or b"")
            == MATCHES
        )


# --- the test objects themselves ------------------------------------------------------


def test_objects_cover_every_relocation_kind(
    bpf_objs: Mapping[str, Path], pin_dir: Path, vmlinux: KernelBtf
) -> None:
    # A guard on the inputs, not on bpfbind: a newer clang that folds a relocation
    # away would silently weaken the tag comparisons above.
    kinds: set[str] = set()
    logs = {}
    for case in CORE_OBJECTS:
        if case not in bpf_objs:
            continue
        rc, log = libbpf_debug_log(bpf_objs[case], pin_dir / case)
        assert rc == 0, log
        logs[case] = log
        kinds |= set(re.findall(r"relo #\d+: <(\w+)>", log))
    wanted = set(ALL_KINDS) if "core_matches" in logs else ALL_KINDS - {"type_matches"}
    assert kinds == wanted
    # Every instruction form libbpf patches: ALU immediates, LD_IMM64 (type ids,
    # enum values, 64-bit ones too), LDX offsets, LDX sizes, poisoned instructions.
    assert "(ALU/ALU64) imm" in logs["core_run"]
    assert "(LDIMM64) imm64" in logs["core_run"]
    if vmlinux.named("ENUM64", "net_iov_type") is not None:  # 6.18 has it
        assert "(LDIMM64) imm64 1 -> 18446744073709551615" in logs["core_run"]
    assert "(LDX/ST/STX) off" in logs["core_fields"]
    assert "(LDX/ST/STX) mem_sz 8 -> 4" in logs["core_fields"]
    assert "w/ invalid insn" in logs["core_guarded"]
    # Members the kernel keeps in anonymous unions and structs: their access
    # strings in the target go through the anonymous levels (0:0:0:2:0 on 6.18).
    for field in ("dev", "pkt_type"):
        spec = re.search(
            rf"candidate #0 <byte_off> \[\d+\] struct sk_buff\.{field} "
            r"\(([\d:]+) @",
            logs["core_fields"],
        )
        assert spec is not None, field
        assert spec[1].count(":") >= 3, (field, spec[1])
