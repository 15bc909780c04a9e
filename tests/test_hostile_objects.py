"""Hostile objects: truncated, oversized, looping, deeply nested or pointing past
their own strings. Each gives a BpfError (ObjectFormatError for a malformed one) from
open_object and load_object, in bounded time and memory; none crashes the interpreter.

The cases run in a child interpreter under a memory rlimit and a timeout (the hang
guard: no test here measures time); the child reports one line per case, so a crash or
a hang names the case it happened in. No kernel is needed: a case that gets as far as
bpf(2) fails there, as EPERM without one.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

TESTDATA = Path(__file__).resolve().parent.parent / "src" / "elf" / "testdata"

# What the child may use: generous bounds that only a hang or a runaway allocation hits.
MEMORY_LIMIT = 4 << 30
TIMEOUT_S = 300

CHILD = r"""
import json, resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]), int(sys.argv[2])))
import bpfbind, bpfbind.sync

def open_and_read(data):
    spec = bpfbind.open_object(data, name="hostile")
    for name in spec.variables:
        spec.variables[name]


calls = {
    "open_object": open_and_read,
    "load_object": lambda data: bpfbind.sync.load_object(data, name="hostile").close(),
}
for path in sorted(Path(sys.argv[1]).iterdir()):
    data = path.read_bytes()
    for func in sys.argv[3:]:
        try:
            calls[func](data)
            outcome = "ok"
        except bpfbind.BpfError as e:
            outcome = "BpfError:" + type(e).__name__
        except Exception as e:
            outcome = "other:" + type(e).__name__ + ": " + str(e)[:200]
        line = {"case": path.name, "func": func, "outcome": outcome}
        print(json.dumps(line), flush=True)
