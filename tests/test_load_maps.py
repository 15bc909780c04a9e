"""Maps as libbpf creates them (issue 10): a bloom filter's map_extra, perf event arrays
sized to the possible CPUs, map types the kernel takes no BTF key/value for, map-in-map
templates, a program array filled by a static initialiser, and a pinned map of another
shape refused. Where libbpf can load the object, bpftool loads it too and the program
tags must be equal."""

from __future__ import annotations

import errno
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    LibbpfPinned,
    assert_same_programs,
    loaded_as_libbpf_loads,
    pinned_value,
    possible_cpus,
)

import bpfbind
import bpfbind.sync

pytestmark = pytest.mark.kernel

XDP_DROP, XDP_PASS = 1, 2
BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4


def map_shape(bpftool: Any, *ref: object) -> dict[str, Any]:
    """`bpftool -j map show ...` without what differs between two loads."""
    shown: dict[str, Any] = json.loads(bpftool(["-j", "map", "show", *ref]))
    shape = {k: shown[k] for k in ("type", "name", "flags", "bytes_key", "bytes_value")}
    shape["max_entries"] = shown["max_entries"]
    shape["has_btf"] = "btf_id" in shown
    return shape


def fdinfo(fd: int) -> dict[str, str]:
    """/proc/self/fdinfo of a map fd; the kernel prints map_extra there (bpftool 7.1's
    `map show` does not)."""
    lines = Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def u64s(raw: bytes | None) -> list[int]:
    assert raw is not None
    return [int.from_bytes(raw[i : i + 8], "little") for i in range(0, len(raw), 8)]


# --- bloom filter: map_extra ---------------------------------------------------------


def test_bloom_filter_gets_its_map_extra(
    libbpf_pinned: LibbpfPinned,
    bpftool: Any,
) -> None:
    obj, _progs, maps_dir, theirs = libbpf_pinned("maps_bloom")
    their_map = bpfbind.open_map(maps_dir / "seen_values")
    try:
        assert fdinfo(their_map.fd)["map_extra"] == "0x3"
    finally:
        their_map.close()

    with bpfbind.sync.load_object(obj) as ours:
        assert_same_programs(theirs, ours)
        seen = ours.maps["seen_values"]
        assert fdinfo(seen.fd)["map_extra"] == "0x3"
        assert map_shape(bpftool, "id", seen.id) == map_shape(
            bpftool, "pinned", maps_dir / "seen_values"
        )
        # The filter works: the first run adds 42, the second finds it.
        prog = ours.programs["bloom_xdp"]
        prog.test_run(bytes(64))
        prog.test_run(bytes(64))
        assert u64s(ours.maps[".bss"].lookup(bytes(4), raw=True)) == [1]


# --- maps without BTF key/value, perf event array sizing, map-in-map ------------------

NOBTF_MAPS = [
    "events",
    "stacks",
    "hash_of_maps",
    "array_of_maps",
    "ring",
    "queue",
    "plain",
]


def test_maps_without_btf_key_value_are_created_as_libbpf_creates_them(
    libbpf_pinned: LibbpfPinned,
    bpftool: Any,
) -> None:
    obj, _progs, maps_dir, theirs = libbpf_pinned("maps_nobtf")
    # Only the declared maps are pinned: libbpf's inner-map templates are gone.
    assert sorted(os.listdir(maps_dir)) == sorted(NOBTF_MAPS)
    their_shapes = {
        name: map_shape(bpftool, "pinned", maps_dir / name) for name in NOBTF_MAPS
    }
    # Only the hash with __type(key/value) carries BTF.
    assert [n for n, s in their_shapes.items() if s["has_btf"]] == ["plain"]

    with bpfbind.sync.load_object(obj) as ours:
        assert_same_programs(theirs, ours)
        for name in NOBTF_MAPS:
            shape = map_shape(bpftool, "id", ours.maps[name].id)
            assert shape == their_shapes[name], name


def test_perf_event_array_without_max_entries_gets_one_slot_per_possible_cpu(
    libbpf_pinned: LibbpfPinned,
    bpftool: Any,
) -> None:
    obj, _progs, maps_dir, theirs = libbpf_pinned("maps_nobtf")
    their_events = json.loads(
        bpftool(["-j", "map", "show", "pinned", maps_dir / "events"])
    )
    assert their_events["max_entries"] == possible_cpus()

    with bpfbind.sync.load_object(obj) as ours:
        assert_same_programs(theirs, ours)
        events = ours.maps["events"]
        assert events.map_type == BPF_MAP_TYPE_PERF_EVENT_ARRAY
        assert events.max_entries == possible_cpus()
        shown = json.loads(bpftool(["-j", "map", "show", "id", events.id]))
        assert shown["max_entries"] == possible_cpus()


# --- program array with a static initialiser -----------------------------------------


