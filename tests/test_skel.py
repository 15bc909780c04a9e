"""Generated skeletons: valid, typed, reproducible modules whose views read what the
kernel holds, refuse writes where the map is frozen, and share `.bss` with programs."""

from __future__ import annotations

import enum
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import shown_metadata

import bpfbind
from bpfbind import _native
from bpfbind.skel import ReadOnlyError, StructView, generate

OBJECTS = [
    "metadata_used",
    "metadata_unused",
    "seed",
    "multi",
    "kinds",
    "long_name",
    "counter",
    "nometa",
    "odd_names",
]


def gen_module(obj: Path, out_dir: Path, *args: str) -> Path:
    out = out_dir / f"{obj.name.split('.')[0]}_skel.py"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bpfbind",
            "gen",
            "skeleton",
            str(obj),
            "-o",
            str(out),
            *args,
        ],
        check=True,
    )
    return out


def import_path(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def skel_class(mod: ModuleType) -> Any:
    (cls,) = [v for k, v in vars(mod).items() if k.endswith("Skel") and k != "Skeleton"]
    return cls


@pytest.fixture(scope="module")
def skels(
    bpf_objs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("skels")
    return {name: gen_module(bpf_objs[name], out) for name in OBJECTS}


def test_generated_modules_pass_mypy_strict_and_ruff(skels: dict[str, Path]) -> None:
    files = [str(p) for p in skels.values()]
    mypy = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *files],
        capture_output=True,
        text=True,
    )
    assert mypy.returncode == 0, mypy.stdout
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", *files],
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, ruff.stdout


def test_regenerating_gives_the_same_file(
    bpf_objs: dict[str, Path], tmp_path: Path
) -> None:
    for name in ("multi", "kinds", "odd_names"):
        data = bpf_objs[name].read_bytes()
        first = generate(data, name)
        assert generate(data, name) == first
        (tmp_path / "a").mkdir(exist_ok=True)
        (tmp_path / "b").mkdir(exist_ok=True)
        a = gen_module(bpf_objs[name], tmp_path / "a")
        b = gen_module(bpf_objs[name], tmp_path / "b")
        assert a.read_bytes() == b.read_bytes()


def test_unusual_names_become_distinct_valid_attributes(skels: dict[str, Path]) -> None:
    mod = import_path(skels["odd_names"])
    s = skel_class(mod)()
    # keywords get a trailing underscore, dotted sections become identifiers, case kept
    assert s.data_my_custom.def_ == 1 and s.data_my_custom.Def == 2
    assert s.rodata_cfg_v2.import_ == 7
    assert s.rodata.None_ == 9
    assert (s.data.await_.from_, s.data.await_.yield_) == (4, 5)
    assert s.metadata.commit_hash == "0ddba11"
    assert s.bss.a_variable_name_that_is_rather_long_indeed == 0


@pytest.mark.kernel
@pytest.mark.parametrize("name", OBJECTS)
def test_views_equal_what_the_kernel_and_cli_show(
    skels: dict[str, Path], name: str, bpftool: Any
) -> None:
    cls = skel_class(import_path(skels[name]))
    with cls.load_sync() as s:
        meta = s.obj.metadata
        for prog in s.obj.programs.values():
            assert bpfbind.sync.find_metadata(prog) == meta
            assert getattr(s.programs, prog.name) is prog
        if hasattr(s, "metadata"):
            for attr in dir(type(s.metadata)):
                if not attr.startswith("_") and attr != "SECTION":
                    assert meta[attr.rstrip("_")] == getattr(s.metadata, attr)
        if hasattr(s, "rodata"):
            for key, value in meta.items():
                view_name = "bpf_metadata_" + key
                if hasattr(s.rodata, view_name) and isinstance(value, int | str):
                    got = getattr(s.rodata, view_name)
                    # enums: the skeleton gives the IntEnum member, metadata its name
                    assert (got.name if isinstance(got, enum.IntEnum) else got) == value


@pytest.mark.kernel
@pytest.mark.parametrize("name", ["seed", "metadata_used", "kinds"])
def test_views_equal_what_prog_show_prints(skels: dict[str, Path], name: str) -> None:
    cls = skel_class(import_path(skels[name]))
    with cls.load_sync() as s:
        prog = next(iter(s.obj.programs.values()))
        shown = shown_metadata(prog.id)
        views = [getattr(s, v) for v in ("metadata", "rodata") if hasattr(s, v)]
        compared = 0
        for key, value in shown.items():
            for view in views:
                for attr in (key, "bpf_metadata_" + key):
                    if not hasattr(view, attr):
                        continue
                    got = getattr(view, attr)
                    if isinstance(got, enum.IntEnum):
                        got = got.name
                    if isinstance(got, StructView):
                        continue  # nested views: compared field by field elsewhere
                    if isinstance(value, str) and value.startswith("0x"):
                        continue  # bitfield text: compared in test_cli_show
                    if isinstance(got, str) and isinstance(value, list):
                        # a char array bpftool shows as numbers (not printable, or
                        # no NUL): the skeleton's str holds the same bytes
                        raw = got.encode("utf-8", "surrogateescape")
                        assert raw.ljust(len(value), b"\0") == bytes(value)
                    else:
                        assert got == value, (key, got, value)
                    compared += 1
        assert compared >= 1