"""


def run_cases(
    tmp_path: Path,
    cases: Mapping[str, bytes],
    funcs: Iterable[str] = ("open_object", "load_object"),
) -> dict[tuple[str, str], str]:
    """Runs every case through every function in one child; (case, func) -> outcome."""
    funcs = list(funcs)
    d = tmp_path / "cases"
    d.mkdir()
    for name, data in cases.items():
        (d / name).write_bytes(data)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(d), str(MEMORY_LIMIT), *funcs],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
        out, err, rc = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err, rc = "timed out", None
    results = {}
    for line in out.splitlines():
        r = json.loads(line)
        results[(r["case"], r["func"])] = r["outcome"]
    last = line if out else "(none)"
    assert rc == 0, f"child exited {rc} after {last}:\n{err[-3000:]}"
    assert len(results) == len(cases) * len(funcs)
    return results


def assert_bpf_errors(results: Mapping[tuple[str, str], str]) -> None:
    bad = {k: v for k, v in results.items() if not v.startswith("BpfError:")}
    assert not bad, bad


# ---- ELF64 little-endian, by hand --------------------------------------------------

SHDR = struct.Struct(
    "<IIQQQQIIQQ"
)  # name type flags addr offset size link info align entsize
SHT_NOBITS = 8


def shdrs(data: bytes) -> tuple[int, list[list[int]]]:
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    (shnum,) = struct.unpack_from("<H", data, 0x3C)
    return shoff, [list(SHDR.unpack_from(data, shoff + i * 64)) for i in range(shnum)]


def section_names(data: bytes) -> list[str]:
    _, hs = shdrs(data)
    (shstrndx,) = struct.unpack_from("<H", data, 0x3E)
    base = hs[shstrndx][4]
    return [data[base + h[0] : data.index(b"\0", base + h[0])].decode() for h in hs]


def set_field(data: bytes, index: int, field: int, value: int) -> bytes:
    shoff, hs = shdrs(data)
    h = hs[index]
    h[field] = value
    out = bytearray(data)
    SHDR.pack_into(out, shoff + index * 64, *h)
    return bytes(out)


def write_elf(sections: list[tuple[str, int, int, bytes, int, int, int]]) -> bytes:
    """An ET_REL for EM_BPF from (name, type, flags, data, link, info, entsize)."""
    shstr = b"\0"
    names = []
    for name in [s[0] for s in sections] + [".shstrtab"]:
        names.append(len(shstr))
        shstr += name.encode() + b"\0"
    sections = [*sections, (".shstrtab", 3, 0, shstr, 0, 0, 0)]
    body = bytearray(64)
    offsets = []
    for s in sections:
        body += b"\0" * (-len(body) % 8)
        offsets.append(len(body))
        body += s[3]
    body += b"\0" * (-len(body) % 8)
    shoff = len(body)
    body += bytes(64)  # the null section
    for s, name_off, off in zip(sections, names, offsets, strict=True):
        body += SHDR.pack(name_off, s[1], s[2], 0, off, len(s[3]), s[4], s[5], 8, s[6])
    ident = b"\x7fELF\x02\x01\x01" + bytes(9)
    struct.pack_into(
        "<16sHHIQQQIHHHHHH",
        body,
        0,
        ident,
        1,
        247,
        1,
        0,
        0,
        shoff,
        0,
        64,
        0,
        0,
        64,
        len(sections) + 1,
        len(sections),
    )
    return bytes(body)


def btf_blob(types: bytes, strings: bytes) -> bytes:
    return (
        struct.pack(
            "<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings)
        )
        + types
        + strings
    )


class BtfTypes:
    """Type records and their string table, for hand-built `.BTF` sections."""

    def __init__(self) -> None:
        self.types = bytearray()
        self.strings = bytearray(b"\0")
        self.count = 0

    def name(self, s: str) -> int:
        off = len(self.strings)
        self.strings += s.encode() + b"\0"
        return off

    def add(
        self,
        name_off: int,
        kind: int,
        vlen: int,
        size_or_type: int,
        body: bytes = b"",
        kflag: int = 0,
    ) -> int:
        self.types += (
            struct.pack("<III", name_off, kind << 24 | kflag << 31 | vlen, size_or_type)
            + body
        )
        self.count += 1
        return self.count

    def integer(self, name: str = "int", size: int = 4) -> int:
        return self.add(
            self.name(name), 1, 0, size, struct.pack("<I", 1 << 24 | size * 8)
        )

    def array(self, elem: int, nelems: int, index: int = 1) -> int:
        return self.add(0, 3, 0, 0, struct.pack("<III", elem, index, nelems))

    def typedef(self, name: str, target: int) -> int:
        return self.add(self.name(name), 8, 0, target)

    def struct(self, name: str, size: int, members: list[tuple[int, int, int]]) -> int:
        body = b"".join(struct.pack("<III", *m) for m in members)
        return self.add(self.name(name), 4, len(members), size, body)

    def var(self, name: str, type_id: int) -> int:
        return self.add(self.name(name), 14, 0, type_id, struct.pack("<I", 1))

    def datasec(self, name: str, vars: list[tuple[int, int, int]]) -> int:
        body = b"".join(struct.pack("<III", *v) for v in vars)
        return self.add(self.name(name), 15, len(vars), 0, body)

    def blob(self) -> bytes:
        return btf_blob(bytes(self.types), bytes(self.strings))


def metadata_object(btf: bytes, rodata: bytes = b"1.0\0") -> bytes:
    """One XDP program and a `.rodata` variable `bpf_metadata_v`, described by `btf`."""
    strtab = b"\0prog\0bpf_metadata_v\0"
    sym = struct.Struct("<IBBHQQ")
    syms = sym.pack(0, 0, 0, 0, 0, 0)
    syms += sym.pack(1, 0x12, 0, 1, 0, 16)  # GLOBAL FUNC in xdp
    syms += sym.pack(6, 0x11, 0, 3, 0, len(rodata))  # GLOBAL OBJECT in .rodata
    code = bytes.fromhex("b7000000000000009500000000000000")
    return write_elf(
        [
            ("xdp", 1, 6, code, 0, 0, 0),
            ("license", 1, 3, b"GPL\0", 0, 0, 0),
            (".rodata", 1, 2, rodata, 0, 0, 0),
            (".BTF", 1, 0, btf, 0, 0, 0),
            (".symtab", 2, 0, syms, 6, 1, 24),
            (".strtab", 3, 0, strtab, 0, 0, 0),
        ]
    )


def with_metadata_type(build: BtfTypes, type_id: int, size: int = 4) -> bytes:
    """`build`'s BTF with `bpf_metadata_v` of type `type_id` in `.rodata`."""
    v = build.var("bpf_metadata_v", type_id)
    build.datasec(".rodata", [(v, 0, size)])
    return metadata_object(build.blob(), bytes(size))


