"""Loading objects into the real kernel: metadata maps bound to every program by each
binding path, maps named and shaped as libbpf makes them, pins, and nothing left behind
after close (sync, asyncio, trio) or after a load that fails halfway."""

from __future__ import annotations

import errno
import inspect
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from conftest import auto_binding

import bpfbind
from bpfbind import BpfNotFoundError, Id

pytestmark = pytest.mark.kernel

BPF_SRC = Path(__file__).resolve().parent / "bpf"

BPF_F_RDONLY_PROG = 0x80
BPF_MAP_TYPE_ARRAY = 2
XDP_PASS = 2


def prog_json(bpftool: Any, prog_id: int) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(bpftool(["-j", "prog", "show", "id", prog_id]))
    return out


def map_json(bpftool: Any, map_id: int) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(bpftool(["-j", "map", "show", "id", map_id]))
    return out


def kernel_map_ids(bpftool: Any, prog: bpfbind.Program) -> list[int]:
    """The program's map_ids as another process (bpftool) sees them."""
    return [int(i) for i in prog_json(bpftool, prog.id).get("map_ids", [])]


def _alive(open_fn: Any, ident: int) -> bool:
    try:
        handle = open_fn(Id(ident))
    except BpfNotFoundError:
        return False
    handle.close()
    return True


def wait_gone(
    prog_ids: Iterable[int], map_ids: Iterable[int], timeout: float = 10.0
) -> tuple[set[int], set[int]]:
    """The ids still alive once the kernel has had `timeout` seconds to free them.

    The kernel frees programs and maps after an RCU grace period, so absence is polled
    for; the deadline only bounds a failing test, it is not what the test asserts."""
    progs, maps = set(prog_ids), set(map_ids)
    deadline = time.monotonic() + timeout
    while True:
        progs = {i for i in progs if _alive(bpfbind.open_program, i)}
        maps = {i for i in maps if _alive(bpfbind.open_map, i)}
        if not (progs or maps) or time.monotonic() > deadline:
            return progs, maps
        time.sleep(0.05)


def ids_of(obj: bpfbind.BpfObject) -> tuple[set[int], set[int]]:
    return {p.id for p in obj.programs.values()}, {m.id for m in obj.maps.values()}


def assert_released(
    fd_snapshot: Any, before: Any, ids: tuple[set[int], set[int]]
) -> None:
    """Every fd opened since `before` is closed again, and the kernel has freed the
    programs and maps of `ids` (from `ids_of`)."""
    assert fd_snapshot() == before
    assert wait_gone(*ids) == (set(), set())


def metadata_maps(obj: bpfbind.BpfObject) -> list[bpfbind.Map]:
    return [m for m in obj.maps.values() if m.is_metadata]


# --- metadata bound to every program -------------------------------------------------


@pytest.mark.parametrize("case", ["metadata_used", "metadata_unused"])
def test_rodata_metadata_map_is_held_used_or_not(
    case: str, bpf_objs: dict[str, Path], bpftool: Any
) -> None:
    # The selftests' expectation: referenced by the instructions or not, the
    # .rodata map is among the program's map_ids, and bpftool decodes it.
    with bpfbind.sync.load_object(bpf_objs[case]) as obj:
        prog = obj.programs["prog"]
        rodata = obj.maps[".rodata"]
        assert rodata.is_metadata
        assert obj.metadata == {"a": "foo", "b": 1}

        info = prog_json(bpftool, prog.id)
        assert rodata.id in info["map_ids"]
        assert info["metadata"] == {"a": "foo", "b": 1}

        # Binding the same map again succeeds and adds no second reference.
        bpfbind.sync.bind_map(prog, rodata)
        bpfbind.sync.bind_map(Id(prog.id), Id(rodata.id))
        after = kernel_map_ids(bpftool, prog)
        assert after.count(rodata.id) == 1
        assert sorted(after) == sorted(info["map_ids"])


async def test_async_bind_map_again_succeeds(
    bpf_objs: dict[str, Path], bpftool: Any
) -> None:
    async with await bpfbind.load_object(bpf_objs["metadata_unused"]) as obj:
        prog, rodata = obj.programs["prog"], obj.maps[".rodata"]
        await bpfbind.bind_map(prog, rodata)
        assert kernel_map_ids(bpftool, prog).count(rodata.id) == 1


