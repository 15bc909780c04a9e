"""What a failed load tells the caller: malformed objects give ObjectFormatError naming
where, a verifier rejection carries its log, an unprivileged caller gets a
PermissionError that says what is needed; no failure leaves an fd behind."""

from __future__ import annotations

import errno
import json
import random
import re
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import bpfbind
from bpfbind import BpfError, ObjectFormatError, VerifierError

pytestmark = pytest.mark.kernel

NOBODY = 65534


def elf_sections(data: bytes) -> dict[str, tuple[int, int]]:
    """Section name -> (offset of its header, offset of its data), for ELF64 LE."""
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shnum, shstrndx = struct.unpack_from("<HH", data, 0x3C)
    headers = [
        struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * 64) for i in range(shnum)
    ]
    strtab = headers[shstrndx][4]
    out = {}
    for i, h in enumerate(headers):
        start = strtab + h[0]
        name = data[start : data.index(b"\0", start)].decode()
        out[name] = (shoff + i * 64, h[4])
    return out


def load_bytes(data: bytes, name: str) -> None:
    """Loads and closes at once: nothing a bad object makes may outlive the call."""
    bpfbind.sync.load_object(data, name=name).close()


def assert_names_where(err: ObjectFormatError) -> None:
    assert isinstance(err, BpfError)
    assert isinstance(err.section, str)
    assert err.section
    assert isinstance(err.offset, int)
    assert err.offset >= 0
    message = str(err)
    assert err.section in message
    assert f"{err.offset:#x}" in message


# --- malformed objects ---------------------------------------------------------------


@pytest.mark.parametrize("case", ["seed", "multi"])
@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.25, 0.5, 0.85, 0.999])
def test_truncated_object_is_a_format_error(
    case: str, fraction: float, bpf_objs: dict[str, Path], fd_snapshot: Any
) -> None:
    data = bpf_objs[case].read_bytes()
    cut = int(len(data) * fraction)
    before = fd_snapshot()
    with pytest.raises(ObjectFormatError) as excinfo:
        load_bytes(data[:cut], case)
    assert_names_where(excinfo.value)
    assert fd_snapshot() == before


@pytest.mark.parametrize("case", ["seed", "multi"])
def test_every_truncation_is_a_format_error(
    case: str, bpf_objs: dict[str, Path], fd_snapshot: Any
) -> None:
    data = bpf_objs[case].read_bytes()
    before = fd_snapshot()
    wrong = {}
    for cut in range(len(data)):
        try:
            load_bytes(data[:cut], case)
        except ObjectFormatError as e:
            if not e.section:
                wrong[cut] = f"no section: {e}"
        except BaseException as e:
            wrong[cut] = repr(e)
        else:
            wrong[cut] = "loaded"
    assert wrong == {}
    assert fd_snapshot() == before


def test_short_object_names_the_elf_header(bpf_objs: dict[str, Path]) -> None:
    data = bpf_objs["seed"].read_bytes()
    with pytest.raises(ObjectFormatError) as excinfo:
        load_bytes(data[:40], "seed")
    assert excinfo.value.section == "ELF header"


def _patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


# A section header's sh_offset and sh_size, from the header's start.
SH_OFFSET, SH_SIZE = 24, 32


def _data_past_end(what: str, section: str) -> tuple[str, Any, str]:
    """A section whose data starts past the end of the file."""
    return (
        f"{what} data past the end",
        lambda d, s: _patch(d, s[section][0] + SH_OFFSET, "<Q", len(d) + 4096),
        section,
    )


def _huge_size(section: str) -> tuple[str, Any, str]:
    """A section a terabyte long."""
    return (
        f"{section} huge size",
        lambda d, s: _patch(d, s[section][0] + SH_SIZE, "<Q", 1 << 40),
        section,
    )


# (label, where -> patched bytes, section the error must name)
CORRUPTIONS: list[tuple[str, Any, str]] = [
    ("bad magic", lambda d, s: _patch(d, 0, "<B", 0x7E), "ELF header"),
    ("32-bit class", lambda d, s: _patch(d, 4, "<B", 1), "ELF header"),
    ("big endian", lambda d, s: _patch(d, 5, "<B", 2), "ELF header"),
    ("x86-64 machine", lambda d, s: _patch(d, 0x12, "<H", 62), "ELF header"),
    ("executable type", lambda d, s: _patch(d, 0x10, "<H", 2), "ELF header"),
    (
        "section headers past the end",
        lambda d, s: _patch(d, 0x28, "<Q", len(d) + 64),
        "section header table",
    ),
    (
        "too many sections",
        lambda d, s: _patch(d, 0x3C, "<H", 0xFFFF),
        "section header table",
    ),
    ("bad shstrndx", lambda d, s: _patch(d, 0x3E, "<H", 999), "section header table"),
    _data_past_end(".BTF", ".BTF"),
    _huge_size(".BTF"),
    (".BTF bad magic", lambda d, s: _patch(d, s[".BTF"][1], "<H", 0xEB60), ".BTF"),
    (
        ".BTF type section too long",
        lambda d, s: _patch(d, s[".BTF"][1] + 12, "<I", 1 << 30),
        ".BTF",
    ),
    (
        ".BTF.ext bad magic",
        lambda d, s: _patch(d, s[".BTF.ext"][1], "<H", 0xEB60),
        ".BTF.ext",
    ),
    _data_past_end("program", "xdp"),
    _data_past_end(".symtab", ".symtab"),
    (
        "relocation to a missing symbol",
        lambda d, s: _patch(d, s[".relxdp"][1] + 8, "<Q", (9999 << 32) | 1),
        ".relxdp",
    ),
    (
        "relocation outside its program",
        lambda d, s: _patch(d, s[".relxdp"][1], "<Q", 1 << 20),
        ".relxdp",
    ),
    _data_past_end(".metadata", ".metadata"),
    _huge_size(".rodata"),
]


