"""Names a Python user reaches for: `MapType`, `ProgType`, `AttachType` from the one
uapi table (checked against the running kernel's own enums), accepted where a number
is; `Id`/`Fd` instead of bare ints; every error a `BpfError`."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import shown_metadata

import bpfbind
from bpfbind import AttachType, MapType, ProgType

STUB = Path(bpfbind.__file__).parent / "_uapi.pyi"


def kernel_enum(name: str, prefix: str) -> dict[int, set[str]]:
    """An enum of the running kernel's BTF: its names (prefix stripped, lower case) by
    value; newer kernels keep old names as aliases (CGROUP_STORAGE_DEPRECATED)."""
    bpftool = shutil.which("bpftool") or shutil.which("bpftool", path="/usr/sbin")
    if bpftool is None or not Path("/sys/kernel/btf/vmlinux").exists():
        pytest.skip("needs bpftool and /sys/kernel/btf/vmlinux")
    raw = subprocess.run(
        [bpftool, "-j", "btf", "dump", "file", "/sys/kernel/btf/vmlinux"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (enum,) = [t for t in json.loads(raw)["types"] if t.get("name") == name]
    names: dict[int, set[str]] = {}
    for v in enum["values"]:
        if not v["name"].startswith("__MAX"):
            short = v["name"].removeprefix(prefix).lower()
            names.setdefault(v["val"], set()).add(short)
    return names


@pytest.mark.parametrize(
    "cls,enum,prefix",
    [
        (MapType, "bpf_map_type", "BPF_MAP_TYPE_"),
        (ProgType, "bpf_prog_type", "BPF_PROG_TYPE_"),
        (AttachType, "bpf_attach_type", "BPF_"),
    ],
)
def test_the_table_agrees_with_the_kernel(cls: type, enum: str, prefix: str) -> None:
    kernel = kernel_enum(enum, prefix)
    ours = {int(m): m.name.lower() for m in cls}  # type: ignore[attr-defined]
    # Every number both know means the same; an older kernel knows fewer, a newer more.
    shared = set(ours) & set(kernel)
    assert len(shared) == min(len(ours), len(kernel))
    wrong = {v: (ours[v], kernel[v]) for v in shared if ours[v] not in kernel[v]}
    assert wrong == {}


def test_the_stub_lists_the_runtime_members() -> None:
    tree = ast.parse(STUB.read_text())
    stub = {
        node.name: {
            t.id: ast.literal_eval(a.value)
            for a in node.body
            if isinstance(a, ast.Assign)
            for t in a.targets
            if isinstance(t, ast.Name)
        }
        for node in tree.body
        if isinstance(node, ast.ClassDef)
    }
    for cls in (MapType, ProgType, AttachType):
        assert stub[cls.__name__] == {m.name: int(m) for m in cls}


@pytest.mark.kernel
@pytest.mark.parametrize("kind", [MapType.ARRAY, "array", "ARRAY", 2])
def test_create_map_takes_an_enum_a_name_or_a_number(kind: MapType | str | int) -> None:
    m = bpfbind.create_map(kind, 4, 8, 1)
    try:
        assert m.map_type == MapType.ARRAY == 2
    finally:
        m.close()


def test_an_unknown_map_type_name_lists_the_choices() -> None:
    bad = bpfbind.InvalidArgumentError
    with pytest.raises(bad, match=r"unknown MapType 'arary'.*array"):
        bpfbind.create_map("arary", 4, 8, 1)
    with pytest.raises(bpfbind.InvalidArgumentError, match="unknown ProgType"):
        bpfbind.sync.scan(prog_type="no_such_type")


@pytest.mark.kernel
def test_a_bare_int_where_a_program_is_expected_says_id_or_fd(
    bpf_objs: dict[str, Path],
) -> None:
    with bpfbind.sync.load_object(bpf_objs["metadata_used"]) as obj:
        prog = obj.programs["prog"]
        with pytest.raises(TypeError, match=r"Id\(\d+\).*Fd\(\d+\)"):
            bpfbind.sync.find_metadata(prog.id)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="bare int"):
            bpfbind.sync.bind_map(prog, 3)  # type: ignore[arg-type]
        assert bpfbind.sync.find_metadata(bpfbind.Id(prog.id)) == obj.metadata
        assert bpfbind.sync.find_metadata(bpfbind.Fd(prog.fd)) == obj.metadata


@pytest.mark.kernel
def test_find_metadata_on_a_map_is_a_bpf_error(bpf_objs: dict[str, Path]) -> None:
    with bpfbind.sync.load_object(bpf_objs["metadata_used"]) as obj:
        m = obj.maps[".rodata"]
        with pytest.raises(bpfbind.BpfError) as excinfo:
            bpfbind.sync.find_metadata(bpfbind.Fd(m.fd))
        assert isinstance(excinfo.value, bpfbind.InvalidArgumentError)
        assert isinstance(excinfo.value, ValueError)  # as before
        assert excinfo.value.errno == 22
        assert "not a BPF program" in str(excinfo.value)


def test_every_exported_error_is_a_bpf_error_but_read_only() -> None:
    errors = [
        getattr(bpfbind, n)
        for n in bpfbind.__all__
        if isinstance(getattr(bpfbind, n), type)
        and issubclass(getattr(bpfbind, n), BaseException)
    ]
    assert bpfbind.ReadOnlyError in errors
    for e in errors:
        # ReadOnlyError is an AttributeError: Python allows no OSError that is one too.
        assert issubclass(e, bpfbind.BpfError) or e is bpfbind.ReadOnlyError, e


@pytest.mark.kernel
def test_object_metadata_keeps_the_order_scans_and_bpftool_show(
    bpf_objs: dict[str, Path],
) -> None:
    # multi: two .rodata variables, then a .metadata one.
    with bpfbind.sync.load_object(bpf_objs["multi"]) as obj:
        prog = next(iter(obj.programs.values()))
        scanned = bpfbind.sync.program_info(prog).metadata
        listed = shown_metadata(prog.id)
        assert list(obj.metadata) == list(scanned) == list(listed)
        assert list(obj.metadata) == ["version", "level", "build_id"]