@pytest.mark.kernel
def test_rodata_set_before_load_is_what_the_program_sees(
    skels: dict[str, Path],
) -> None:
    cls = skel_class(import_path(skels["multi"]))
    s = cls()
    s.rodata.len_limit = 77
    with s.load_sync():
        assert s.rodata.len_limit == 77
        rodata_map = next(m for m in s.obj.maps.values() if m.section == ".rodata")
        value = rodata_map.lookup(b"\0\0\0\0", raw=True)
        # BPF_MAP_LOOKUP_ELEM (not the mmap) returns the bytes the view decodes as 77
        assert value is not None and value == bytes(s.rodata._sec.buf[: len(value)])
        with pytest.raises(ReadOnlyError):
            s.rodata.len_limit = 78
        assert s.rodata.len_limit == 77


@pytest.mark.kernel
def test_metadata_view_never_takes_writes(skels: dict[str, Path]) -> None:
    cls = skel_class(import_path(skels["seed"]))
    s = cls()
    with pytest.raises(AttributeError):
        s.metadata.commit_hash = "changed"
    with s.load_sync():
        assert s.metadata.commit_hash == "abcdef123456"
        with pytest.raises(AttributeError):
            s.metadata.commit_hash = "changed"
        sec = s.metadata._sec
        with pytest.raises(ReadOnlyError):
            sec.write(0, b"x")  # below the typed layer too
        # the mmap itself is read-only
        with pytest.raises(TypeError):
            sec.buf[0] = 0


@pytest.mark.kernel
def test_kconfig_view_reads_what_the_loader_filled(
    bpf_objs: dict[str, Path], tmp_path: Path
) -> None:
    """An object with `.kconfig` externs opens as a skeleton (it raised, the section
    not being one of the spec's editable ones): zeros before load, the kernel's values
    after, never written."""
    cls = skel_class(import_path(gen_module(bpf_objs["externs_kconfig"], tmp_path)))
    s = cls()
    assert s.kconfig.CONFIG_HZ == 0
    with pytest.raises(AttributeError):
        s.kconfig.CONFIG_HZ = 100
    with s.load_sync():
        kconfig = next(m for m in s.obj.maps.values() if m.section == ".kconfig")
        filled = kconfig.lookup(0)
        assert filled["CONFIG_HZ"] > 0
        assert filled["CONFIG_HZ"] == s.kconfig.CONFIG_HZ
        assert filled["CONFIG_LOCALVERSION"] == s.kconfig.CONFIG_LOCALVERSION
        with pytest.raises(ReadOnlyError):
            s.kconfig._sec.write(0, b"x")


@pytest.mark.kernel
def test_bss_is_shared_with_the_program(skels: dict[str, Path]) -> None:
    cls = skel_class(import_path(skels["counter"]))
    with cls.load_sync() as s:
        prog = s.programs.count_xdp
        assert s.bss.counter == 0
        for _ in range(3):
            prog.test_run(bytes(64))
        assert s.bss.counter == 3  # the program's writes, seen through the mmap
        s.bss.counter = 100
        prog.test_run(bytes(64))
        assert s.bss.counter == 101  # ours, seen by the program
        bss = next(m for m in s.obj.maps.values() if m.section == ".bss")
        assert bss.lookup(b"\0\0\0\0", raw=True) == (101).to_bytes(8, "little")


@pytest.mark.kernel
def test_an_anonymous_unions_fields_are_the_structs_own(
    bpf_objs: dict[str, Path], tmp_path: Path
) -> None:
    """As in C, `data_named.anon_tag` and `data_named.anon_code` (an anonymous union's
    members) are attributes of the struct, over the same four bytes."""
    cls = skel_class(import_path(gen_module(bpf_objs["char_types"], tmp_path)))
    s = cls()
    named = s.data.data_named
    assert named.anon_tag == "an"
    assert named.anon_code == int.from_bytes(b"an\0\0", "little")
    named.anon_code = int.from_bytes(b"xyz\0", "little")
    assert named.anon_tag == "xyz"
    named.anon_tag = "ok"
    with s.load_sync():
        data = next(m for m in s.obj.maps.values() if m.section == ".data")
        value = data.lookup(b"\0\0\0\0", raw=True)
        assert value is not None
        layout = _native.object_layout(bpf_objs["char_types"].read_bytes(), "c")
        off, size = next(
            v[1:3] for v in layout["sections"][".data"] if v[0] == "data_named"
        )
        off += size - 4  # the union is the struct's last member
        assert value[off : off + 4] == b"ok\0\0"  # what the program sees
        assert s.bss.bss_named.anon_code == 0


