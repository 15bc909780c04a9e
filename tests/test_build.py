"""`bpfbind build` (clang with the target, flags and include paths a BPF program needs)
and `bpfbind gen vmlinux` (the kernel's BTF as a C header), against bpftool's
`btf dump ... format c` and the objects clang builds from each."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from conftest import run_cli as cli

import bpfbind
from bpfbind import build

ROOT = Path(__file__).resolve().parent.parent
CORE_SRC = ROOT / "tests" / "bpf" / "core_vmlinux.bpf.c"
VMLINUX = Path("/sys/kernel/btf/vmlinux")


def need_vmlinux() -> None:
    if not VMLINUX.exists():
        pytest.skip("this kernel has no /sys/kernel/btf/vmlinux")


def test_build_compiles_the_example_and_prints_the_command(tmp_path: Path) -> None:
    src = tmp_path / "prog.bpf.c"
    shutil.copy(ROOT / "examples" / "prog.bpf.c", src)
    proc = cli("build", src)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "prog.bpf.o"
    assert out.read_bytes()[:4] == b"\x7fELF"
    # The command it ran, with each flag the README explains.
    line = proc.stderr.strip().removeprefix("build: ").split()
    for flag in ("-target", "bpf", "-O2", "-g", "-idirafter"):
        assert flag in line
    # The object is what bpfbind reads: its metadata, offline.
    shown = cli("metadata", out)
    assert shown.stdout == 'commit_hash = "abcdef123456"\nversion = "1.2.3"\n'


def test_a_plain_clang_without_the_multiarch_include_fails_where_build_succeeds(
    tmp_path: Path,
) -> None:
    # Why `build` exists: on Debian <asm/types.h> is only under the multiarch dir.
    exe, _ = build.find_clang()
    src = ROOT / "examples" / "prog.bpf.c"
    bare = subprocess.run(
        [exe, "-target", "bpf", "-O2", "-g", "-c", src, "-o", tmp_path / "x.o"],
        capture_output=True,
        text=True,
        check=False,
    )
    if bare.returncode == 0:
        pytest.skip("this system's clang finds <asm/types.h> by itself")
    assert "asm/types.h" in bare.stderr
    assert build.compile_program(src, tmp_path / "y.o").exists()


def test_build_names_clang_errors_and_exits_255(tmp_path: Path) -> None:
    src = tmp_path / "broken.bpf.c"
    src.write_text("int f(void) { return undefined_thing; }\n")
    proc = cli("build", src)
    assert proc.returncode == 255
    assert proc.stderr.splitlines()[1].startswith("Error: ")  # after the command
    assert "undefined_thing" in proc.stderr
    with pytest.raises(build.CompileError) as excinfo:
        build.compile_program(src)
    assert isinstance(excinfo.value, bpfbind.BpfError)
    assert "undefined_thing" in excinfo.value.output


def test_find_clang_takes_a_supported_clang_nn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A PATH with only clang-NN (no plain clang), as some distributions install it.
    found = [v for v in build.CLANG_VERSIONS if shutil.which(f"clang-{v}")]
    if not found:
        pytest.skip("no clang-NN on PATH")
    # $CLANG comes first (make exports the clang it found): not what is tested here.
    monkeypatch.delenv("CLANG", raising=False)
    (tmp_path / f"clang-{found[0]}").symlink_to(shutil.which(f"clang-{found[0]}"))
    env_path = os.environ["PATH"]
    os.environ["PATH"] = str(tmp_path)
    try:
        exe, version = build.find_clang()
    finally:
        os.environ["PATH"] = env_path
    assert (exe, version) == (str(tmp_path / f"clang-{found[0]}"), found[0])


def test_find_clang_refuses_an_unsupported_clang(tmp_path: Path) -> None:
    fake = tmp_path / "clang"
    fake.write_text("#!/bin/sh\necho 'clang version 9.0.1'\n")
    fake.chmod(0o755)
    with pytest.raises(build.ClangNotFoundError) as excinfo:
        build.find_clang(str(fake))
    assert "version 9" in str(excinfo.value)


# --- gen vmlinux ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def headers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Our vmlinux.h and bpftool's, each in a directory of its own."""
    need_vmlinux()
    bpftool = shutil.which("bpftool") or shutil.which("bpftool", path="/usr/sbin")
    if bpftool is None:
        pytest.skip("bpftool not found")
    root = tmp_path_factory.mktemp("vmlinux")
    (root / "ours").mkdir()
    (root / "theirs").mkdir()
    proc = cli("gen", "vmlinux", "-o", root / "ours" / "vmlinux.h")
    assert proc.returncode == 0, proc.stderr
    with open(root / "theirs" / "vmlinux.h", "w") as f:
        subprocess.run(
            [bpftool, "btf", "dump", "file", VMLINUX, "format", "c"],
            stdout=f,
            check=True,
        )
    return {"ours": root / "ours", "theirs": root / "theirs", "bpftool": Path(bpftool)}