def test_seed_metadata_section_is_bound_frozen_and_read_only(
    bpf_objs: dict[str, Path], bpftool: Any
) -> None:
    with bpfbind.sync.load_object(bpf_objs["seed"]) as obj:
        assert obj.metadata == {"commit_hash": "abcdef123456"}
        meta = obj.maps[".metadata"]
        assert meta.is_metadata
        assert meta.section == ".metadata"
        assert meta.frozen
        assert meta.flags & BPF_F_RDONLY_PROG
        assert (meta.map_type, meta.key_size, meta.max_entries) == (
            BPF_MAP_TYPE_ARRAY,
            4,
            1,
        )

        prog = obj.programs["seed_prog"]
        assert meta.id in prog_json(bpftool, prog.id)["map_ids"]

        # What the kernel says, not what the loader remembers.
        shown = map_json(bpftool, meta.id)
        assert shown["frozen"] == 1
        assert shown["flags"] & BPF_F_RDONLY_PROG
        assert shown["name"] == meta.kernel_name
        assert meta.lookup(bytes(4), raw=True) == b"abcdef123456\0"

        # A frozen map refuses writes from user space too.
        with pytest.raises(bpfbind.BpfPermissionError) as excinfo:
            meta.update(bytes(4), b"x" * meta.value_size)
        assert excinfo.value.errno == errno.EPERM
        assert excinfo.value.command == "BPF_MAP_UPDATE_ELEM"
        assert meta.lookup(bytes(4), raw=True) == b"abcdef123456\0"


def test_frozen_map_write_error_does_not_blame_privileges(
    bpf_objs: dict[str, Path],
) -> None:
    # Root writing a frozen map gets EPERM because of the freeze; a message telling
    # root that bpf(2) "needs root or CAP_BPF" sends them looking in the wrong place.
    assert os.geteuid() == 0
    with bpfbind.sync.load_object(bpf_objs["seed"]) as obj:
        meta = obj.maps[".metadata"]
        with pytest.raises(bpfbind.BpfPermissionError) as excinfo:
            meta.update(bytes(4), b"x" * meta.value_size)
    message = str(excinfo.value)
    assert "needs root" not in message, message


def test_multi_object_programs_and_maps_as_libbpf_makes_them(
    bpf_objs: dict[str, Path], pin_dir: Path, bpftool: Any
) -> None:
    # libbpf's view of the same object, through bpftool in another process.
    bpftool(["prog", "loadall", bpf_objs["multi"], pin_dir / "libbpf"])
    libbpf_progs: dict[str, dict[str, Any]] = {}
    libbpf_maps: dict[str, dict[str, Any]] = {}
    for pin in sorted((pin_dir / "libbpf").iterdir()):
        info = json.loads(bpftool(["-j", "prog", "show", "pinned", pin]))
        libbpf_progs[pin.name] = info
        for map_id in info.get("map_ids", []):
            m = map_json(bpftool, map_id)
            libbpf_maps[m["name"]] = m

    with bpfbind.sync.load_object(bpf_objs["multi"]) as obj:
        assert set(obj.programs) == {"multi_xdp", "multi_tc", "multi_sock", "multi_tp"}
        assert set(obj.programs) == set(libbpf_progs)
        for name, prog in obj.programs.items():
            assert prog.name == name
            assert prog.type == libbpf_progs[name]["type"]
            # Relocation and subprogram linking are byte-exact: same tag.
            assert prog.tag == libbpf_progs[name]["tag"], name

        assert {".data", ".bss", ".rodata", ".metadata", "hits"} <= set(obj.maps)
        # Every map libbpf made exists with the same kernel name and shape.
        by_kernel_name = {m.kernel_name: m for m in obj.maps.values()}
        assert set(libbpf_maps) == {"hits", "multi.data", "multi.bss", "multi.rodata"}
        for kname, want in libbpf_maps.items():
            assert kname in by_kernel_name, (kname, sorted(by_kernel_name))
            shown = map_json(bpftool, by_kernel_name[kname].id)
            for key in ("name", "type", "flags", "bytes_key", "bytes_value"):
                assert shown[key] == want[key], (kname, key)
            assert shown["max_entries"] == want["max_entries"], kname
            assert shown["frozen"] == want["frozen"], kname
        assert obj.maps[".data"].kernel_name == "multi.data"
        assert obj.maps[".bss"].kernel_name == "multi.bss"
        assert obj.maps[".rodata"].kernel_name == "multi.rodata"
        assert obj.maps["hits"].kernel_name == "hits"

        assert obj.metadata == {
            "version": "1.2.3",
            "level": 3,
            "build_id": "0123456789abcdef",
        }
        meta_ids = {obj.maps[".rodata"].id, obj.maps[".metadata"].id}
        for prog in obj.programs.values():
            info = prog_json(bpftool, prog.id)
            assert meta_ids <= set(info["map_ids"]), prog.name
            assert info["metadata"] == {"version": "1.2.3", "level": 3}


