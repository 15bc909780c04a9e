"""`bpfbind prog load` / `prog loadall` against the real kernel, checked by Debian's
bpftool in another process: the same metadata block and the same program tags as
when bpftool (libbpf) loads the same object, and clear failures."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

import bpfbind
from bpfbind import BpfNotFoundError, Id

pytestmark = pytest.mark.kernel

METADATA_CASES = ["metadata_used", "metadata_unused", "multi", "kinds", "long_name"]


def cli(*args: object) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, timeout=120)


def metadata_block(show: str) -> list[str]:
    """The lines under `metadata:` of one program's plain `bpftool prog show`."""
    lines = show.splitlines()
    if "\tmetadata:" not in lines:
        return []
    return lines[lines.index("\tmetadata:") + 1 :]


def shown(bpftool: Any, pin: Path) -> tuple[str, dict[str, Any]]:
    plain = bpftool(["prog", "show", "pinned", pin])
    info: dict[str, Any] = json.loads(bpftool(["-j", "prog", "show", "pinned", pin]))
    return plain, info


def wait_prog_gone(prog_id: int, timeout: float = 10.0) -> bool:
    """True once no program has this id (the kernel frees after a grace period)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            bpfbind.open_program(Id(prog_id)).close()
        except BpfNotFoundError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def load_both(verb: str, obj: Path, pin_dir: Path, bpftool: Any) -> tuple[Path, Path]:
    """`prog VERB obj PIN` run by bpfbind's CLI and by bpftool: (our pin, bpftool's)."""
    ours, theirs = pin_dir / "bpfbind", pin_dir / "bpftool"
    proc = cli("prog", verb, obj, ours)
    assert proc.returncode == 0, proc.stderr
    bpftool(["prog", verb, obj, theirs])
    return ours, theirs


@pytest.mark.parametrize("case", METADATA_CASES)
def test_loadall_matches_bpftool_loadall(
    case: str, bpf_objs: dict[str, Path], pin_dir: Path, bpftool: Any
) -> None:
    ours, theirs = load_both("loadall", bpf_objs[case], pin_dir, bpftool)

    assert sorted(os.listdir(ours)) == sorted(os.listdir(theirs))
    assert os.listdir(ours)
    for name in sorted(os.listdir(theirs)):
        our_plain, our_info = shown(bpftool, ours / name)
        their_plain, their_info = shown(bpftool, theirs / name)
        their_block = metadata_block(their_plain)
        assert their_block, their_plain
        assert metadata_block(our_plain) == their_block, our_plain
        assert our_info["metadata"] == their_info["metadata"]
        # Relocation and subprogram linking are byte-exact.
        assert our_info["tag"] == their_info["tag"], name
        assert our_info["name"] == their_info["name"] == name
        assert our_info["type"] == their_info["type"]
        assert our_info["id"] != their_info["id"]


def test_loadall_binds_the_metadata_section_map(
    bpf_objs: dict[str, Path], pin_dir: Path, bpftool: Any
) -> None:
    # libbpf skips `.metadata`; bpfbind makes it a frozen, read-only map that every
    # program of the object holds, visible to bpftool after the CLI has exited.
    proc = cli("prog", "loadall", bpf_objs["multi"], pin_dir)
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(pin_dir)) == [
        "multi_sock",
        "multi_tc",
        "multi_tp",
        "multi_xdp",
    ]
    for name in os.listdir(pin_dir):
        _, info = shown(bpftool, pin_dir / name)
        maps = [
            json.loads(bpftool(["-j", "map", "show", "id", i])) for i in info["map_ids"]
        ]
        by_name = {m["name"]: m for m in maps}
        assert "multi.metadata" in by_name, (name, sorted(by_name))
        assert "multi.rodata" in by_name, (name, sorted(by_name))
        meta = by_name["multi.metadata"]
        assert meta["frozen"] == 1
        assert meta["flags"] & 0x80


@pytest.mark.parametrize("case", ["multi", "metadata_unused", "long_name"])
def test_prog_load_pins_the_first_program_like_bpftool(
    case: str, bpf_objs: dict[str, Path], pin_dir: Path, bpftool: Any
) -> None:
    ours, theirs = load_both("load", bpf_objs[case], pin_dir, bpftool)

    assert ours.is_file()
    our_plain, our_info = shown(bpftool, ours)
    their_plain, their_info = shown(bpftool, theirs)
    assert our_info["name"] == their_info["name"]
    assert our_info["tag"] == their_info["tag"]
    block = metadata_block(their_plain)
    assert block
    assert metadata_block(our_plain) == block

    # The pin is all that holds the program once the CLI has exited.
    ours.unlink()
    assert wait_prog_gone(our_info["id"])


def test_prog_load_seed_holds_its_metadata_map(
    bpf_objs: dict[str, Path], pin_dir: Path, bpftool: Any
) -> None:
    pin = pin_dir / "seed"
    proc = cli("prog", "load", bpf_objs["seed"], pin)
    assert proc.returncode == 0, proc.stderr
    _, info = shown(bpftool, pin)
    names = [
        json.loads(bpftool(["-j", "map", "show", "id", i]))["name"]
        for i in info.get("map_ids", [])
    ]
    assert names == ["seed.metadata"]


@pytest.mark.parametrize("command", ["load", "loadall"])
def test_missing_object_file_fails_with_one_line(
    command: str, tmp_path: Path, pin_dir: Path
) -> None:
    missing = tmp_path / "missing.bpf.o"
    target = pin_dir / "out"
    proc = cli("prog", command, missing, target)
    assert proc.returncode != 0
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(missing) in lines[0]
    assert "Traceback" not in proc.stderr
    assert not target.exists()


def test_non_elf_object_fails_with_one_line(tmp_path: Path, pin_dir: Path) -> None:
    path = tmp_path / "text.bpf.o"
    path.write_text("not an object\n")
    proc = cli("prog", "loadall", path, pin_dir / "out")
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "ELF" in lines[0]
    assert not (pin_dir / "out").exists()


@pytest.mark.parametrize("case", ["reject", "late_reject"])
def test_loadall_of_a_rejected_object_fails_and_pins_nothing(
    case: str, bpf_objs: dict[str, Path], pin_dir: Path
) -> None:
    proc = cli("prog", "loadall", bpf_objs[case], pin_dir)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip()
    assert os.listdir(pin_dir) == []