@pytest.mark.kernel
@pytest.mark.anyio
async def test_async_load_and_class_level_load(skels: dict[str, Path]) -> None:
    cls = skel_class(import_path(skels["kinds"]))
    s = await cls.load()
    try:
        assert s.rodata.bpf_metadata_str == "hello, world"
        assert s.rodata.bpf_metadata_matrix == [[1, 2, 3], [4, 5, 6]]
        assert s.rodata.bpf_metadata_s64 == s.obj.metadata["s64"]
    finally:
        s.close()
    assert s.obj is None


def test_reference_mode_reads_the_object_at_run_time(
    bpf_objs: dict[str, Path], tmp_path: Path
) -> None:
    path = gen_module(bpf_objs["seed"], tmp_path, "--reference")
    text = path.read_text()
    assert "OBJECT_PATH" in text and "_skel.b64(" not in text
    s = skel_class(import_path(path))()
    assert s.metadata.commit_hash == "abcdef123456"


@pytest.mark.kernel
def test_skeletons_configure_through_the_objects_spec(
    bpf_objs: dict[str, Path], tmp_path: Path
) -> None:
    """A skeleton's typed views write its ObjectSpec's data sections; the spec's maps
    and programs take the other changes before load (one mechanism for both)."""
    module = gen_module(bpf_objs["spec_config"], tmp_path)
    skel = skel_class(import_path(module))()
    assert isinstance(skel.spec, bpfbind.ObjectSpec)
    skel.rodata.enabled = True
    skel.rodata.bias = 21
    assert skel.spec.variables["bias"] == 21
    skel.spec.variables["small"] = 4
    assert skel.rodata.small == 4
    skel.spec.maps["stacks"].value_size = 64
    skel.spec.maps["stacks"].max_entries = 8
    skel.spec.programs["optional"].autoload = True
    with skel.load_sync() as s:
        assert s.obj is not None
        assert sorted(s.obj.programs) == ["configured", "optional", "retargeted"]
        assert s.obj.maps["stacks"].max_entries == 8
        assert s.obj.programs["configured"].test_run(bytes(64))[0] == 21
        assert s.rodata.bias == 21
    # Closed, the views read the spec's values again.
    assert skel.rodata.bias == 21


_USER_CODE = """\
import anyio
from multi_skel import MultiSkel


async def main() -> None:
    skel = MultiSkel()
    skel.rodata.bpf_metadata_level = 4
    async with await skel.load() as s:
        level: int = s.rodata.bpf_metadata_level
        s.rodata.bpf_metadata_level = {value}
    loaded = MultiSkel.load_sync()
    loaded.rodata.bpf_metadata_level = {value}
    print(level)


anyio.run(main)
"""


def test_a_wrong_assignment_through_a_loaded_skeleton_is_a_mypy_error(
    skels: dict[str, Path], tmp_path: Path
) -> None:
    # README's pattern, `async with await skel.load() as s`, keeps the skeleton's
    # types: the loaded skeleton is a MultiSkel, not Any.
    shutil.copy(skels["multi"], tmp_path / "multi_skel.py")

    def check(value: str) -> subprocess.CompletedProcess[str]:
        (tmp_path / "user.py").write_text(_USER_CODE.format(value=value))
        return subprocess.run(
            [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "user.py"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )

    good = check("5")
    assert good.returncode == 0, good.stdout
    bad = check('"x"')
    assert bad.returncode == 1
    errors = [line for line in bad.stdout.splitlines() if ": error:" in line]
    assert [e.split(":")[1] for e in errors] == ["10", "12"], bad.stdout
    assert all('"str"' in e and '"int"' in e for e in errors), bad.stdout


def test_a_generated_module_imports_the_runtime_not_the_generator(
    skels: dict[str, Path],
) -> None:
    # A fresh interpreter: this one has imported the generator for `generate` above.
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('m', {str(skels['kinds'])!r})\n"
        "mod = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(mod)\n"
        "assert mod.KindsSkel().spec is not None\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('bpfbind'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = json.loads(out)
    assert "bpfbind.skel" in loaded
    assert "bpfbind._skelgen" not in loaded
    # Asked for by name, the generator still answers through the runtime module.
    from bpfbind import _skelgen, skel

    assert skel.generate is _skelgen.generate
