"""Extern symbols against the real kernel, each checked against Debian's bpftool (libbpf
1.1) loading the same object: equal program tags, the same `.kconfig` map value and
bindings, and the same refusals (a strong extern the kernel lacks, a kfunc prototype the
kernel's does not match, a typed ksym the verifier cannot place)."""

from __future__ import annotations

import errno
import json
import re
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import require_kernel_symbol

import bpfbind

pytestmark = pytest.mark.kernel

# conftest's BpftoolError, a RuntimeError carrying bpftool's stderr.
BpftoolError = RuntimeError

BPF_F_RDONLY_PROG = 0x80
BPF_F_MMAPABLE = 0x400


def libbpf_load(bpftool: Any, obj: Path, pin: Path) -> dict[str, dict[str, Any]]:
    """`bpftool prog loadall`: program name -> its `prog show` record."""
    bpftool(["prog", "loadall", obj, pin])
    return {
        p.name: json.loads(bpftool(["-j", "prog", "show", "pinned", p]))
        for p in sorted(pin.iterdir())
    }


def assert_same_tags(bpftool: Any, obj: Path, pin: Path) -> None:
    libbpf = libbpf_load(bpftool, obj, pin)
    with bpfbind.sync.load_object(obj) as loaded:
        assert set(loaded.programs) == set(libbpf)
        for name, prog in loaded.programs.items():
            assert prog.tag == libbpf[name]["tag"], name


def map_dump(bpftool: Any, map_id: int) -> Any:
    return json.loads(bpftool(["-j", "map", "dump", "id", map_id]))


def test_kconfig_tags_equal_libbpf(
    bpf_objs: dict[str, Path], bpftool: Any, pin_dir: Path
) -> None:
    assert_same_tags(bpftool, bpf_objs["externs_kconfig"], pin_dir / "libbpf")


def test_kconfig_map_is_the_one_libbpf_makes(
    bpf_objs: dict[str, Path], bpftool: Any, pin_dir: Path
) -> None:
    obj = bpf_objs["externs_kconfig"]
    libbpf = libbpf_load(bpftool, obj, pin_dir / "libbpf")
    (libbpf_map,) = libbpf["kconfig_hz"]["map_ids"]
    theirs = json.loads(bpftool(["-j", "map", "show", "id", libbpf_map]))
    with bpfbind.sync.load_object(obj) as loaded:
        m = loaded.maps[".kconfig"]
        ours = json.loads(bpftool(["-j", "map", "show", "id", m.id]))
        for key in ("type", "name", "flags", "bytes_key", "bytes_value", "max_entries"):
            assert ours[key] == theirs[key], key
        assert ours["flags"] == BPF_F_RDONLY_PROG | BPF_F_MMAPABLE
        assert ours.get("frozen") == theirs.get("frozen") == 1
        assert m.section == ".kconfig" and not m.is_metadata
        # Raw bytes and the BTF-formatted value (offsets in the DATASEC) alike.
        assert map_dump(bpftool, m.id) == map_dump(bpftool, libbpf_map)
        # Like libbpf, the map is held only by the programs that read it.
        for name, prog in loaded.programs.items():
            theirs_ids = libbpf[name].get("map_ids", [])
            assert (m.id in prog.used_maps()) == bool(theirs_ids), name
        assert "map_ids" not in libbpf["kconfig_none"]


def test_kconfig_values(bpf_objs: dict[str, Path], bpftool: Any) -> None:
    with bpfbind.sync.load_object(bpf_objs["externs_kconfig"]) as loaded:
        (rec,) = map_dump(bpftool, loaded.maps[".kconfig"].id)
    values: dict[str, Any] = {}
    for var in rec["formatted"]["value"][".kconfig"]:
        values.update(var)
    release = subprocess.run(
        ["uname", "-r"], capture_output=True, text=True, check=True
    ).stdout
    # libbpf reads "%u.%u.%u": Debian's "6.12.117+deb12-cloud-amd64" is 6.12.117.
    found = re.match(r"(\d+)\.(\d+)\.(\d+)", release)
    assert found, release
    major, minor, patch = (int(x) for x in found.groups())
    version = (major << 16) + (minor << 8) + min(patch, 255)
    assert values["LINUX_KERNEL_VERSION"] == version
    assert values["CONFIG_BPF"] is True
    assert values["CONFIG_BPF_SYSCALL"] == "TRI_YES"
    assert values["CONFIG_BPF_JIT"] == ord("y")
    # Weak externs the kernel config does not have read 0.
    assert values["CONFIG_BPFBIND_NO_SUCH_OPTION"] is False
    assert values["CONFIG_BPFBIND_NO_SUCH_NUMBER"] == 0
    assert values["LINUX_BPFBIND_UNKNOWN"] == 0


