"""BTF for kernels older than the compiler: libbpf rewrites the kinds a kernel does not
know (FLOAT, DECL_TAG, TYPE_TAG, ENUM64, VAR/DATASEC, FUNC, global linkage) into ones it
does, and so does bpfbind. No kernel here lacks them, so `BPFBIND_PRETEND_BTF_LACKS`
makes the loader treat kinds as unknown: the kernel then receives the rewritten BTF,
which it must accept, with the programs' instructions untouched."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import require_obj

import bpfbind
import bpfbind.sync

pytestmark = pytest.mark.kernel

# What each rewrite must leave no trace of, in `bpftool btf dump` kind names, in the
# order kernels learnt the kinds: a kernel without one has none of the later ones, so
# pretending one is missing pretends the later ones are too.
GONE = {
    "func": {"FUNC", "FUNC_PROTO"},
    "datasec": {"DATASEC", "VAR"},
    "float": {"FLOAT"},
    "decl_tag": {"DECL_TAG"},
    "type_tag": {"TYPE_TAG"},
    "enum64": {"ENUM64"},
}
ORDER = list(GONE)


def kinds_of(bpftool: Any, obj: bpfbind.BpfObject) -> tuple[dict[str, int], str]:
    """Kind counts and text of the BTF the kernel holds for the object."""
    assert obj.btf_id is not None
    text = bpftool(["btf", "dump", "id", str(obj.btf_id)])
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("["):
            kind = line.split()[1]
            counts[kind] = counts.get(kind, 0) + 1
    return counts, text


def tags(obj: bpfbind.BpfObject) -> dict[str, str]:
    return {name: p.tag for name, p in obj.programs.items()}


def test_the_object_has_every_kind_and_loads_as_libbpf_loads_it(
    bpf_objs: Mapping[str, Path], pin_dir: Path, libbpf_loadall: Any, bpftool: Any
) -> None:
    path = require_obj(bpf_objs, "btf_kinds")
    theirs = libbpf_loadall(path, pin_dir)
    with bpfbind.sync.load_object(path) as obj:
        assert tags(obj) == {"kinds_xdp": theirs["kinds_xdp"]["tag"]}
        counts, _ = kinds_of(bpftool, obj)
        for gone in GONE.values():
            assert gone <= counts.keys(), (gone, counts)
        assert obj.metadata["build"] == "kinds-v1"


@pytest.mark.parametrize("lacks", ORDER)
def test_a_kernel_before_each_kind_gets_it_and_later_ones_rewritten(
    bpf_objs: Mapping[str, Path],
    bpftool: Any,
    monkeypatch: pytest.MonkeyPatch,
    lacks: str,
) -> None:
    path = require_obj(bpf_objs, "btf_kinds")
    with bpfbind.sync.load_object(path) as plain:
        want = tags(plain)
        before, _ = kinds_of(bpftool, plain)
    monkeypatch.setenv("BPFBIND_PRETEND_BTF_LACKS", lacks)
    with bpfbind.sync.load_object(path) as obj:
        # The same instructions: only the BTF beside them changed.
        assert tags(obj) == want
        counts, text = kinds_of(bpftool, obj)
        at = ORDER.index(lacks)
        for other in ORDER[at:]:
            assert not GONE[other] & counts.keys(), (lacks, other, counts)
        for other in ORDER[:at]:
            assert GONE[other] <= counts.keys(), (lacks, other, counts)
        assert ("'enum64_placeholder'" in text) == (at <= ORDER.index("enum64"))
        assert counts.get("UNION", 0) == before.get("UNION", 0) + 1
        if at <= ORDER.index("datasec"):
            # DATASECs become STRUCTs named without dots, their variables members;
            # such a kernel takes no keyless BTF for a data map, so the maps are made
            # without BTF, as libbpf retries them.
            assert "STRUCT '_data'" in text
            assert any("created without BTF" in w for w in obj.warnings), obj.warnings
        else:
            assert obj.warnings == []
        prog = obj.programs["kinds_xdp"]
        info = json.loads(bpftool(["-j", "prog", "show", "id", str(prog.id)]))
        # Without BTF functions the kernel takes no func_info: the program has no BTF.
        assert ("btf_id" in info) == (lacks != "func"), info
        # It still runs as compiled: global_helper(ifindex 1) + 3 > 0.
        assert prog.test_run(b"\0" * 64)[0] == 2  # XDP_PASS


def test_a_kernel_lacking_every_kind_still_runs_the_program(
    bpf_objs: Mapping[str, Path], bpftool: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = require_obj(bpf_objs, "btf_kinds")
    with bpfbind.sync.load_object(path) as plain:
        want = tags(plain)
    monkeypatch.setenv("BPFBIND_PRETEND_BTF_LACKS", "all")
    with bpfbind.sync.load_object(path) as obj:
        assert tags(obj) == want
        counts, _ = kinds_of(bpftool, obj)
        left = set().union(*GONE.values()) & counts.keys()
        assert not left, counts
        assert obj.programs["kinds_xdp"].test_run(b"\0" * 64)[0] == 2