def test_object_from_bytes_takes_the_given_name(
    bpf_objs: dict[str, Path], bpftool: Any
) -> None:
    data = bpf_objs["metadata_used"].read_bytes()
    with bpfbind.sync.load_object(data, name="metadata_used") as obj:
        assert obj.metadata == {"a": "foo", "b": 1}
        rodata = obj.maps[".rodata"]
        assert map_json(bpftool, rodata.id)["name"] == "metadata.rodata"


# --- binding paths -------------------------------------------------------------------

# "auto" is fd_array on Linux 6.14+, BPF_PROG_BIND_MAP on older kernels.
BOUND = [("auto", None), ("bind_map", "bind_map")]


def test_metadata_is_found_whatever_map_order_the_binding_gives(
    bpf_objs: dict[str, Path], bpftool: Any
) -> None:
    """Bound after the load, metadata maps come after the maps the code reads: here a
    `.rodata.cfg.v2` without metadata comes first, where bpftool stops looking. The
    scan reads every `.rodata` map; `prog show` still prints what bpftool prints."""
    with bpfbind.sync.load_object(bpf_objs["odd_names"], bind="bind_map") as obj:
        assert set(obj.metadata) == {"commit_hash", "class", "lambda"}
        for prog in obj.programs.values():
            assert bpfbind.sync.find_metadata(prog) == obj.metadata
            shown = json.loads(bpftool(["-j", "prog", "show", "id", str(prog.id)]))
            assert "metadata" not in shown


@pytest.mark.parametrize("case", ["seed", "metadata_unused", "counter", "multi"])
@pytest.mark.parametrize(("bind", "binding"), BOUND)
def test_binding_path_binds_every_metadata_map(
    case: str, bind: str, binding: str | None, bpf_objs: dict[str, Path], bpftool: Any
) -> None:
    with bpfbind.sync.load_object(bpf_objs[case], bind=bind) as obj:
        assert obj.binding == (binding or auto_binding())
        assert obj.warnings == []
        meta = metadata_maps(obj)
        assert meta
        for prog in obj.programs.values():
            held = kernel_map_ids(bpftool, prog)
            for m in meta:
                assert m.id in held, (prog.name, m.name, held)
            # The program's own record agrees with the kernel.
            assert sorted(prog.used_maps()) == sorted(held)
            assert prog.refresh() == ([], [])


@pytest.mark.parametrize("case", ["seed", "metadata_unused", "counter", "multi"])
def test_bind_none_leaves_metadata_unbound_with_a_warning(
    case: str, bpf_objs: dict[str, Path], bpftool: Any
) -> None:
    with bpfbind.sync.load_object(bpf_objs[case], bind="none") as obj:
        assert obj.binding == "unbound"
        assert obj.warnings
        assert any("not bound" in w for w in obj.warnings), obj.warnings
        # None of these programs reads its .metadata section or (metadata_unused)
        # its .rodata: without a binding the program does not hold them.
        unreferenced = [
            m
            for m in metadata_maps(obj)
            if m.section == ".metadata" or case == "metadata_unused"
        ]
        assert unreferenced
        for prog in obj.programs.values():
            held = kernel_map_ids(bpftool, prog)
            for m in unreferenced:
                assert m.id not in held, (prog.name, m.name)
        # Loading still worked: the metadata is known to the object.
        assert obj.metadata


def test_bind_none_program_shows_no_metadata_in_bpftool(
    bpf_objs: dict[str, Path], bpftool: Any
) -> None:
    with bpfbind.sync.load_object(bpf_objs["metadata_unused"], bind="none") as obj:
        assert "metadata" not in prog_json(bpftool, obj.programs["prog"].id)
    with bpfbind.sync.load_object(bpf_objs["metadata_unused"]) as obj:
        info = prog_json(bpftool, obj.programs["prog"].id)
        assert info["metadata"] == {"a": "foo", "b": 1}


def test_object_without_metadata_reports_none(bpf_objs: dict[str, Path]) -> None:
    with bpfbind.sync.load_object(bpf_objs["nometa"]) as obj:
        assert obj.binding == "none"
        assert obj.warnings == []
        assert obj.metadata == {}
        assert obj.programs["nometa_prog"].used_maps() == []