def real_object() -> bytes:
    return (TESTDATA / "metadata.o").read_bytes()


# ---- the cases -------------------------------------------------------------------


def test_hand_built_control_object_opens() -> None:
    b = BtfTypes()
    obj = with_metadata_type(b, b.integer())
    import bpfbind

    spec = bpfbind.open_object(obj, name="control")
    assert "prog" in spec.programs


def test_truncated_at_every_section_boundary(tmp_path: Path) -> None:
    data = real_object()
    shoff, hs = shdrs(data)
    ends = {h[4] + (0 if h[1] == SHT_NOBITS else h[5]) for h in hs}
    cuts = sorted({h[4] for h in hs[1:]} | ends | {shoff, shoff + 64} - {len(data)})
    data_end = max(ends)
    cases = {}
    for cut in cuts:
        if cut >= len(data):
            continue
        cases[f"prefix-{cut:06d}"] = data[:cut]
        if cut < data_end:
            # The section headers kept, after the cut: sections run past the file's end.
            table = data[shoff : shoff + 64 * len(hs)]
            moved = bytearray(data[:cut] + b"\0" * (-cut % 8) + table)
            struct.pack_into("<Q", moved, 0x28, cut + (-cut % 8))
            cases[f"cut-{cut:06d}"] = bytes(moved)
    assert len(cases) > 20
    assert_bpf_errors(run_cases(tmp_path, cases))


def test_sections_with_huge_sizes_and_counts(tmp_path: Path) -> None:
    data = real_object()
    names = section_names(data)
    cases = {}
    _, hs = shdrs(data)
    for i, name in enumerate(names[1:], 1):
        label = name.strip(".").replace("/", "_") or "anon"
        # A NOBITS section (.bss) has no bytes in the file: any offset, any size fits.
        has_bytes = hs[i][1] != SHT_NOBITS
        for size in (len(data) + 1, 1 << 32, (1 << 63) + 8, (1 << 64) - 1):
            if has_bytes or size > 1 << 32:
                cases[f"size-{i:02d}-{label}-{size:x}"] = set_field(data, i, 5, size)
        if has_bytes and hs[i][5] > 0:
            cases[f"offset-{i:02d}-{label}"] = set_field(data, i, 4, (1 << 64) - 16)
        cases[f"name-{i:02d}-{label}"] = set_field(data, i, 0, 1 << 31)
    shnum = bytearray(data)
    struct.pack_into("<H", shnum, 0x3C, 0xFFFF)
    cases["shnum-ffff"] = bytes(shnum)
    shstrndx = bytearray(data)
    struct.pack_into("<H", shstrndx, 0x3E, 0xFFF0)
    cases["shstrndx-past-end"] = bytes(shstrndx)

    # BTF counts: a header claiming more than the section, records claiming more than
    # the header, an array of 2^32 ints as a variable.
    b = BtfTypes()
    i = b.integer()
    good = with_metadata_type(b, i)
    btf_at = good.index(b"\x9f\xeb\x01\x00")
    for field, value in (
        ("type_len", 0xFFFFFFF0),
        ("str_len", 0xFFFFFFF0),
        ("str_off", 0xFFFFFFF0),
        ("hdr_len", 0xFFFF),
    ):
        at = {"hdr_len": 4, "type_len": 12, "str_off": 16, "str_len": 20}[field]
        bad = bytearray(good)
        struct.pack_into("<I", bad, btf_at + at, value)
        cases[f"btf-{field}"] = bytes(bad)
    for kind in (
        4,
        5,
        6,
        13,
        15,
        19,
    ):  # struct, union, enum, func_proto, datasec, enum64
        b = BtfTypes()
        b.integer()
        b.add(b.name("huge"), kind, 0xFFFF, 4)
        cases[f"btf-vlen-{kind}"] = with_metadata_type(b, 1)
    b = BtfTypes()
    huge = b.array(b.integer(), 0xFFFFFFFF)
    cases["btf-array-2^32"] = with_metadata_type(b, huge)
    b = BtfTypes()
    wide = b.array(b.array(b.integer(), 0x10000), 0x10000)
    cases["btf-array-2^32-by-nesting"] = with_metadata_type(b, wide)
    assert_bpf_errors(run_cases(tmp_path, cases))


