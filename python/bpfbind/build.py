"""Compiling BPF programs: a clang that targets BPF (14 to 22, `clang` or `clang-NN`
on PATH) with the flags and include paths a `prog.bpf.c` needs (`bpfbind build`), and
the running kernel's types as `vmlinux.h` (`bpfbind gen vmlinux`)."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from . import _native
from .errors import BpfError

__all__ = [
    "CLANG_VERSIONS",
    "ClangNotFoundError",
    "CompileError",
    "clang_command",
    "compile_program",
    "find_clang",
    "vmlinux_header",
]

#: The clang major versions bpfbind builds with (`-target bpf` with BTF and CO-RE).
CLANG_VERSIONS = range(14, 23)

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"

# bpf_tracing.h's PT_REGS_* macros are written per architecture: __TARGET_ARCH_<name>.
_TARGET_ARCH = {
    "x86_64": "x86",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "riscv64": "riscv",
    "ppc64le": "powerpc",
    "s390x": "s390",
    "loongarch64": "loongarch",
}


class ClangNotFoundError(BpfError):
    """No clang of a supported version (14 to 22) on PATH."""


class CompileError(BpfError):
    """clang refused the program; ``output`` holds what it printed."""

    output: str = ""


def _version(exe: str) -> int | None:
    try:
        out = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, check=False, timeout=30
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"clang version (\d+)\.", out)
    return int(m.group(1)) if m else None


def find_clang(clang: str | None = None) -> tuple[str, int]:
    """(path, major version) of the clang to build with: ``clang`` if given (or
    $CLANG), else `clang` on PATH when its version is supported, else the newest
    `clang-NN` on PATH."""
    wanted = clang or os.environ.get("CLANG")
    candidates = [wanted] if wanted else ["clang"] + [
        f"clang-{v}" for v in reversed(CLANG_VERSIONS)
    ]
    seen: list[str] = []
    for name in candidates:
        exe = shutil.which(name)
        if exe is None:
            continue
        v = _version(exe)
        seen.append(f"{exe} ({'version ' + str(v) if v else 'unknown version'})")
        if v is not None and v in CLANG_VERSIONS:
            return exe, v
    found = f"; found {', '.join(seen)}" if seen else ""
    err = ClangNotFoundError(
        f"no clang {CLANG_VERSIONS.start} to {CLANG_VERSIONS.stop - 1} on PATH "
        f"(clang or clang-NN){found}; on Debian: apt-get install clang"
    )
    err.command = "clang"
    raise err


def _multiarch(clang: str) -> str | None:
    """Debian keeps <asm/types.h> under /usr/include/<multiarch>, which -target bpf
    does not search."""
    for argv in ([clang, "-print-multiarch"], ["gcc", "-dumpmachine"]):
        try:
            out = subprocess.run(
                argv, capture_output=True, text=True, check=False, timeout=30
            ).stdout.strip()
        except OSError:
            continue
        if out and os.path.isdir(f"/usr/include/{out}"):
            return out
    guess = f"{platform.machine()}-linux-gnu"
    return guess if os.path.isdir(f"/usr/include/{guess}") else None


def clang_command(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    clang: str | None = None,
    cflags: Sequence[str] = (),
) -> list[str]:
    """The clang command line `compile_program` runs (see README, "Compiling")."""
    exe, _ = find_clang(clang)
    src = Path(source)
    argv = [
        exe,
        "-target", "bpf",  # BPF instructions (bpfel on little-endian hosts)
        "-O2",  # the verifier needs optimised code: -O0 spills it cannot follow
        "-g",  # BTF and .BTF.ext: map definitions, CO-RE records, func/line info
        "-Wall",
    ]
    arch = _TARGET_ARCH.get(platform.machine())
    if arch is not None:
        argv.append(f"-D__TARGET_ARCH_{arch}")  # for bpf_tracing.h's PT_REGS_*()
    # vmlinux.h and the program's own headers next to it.
    argv += ["-I", str(src.parent or ".")]
    multiarch = _multiarch(exe)
    if multiarch is not None:
        # After the standard paths, for <linux/bpf.h> -> <asm/types.h> on Debian.
        argv += ["-idirafter", f"/usr/include/{multiarch}"]
    argv += [*cflags, "-c", str(src), "-o", str(output)]
    return argv


def default_output(source: str | os.PathLike[str]) -> Path:
    """prog.bpf.c -> prog.bpf.o, next to it."""
    src = Path(source)
    if src.suffix == ".c":
        return src.with_suffix(".o")
    return src.with_name(src.name + ".o")


def compile_program(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    clang: str | None = None,
    cflags: Sequence[str] = (),
    echo: Callable[[list[str]], object] | None = None,
) -> Path:
    """Compiles a BPF C program into an object bpfbind (and libbpf) can load; returns
    the object's path (``prog.bpf.o`` next to ``prog.bpf.c`` by default). ``echo`` is
    given the command line before it runs. clang's complaints raise `CompileError`
    with its output."""
    out = Path(output) if output is not None else default_output(source)
    if not os.path.isfile(source):
        raise FileNotFoundError(2, "No such file", os.fspath(source))
    argv = clang_command(source, out, clang=clang, cflags=cflags)
    if echo is not None:
        echo(argv)
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        err = CompileError(
            f"{os.path.basename(argv[0])} failed on {source}:\n{proc.stderr.rstrip()}"
        )
        err.command = "clang"
        err.output = proc.stderr
        raise err
    return out


def vmlinux_header(btf: str | os.PathLike[str] = VMLINUX_BTF) -> str:
    """The C header of every type of a BTF file (the running kernel's by default), for
    CO-RE programs to ``#include "vmlinux.h"``."""
    with open(btf, "rb") as f:
        data = f.read()
    return _native.btf_c_header(data)
