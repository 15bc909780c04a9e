"""`bpfbind map show` and `bpfbind map dump` against Debian's bpftool 7.1, byte for
byte: by id, pin and name (one map or several), plain, -j and -p; hex dumps of maps
without BTF, BTF-formatted dumps (structs, char arrays, enums, bitfields, per-CPU
values, a .data section), lookup errors, and maps that cannot be walked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from conftest import Bpftool
from conftest import run_cli as run_bpfbind

import bpfbind
import bpfbind.sync
from bpfbind import BpfObject

pytestmark = pytest.mark.kernel

MODES = [[], ["-j"], ["-p"]]


def bpftool_run(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("bpftool") or shutil.which("bpftool", path="/usr/sbin:/sbin")
    assert exe is not None  # the `bpftool` fixture skipped otherwise
    return subprocess.run(
        [exe, *map(str, args)], capture_output=True, text=True, check=False
    )


@pytest.fixture
def objs(
    bpf_objs: Mapping[str, Path], bpftool: Bpftool
) -> Iterator[tuple[BpfObject, BpfObject]]:
    with (
        bpfbind.sync.load_object(bpf_objs["maps_typed"]) as typed,
        bpfbind.sync.load_object(bpf_objs["events"]) as events,
    ):
        flows = typed.maps["flows"]
        for pid, comm in ((7, "bash"), (8, "a\tb"), (9, "")):
            flows.update(
                {"pid": pid, "comm": comm},
                {
                    "count": pid * 1000,
                    "delta": [-pid, pid],
                    "label": f"label-{pid}",
                    "state": pid % 3,
                    "small": pid % 8,
                    "big": 31,
                },
            )
        n = typed.maps["percpu"].ncpus
        typed.maps["percpu"].update(1, list(range(3, 3 + n)))
        typed.maps["percpu_hash"].update(
            5, [{"pid": i, "comm": f"c{i}"} for i in range(n)]
        )
        typed.maps["big"].update_batch([(i, i << 40) for i in range(40)])
        typed.maps["fifo"].push(b"\1\0\0\0")
        yield typed, events


def same(args: list[str]) -> None:
    theirs = bpftool_run(*args)
    ours = run_bpfbind(*args)
    assert ours.stdout == theirs.stdout, (args, ours.stderr)
    assert ours.returncode == theirs.returncode, (args, ours.stderr)


@pytest.mark.parametrize("mode", MODES, ids=["plain", "json", "pretty"])
def test_map_show_by_id_pin_and_name(
    objs: tuple[BpfObject, BpfObject], pin_dir: Path, mode: list[str]
) -> None:
    typed, events = objs
    for m in [*typed.maps.values(), *events.maps.values()]:
        same([*mode, "map", "show", "id", str(m.id)])
    pinned = pin_dir / "flows"
    typed.maps["flows"].pin(pinned)
    same([*mode, "map", "show", "pinned", str(pinned)])
    settle("percpu_hash", {typed.maps["percpu_hash"].id})
    same([*mode, "map", "show", "name", "percpu_hash"])


@pytest.mark.parametrize("mode", MODES, ids=["plain", "json", "pretty"])
def test_map_dump_matches_bpftool(
    objs: tuple[BpfObject, BpfObject], mode: list[str]
) -> None:
    typed, events = objs
    events.programs["emit"].test_run(bytes(64), repeat=3)
    for m in [*typed.maps.values(), *events.maps.values()]:
        if m.name == "big" and mode == ["-p"]:
            continue  # 40 entries of the same shape: the plain and -j runs cover it
        same([*mode, "map", "dump", "id", str(m.id)])
    settle("flows", {typed.maps["flows"].id})
    same([*mode, "map", "dump", "name", "flows"])


def settle(name: str, ids: set[int]) -> None:
    """Waits until the maps named `name` are exactly `ids`: the maps of objects closed
    before are freed after their programs, which the kernel frees a little later."""
    for _ in range(500):
        if set(bpfbind._native.map_ids_named(name)) == ids:
            return
        time.sleep(0.01)
    pytest.fail(f"maps named {name}: {bpfbind._native.map_ids_named(name)}, not {ids}")


@pytest.mark.parametrize("mode", MODES, ids=["plain", "json", "pretty"])
def test_a_name_of_several_maps(
    bpf_objs: Mapping[str, Path], objs: tuple[BpfObject, BpfObject], mode: list[str]
) -> None:
    with bpfbind.sync.load_object(bpf_objs["maps_typed"]) as twin:
        twin.maps["slots"].update(3, 33)
        for name in ("slots", "percpu", "fifo"):
            settle(name, {objs[0].maps[name].id, twin.maps[name].id})
            same([*mode, "map", "dump", "name", name])
            same([*mode, "map", "show", "name", name])
    nobtf = [bpfbind.create_map(1, 4, 4, 4, name="cli_twin") for _ in range(2)]
    try:
        nobtf[1].update(1, 2)
        settle("cli_twin", {m.id for m in nobtf})
        same([*mode, "map", "dump", "name", "cli_twin"])
    finally:
        for m in nobtf:
            m.close()


@pytest.mark.parametrize("mode", MODES, ids=["plain", "json", "pretty"])
def test_map_dump_without_btf(bpftool: Bpftool, mode: list[str]) -> None:
    small = bpfbind.create_map(1, 4, 8, 8, name="cli_small")  # hash
    wide = bpfbind.create_map(2, 4, 20, 3, name="cli_wide")  # array, value > 16
    pcpu = bpfbind.create_map(6, 4, 20, 2, name="cli_pcpu")  # percpu_array
    try:
        small.update(1, (2**64 - 1).to_bytes(8, "little"))
        small.update(2, bytes(range(8)))
        wide.update(0, bytes(range(20)))
        pcpu.update(1, [bytes([i]) * 20 for i in range(pcpu.ncpus)])
        for m in (small, wide, pcpu):
            same([*mode, "map", "dump", "id", str(m.id)])
            same([*mode, "map", "show", "id", str(m.id)])
    finally:
        for m in (small, wide, pcpu):
            m.close()


def test_map_show_lists_every_map_as_bpftool(
    objs: tuple[BpfObject, BpfObject],
) -> None:
    ours_ids = {m.id for o in objs for m in o.maps.values()}
    # Other processes create and drop maps meanwhile: compare the records of ours.
    theirs = [
        r
        for r in json.loads(bpftool_run("-j", "map", "show").stdout)
        if r["id"] in ours_ids
    ]
    ours = [
        r
        for r in json.loads(run_bpfbind("-j", "map", "show").stdout)
        if r["id"] in ours_ids
    ]
    assert ours == theirs and len(ours) == len(ours_ids)

    def blocks(text: str) -> dict[int, str]:
        out: dict[int, str] = {}
        current = None
        for line in text.splitlines(keepends=True):
            if not line.startswith("\t"):
                current = int(line.split(":", 1)[0])
                out[current] = ""
            assert current is not None
            out[current] += line
        return out

    plain_theirs = blocks(bpftool_run("map", "show").stdout)
    plain_ours = blocks(run_bpfbind("map", "show").stdout)
    # Listing, bpftool reads every map's info into one struct, and Linux 6.18 keeps
    # the fields it does not fill: a map without BTF shows the BTF id of the map
    # before it. Each of ours comes after the same neighbours in both listings.
    for i in sorted(ours_ids):
        assert plain_ours[i] == plain_theirs[i]


def test_errors() -> None:
    # bpftool's exit status for every error, 255.
    r = run_bpfbind("map", "show", "id", "4000000000")
    assert r.returncode == 255 and "no map with id 4000000000" in r.stderr
    r = run_bpfbind("map", "show", "name", "no_such_map_x")
    assert (r.returncode, r.stdout, r.stderr) == (255, "", "")
    r = run_bpfbind("map", "dump")
    assert r.returncode == 255 and "missing id, pinned or name" in r.stderr