def test_btf_type_loops(tmp_path: Path) -> None:
    cases = {}
    b = BtfTypes()
    b.integer()
    b.typedef("a", 3)
    b.typedef("b", 2)
    cases["typedef-loop"] = with_metadata_type(b, 2)
    b = BtfTypes()
    i = b.integer()
    b.struct("s", 8, [(b.name("x"), i, 0), (b.name("self"), 2, 32)])
    cases["struct-holds-itself"] = with_metadata_type(b, 2, 8)
    b = BtfTypes()
    b.integer()
    b.array(2, 2)
    cases["array-of-itself"] = with_metadata_type(b, 2)
    b = BtfTypes()
    b.integer()
    b.add(0, 10, 0, 3)  # const -> volatile -> const
    b.add(0, 9, 0, 2)
    cases["const-volatile-loop"] = with_metadata_type(b, 2)
    b = BtfTypes()
    b.integer()
    b.var("v", 2)  # a var of itself
    cases["var-of-itself"] = with_metadata_type(b, 2)
    assert_bpf_errors(run_cases(tmp_path, cases))


NESTING = 100_000


def test_deeply_nested_types(tmp_path: Path) -> None:
    cases = {}
    for what in ("array", "typedef", "const", "struct"):
        b = BtfTypes()
        top = b.integer()
        for n in range(NESTING):
            if what == "array":
                top = b.array(top, 1)
            elif what == "typedef":
                top = b.typedef(f"t{n}", top)
            elif what == "const":
                top = b.add(0, 10, 0, top)
            else:
                top = b.struct(f"s{n}", 4, [(b.name("m"), top, 0)])
        cases[f"nested-{what}"] = with_metadata_type(b, top)
    # Shallow but wide: 16 levels of unions of 8 members, 8^16 fields visited naively.
    b = BtfTypes()
    top = b.integer()
    for n in range(16):
        body = b"".join(struct.pack("<III", b.name("m"), top, 0) for _ in range(8))
        top = b.add(b.name(f"u{n}"), 5, 8, 4, body)
    cases["shared-unions"] = with_metadata_type(b, top)
    assert_bpf_errors(run_cases(tmp_path, cases))


