"""Objects libbpf reads in its own ways (issue 10). Where libbpf loads an object,
bpftool loads it too and every program's tag must be equal to bpfbind's. Where libbpf
1.x refuses it and cilium/ebpf loads it (legacy `maps` definitions, static entry
points, names such as `xdp_drop`), bpfbind loads it, and a twin object built the way
libbpf accepts gives libbpf's tags to compare with: the instructions must be equal."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import BpftoolError, loaded_as_libbpf_loads, renamed

import bpfbind
import bpfbind.sync

pytestmark = pytest.mark.kernel

Loadall = Callable[..., dict[str, dict[str, Any]]]


def tags(obj: bpfbind.BpfObject) -> dict[str, str]:
    return {name: prog.tag for name, prog in obj.programs.items()}


def libbpf_tags(theirs: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    return {name: str(info["tag"]) for name, info in theirs.items()}


def twin_tags(
    bpftool: Callable[[list[str]], str],
    libbpf_loadall: Loadall,
    pin_dir: Path,
    refused: Path,
    twin: Path,
    match: str | None = None,
) -> dict[str, str]:
    """libbpf refuses to load `refused` (bpftool's error matching `match`), and loads
    its `twin`, written as libbpf wants it: the twin's tags."""
    with pytest.raises(BpftoolError, match=match):
        bpftool(["prog", "loadall", str(refused), str(pin_dir / "refused")])
    return libbpf_tags(libbpf_loadall(twin, pin_dir / "twin"))


def test_hidden_subprogram_is_verified_in_its_callers_context(
    bpf_objs: Mapping[str, Path], pin_dir: Path, libbpf_loadall: Loadall
) -> None:
    path = bpf_objs["parity_hidden"]
    with loaded_as_libbpf_loads(libbpf_loadall, path, pin_dir) as ours:
        # A socket filter sees the packet after its 14-byte Ethernet header.
        retval, _ = ours.programs["hidden_caller"].test_run(bytes(64))
        assert retval == (64 - 14) * 3


def test_programs_marked_not_to_autoload_are_left_out_as_libbpf_leaves_them(
    bpf_objs: Mapping[str, Path], pin_dir: Path, bpftool: Callable[[list[str]], str]
) -> None:
    path = bpf_objs["parity_optional"]
    # bpftool 7.1 loads the object, then fails to pin the program libbpf left out.
    with pytest.raises(
        BpftoolError, match="'not_autoloaded': can't pin program that wasn't"
    ):
        bpftool(["prog", "loadall", str(path), str(pin_dir / "theirs")])
    with bpfbind.sync.load_object(path) as ours:
        assert sorted(ours.programs) == ["autoloaded"]


def test_cilium_names_load_with_the_instructions_of_their_libbpf_twin(
    bpf_objs: Mapping[str, Path],
    pin_dir: Path,
    bpftool: Callable[[list[str]], str],
    libbpf_loadall: Loadall,
) -> None:
    cilium = bpf_objs["parity_sections_cilium"]
    # libbpf 1.x refuses a static entry point and an unknown section name.
    twin = bpf_objs["parity_sections"]
    want = twin_tags(bpftool, libbpf_loadall, pin_dir, cilium, twin)
    with bpfbind.sync.load_object(cilium) as ours:
        prog = ours.programs["drop_short"]
        assert prog.type == "xdp"
        assert tags(ours) == want


def test_legacy_map_definitions_load_like_btf_defined_ones(
    bpf_objs: Mapping[str, Path],
    pin_dir: Path,
    bpftool: Callable[[list[str]], str],
    libbpf_loadall: Loadall,
) -> None:
    legacy = bpf_objs["parity_legacy"]
    twin = bpf_objs["parity_legacy_twin"]
    want = twin_tags(
        bpftool, libbpf_loadall, pin_dir, legacy, twin, "legacy map definitions"
    )
    with bpfbind.sync.load_object(legacy) as ours:
        assert tags(ours) == want
        counts, seen = ours.maps["counts"], ours.maps["seen"]
        shape = [
            (m.map_type, m.key_size, m.value_size, m.max_entries)
            for m in (counts, seen)
        ]
        assert shape == [(2, 4, 8, 4), (1, 4, 4, 16)]
        assert seen.flags == 1  # BPF_F_NO_PREALLOC reached the kernel
        # The program really uses the map: each run counts one packet.
        prog = ours.programs["count_packets"]
        for _ in range(3):
            prog.test_run(bytes(64))
        assert counts.lookup((1).to_bytes(4, "little"), raw=True) == (3).to_bytes(
            8, "little"
        )


def test_unknown_section_is_an_unsupported_feature_not_a_malformed_object(
    bpf_objs: Mapping[str, Path],
) -> None:
    # Only the section name changes (everywhere, the BTF's func_info names it too).
    bad = renamed(bpf_objs["parity_hidden"], b"socket", b"qocket")
    with pytest.raises(bpfbind.UnsupportedFeatureError) as e:
        bpfbind.sync.load_object(bad, name="parity_hidden")
    assert e.value.feature == "program section 'qocket'"
    assert "hidden_caller" in str(e.value)


def test_unknown_section_of_a_program_not_loaded_does_not_matter(
    bpf_objs: Mapping[str, Path],
) -> None:
    # libbpf minds a section that names no type only when it loads the program.
    bad = renamed(bpf_objs["parity_optional"], b"?raw_tp", b"?rqw_tp")
    with bpfbind.sync.load_object(bad, name="parity_optional") as obj:
        assert sorted(obj.programs) == ["autoloaded"]


def test_calls_into_another_object_say_it_needs_linking(
    bpf_objs: Mapping[str, Path],
) -> None:
    refused = bpfbind.UnsupportedFeatureError
    with pytest.raises(refused, match="bpftool gen object") as e:
        bpfbind.sync.load_object(bpf_objs["refused_link"])
    assert "'defined_elsewhere'" in str(e.value)
