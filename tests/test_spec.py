"""Configure before load (issue 10): `open_object()` parses an object without touching
the kernel; map sizes and flags, which programs load, what they attach to and the
initial values of data-section variables are changed on the spec; `load_object(spec)`
loads it with those changes, sync and async. Unchanged, it loads with libbpf's tags."""

from __future__ import annotations

import errno
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

import bpfbind
import bpfbind.sync

pytestmark = pytest.mark.kernel

Bpftool = Callable[[list[str]], str]


@pytest.fixture
def spec(bpf_objs: Mapping[str, Path]) -> bpfbind.ObjectSpec:
    return bpfbind.open_object(bpf_objs["spec_config"])


def runnable(spec: bpfbind.ObjectSpec) -> bpfbind.ObjectSpec:
    # As declared, the stack map has no value size and no entries: libbpf's capable
    # example has its user code set them, as here.
    spec.maps["stacks"].value_size = 8 * 16
    spec.maps["stacks"].max_entries = 64
    return spec


def test_open_object_touches_no_kernel_object(
    bpf_objs: Mapping[str, Path], fd_snapshot: Any
) -> None:
    before = fd_snapshot.kernel_ids()
    fds = fd_snapshot.fds()
    spec = bpfbind.open_object(bpf_objs["spec_config"])
    assert sorted(spec.programs) == ["configured", "optional", "retargeted"]
    assert spec.variables["tag"] == "none"
    assert spec.variables["mode"] == "MODE_OFF"
    assert spec.variables["steps"] == [1, 2, 3]
    assert spec.variables["runs"] == 7
    assert spec.programs["optional"].autoload is False
    assert spec.programs["retargeted"].attach_target == "sched_switch"
    assert fd_snapshot.kernel_ids() == before
    assert fd_snapshot.fds() == fds


def test_map_sizes_reach_the_kernel(spec: bpfbind.ObjectSpec, bpftool: Bpftool) -> None:
    runnable(spec)
    spec.maps["table"].max_entries = 100
    spec.maps["table"].map_flags = 1  # BPF_F_NO_PREALLOC
    with bpfbind.sync.load_object(spec) as obj:
        for name, size, entries, flags in [
            ("table", 8, 100, 1),
            ("stacks", 128, 64, 0),
        ]:
            shown = json.loads(
                bpftool(["-j", "map", "show", "id", str(obj.maps[name].id)])
            )
            assert (shown["bytes_value"], shown["max_entries"], shown["flags"]) == (
                size,
                entries,
                flags,
            ), name


def test_unconfigured_stack_map_fails_as_in_libbpf(spec: bpfbind.ObjectSpec) -> None:
    with pytest.raises(bpfbind.BpfError) as e:
        bpfbind.sync.load_object(spec)
    assert e.value.command == "BPF_MAP_CREATE"
    assert e.value.errno == errno.EINVAL
    assert "stacks" in str(e.value)