def test_strong_missing_kconfig_is_refused_naming_it(
    bpf_objs: dict[str, Path], bpftool: Any, pin_dir: Path
) -> None:
    obj = bpf_objs["externs_kconfig_missing"]
    with pytest.raises(BpftoolError):
        bpftool(["prog", "loadall", obj, pin_dir / "libbpf"])
    with pytest.raises(bpfbind.BpfError, match="CONFIG_BPFBIND_NOT_IN_ANY_KERNEL"):
        bpfbind.sync.load_object(obj)


def test_ksyms_and_kfuncs_tags_equal_libbpf(
    bpf_objs: dict[str, Path], bpftool: Any, pin_dir: Path
) -> None:
    """An untyped ksym (its kallsyms address is in the instruction, so in the tag),
    kfunc calls (bpf_task_acquire/release) and __weak misses, one a
    bpf_ksym_exists-guarded kfunc call."""
    require_kernel_symbol("bpf_task_acquire", "6.2")
    assert_same_tags(bpftool, bpf_objs["externs_ksyms"], pin_dir / "libbpf")


def test_typed_ksym_reaches_the_verifier_as_libbpf_sends_it(
    bpf_objs: dict[str, Path], bpftool: Any, pin_dir: Path
) -> None:
    """The kernel names the VAR its BTF id points to. Without CONFIG_KALLSYMS_ALL it has
    no address for it and both loaders get the same rejection; with it, both load."""
    obj = bpf_objs["externs_typed_ksym"]
    try:
        libbpf = libbpf_load(bpftool, obj, pin_dir / "libbpf")
    except BpftoolError as e:
        assert "kernel symbol 'runqueues'" in str(e)
        with pytest.raises(bpfbind.VerifierError) as err:
            bpfbind.sync.load_object(obj)
        log = err.value.log
        assert "failed to find the address for kernel symbol 'runqueues'" in log
        return
    with bpfbind.sync.load_object(obj) as loaded:
        assert loaded.programs["typed_ksym"].tag == libbpf["typed_ksym"]["tag"]


def test_incompatible_kfunc_prototype_is_refused(
    bpf_objs: dict[str, Path], bpftool: Any, pin_dir: Path
) -> None:
    require_kernel_symbol("bpf_task_release", "6.2")
    obj = bpf_objs["externs_kfunc_mismatch"]
    with pytest.raises(BpftoolError, match="incompatible"):
        bpftool(["prog", "loadall", obj, pin_dir / "libbpf"])
    match = "'bpf_task_release': incompatible types"
    with pytest.raises(bpfbind.BpfError, match=match):
        bpfbind.sync.load_object(obj)


def require_module_btf(module: str) -> None:
    """The module's BTF, loading the module if it is not (the kernel matrix's Debian
    kernels have nf_conntrack as a module; the host's kernel has no modules)."""
    btf = Path("/sys/kernel/btf") / module
    if not btf.exists():
        subprocess.run(["modprobe", module], capture_output=True, check=False)
    if not btf.exists():
        pytest.skip(f"no BTF for kernel module {module}: this kernel cannot load it")


def test_module_kfuncs_get_their_btf_slot_as_libbpf_numbers_them(
    bpf_objs: dict[str, Path], bpftool: Any, pin_dir: Path
) -> None:
    """bpf_xdp_ct_lookup/bpf_ct_release live in nf_conntrack's BTF: the calls carry
    the module BTF's fd_array slot (part of the tag, equal to libbpf's), and run."""
    require_module_btf("nf_conntrack")
    obj = bpf_objs["externs_module_kfunc"]
    assert_same_tags(bpftool, obj, pin_dir / "libbpf")
    with bpfbind.sync.load_object(obj) as loaded:
        prog = loaded.programs["ct_lookup"]
        assert prog.test_run(b"\0" * 64)[0] == 2  # XDP_PASS
        bss = loaded.maps[".bss"].lookup(0, raw=True)
        assert bss is not None
        lookups, found, last_error = struct.unpack_from("<QQi", bss)
        # No such connection: the module's lookup ran and said so.
        assert (lookups, found, last_error) == (1, 0, -errno.ENOENT)