def test_bind_argument_is_checked(bpf_objs: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="bind"):
        bpfbind.sync.load_object(bpf_objs["seed"], bind="fd_array")


# --- close releases everything -------------------------------------------------------


def test_close_releases_every_fd_and_kernel_object(
    bpf_objs: dict[str, Path], fd_snapshot: Any
) -> None:
    before = fd_snapshot()
    obj = bpfbind.sync.load_object(bpf_objs["multi"])
    progs, maps = ids_of(obj)
    assert len(progs) == 4
    assert len(maps) == 5
    assert fd_snapshot() > before
    programs = list(obj.programs.values())
    obj.close()
    assert obj.closed
    assert all(p.closed for p in programs)
    assert all(m.closed for m in obj.maps.values())
    with pytest.raises(ValueError, match="closed"):
        _ = programs[0].fd
    obj.close()  # closing twice is harmless
    assert_released(fd_snapshot, before, (progs, maps))


def test_with_block_releases_every_fd_and_kernel_object(
    bpf_objs: dict[str, Path], fd_snapshot: Any
) -> None:
    before = fd_snapshot()
    with bpfbind.sync.load_object(bpf_objs["counter"]) as obj:
        progs, maps = ids_of(obj)
    assert obj.closed
    assert_released(fd_snapshot, before, (progs, maps))


@pytest.mark.anyio
async def test_async_with_releases_every_fd_and_kernel_object(
    anyio_backend: str, bpf_objs: dict[str, Path], fd_snapshot: Any
) -> None:
    before = fd_snapshot()
    async with await bpfbind.load_object(bpf_objs["multi"]) as obj:
        progs, maps = ids_of(obj)
        assert len(progs) == 4
        assert obj.binding == auto_binding()
    assert obj.closed
    assert_released(fd_snapshot, before, (progs, maps))


@pytest.mark.anyio
async def test_async_with_releases_everything_when_the_body_raises(
    anyio_backend: str, bpf_objs: dict[str, Path], fd_snapshot: Any
) -> None:
    before = fd_snapshot()
    ids: tuple[set[int], set[int]] = (set(), set())
    with pytest.raises(RuntimeError, match="boom"):
        async with await bpfbind.load_object(bpf_objs["seed"]) as obj:
            ids = ids_of(obj)
            raise RuntimeError("boom")
    assert ids[0]
    assert_released(fd_snapshot, before, ids)


@pytest.mark.anyio
async def test_aclose_releases_everything(
    anyio_backend: str, bpf_objs: dict[str, Path], fd_snapshot: Any
) -> None:
    before = fd_snapshot()
    obj = await bpfbind.load_object(bpf_objs["metadata_used"])
    ids = ids_of(obj)
    await obj.aclose()
    assert obj.closed
    assert_released(fd_snapshot, before, ids)


# --- pins ----------------------------------------------------------------------------


def test_pin_dir_pins_every_program_by_name(
    bpf_objs: dict[str, Path], pin_dir: Path
) -> None:
    target = pin_dir / "progs"  # created by the load
    with bpfbind.sync.load_object(bpf_objs["multi"], pin_dir=target) as obj:
        assert sorted(os.listdir(target)) == sorted(obj.programs)
        for name, prog in obj.programs.items():
            pinned = bpfbind.open_program(target / name)
            try:
                assert pinned.id == prog.id
            finally:
                pinned.close()


def test_pinned_programs_survive_close_until_unpinned(
    bpf_objs: dict[str, Path], pin_dir: Path, bpftool: Any, fd_snapshot: Any
) -> None:
    before = fd_snapshot()
    obj = bpfbind.sync.load_object(bpf_objs["metadata_unused"], pin_dir=pin_dir)
    progs, maps = ids_of(obj)
    obj.close()
    assert fd_snapshot() == before

    # The pin holds the program, and the program holds its metadata map.
    assert wait_gone(progs, maps, timeout=0) == (progs, maps)
    shown = json.loads(bpftool(["-j", "prog", "show", "pinned", pin_dir / "prog"]))
    assert shown["id"] in progs
    assert shown["metadata"] == {"a": "foo", "b": 1}

    (pin_dir / "prog").unlink()
    assert wait_gone(progs, maps) == (set(), set())