def test_variables_are_written_before_load_and_change_what_runs(
    spec: bpfbind.ObjectSpec,
) -> None:
    runnable(spec)
    with bpfbind.sync.load_object(spec) as obj:
        assert obj.programs["configured"].test_run(bytes(64))[0] == 0  # disabled
    spec.variables["enabled"] = True
    spec.variables["mode"] = "MODE_ADD"
    spec.variables["small"] = 200
    spec.variables["bias"] = -50
    spec.variables["steps"] = [10, 20, 30]
    spec.variables["runs"] = 40
    with bpfbind.sync.load_object(spec) as obj:
        prog = obj.programs["configured"]
        assert prog.test_run(bytes(64))[0] == -50 + 200 + 60
        data = obj.maps[".data"].lookup(bytes(4), raw=True)
        assert data is not None and int.from_bytes(data[:4], "little") == 41
    spec.variables["mode"] = 9  # MODE_SHIFT, by value
    spec.variables["tag"] = "x-ray"
    with bpfbind.sync.load_object(spec) as obj:
        assert obj.programs["configured"].test_run(bytes(64))[0] == -50 + 3200 + 1000
        rodata = obj.maps[".rodata"]
        assert rodata.frozen


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("small", 256, "does not fit 1 bytes"),
        ("small", -1, "does not fit"),
        ("bias", 1 << 31, "does not fit 4 bytes"),
        ("bias", "7", "expects an int"),
        ("enabled", 1, "expects a bool"),
        ("mode", "MODE_NONE", "has no 'MODE_NONE'"),
        ("tag", "123456789", r"do not fit char\[8\]"),
        ("steps", [1, 2], "list of 3"),
        ("steps", [1, 2, 1 << 15], r"'steps'\[2\]: 32768 does not fit"),
    ],
)
def test_values_out_of_their_type_are_refused(
    spec: bpfbind.ObjectSpec, name: str, value: object, words: str
) -> None:
    before = spec.variables[name]
    with pytest.raises(bpfbind.SpecError, match=words) as e:
        spec.variables[name] = value
    assert isinstance(e.value, bpfbind.BpfError)
    assert spec.variables[name] == before


def test_unknown_names_are_refused_naming_what_exists(spec: bpfbind.ObjectSpec) -> None:
    with pytest.raises(KeyError, match=r"no variable 'nope'.*bias") as e:
        spec.variables["nope"] = 1
    assert isinstance(e.value, bpfbind.SpecError)
    with pytest.raises(bpfbind.SpecError, match=r"no map 'nope'.*stacks"):
        spec.maps["nope"]
    with pytest.raises(bpfbind.SpecError, match=r"no program 'nope'.*configured"):
        spec.programs["nope"]
    with pytest.raises(bpfbind.SpecError, match=r"outside 0\.\.2\*\*32-1"):
        spec.maps["table"].max_entries = 1 << 32
    with pytest.raises(bpfbind.SpecError, match="follows the section"):
        spec.maps[".rodata"].max_entries = 2


def test_autoload_leaves_programs_out_or_brings_them_in(
    spec: bpfbind.ObjectSpec,
) -> None:
    runnable(spec)
    spec.programs["retargeted"].autoload = False
    spec.programs["optional"].autoload = True
    with bpfbind.sync.load_object(spec) as obj:
        assert sorted(obj.programs) == ["configured", "optional"]
        assert obj.programs["optional"].test_run(bytes(64))[0] == 3


def test_attach_target_changes_what_the_program_is_verified_against(
    spec: bpfbind.ObjectSpec,
) -> None:
    runnable(spec)
    spec.programs["retargeted"].attach_target = "sched_wakeup"
    with bpfbind.sync.load_object(spec) as obj:
        assert "retargeted" in obj.programs
    spec.programs["retargeted"].attach_target = "no_such_tracepoint_xyz"
    with pytest.raises(bpfbind.BpfNotFoundError, match="btf_trace_no_such_tracepoint"):
        bpfbind.sync.load_object(spec)


def test_unchanged_spec_loads_with_libbpfs_tags(
    bpf_objs: Mapping[str, Path], pin_dir: Path, libbpf_loadall: Any
) -> None:
    theirs = libbpf_loadall(bpf_objs["maps_tail"], pin_dir)
    with bpfbind.sync.load_object(bpfbind.open_object(bpf_objs["maps_tail"])) as obj:
        assert {n: p.tag for n, p in obj.programs.items()} == {
            n: info["tag"] for n, info in theirs.items()
        }


@pytest.mark.anyio
async def test_async_load_of_a_spec(spec: bpfbind.ObjectSpec) -> None:
    runnable(spec)
    spec.variables["enabled"] = True
    spec.variables["bias"] = 17
    async with await bpfbind.load_object(spec) as obj:
        assert obj.programs["configured"].test_run(bytes(64))[0] == 17
