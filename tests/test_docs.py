"""Objects explain themselves: every public class, method, property and function has a
docstring, the stubs type every return, and reprs show the fields a reader looks for."""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import bpfbind
from bpfbind import sync

ROOT = Path(__file__).resolve().parent.parent
# The stub beside the package under test (this tree's, or the installed wheel's).
STUB = Path(bpfbind.__file__).resolve().parent / "_native.pyi"
MODULES = [
    "bpfbind",
    "bpfbind.sync",
    "bpfbind.show",
    "bpfbind.exporter",
    "bpfbind.skel",
]


def _own(cls: type, name: str) -> tuple[type, Any] | None:
    """The class of the MRO defining `name`, and the raw attribute there."""
    for base in cls.__mro__:
        if name in base.__dict__:
            return base, base.__dict__[name]
    return None


def _is_ours(obj: Any) -> bool:
    return str(getattr(obj, "__module__", "") or "").startswith("bpfbind")


def _undocumented_members(cls: type, where: str) -> Iterator[str]:
    for name in sorted(dir(cls)):
        if name.startswith("_"):
            continue
        found = _own(cls, name)
        if found is None:
            continue
        owner, raw = found
        # Members of builtins and the standard library (OSError.errno, int.bit_length,
        # IntEnum machinery) are documented where they come from.
        if not _is_ours(owner):
            continue
        if isinstance(raw, cls) or not (
            callable(raw)
            or isinstance(raw, (property, classmethod, staticmethod))
            or inspect.isgetsetdescriptor(raw)
            or inspect.ismemberdescriptor(raw)
            or inspect.isdatadescriptor(raw)
        ):
            continue  # enum members, constants, plain class attributes
        if isinstance(raw, (classmethod, staticmethod)):
            raw = raw.__func__
        if isinstance(raw, type):
            continue  # nested classes are walked when reached by name
        doc = raw.__doc__
        slots = owner.__dict__.get("__slots__")
        if inspect.ismemberdescriptor(raw) and isinstance(slots, dict):
            doc = slots.get(name)  # a slot's docstring, as help() shows it
        if not (doc or "").strip():
            yield f"{where}.{name}"


def _undocumented(mod: ModuleType, extra: dict[str, Any] | None = None) -> list[str]:
    names = {n: getattr(mod, n) for n in getattr(mod, "__all__", [])}
    names.update(extra or {})
    missing = []
    for name, obj in sorted(names.items()):
        where = f"{mod.__name__}.{name}"
        if inspect.ismodule(obj):
            if not (obj.__doc__ or "").strip():
                missing.append(where)
            continue
        if not (inspect.isclass(obj) or callable(obj)):
            continue  # __version__ and other values
        if not (obj.__doc__ or "").strip():
            missing.append(where)
        if inspect.isclass(obj):
            missing.extend(_undocumented_members(obj, where))
    return missing


def test_every_public_name_has_a_docstring() -> None:
    missing: list[str] = []
    for modname in MODULES:
        mod = importlib.import_module(modname)
        if not (mod.__doc__ or "").strip():
            missing.append(modname)
        missing.extend(_undocumented(mod))
    # Classes users meet without naming them: what the calls return.
    native = importlib.import_module("bpfbind._native")
    reached = {
        n: getattr(native, n)
        for n in dir(native)
        if not n.startswith("_") and inspect.isclass(getattr(native, n))
    }
    missing.extend(_undocumented(native, reached))
    assert missing == []


def test_the_walk_finds_what_lacks_a_docstring() -> None:
    # The checker itself: an undocumented method, property and class are reported.
    class Bare:
        def method(self) -> None:
            pass

        @property
        def prop(self) -> int:
            return 1

    Bare.__module__ = "bpfbind.fake"
    fake = ModuleType("bpfbind.fake", "A module.")
    fake.__all__ = ["Bare"]  # type: ignore[attr-defined]
    fake.Bare = Bare  # type: ignore[attr-defined]
    assert _undocumented(fake) == [
        "bpfbind.fake.Bare",
        "bpfbind.fake.Bare.method",
        "bpfbind.fake.Bare.prop",
    ]


def test_stub_functions_all_have_return_types() -> None:
    tree = ast.parse(STUB.read_text())
    missing = [
        f"{node.name} (line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.returns is None
    ]
    assert missing == []
    unannotated = [
        f"{node.name}({a.arg}) (line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        if a.annotation is None and a.arg not in ("self", "cls")
    ]
    assert unannotated == []


# Types that exist only for type checkers: the TypedDicts `object_layout` returns and
# the protocol of objects with `fileno()`.
STUB_ONLY = ["HasFileno", "MapLayout", "ObjectLayout", "ProgramLayout", "TypeDesc"]