def test_failed_load_leaves_no_pin_and_no_fd(
    bpf_objs: dict[str, Path], pin_dir: Path, fd_snapshot: Any
) -> None:
    before = fd_snapshot()
    with pytest.raises(bpfbind.VerifierError):
        bpfbind.sync.load_object(bpf_objs["reject"], pin_dir=pin_dir)
    assert os.listdir(pin_dir) == []
    assert fd_snapshot() == before


def test_load_failing_halfway_undoes_pins_maps_and_fds(
    bpf_objs: dict[str, Path], pin_dir: Path, bpftool: Any, fd_snapshot: Any
) -> None:
    # late_ok loads, is pinned and holds a freshly pinned map before late_bad fails.
    # A unique object name makes the internal map findable by name afterwards.
    name = "L" + uuid.uuid4().hex[:7]
    progs_dir, maps_dir = pin_dir / "progs", pin_dir / "maps"
    maps_dir.mkdir()
    before = fd_snapshot()
    with pytest.raises(bpfbind.VerifierError) as excinfo:
        bpfbind.sync.load_object(
            bpf_objs["late_reject"], pin_dir=progs_dir, pin_maps=maps_dir, name=name
        )
    assert excinfo.value.program == "late_bad"
    assert fd_snapshot() == before
    assert not (progs_dir / "late_ok").exists()
    assert os.listdir(maps_dir) == []

    deadline = time.monotonic() + 10
    while True:
        left = [
            m
            for m in json.loads(bpftool(["-j", "map", "show"]) or "[]")
            if m.get("name") == f"{name}.rodata"
        ]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert left == []


def test_failed_load_removes_the_pin_dir_it_created(
    bpf_objs: dict[str, Path], pin_dir: Path
) -> None:
    # bpftool prog loadall leaves no directory behind when a load fails; a
    # directory the loader created for pins is part of what a failure undoes.
    progs_dir = pin_dir / "progs"
    with pytest.raises(bpfbind.VerifierError):
        bpfbind.sync.load_object(bpf_objs["late_reject"], pin_dir=progs_dir)
    assert not progs_dir.exists(), os.listdir(progs_dir)


def test_pin_maps_pins_by_name_and_reuses_the_pin(
    bpf_objs: dict[str, Path], pin_dir: Path, bpftool: Any
) -> None:
    maps_dir = pin_dir / "maps"
    maps_dir.mkdir()
    first = bpfbind.sync.load_object(bpf_objs["pinned_map"], pin_maps=maps_dir)
    with first:
        shared = first.maps["shared_hits"]
        assert os.listdir(maps_dir) == ["shared_hits"]
        shown = json.loads(
            bpftool(["-j", "map", "show", "pinned", maps_dir / "shared_hits"])
        )
        assert shown["id"] == shared.id

        with bpfbind.sync.load_object(
            bpf_objs["pinned_map"], pin_maps=maps_dir
        ) as second:
            assert second.maps["shared_hits"].id == shared.id
            # Both programs count in the one map.
            first.programs["pinned_xdp"].test_run(bytes(64))
            second.programs["pinned_xdp"].test_run(bytes(64))
            assert shared.lookup(bytes(4), raw=True) == (2).to_bytes(8, "little")

        map_id = shared.id

    # The pin keeps the map after every fd is closed; unpinning frees it.
    assert wait_gone((), [map_id], timeout=0) == (set(), {map_id})
    (maps_dir / "shared_hits").unlink()
    assert wait_gone((), [map_id]) == (set(), set())


def test_pin_maps_refuses_an_incompatible_pin_and_keeps_it(
    bpf_objs: dict[str, Path], pin_dir: Path, bpftool: Any, fd_snapshot: Any
) -> None:
    pin = pin_dir / "shared_hits"
    # Same name, other shape (an array, not a 64-entry hash).
    bpftool(
        [
            "map",
            "create",
            pin,
            "type",
            "array",
            "key",
            "4",
            "value",
            "8",
            "entries",
            "4",
            "name",
            "shared_hits",
        ]
    )
    original = json.loads(bpftool(["-j", "map", "show", "pinned", pin]))["id"]
    before = fd_snapshot()
    with pytest.raises((ValueError, bpfbind.BpfError), match="shared_hits"):
        bpfbind.sync.load_object(bpf_objs["pinned_map"], pin_maps=pin_dir)
    assert fd_snapshot() == before
    assert json.loads(bpftool(["-j", "map", "show", "pinned", pin]))["id"] == original


