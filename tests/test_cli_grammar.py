"""The command line's grammar, for every command of the table: per-command `help`,
a group alone running its default, unambiguous prefixes, missing arguments named,
`-j` errors as `{"error": ...}` on stdout with bpftool's exit code. Where bpftool has
the same command, its behaviour is the reference."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli as run

import bpfbind
from bpfbind import cli

BPFTOOL = "/usr/sbin/bpftool"


def bpftool(*args: object) -> subprocess.CompletedProcess[str]:
    if not Path(BPFTOOL).exists():
        pytest.skip("Debian's bpftool is not installed")
    return subprocess.run(
        [BPFTOOL, *map(str, args)], capture_output=True, text=True, check=False
    )


def leaves(c: cli.Cmd = cli.COMMANDS, trail: tuple[str, ...] = ()) -> Iterator[
    tuple[tuple[str, ...], cli.Cmd]
]:
    for s in c.sub:
        here = (*trail, s.name)
        if s.sub:
            yield here, s
            yield from leaves(s, here)
        else:
            yield here, s


ALL = list(leaves())


@pytest.mark.parametrize("path,cmd", ALL, ids=[" ".join(p) for p, _ in ALL])
def test_every_command_has_its_own_help(path: tuple[str, ...], cmd: cli.Cmd) -> None:
    if cmd.raw:
        forms = [[*path, "--help"]]  # its own options parser
    else:
        forms = [[*path, "help"], [*path, "--help"], [*path, "-h"]]
    for form in forms:
        proc = run(*form)
        assert proc.returncode == 0, (form, proc.stderr)
        assert proc.stdout.lower().startswith("usage:"), (form, proc.stdout)
        # Its own help, not the top-level one.
        assert " ".join(path) in proc.stdout.splitlines()[0], (form, proc.stdout)


@pytest.mark.parametrize(
    "path,cmd",
    [(p, c) for p, c in ALL if c.params],
    ids=[" ".join(p) for p, c in ALL if c.params],
)
def test_a_missing_argument_is_named(path: tuple[str, ...], cmd: cli.Cmd) -> None:
    proc = run(*path)
    assert proc.returncode == 255
    assert proc.stdout == ""
    assert proc.stderr.startswith("Error: ")
    assert f"missing {cmd.params[0]}" in proc.stderr
    # With -j the same message, as bpftool writes errors: JSON on stdout.
    proc = run("-j", *path)
    assert proc.returncode == 255 and proc.stderr == ""
    assert f"missing {cmd.params[0]}" in json.loads(proc.stdout)["error"]


def test_help_is_a_keyword_only_where_bpftool_has_it(tmp_path: Path) -> None:
    # As an argument's value it is a value: a program named "help", a file "help".
    proc = run("prog", "show", "name", "help")
    assert proc.returncode == 255
    assert "no program with name help" in proc.stderr
    proc = run("metadata", tmp_path / "help")
    assert proc.returncode == 255 and "help" in proc.stderr
    assert not proc.stdout.startswith("Usage")


@pytest.mark.kernel
def test_group_alone_runs_its_default_like_bpftool(bpf_objs: dict[str, Path]) -> None:
    # `bpftool prog` is `bpftool prog show`; so is `bpfbind prog`.
    with bpfbind.sync.load_object(bpf_objs["multi"]) as obj:
        mine = {p.id for p in obj.programs.values()}
        theirs = bpftool("-j", "prog")
        ours = run("-j", "prog")
    assert ours.returncode == theirs.returncode == 0
    assert mine <= {p["id"] for p in json.loads(ours.stdout)}
    assert mine <= {p["id"] for p in json.loads(theirs.stdout)}
    assert run("feature").stdout == run("feature", "probe").stdout


@pytest.mark.parametrize(
    "words", [["p", "s"], ["prog", "sh"], ["pr", "list"], ["f", "p"]]
)
def test_prefixes_bpftool_accepts_are_accepted(words: list[str]) -> None:
    theirs = bpftool("-j", *words)
    ours = run("-j", *words)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    json.loads(ours.stdout)


def test_an_ambiguous_prefix_names_the_candidates() -> None:
    proc = run("prog", "lo", "x", "y")
    assert proc.returncode == 255
    assert "ambiguous" in proc.stderr and "load, loadall" in proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["prog", "show", "id", "abc"],
        ["prog", "show", "id", "4294967295"],
        ["prog", "frobnicate"],
        ["prog", "load", "/nonexistent.bpf.o", "/sys/fs/bpf/bpfbind-never"],
        ["prog", "show", "pinned", "/sys/fs/bpf/bpfbind-nothing-here"],
    ],
)
def test_errors_have_bpftool_s_shape_and_exit_code(args: list[str]) -> None:
    theirs = bpftool("-j", *args)
    ours = run("-j", *args)
    assert ours.returncode == theirs.returncode == 255
    if theirs.stdout.strip() not in ("", "null"):
        # bpftool: one {"error": "..."} object (7.1 adds ",null" after usage errors).
        first = json.loads(theirs.stdout.split("},", 1)[0].rstrip() + (
            "}" if "}," in theirs.stdout else ""
        ))
        assert list(first) == ["error"]
    assert list(json.loads(ours.stdout)) == ["error"]
    assert ours.stderr == ""
    plain = run(*args)
    assert plain.returncode == 255 and plain.stdout == ""
    assert plain.stderr.startswith("Error: ")
    assert len(plain.stderr.strip().splitlines()) == 1


def test_gen_skeleton_without_o_says_where_it_wrote(
    bpf_objs: dict[str, Path], tmp_path: Path
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bpfbind", "gen", "skeleton", bpf_objs["multi"]],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "multi_skel.py" in proc.stderr
    assert (tmp_path / "multi_skel.py").exists()
    quiet = run("gen", "skeleton", bpf_objs["multi"], "-o", tmp_path / "x.py")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_unknown_options_are_errors_naming_them() -> None:
    proc = run("gen", "skeleton", "x.o", "--frob")
    assert proc.returncode == 255 and "--frob" in proc.stderr
    proc = run("gen", "skeleton", "x.o", "-o")
    assert proc.returncode == 255 and "missing FILE after -o" in proc.stderr


@pytest.mark.kernel
def test_metadata_flag_with_json_keeps_the_metadata(
    bpf_objs: dict[str, Path], pin_dir: Path
) -> None:
    assert run("prog", "loadall", bpf_objs["multi"], pin_dir).returncode == 0
    pinned = sorted(pin_dir.iterdir())[0]
    full = json.loads(run("-j", "prog", "show", "pinned", pinned).stdout)
    text = run("-j", "--metadata", "prog", "show", "pinned", pinned).stdout
    meta = json.loads(text)
    assert meta == {k: full[k] for k in ("id", "type", "name", "tag", "metadata")}
    # -p: the same object in bpftool's `-p` layout.
    pretty = run("-p", "--metadata", "prog", "show", "pinned", pinned).stdout
    assert pretty == bpfbind.show.pretty_json(text.rstrip("\n")) + "\n"
    listing = json.loads(run("-j", "--metadata", "prog", "show").stdout)
    assert meta in listing
    assert all(set(r) <= {"id", "type", "name", "tag", "metadata"} for r in listing)


def test_metadata_and_feature_probe_write_json_alike(bpf_objs: dict[str, Path]) -> None:
    for flag, indent in (("-j", None), ("-p", 4)):
        meta = run(flag, "metadata", bpf_objs["multi"]).stdout
        feat = run(flag, "feature", "probe").stdout
        for text, data in ((meta, json.loads(meta)), (feat, json.loads(feat))):
            # bpftool's layouts: compact, or 4-space indents.
            seps = (",", ":") if indent is None else None
            want = json.dumps(data, indent=indent, separators=seps, ensure_ascii=False)
            assert text == want + "\n", (flag, text)