def test_string_offsets_past_the_end(tmp_path: Path) -> None:
    cases = {}
    past = 0x7FFFFFF0

    b = BtfTypes()
    b.add(past, 1, 0, 4, struct.pack("<I", 1 << 24 | 32))  # an int named past the end
    cases["btf-type-name"] = with_metadata_type(b, 1)
    b = BtfTypes()
    i = b.integer()
    s = b.struct("s", 4, [(past, i, 0)])
    cases["btf-member-name"] = with_metadata_type(b, s)
    b = BtfTypes()
    i = b.integer()
    v = b.add(past, 14, 0, i, struct.pack("<I", 1))
    b.datasec(".rodata", [(v, 0, 4)])
    cases["btf-var-name"] = metadata_object(b.blob(), bytes(4))
    b = BtfTypes()
    i = b.integer()
    v = b.var("bpf_metadata_v", i)
    b.add(past, 15, 1, 0, struct.pack("<III", v, 0, 4))
    cases["btf-datasec-name"] = metadata_object(b.blob(), bytes(4))
    b = BtfTypes()
    i = b.integer()
    b.add(b.name("e"), 6, 1, 4, struct.pack("<Ii", past, 1))
    cases["btf-enumerator-name"] = with_metadata_type(b, 3)

    b = BtfTypes()
    good = with_metadata_type(b, b.integer())
    names = section_names(good)
    strtab = names.index(".strtab")
    _, hs = shdrs(good)
    sym = bytearray(good)
    struct.pack_into("<I", sym, hs[names.index(".symtab")][4] + 24, past)
    cases["symbol-name"] = bytes(sym)
    cases["strtab-link-past-end"] = set_field(good, names.index(".symtab"), 6, 0x7FFF)
    cases["strtab-cut"] = set_field(good, strtab, 5, 2)
    for name in names[1:]:
        cases[f"section-name-{name.strip('.')}"] = set_field(
            good, names.index(name), 0, past
        )

    real = real_object()
    for i, name in enumerate(section_names(real)[1:], 1):
        if name in (".BTF", ".BTF.ext", ".strtab", ".symtab"):
            cases[f"real-{name.strip('.')}-name"] = set_field(real, i, 0, past)
    assert_bpf_errors(run_cases(tmp_path, cases))


def test_one_large_function_called_by_thousands_of_programs(tmp_path: Path) -> None:
    """Each program links its own copy of what it calls: 4,000 programs calling one
    function of 10^6 instructions would be 32 GB of code."""
    n = 4000
    call, exit_, mov = (
        bytes.fromhex(h) for h in ("8510ffffffffffff", "95" + "00" * 7, "b7" + "00" * 7)
    )
    text = mov * (1_000_000 - 3) + exit_  # with the call and exit: 10^6, the most
    progs = (call + exit_) * n
    strtab = b"\0helper\0" + b"".join(f"p{i}\0".encode() for i in range(n))
    sym = struct.Struct("<IBBHQQ")
    syms = sym.pack(0, 0, 0, 0, 0, 0) + sym.pack(1, 0x12, 0, 1, 0, len(text))
    name = 8
    for i in range(n):
        syms += sym.pack(name, 0x12, 0, 2, i * 16, 16)
        name += len(f"p{i}") + 1
    rels = b"".join(struct.pack("<QQ", i * 16, 1 << 32 | 10) for i in range(n))
    obj = write_elf(
        [
            (".text", 1, 6, text, 0, 0, 0),
            ("xdp", 1, 6, progs, 0, 0, 0),
            ("license", 1, 3, b"GPL\0", 0, 0, 0),
            (".symtab", 2, 0, syms, 5, 1, 24),
            (".strtab", 3, 0, strtab, 0, 0, 0),
            (".relxdp", 9, 0, rels, 4, 2, 16),
        ]
    )
    assert_bpf_errors(run_cases(tmp_path, {"linked-4000-times": obj}))


@pytest.mark.parametrize("obj", ["metadata.o", "multi.o", "kconfig.o", "map_in_map.o"])
def test_every_btf_record_bent(tmp_path: Path, obj: str) -> None:
    """Each 4-byte word of `.BTF` and `.BTF.ext` set to 0xffffffff in turn: errors or
    a loaded object, never a crash (load_object stops at the kernel's door)."""
    data = (TESTDATA / obj).read_bytes()
    _, hs = shdrs(data)
    names = section_names(data)
    cases = {}
    for sec in (".BTF", ".BTF.ext"):
        if sec not in names:
            continue
        off, size = hs[names.index(sec)][4:6]
        for at in range(off, off + size - 3, 4):
            bent = bytearray(data)
            bent[at : at + 4] = b"\xff\xff\xff\xff"
            cases[f"{sec.strip('.')}-{at - off:06d}"] = bytes(bent)
    results = run_cases(tmp_path, cases, ("open_object",))
    bad = {
        k: v for k, v in results.items() if v != "ok" and not v.startswith("BpfError:")
    }
    assert not bad, bad