@pytest.mark.parametrize(
    ("corrupt", "section"),
    [pytest.param(c, s, id=label) for label, c, s in CORRUPTIONS],
)
def test_corrupted_object_names_the_section(
    corrupt: Any, section: str, bpf_objs: dict[str, Path], fd_snapshot: Any
) -> None:
    data = bpf_objs["multi"].read_bytes()
    bad = corrupt(data, elf_sections(data))
    assert bad != data
    before = fd_snapshot()
    with pytest.raises(ObjectFormatError) as excinfo:
        load_bytes(bad, "multi")
    assert_names_where(excinfo.value)
    assert excinfo.value.section == section, str(excinfo.value)
    assert fd_snapshot() == before


@pytest.mark.parametrize("case", ["seed", "multi", "kinds"])
def test_random_corruption_never_crashes_or_leaks(
    case: str, bpf_objs: dict[str, Path], fd_snapshot: Any
) -> None:
    # A few bytes overwritten at random (fixed seed): the load either works or raises
    # a BpfError (format, BTF or verifier refusal); never a panic or another error.
    data = bpf_objs[case].read_bytes()
    rng = random.Random(f"bpfbind-{case}")
    before = fd_snapshot()
    unexpected = []
    formats = 0
    for _ in range(300):
        bad = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            bad[rng.randrange(len(bad))] = rng.randrange(256)
        try:
            load_bytes(bytes(bad), case)
        except ObjectFormatError as e:
            formats += 1
            if not isinstance(e.offset, int) or not isinstance(e.section, str):
                unexpected.append(repr(e))
        except BpfError:
            pass
        except BaseException as e:
            unexpected.append(f"{type(e).__module__}.{type(e).__qualname__}: {e}")
    assert unexpected == []
    assert formats > 0
    assert fd_snapshot() == before


def test_non_elf_file_is_a_format_error(tmp_path: Path, fd_snapshot: Any) -> None:
    path = tmp_path / "notes.bpf.o"
    path.write_text("this is not an ELF object\n" * 20)
    before = fd_snapshot()
    with pytest.raises(ObjectFormatError) as excinfo:
        bpfbind.sync.load_object(path)
    assert_names_where(excinfo.value)
    assert excinfo.value.section == "ELF header"
    assert fd_snapshot() == before


def test_empty_file_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.bpf.o"
    path.write_bytes(b"")
    with pytest.raises(ObjectFormatError) as excinfo:
        bpfbind.sync.load_object(path)
    assert excinfo.value.section == "ELF header"


def test_host_executable_is_not_a_bpf_object() -> None:
    # A valid ELF file of another machine: refused by its header, not loaded.
    with pytest.raises(ObjectFormatError) as excinfo:
        bpfbind.sync.load_object(Path(sys.executable).resolve())
    assert excinfo.value.section == "ELF header"


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        bpfbind.sync.load_object(tmp_path / "missing.bpf.o")


