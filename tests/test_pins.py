"""Pins that a re-run can replace: `replace=True` for `load_object(pin_dir=...)`,
`Program.pin` and `Map.pin` pins under a temporary name and renames it over the old
pin (the path never names nothing), and `unpin()` removes only a pin of its own."""

from __future__ import annotations

import errno
import os
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from test_load import ids_of, wait_gone

import bpfbind

pytestmark = pytest.mark.kernel


def pinned_id(path: Path) -> int:
    with closing(bpfbind.open_program(path)) as p:
        return p.id


def test_a_second_load_into_the_same_pin_dir_is_refused_naming_replace(
    bpf_objs: dict[str, Path], pin_dir: Path
) -> None:
    with bpfbind.sync.load_object(bpf_objs["multi"], pin_dir=pin_dir) as first:
        old = {n: p.id for n, p in first.programs.items()}
    with pytest.raises(bpfbind.BpfError) as excinfo:
        bpfbind.sync.load_object(bpf_objs["multi"], pin_dir=pin_dir)
    assert excinfo.value.errno == errno.EEXIST
    assert excinfo.value.command == "BPF_OBJ_PIN"
    assert "replace=True" in str(excinfo.value)
    # The refused load changed nothing: the first load's pins are all still there.
    assert {n: pinned_id(pin_dir / n) for n in old} == old


def test_replace_pins_the_new_programs_and_frees_the_old(
    bpf_objs: dict[str, Path], pin_dir: Path, fd_snapshot: Any
) -> None:
    with bpfbind.sync.load_object(bpf_objs["multi"], pin_dir=pin_dir) as first:
        old_progs, old_maps = ids_of(first)
    before = fd_snapshot()
    with bpfbind.sync.load_object(
        bpf_objs["multi"], pin_dir=pin_dir, replace=True
    ) as second:
        new = {n: p.id for n, p in second.programs.items()}
        new_maps = {m.id for m in second.maps.values()}
    assert fd_snapshot() == before
    # Only the program pins, no temporary name left behind.
    assert sorted(os.listdir(pin_dir)) == sorted(new)
    assert {n: pinned_id(pin_dir / n) for n in new} == new
    # Nothing holds the first load's programs and maps any more: the kernel frees them.
    assert wait_gone(old_progs, old_maps - new_maps) == (set(), set())


@pytest.mark.anyio
async def test_async_load_replaces_too(
    bpf_objs: dict[str, Path], pin_dir: Path, anyio_backend: str
) -> None:
    for _ in range(2):
        async with await bpfbind.load_object(
            bpf_objs["metadata_used"], pin_dir=pin_dir, replace=True
        ) as obj:
            assert pinned_id(pin_dir / "prog") == obj.programs["prog"].id
    assert os.listdir(pin_dir) == ["prog"]


def test_a_replacing_load_that_cannot_pin_leaves_no_temporary_pin_or_fd(
    bpf_objs: dict[str, Path], pin_dir: Path, fd_snapshot: Any
) -> None:
    # A directory where a program's pin should go: rename(2) of a pin over it fails.
    with bpfbind.sync.load_object(bpf_objs["multi"]) as probe:
        names = sorted(probe.programs)
    (pin_dir / names[-1]).mkdir()
    before = fd_snapshot()
    with pytest.raises(bpfbind.BpfError) as excinfo:
        bpfbind.sync.load_object(bpf_objs["multi"], pin_dir=pin_dir, replace=True)
    assert excinfo.value.command == "rename"
    assert fd_snapshot() == before
    assert not [n for n in os.listdir(pin_dir) if "bpfbind-tmp" in n]


def test_replacing_a_pin_never_leaves_the_path_empty(
    bpf_objs: dict[str, Path], pin_dir: Path
) -> None:
    # A reader opening the pin again and again while it is replaced again and again
    # never finds the path empty: each new pin is renamed over the old one.
    path = pin_dir / "prog"
    misses: list[OSError] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                os.stat(path)
            except OSError as e:
                misses.append(e)

    with bpfbind.sync.load_object(bpf_objs["metadata_used"]) as a, \
            bpfbind.sync.load_object(bpf_objs["metadata_unused"]) as b:
        pa, pb = a.programs["prog"], b.programs["prog"]
        pa.pin(path)
        t = threading.Thread(target=reader)
        t.start()
        try:
            for i in range(2000):
                (pb if i % 2 == 0 else pa).pin(path, replace=True)
        finally:
            stop.set()
            t.join()
        assert misses == []
        assert pinned_id(path) == pa.id
        assert os.listdir(pin_dir) == ["prog"]


def test_map_pin_replace_and_unpin(bpf_objs: dict[str, Path], pin_dir: Path) -> None:
    path = pin_dir / "m"
    with bpfbind.sync.load_object(bpf_objs["multi"]) as obj:
        hits, rodata = obj.maps["hits"], obj.maps[".rodata"]
        hits.pin(path)
        with pytest.raises(bpfbind.BpfError) as excinfo:
            rodata.pin(path)
        assert excinfo.value.errno == errno.EEXIST
        rodata.pin(path, replace=True)
        with closing(bpfbind.open_map(path)) as reopened:
            assert reopened.id == rodata.id
        # Only the object pinned there may remove the pin.
        with pytest.raises(bpfbind.BpfError) as excinfo:
            hits.unpin(path)
        assert str(rodata.id) in str(excinfo.value)
        assert path.exists()
        rodata.unpin(path)
        assert not path.exists()
        with pytest.raises(bpfbind.BpfNotFoundError):
            rodata.unpin(path)


def test_object_unpin_removes_its_pins_and_the_directory(
    bpf_objs: dict[str, Path], pin_dir: Path
) -> None:
    target = pin_dir / "app"
    with bpfbind.sync.load_object(bpf_objs["multi"], pin_dir=target) as obj:
        progs, _ = ids_of(obj)
        assert sorted(os.listdir(target)) == sorted(obj.programs)
        obj.unpin()
    assert not target.exists()
    assert wait_gone(progs, ()) == (set(), set())


def test_program_unpin_leaves_a_pin_of_another_program(
    bpf_objs: dict[str, Path], pin_dir: Path
) -> None:
    path = pin_dir / "prog"
    with bpfbind.sync.load_object(bpf_objs["metadata_used"]) as a, \
            bpfbind.sync.load_object(bpf_objs["metadata_unused"]) as b:
        a.programs["prog"].pin(path)
        with pytest.raises(bpfbind.BpfError):
            b.programs["prog"].unpin(path)
        assert pinned_id(path) == a.programs["prog"].id
        a.programs["prog"].unpin(path)
        assert not path.exists()