def test_stubtest_agrees_with_the_extension(tmp_path: Path) -> None:
    # mypy's stubtest imports the abi3 extension and compares every signature with the
    # stub (PyO3 gives each native function a __text_signature__).
    pytest.importorskip("mypy.stubtest")
    allow = tmp_path / "allowlist.txt"
    allow.write_text("".join(f"bpfbind._native.{n}\n" for n in STUB_ONLY))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python")}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy.stubtest",
            "bpfbind._native",
            "--ignore-missing-stub",
            "--allowlist",
            str(allow),
        ],
        capture_output=True,
        text=True,
        env=env,
        # mypy keeps a cache in the working directory; the checkout may be read-only
        # (the kernel matrix VMs mount it so).
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stdout + res.stderr


# --- reprs ------------------------------------------------------------------------


@pytest.mark.kernel
def test_program_map_and_info_reprs(bpf_objs: dict[str, Path]) -> None:
    with sync.load_object(bpf_objs["metadata_used"]) as obj:
        prog = obj.programs["prog"]
        r = repr(prog)
        assert r == (f"<Program prog id={prog.id} tag={prog.tag} type=cgroup_skb>"), r
        rodata = next(m for n, m in obj.maps.items() if n.endswith(".rodata"))
        assert repr(rodata) == (
            f"<Map {rodata.name} id={rodata.id} type=array key_size=4 "
            f"value_size={rodata.value_size} max_entries=1>"
        )
        info = sync.program_info(prog)
        assert repr(info) == (
            f"<ProgramInfo id={prog.id} type=cgroup_skb name=prog tag={prog.tag} "
            "metadata={'a': 'foo', 'b': 1}>"
        )
        assert "closed" not in repr(obj)
    assert repr(prog).endswith(" closed>")
    assert repr(rodata).endswith(" closed>")
    assert repr(obj).endswith(" closed>")
    # A record outlives the program: it says what was read, nothing is closed.
    assert repr(info).startswith(f"<ProgramInfo id={prog.id} ")


@pytest.mark.kernel
def test_map_repr_names_its_type(bpf_objs: dict[str, Path]) -> None:
    m = bpfbind.create_map(bpfbind.MapType.HASH, 8, 16, 32)
    try:
        assert repr(m) == (
            f"<Map {m.name} id={m.id} type=hash "
            "key_size=8 value_size=16 max_entries=32>"
        )
    finally:
        m.close()


@pytest.mark.kernel
def test_link_repr(bpf_objs: dict[str, Path]) -> None:
    with sync.load_object(bpf_objs["links"]) as obj:
        prog = obj.programs["tp_getppid"]
        link = prog.attach()
        r = repr(link)
        assert r == (
            f"<Link tracepoint id={link.id} prog_id={prog.id} "
            'target="tracepoint syscalls/sys_enter_getppid">'
        ), r
        link.close()
        assert repr(link).endswith(" closed>")


def _skeleton(obj: Path, out_dir: Path) -> ModuleType:
    out = out_dir / "meta_skel.py"
    subprocess.run(
        [sys.executable, "-m", "bpfbind", "gen", "skeleton", str(obj), "-o", str(out)],
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "python")},
    )
    spec = importlib.util.spec_from_file_location(out.stem, out)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generated_skeleton_classes_are_documented(
    bpf_objs: dict[str, Path], tmp_path: Path
) -> None:
    mod = _skeleton(bpf_objs["metadata_used"], tmp_path)
    classes = {
        n: c
        for n, c in vars(mod).items()
        if inspect.isclass(c) and c.__module__ == mod.__name__
    }
    assert "MetadataUsedSkel" in classes
    missing = []
    for name, cls in sorted(classes.items()):
        if not (cls.__doc__ or "").strip():
            missing.append(name)
        cls.__module__ = "bpfbind.generated"  # walked as one of ours
        missing.extend(_undocumented_members(cls, name))
    assert missing == []


@pytest.mark.kernel
def test_skeleton_repr(bpf_objs: dict[str, Path], tmp_path: Path) -> None:
    mod = _skeleton(bpf_objs["metadata_used"], tmp_path)
    skel = mod.MetadataUsedSkel()
    r = repr(skel)
    assert re.fullmatch(
        r"<MetadataUsedSkel metadata_used programs=\['prog'\] "
        r"maps=\[.*'\S*\.rodata'.*\] not loaded>",
        r,
    ), r
    with skel.load_sync() as s:
        r = repr(s)
        assert r.endswith("] loaded>"), r
    assert repr(s).endswith("] closed>")