async def test_async_format_error(bpf_objs: dict[str, Path]) -> None:
    data = bpf_objs["seed"].read_bytes()
    with pytest.raises(ObjectFormatError) as excinfo:
        await bpfbind.load_object(data[: len(data) // 2])
    assert_names_where(excinfo.value)


# --- verifier rejection --------------------------------------------------------------

INSN_LINE = re.compile(r"^\d+: \([0-9a-f]{2}\) ")


def check_reject_error(err: VerifierError) -> None:
    assert isinstance(err, BpfError)
    assert err.command == "BPF_PROG_LOAD"
    assert err.errno == errno.EACCES
    assert err.program == "reject_prog"
    assert err.log.strip()
    lines = err.log.splitlines()
    failing = [i for i, line in enumerate(lines) if "invalid access to packet" in line]
    assert failing, err.log
    # The line before the complaint is the instruction that failed: the packet read.
    insn = lines[failing[0] - 1]
    assert INSN_LINE.match(insn), err.log
    assert "*(u32 *)" in insn, err.log
    # The log is part of what the user sees when the error is printed.
    assert "invalid access to packet" in str(err)
    # A refusal is not a lack of privilege: `except PermissionError` must not catch it.
    assert not isinstance(err, PermissionError)


def test_verifier_rejection_carries_the_log(
    bpf_objs: dict[str, Path], fd_snapshot: Any
) -> None:
    before = fd_snapshot()
    with pytest.raises(VerifierError) as excinfo:
        bpfbind.sync.load_object(bpf_objs["reject"])
    check_reject_error(excinfo.value)
    assert fd_snapshot() == before


@pytest.mark.anyio
async def test_async_verifier_rejection_carries_the_log(
    anyio_backend: str, bpf_objs: dict[str, Path], fd_snapshot: Any
) -> None:
    before = fd_snapshot()
    with pytest.raises(VerifierError) as excinfo:
        await bpfbind.load_object(bpf_objs["reject"])
    check_reject_error(excinfo.value)
    assert fd_snapshot() == before


def test_rejection_halfway_names_the_failing_program(
    bpf_objs: dict[str, Path], fd_snapshot: Any
) -> None:
    before = fd_snapshot()
    with pytest.raises(VerifierError) as excinfo:
        bpfbind.sync.load_object(bpf_objs["late_reject"])
    assert excinfo.value.program == "late_bad"
    assert excinfo.value.command == "BPF_PROG_LOAD"
    assert "invalid access to packet" in excinfo.value.log
    assert fd_snapshot() == before


# --- unprivileged caller -------------------------------------------------------------

UNPRIVILEGED_CHILD = r"""
import asyncio, json, os, sys
import anyio.to_thread
import bpfbind

data = sys.stdin.buffer.read()
# The interpreter may live where nobody cannot read (/root/.pyenv): import now
# whatever the async path imports lazily, by running it once.
asyncio.run(anyio.to_thread.run_sync(lambda: None))
os.setgroups([])
os.setgid(NOBODY)
os.setuid(NOBODY)

def fds():
    return sorted(int(x) for x in os.listdir("/proc/self/fd"))

def attempt(load):
    try:
        obj = load()
    except BaseException as e:
        return {
            "loaded": False,
            "types": [c.__name__ for c in type(e).__mro__],
            "errno": getattr(e, "errno", None),
            "command": getattr(e, "command", None),
            "message": str(e),
        }
    obj.close()
    return {"loaded": True}

before = fds()
out = {
    "uid": os.getuid(),
    "sync": attempt(lambda: bpfbind.sync.load_object(data, name="seed")),
    "async": attempt(lambda: asyncio.run(bpfbind.load_object(data, name="seed"))),
}
out["leaked_fds"] = sorted(set(fds()) - set(before))
print(json.dumps(out))
"""


def test_unprivileged_caller_gets_a_permission_error(bpf_objs: dict[str, Path]) -> None:
    sysctl = Path("/proc/sys/kernel/unprivileged_bpf_disabled").read_text().strip()
    proc = subprocess.run(
        [sys.executable, "-c", f"NOBODY = {NOBODY}\n" + UNPRIVILEGED_CHILD],
        input=bpf_objs["seed"].read_bytes(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    out = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert out["uid"] == NOBODY
    for mode in ("sync", "async"):
        res = out[mode]
        assert not res["loaded"], (mode, f"unprivileged_bpf_disabled={sysctl}")
        assert "BpfPermissionError" in res["types"], res
        assert "PermissionError" in res["types"], res
        assert res["errno"] == errno.EPERM, res
        assert isinstance(res["command"], str)
        assert res["command"].startswith("BPF_"), res
        assert "CAP_BPF" in res["message"], res
        assert "root" in res["message"], res
    assert out["leaked_fds"] == []


def test_paths_outside_bpffs_say_so(
    bpf_objs: dict[str, Path], tmp_path: Path
) -> None:
    """Pinning, or opening a pin, outside a bpffs is named as such (bpftool's wording),
    not blamed on privileges (issue 14, point 4)."""
    with bpfbind.sync.load_object(bpf_objs["seed"]) as obj:
        prog = next(iter(obj.programs.values()))
        target = tmp_path / "prog"
        with pytest.raises(bpfbind.BpfError, match="not in a bpf file system") as e:
            prog.pin(str(target))
        assert not isinstance(e.value, bpfbind.BpfPermissionError)
        assert str(target) in str(e.value)
        assert "mount -t bpf bpf /sys/fs/bpf" in str(e.value)
        assert not target.exists()
    regular = tmp_path / "file"
    regular.write_text("")
    with pytest.raises(bpfbind.BpfError, match="not in a bpf file system") as e:
        bpfbind.open_program(regular)
    assert not isinstance(e.value, bpfbind.BpfPermissionError)