def test_prog_array_initialiser_fills_the_slot_and_the_tail_call_happens(
    libbpf_pinned: LibbpfPinned,
    bpftool: Any,
) -> None:
    obj, _progs, maps_dir, theirs = libbpf_pinned("maps_tail")
    assert sorted(theirs) == ["tail_entry", "tail_target"]
    # libbpf put tail_target in slot 0 (a prog array lookup answers the program id).
    slot = pinned_value(bpftool, maps_dir / "jump_table")
    assert int.from_bytes(slot, "little") == theirs["tail_target"]["id"]

    with bpfbind.sync.load_object(obj) as ours:
        assert_same_programs(theirs, ours)
        target = ours.programs["tail_target"]
        slot0 = ours.maps["jump_table"].lookup(bytes(4), raw=True)
        assert slot0 is not None
        assert int.from_bytes(slot0, "little") == target.id

        retval, _ = ours.programs["tail_entry"].test_run(bytes(64))
        assert retval == XDP_PASS  # tail_target's verdict, not tail_entry's XDP_DROP
        # .bss: tail_hits, entry_runs
        assert u64s(ours.maps[".bss"].lookup(bytes(4), raw=True)) == [1, 1]


# --- a pinned map of another shape ---------------------------------------------------


def new_objects(
    fd_snapshot: Any, before: tuple[set[int], set[int]], timeout: float = 5.0
) -> tuple[set[int], set[int]]:
    """Programs and maps created since `before` and still alive (the kernel may free
    a closed object's id a little later), waiting up to `timeout` for them to go."""
    deadline = time.monotonic() + timeout
    while True:
        progs, maps = fd_snapshot.kernel_ids()
        left = (progs - before[0], maps - before[1])
        if left == (set(), set()) or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def test_pinned_map_of_other_max_entries_is_refused_and_nothing_is_left(
    bpf_objs: Mapping[str, Path], pin_dir: Path, bpftool: Any, fd_snapshot: Any
) -> None:
    # libbpf refuses the same second load (checked with bpftool 7.1, which can only
    # pin by name under /sys/fs/bpf, so not run here):
    #   libbpf: couldn't reuse pinned map at '/sys/fs/bpf/pin_conflict': parameter
    #   mismatch / map 'pin_conflict': failed to create: Invalid argument(-22)
    pin = pin_dir / "pin_conflict"
    with bpfbind.sync.load_object(bpf_objs["maps_pin_a"], pin_maps=pin_dir) as first:
        pinned = first.maps["pin_conflict"]
        assert os.listdir(pin_dir) == ["pin_conflict"]
        assert json.loads(bpftool(["-j", "map", "show", "pinned", pin]))["id"] == (
            pinned.id
        )

        fds = fd_snapshot()
        ids = fd_snapshot.kernel_ids()
        with pytest.raises(bpfbind.BpfError) as refused:
            bpfbind.sync.load_object(bpf_objs["maps_pin_b"], pin_maps=pin_dir)
        assert refused.value.errno == errno.EINVAL
        message = str(refused.value)
        assert "pin_conflict" in message, message
        assert str(pin) in message, message
        assert "max_entries" in message, message

        # Nothing of the second load is left: no fd, no program, no map, no pin;
        # the first load's pin is the map it was.
        assert fd_snapshot() == fds
        progs, maps = new_objects(fd_snapshot, ids)
        shown = json.loads(bpftool(["-j", "prog", "show"]) or "[]")
        assert not [p for p in shown if p["id"] in progs and p["name"] == "pin_b_xdp"]
        shown = json.loads(bpftool(["-j", "map", "show"]) or "[]")
        names = {"pin_conflict", "maps_pin.rodata"}
        assert not [m for m in shown if m["id"] in maps and m["name"] in names]
        assert os.listdir(pin_dir) == ["pin_conflict"]
        still = json.loads(bpftool(["-j", "map", "show", "pinned", pin]))
        assert (still["id"], still["max_entries"]) == (pinned.id, 16)


def test_map_in_map_initialisers_fill_the_outer_slots(
    bpf_objs: Mapping[str, Path], pin_dir: Path, libbpf_loadall: Any
) -> None:
    path = bpf_objs["maps_in_maps"]
    with loaded_as_libbpf_loads(libbpf_loadall, path, pin_dir) as obj:
        ids = {n: obj.maps[n].id for n in ("inner_a", "inner_b")}

        def slot(outer: str, key: int) -> int | None:
            got = obj.maps[outer].lookup(key.to_bytes(4, "little"), raw=True)
            return None if got is None else int.from_bytes(got, "little")

        # From user space, a map of maps' value is the inner map's id.
        assert [slot("by_index", k) for k in range(4)] == [
            None,
            ids["inner_a"],
            None,
            ids["inner_b"],
        ]
        assert slot("by_hash", 2) == ids["inner_b"]
        assert slot("by_hash", 1) is None
        # The program reaches inner_b through slot 3.
        obj.maps["inner_b"].update(bytes(4), (42).to_bytes(8, "little"))
        assert obj.programs["read_through"].test_run(bytes(64))[0] == 42