def test_failed_load_keeps_a_pin_it_reused(
    bpf_objs: dict[str, Path], pin_dir: Path, bpftool: Any
) -> None:
    # The pin existed before the load: undoing the failed load must not remove it.
    pin = pin_dir / "late_pinned"
    bpftool(
        [
            "map",
            "create",
            pin,
            "type",
            "hash",
            "key",
            "4",
            "value",
            "8",
            "entries",
            "16",
            "name",
            "late_pinned",
        ]
    )
    original = json.loads(bpftool(["-j", "map", "show", "pinned", pin]))["id"]
    with pytest.raises(bpfbind.VerifierError):
        bpfbind.sync.load_object(bpf_objs["late_reject"], pin_maps=pin_dir)
    assert json.loads(bpftool(["-j", "map", "show", "pinned", pin]))["id"] == original


# --- running a program ---------------------------------------------------------------


def test_test_run_increments_the_bss_counter(bpf_objs: dict[str, Path]) -> None:
    with bpfbind.sync.load_object(bpf_objs["counter"]) as obj:
        prog, bss = obj.programs["count_xdp"], obj.maps[".bss"]
        assert bss.kernel_name == "counter.bss"
        assert bss.lookup(bytes(4), raw=True) == bytes(8)

        retval, _ = prog.test_run(bytes(64), 1)
        assert retval == XDP_PASS
        assert int.from_bytes(bss.lookup(bytes(4), raw=True) or b"", "little") == 1

        retval, _ = prog.test_run(bytes(64), repeat=5)
        assert retval == XDP_PASS
        assert int.from_bytes(bss.lookup(bytes(4), raw=True) or b"", "little") == 6

        # Metadata stays as loaded while the program runs.
        assert obj.maps[".metadata"].lookup(bytes(4), raw=True) == b"counter-v1\0"


def test_bss_is_shared_with_an_independent_handle(bpf_objs: dict[str, Path]) -> None:
    with bpfbind.sync.load_object(bpf_objs["counter"]) as obj:
        obj.programs["count_xdp"].test_run(bytes(64), repeat=3)
        other = bpfbind.open_map(Id(obj.maps[".bss"].id))
        try:
            assert other.lookup(bytes(4), raw=True) == (3).to_bytes(8, "little")
        finally:
            other.close()


def test_metadata_an_object_cannot_decode_is_said_not_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Built without -g, an object has its metadata bytes but no BTF to name them: the
    load says so (warnings and the 'bpfbind' logger), and so does `bpfbind metadata`,
    which fails instead of printing nothing."""
    clang = os.environ.get("CLANG", "clang")
    obj = tmp_path / "nobtf.bpf.o"
    # as tests/bpf/Makefile: clang's multiarch triple, else gcc's (clang 19 has none)
    multiarch = (
        subprocess.run(
            [clang, "-print-multiarch"], capture_output=True, text=True
        ).stdout
        or subprocess.run(
            ["gcc", "-dumpmachine"], capture_output=True, text=True
        ).stdout
    ).strip()
    src = BPF_SRC / "metadata_used.bpf.c"
    flags = ["-O2", "-target", "bpf", "-idirafter", f"/usr/include/{multiarch}"]
    subprocess.run([clang, *flags, "-c", str(src), "-o", str(obj)], check=True)
    with (
        caplog.at_level("WARNING", logger="bpfbind"),
        bpfbind.sync.load_object(obj) as loaded,
    ):
        assert loaded.metadata == {}
        (warning,) = [w for w in loaded.warnings if "no BTF" in w]
    assert "bpf_metadata_a" in warning and "bpf_metadata_b" in warning
    assert "clang -g" in warning
    assert any("no BTF" in r.getMessage() for r in caplog.records)
    proc = subprocess.run(
        [sys.executable, "-m", "bpfbind", "metadata", str(obj)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 255  # an error, as bpftool exits
    assert proc.stdout == ""
    assert "no BTF" in proc.stderr and "bpf_metadata_a" in proc.stderr


def test_async_and_sync_load_take_the_same_keywords() -> None:
    # Declared once: help() and type checkers show the async load's keywords too.
    sig = inspect.signature(bpfbind.load_object)
    assert sig == inspect.signature(bpfbind.sync.load_object)
    assert list(sig.parameters)[1:] == [
        "pin_dir",
        "pin_maps",
        "name",
        "bind",
        "initial",
        "btf_path",
        "replace",
    ]
    assert inspect.iscoroutinefunction(bpfbind.load_object)