def _declared(header: Path) -> Counter[str]:
    text = header.read_text()
    return Counter(
        re.findall(r"^(?:struct|union|enum) (\w+)(?: : [\w ]+)? \{", text, re.M)
        + re.findall(r"^typedef .*?\b(\w+)(?:\[\d+\])*;$", text, re.M)
        # the end of `typedef struct { ... } name;`
        + re.findall(r"^\}(?: __attribute__\(\(packed\)\))? (\w+);$", text, re.M)
    )


def test_gen_vmlinux_declares_what_bpftool_declares(headers: dict[str, Path]) -> None:
    ours = _declared(headers["ours"] / "vmlinux.h")
    theirs = _declared(headers["theirs"] / "vmlinux.h")
    missing = set(theirs) - set(ours)
    assert not missing, sorted(missing)[:20]


def test_gen_vmlinux_sizes_match_the_kernel_as_bpftool_s_do(
    headers: dict[str, Path], tmp_path: Path
) -> None:
    # sizeof() of every uniquely named struct and union, asserted against the BTF:
    # our header gets no size wrong that bpftool's gets right.
    raw = subprocess.run(
        [headers["bpftool"], "-j", "btf", "dump", "file", VMLINUX],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    types = json.loads(raw)["types"]
    names = Counter((t["kind"], t["name"]) for t in types)
    lines = ['#include "vmlinux.h"']
    for t in types:
        unique = names[(t["kind"], t["name"])] == 1 and t["name"] != "(anon)"
        if t["kind"] in ("STRUCT", "UNION") and unique:
            tag = t["kind"].lower()
            lines.append(
                f'_Static_assert(sizeof({tag} {t["name"]}) == {t["size"]}, '
                f'"{t["name"]}");'
            )
    check = tmp_path / "sizes.c"
    check.write_text("\n".join(lines) + "\n")
    exe, _ = build.find_clang()

    def wrong(include: Path) -> set[str]:
        proc = subprocess.run(
            [exe, "-target", "bpf", "-fsyntax-only", "-ferror-limit=0",
             "-I", include, check],
            capture_output=True,
            text=True,
            check=False,
        )
        return set(re.findall(r'static_assert failed.*"(\w+)"', proc.stderr))

    assert len(lines) > 1000
    assert wrong(headers["ours"]) <= wrong(headers["theirs"])


@pytest.mark.kernel
def test_a_core_program_built_on_gen_vmlinux_loads_as_on_bpftool_s(
    headers: dict[str, Path], tmp_path: Path
) -> None:
    tags = {}
    for which in ("ours", "theirs"):
        obj = tmp_path / f"{which}.bpf.o"
        build.compile_program(CORE_SRC, obj, cflags=["-I", str(headers[which])])
        with bpfbind.sync.load_object(obj) as loaded:
            tags[which] = {n: p.tag for n, p in loaded.programs.items()}
    # The same relocated instructions, whichever header the program was built on.
    assert tags["ours"] == tags["theirs"]
    assert tags["ours"]


def test_gen_vmlinux_to_stdout_and_from_a_btf_file(tmp_path: Path) -> None:
    need_vmlinux()
    shutil.copy(VMLINUX, tmp_path / "vmlinux.btf")
    a = cli("gen", "vmlinux")
    b = cli("gen", "vmlinux", "--btf", tmp_path / "vmlinux.btf")
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout
    assert a.stdout.startswith("/*") and "struct task_struct {" in a.stdout


def test_gen_vmlinux_of_a_file_that_is_no_btf_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.btf"
    bad.write_bytes(b"\x9f\xeb\x01\x00garbage")
    proc = cli("gen", "vmlinux", "--btf", bad, "-o", tmp_path / "out.h")
    assert proc.returncode == 255
    assert proc.stderr.startswith("Error: ") and "Traceback" not in proc.stderr
    assert not (tmp_path / "out.h").exists()
