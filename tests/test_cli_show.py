"""The `bpfbind` command against bpftool: `prog show` by pin, id, name, tag and in full,
plain, -j and -p, for objects loaded by libbpf (bpftool) and by bpfbind; `--metadata`,
errors, offline `metadata OBJ` and `feature probe`.

Design point checked throughout: bpfbind also shows `.metadata`-section variables, after
bpftool's lines of the `metadata:` block. Output equals bpftool's exactly otherwise."""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import FEATURE_NAMES, socket_object
from conftest import run_cli as run_bpfbind

import bpfbind

# What each test object declares in its `.metadata` section (from tests/bpf/*.bpf.c).
# libbpf skips that section, so bpftool never shows these; bpfbind shows them when it
# loaded the object itself (for libbpf-loaded objects there is no such map to show).
SECTION_METADATA: dict[str, dict[str, Any]] = {
    "multi": {"build_id": "0123456789abcdef"},
    "counter": {"counter_meta": "counter-v1"},
    "seed": {"commit_hash": "abcdef123456"},
}

COMPARED = [
    "kinds",
    "metadata_used",
    "metadata_unused",
    "long_name",
    "nometa",
    "multi",
    "counter",
    "seed",
]
MODES = ["", "-j", "-p"]
# Debian's bpftool is built without skeletons, so it prints no `pids` of the processes
# holding a program: compared with it, bpfbind leaves them out too (test_pids.py checks
# them against upstream's layout).
NO_PIDS = ("--no-pids",)


def bpfbind_out(*args: str | os.PathLike[str]) -> str:
    proc = run_bpfbind(*args)
    assert proc.returncode == 0, (
        f"bpfbind {args} exited {proc.returncode}: {proc.stderr}"
    )
    return proc.stdout


def mode_args(mode: str) -> list[str]:
    return [mode] if mode else []


# --- loaded_at: the one field allowed to differ ---------------------------------------
#
# Both tools turn the kernel's boot-relative load time into wall time as
# now(REALTIME) - now(BOOTTIME) + load_time, truncated to whole seconds. The two clocks
# are read at different instants in two processes, so the sum can land on either side
# of a second boundary: the value may differ by one second, and by nothing else.

_LOADED_AT = re.compile(
    r"(?P<plain>(?<=\tloaded_at )\S+(?=  uid ))|(?P<json>(?<=\"loaded_at\":) ?\d+)"
)


def _epoch(text: str) -> int:
    text = text.strip()
    if text.isdigit():
        return int(text)
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").timestamp())


def align_loaded_at(ours: str, theirs: str) -> str:
    """`ours` with each loaded_at that is within one second of bpftool's replaced by
    bpftool's text; anything else is left for the comparison to show."""
    their_values = [m.group(0) for m in _LOADED_AT.finditer(theirs)]
    our_matches = list(_LOADED_AT.finditer(ours))
    if len(their_values) != len(our_matches):
        return ours
    out, last = [], 0
    for m, their in zip(our_matches, their_values, strict=True):
        out.append(ours[last : m.start()])
        ok = abs(_epoch(m.group(0)) - _epoch(their)) <= 1
        out.append(their if ok else m.group(0))
        last = m.end()
    out.append(ours[last:])
    return "".join(out)


def align_entry(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """A parsed JSON entry with loaded_at taken from bpftool's when within one second
    (see above)."""
    out = dict(ours)
    if (
        "loaded_at" in out
        and "loaded_at" in theirs
        and abs(out["loaded_at"] - theirs["loaded_at"]) <= 1
    ):
        out["loaded_at"] = theirs["loaded_at"]
    return out


# --- the design point: .metadata variables after bpftool's lines ----------------------


def with_section_metadata(tool_text: str, mode: str, extra: Mapping[str, Any]) -> str:
    """bpftool's output of ONE program with `extra` (.metadata variables) appended to
    its metadata block, creating the block when bpftool printed none: what bpfbind
    prints."""
    if not extra:
        return tool_text
    if mode == "":
        block = "".join(f"\t\t{k} = {json.dumps(v)}\n" for k, v in extra.items())
        assert tool_text.endswith("\n")
        if "\tmetadata:\n" in tool_text:
            return tool_text + block
        return tool_text + "\tmetadata:\n" + block
    if mode == "-j":
        body = tool_text.rstrip("\n")
        items = ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in extra.items())
        if '"metadata":{' in body:
            assert body.endswith("}}")
            return body[:-2] + "," + items + "}}" + tool_text[len(body) :]
        assert body.endswith("}")
        return body[:-1] + ',"metadata":{' + items + "}}" + tool_text[len(body) :]
    assert mode == "-p"
    lines = tool_text.rstrip("\n").split("\n")
    trailer = tool_text[len(tool_text.rstrip("\n")) :]
    assert lines[-1] == "}"
    extra_lines = [
        f"        {json.dumps(k)}: {json.dumps(v)}" for k, v in extra.items()
    ]
    extra_lines = [line + "," for line in extra_lines[:-1]] + extra_lines[-1:]
    if '    "metadata": {' in lines:
        assert lines[-2] == "    }"
        head = lines[:-2]
        head[-1] += ","
        lines = [*head, *extra_lines, "    }", "}"]
    else:
        head = lines[:-1]
        head[-1] += ","
        lines = [*head, '    "metadata": {', *extra_lines, "    }", "}"]
    return "\n".join(lines) + trailer


# --- loading --------------------------------------------------------------------------


def load_with(loader: str, obj: Path, where: Path, bpftool: Callable[..., str]) -> Path:
    """Pins every program of `obj` under `where`, loaded by libbpf or by bpfbind."""
    where.mkdir()
    if loader == "bpftool":
        bpftool(["prog", "loadall", obj, where])
    else:
        bpfbind_out("prog", "loadall", obj, where)
    pins = sorted(where.iterdir())
    assert pins, f"{loader} pinned nothing for {obj.name}"
    return where


PinLoaded = Callable[[Path], Path]


@pytest.fixture(params=["bpftool", "bpfbind"])
def loader(request: pytest.FixtureRequest) -> str:
    """Who loads the programs a test shows: libbpf (through bpftool) or bpfbind."""
    name: str = request.param
    return name


@pytest.fixture
def pin_loaded(loader: str, pin_dir: Path, bpftool: Callable[..., str]) -> PinLoaded:
    """`pin_loaded(obj)`: every program of `obj` pinned by `loader`; the directory."""
    return lambda obj: load_with(loader, obj, pin_dir / loader, bpftool)


def prog_id(bpftool: Callable[..., str], pin: Path) -> int:
    return int(json.loads(bpftool(["-j", "prog", "show", "pinned", pin]))["id"])


def expected(loader: str, obj_name: str, mode: str, tool_text: str) -> str:
    extra = SECTION_METADATA.get(obj_name, {}) if loader == "bpfbind" else {}
    return with_section_metadata(tool_text, mode, extra)


def assert_show_matches(
    bpftool: Callable[..., str], loader: str, obj_name: str, pin: Path, *ref: str
) -> dict[str, str]:
    """`prog show REF` of the program pinned at `pin` prints what bpftool prints, in
    every mode (with the section metadata bpfbind adds to objects it loaded); returns
    what bpfbind printed, by mode."""
    shown: dict[str, str] = {}
    for mode in MODES:
        theirs = bpftool([*mode_args(mode), "prog", "show", *ref])
        ours = bpfbind_out(*NO_PIDS, *mode_args(mode), "prog", "show", *ref)
        want = expected(loader, obj_name, mode, theirs)
        assert align_loaded_at(ours, want) == want, (pin.name, mode)
        shown[mode] = ours
    return shown


# --- output compatibility: prog show pinned / id --------------------------------------


# Each program shown by its pin, and by its id.
SHOWN_BY = [("pinned", n) for n in COMPARED] + [
    ("id", n) for n in ["kinds", "multi", "seed", "nometa"]
]


@pytest.mark.kernel
@pytest.mark.parametrize(("by", "obj_name"), SHOWN_BY)
def test_show_matches_bpftool(
    loader: str,
    by: str,
    obj_name: str,
    bpf_objs: Mapping[str, Path],
    bpftool: Callable[..., str],
    pin_loaded: PinLoaded,
) -> None:
    where = pin_loaded(bpf_objs[obj_name])
    for pin in sorted(where.iterdir()):
        ref = str(pin) if by == "pinned" else str(prog_id(bpftool, pin))
        shown = assert_show_matches(bpftool, loader, obj_name, pin, by, ref)
        for mode, ours in shown.items():
            if mode:
                json.loads(ours)


@pytest.mark.kernel
def test_kinds_values_as_recorded(
    bpf_objs: Mapping[str, Path],
    pin_loaded: PinLoaded,
) -> None:
    """The metadata block equals the one recorded in kinds.bpf.c's header, whichever
    loader: bitfields bare hex in plain, strings in JSON; nonprint arrays; enums."""
    header = (Path(__file__).parent / "bpf" / "kinds.bpf.c").read_text()
    recorded = re.search(r" \* \tmetadata:\n((?: \* \t\t.*\n)+)", header)
    assert recorded is not None
    want_block = "\tmetadata:\n" + "".join(
        line.removeprefix(" * ") + "\n" for line in recorded.group(1).splitlines()
    )
    where = pin_loaded(bpf_objs["kinds"])
    pin = where / "kinds_prog"
    plain = bpfbind_out("prog", "show", "pinned", pin)
    assert plain[plain.index("\tmetadata:\n") :] == want_block
    compact = bpfbind_out("-j", "prog", "show", "pinned", pin)
    md = json.loads(compact)["metadata"]
    assert md["bits"] == {"lo": "0x5", "mid": "0x1d", "hi": "0xabcdef"}
    assert md["nonprint"] == [97, 1, 98, 0]
    assert md["u64"] == 18446744073709551615
    assert md["color_neg"] == "BLUE"
    assert md["matrix"] == [[1, 2, 3], [4, 5, 6]]
    # Non-printable bytes never reach the terminal raw.
    assert "\x01" not in plain


@pytest.mark.kernel
def test_long_name_recovered(
    bpf_objs: Mapping[str, Path],
    pin_loaded: PinLoaded,
) -> None:
    where = pin_loaded(bpf_objs["long_name"])
    (pin,) = where.iterdir()
    entry = json.loads(bpfbind_out("-j", "prog", "show", "pinned", pin))
    assert entry["name"] == "a_program_name_longer_than_fifteen"
    assert entry["metadata"] == {"owner": "long_name", "revision": 7}


# --- name and tag: objects of our own, so no other process can match ------------------


@dataclass(frozen=True)
class UniqueObj:
    path: Path
    name: str
    token: str


@pytest.fixture
def unique_obj(tmp_path: Path) -> UniqueObj:
    """A one-program object whose program name, code (hence tag) and metadata no other
    process on the machine can share: `name NAME` and `tag TAG` select only ours."""
    suffix = uuid.uuid4().hex[:12]
    name = f"u{suffix}"
    token = f"tok-{suffix}"
    imm = int(suffix[:7], 16) | 1
    out = socket_object(
        tmp_path,
        name,
        f"""\
        volatile const char bpf_metadata_token[]
            __attribute__((section(".rodata"))) = "{token}";
        volatile const int bpf_metadata_n __attribute__((section(".rodata"))) = 5;
        """,
        ret=imm,
    )
    return UniqueObj(out, name, token)


def _show_all_modes(
    bpftool: Callable[..., str], selector: list[str]
) -> list[tuple[str, str, str]]:
    """(mode, bpftool's output, bpfbind's output) for each mode."""
    return [
        (
            mode,
            bpftool([*mode_args(mode), "prog", "show", *selector]),
            bpfbind_out(*NO_PIDS, *mode_args(mode), "prog", "show", *selector),
        )
        for mode in MODES
    ]


@pytest.mark.kernel
@pytest.mark.parametrize("by", ["name", "tag"])
def test_show_name_tag_one_match_is_object(
    by: str,
    unique_obj: UniqueObj,
    bpftool: Callable[..., str],
    pin_loaded: PinLoaded,
) -> None:
    where = pin_loaded(unique_obj.path)
    pin = where / unique_obj.name
    entry = json.loads(bpftool(["-j", "prog", "show", "pinned", pin]))
    key = unique_obj.name if by == "name" else entry["tag"]
    for mode, theirs, ours in _show_all_modes(bpftool, [by, key]):
        assert align_loaded_at(ours, theirs) == theirs, mode
        if mode:
            got = json.loads(ours)
            assert isinstance(got, dict), "one match is a JSON object, like bpftool"
            assert got["id"] == entry["id"]
            assert got["metadata"] == {"token": unique_obj.token, "n": 5}


@pytest.mark.kernel
@pytest.mark.parametrize("by", ["name", "tag"])
def test_show_name_tag_several_matches_is_list(
    by: str,
    unique_obj: UniqueObj,
    pin_dir: Path,
    bpftool: Callable[..., str],
) -> None:
    pins = [
        load_with(loader, unique_obj.path, pin_dir / loader, bpftool) / unique_obj.name
        for loader in ("bpftool", "bpfbind")
    ]
    ids = sorted(prog_id(bpftool, p) for p in pins)
    tag = json.loads(bpftool(["-j", "prog", "show", "pinned", pins[0]]))["tag"]
    key = unique_obj.name if by == "name" else tag
    for mode, theirs, ours in _show_all_modes(bpftool, [by, key]):
        assert align_loaded_at(ours, theirs) == theirs, mode
        if mode:
            got = json.loads(ours)
            assert isinstance(got, list), (
                "several matches are a JSON list, like bpftool"
            )
            assert [e["id"] for e in got] == ids
        else:
            headers = [line for line in ours.splitlines() if not line.startswith("\t")]
            assert [int(h.split(":")[0]) for h in headers] == ids


@pytest.mark.kernel
def test_show_name_matches_full_name(
    bpf_objs: Mapping[str, Path], pin_dir: Path, bpftool: Callable[..., str]
) -> None:
    """A name longer than the kernel's 15 characters is found by its full name."""
    where = load_with("bpfbind", bpf_objs["long_name"], pin_dir / "bb", bpftool)
    (pin,) = where.iterdir()
    ident = prog_id(bpftool, pin)
    got = json.loads(
        bpfbind_out("-j", "prog", "show", "name", "a_program_name_longer_than_fifteen")
    )
    entries = got if isinstance(got, list) else [got]
    assert ident in {e["id"] for e in entries}


@pytest.mark.kernel
def test_show_name_and_tag_not_found(bpftool: Callable[..., str]) -> None:
    for selector in (
        ["name", f"n{uuid.uuid4().hex[:12]}"],
        ["tag", "00112233aabbccdd"],
    ):
        proc = run_bpfbind("prog", "show", *selector)
        assert proc.returncode != 0
        assert proc.stdout == ""
        assert len(proc.stderr.strip().splitlines()) == 1


# --- full listing, restricted to our programs -----------------------------------------


@pytest.fixture
def many_loaded(
    bpf_objs: Mapping[str, Path], pin_dir: Path, bpftool: Callable[..., str]
) -> dict[int, tuple[str, str]]:
    """Programs of several objects loaded by both loaders: id -> (loader, object)."""
    ours: dict[int, tuple[str, str]] = {}
    for loader in ("bpftool", "bpfbind"):
        for obj_name in ("kinds", "multi", "seed", "nometa", "long_name"):
            where = load_with(
                loader, bpf_objs[obj_name], pin_dir / f"{loader}-{obj_name}", bpftool
            )
            for pin in where.iterdir():
                ours[prog_id(bpftool, pin)] = (loader, obj_name)
    return ours


@pytest.mark.kernel
def test_full_show_json_matches_bpftool_for_our_ids(
    many_loaded: dict[int, tuple[str, str]], bpftool: Callable[..., str]
) -> None:
    for mode in ("-j", "-p"):
        theirs_list = json.loads(bpftool([mode, "prog", "show"]))
        ours_list = json.loads(bpfbind_out(*NO_PIDS, mode, "prog", "show"))
        assert isinstance(ours_list, list)
        ids = [e["id"] for e in ours_list]
        assert ids == sorted(ids), "entries in id order, like bpftool"
        theirs = {e["id"]: e for e in theirs_list if e["id"] in many_loaded}
        ours = {e["id"]: e for e in ours_list if e["id"] in many_loaded}
        assert set(theirs) == set(many_loaded)
        assert set(ours) == set(many_loaded)
        for ident, (loader, obj_name) in many_loaded.items():
            want = dict(theirs[ident])
            extra = SECTION_METADATA.get(obj_name, {}) if loader == "bpfbind" else {}
            if extra:
                want["metadata"] = {**want.get("metadata", {}), **extra}
            got = align_entry(ours[ident], want)
            # json.dumps keeps key order: the comparison checks bpftool's order too.
            assert json.dumps(got) == json.dumps(want), (loader, obj_name)


def _plain_blocks(text: str) -> dict[int, str]:
    blocks: dict[int, str] = {}
    for block in re.split(r"(?m)^(?=\d+: )", text):
        if block:
            blocks[int(block.split(":", 1)[0])] = block
    return blocks


@pytest.mark.kernel
def test_full_show_plain_matches_bpftool_for_our_ids(
    many_loaded: dict[int, tuple[str, str]], bpftool: Callable[..., str]
) -> None:
    theirs = _plain_blocks(bpftool(["prog", "show"]))
    ours = _plain_blocks(bpfbind_out(*NO_PIDS, "prog", "show"))
    meta_only = _plain_blocks(bpfbind_out("prog", "show", "--metadata"))
    for ident, (loader, obj_name) in many_loaded.items():
        want = expected(loader, obj_name, "", theirs[ident])
        assert align_loaded_at(ours[ident], want) == want, (loader, obj_name)
        # --metadata over the whole listing: each program's header line and block.
        header = want.splitlines(keepends=True)[0]
        block = want[want.index("\tmetadata:\n") :] if "\tmetadata:\n" in want else ""
        assert meta_only[ident] == header + block, (loader, obj_name)


# --- --metadata -----------------------------------------------------------------------


@pytest.mark.kernel
@pytest.mark.parametrize("obj_name", ["kinds", "multi", "seed", "nometa"])
def test_metadata_flag_prints_header_and_block(
    obj_name: str,
    bpf_objs: Mapping[str, Path],
    pin_dir: Path,
    bpftool: Callable[..., str],
) -> None:
    where = load_with("bpfbind", bpf_objs[obj_name], pin_dir / "bb", bpftool)
    for pin in sorted(where.iterdir()):
        full = bpfbind_out("prog", "show", "pinned", pin)
        short = bpfbind_out("prog", "show", "pinned", pin, "--metadata")
        header = full.splitlines(keepends=True)[0]
        block = full[full.index("\tmetadata:\n") :] if "\tmetadata:\n" in full else ""
        assert short == header + block
        # The header line is bpftool's.
        assert header == bpftool(["prog", "show", "pinned", pin]).splitlines(True)[0]
        if obj_name == "nometa":
            assert short.count("\n") == 1


# --- whole host: printable plain, parseable JSON --------------------------------------


_RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@pytest.mark.kernel
def test_host_plain_has_no_control_chars_and_json_parses(
    bpf_objs: Mapping[str, Path],
    pin_dir: Path,
    bpftool: Callable[..., str],
    tmp_path: Path,
) -> None:
    # Our own hostile metadata among whatever else the host runs: quotes, backslash,
    # apostrophe (bpftool 7.1 escapes it as \', not JSON), an escape sequence.
    tricky = socket_object(
        tmp_path,
        "tricky",
        'volatile const char bpf_metadata_q[] __attribute__((section(".rodata")))'
        ' = "a\\"b\\\\c\'d";\n'
        'volatile const char bpf_metadata_esc[] __attribute__((section(".rodata")))'
        ' = "\\x1b[31mred";\n'
        'char seedv[] __attribute__((section(".metadata"))) = "x\\ty";\n',
        prog="tricky_prog",
    )
    pins = [
        *load_with("bpfbind", bpf_objs["kinds"], pin_dir / "kinds", bpftool).iterdir(),
        *load_with("bpfbind", tricky, pin_dir / "tricky", bpftool).iterdir(),
    ]
    ours = {prog_id(bpftool, p) for p in pins}

    proc = subprocess.run(
        [sys.executable, "-m", "bpfbind", "prog", "show"],
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode("utf-8")
    bad = _RAW_CONTROL.search(text)
    assert bad is None, f"raw control character: {text[bad.start() - 80 : bad.end()]!r}"
    assert ours <= set(_plain_blocks(text))
    meta_only = bpfbind_out("prog", "show", "--metadata")
    assert _RAW_CONTROL.search(meta_only) is None

    for mode in ("-j", "-p"):
        entries = json.loads(bpfbind_out(mode, "prog", "show"))
        by_id = {e["id"]: e for e in entries}
        assert ours <= set(by_id)
        tricky_entry = next(
            e for e in entries if e["id"] in ours and e.get("name") == "tricky_prog"
        )
        assert tricky_entry["metadata"] == {
            "q": "a\"b\\c'd",
            "esc": [27, 91, 51, 49, 109, 114, 101, 100, 0],
            "seedv": [120, 9, 121, 0],
        }


# --- errors ---------------------------------------------------------------------------


@pytest.mark.kernel
@pytest.mark.parametrize(
    "selector", [["id", "999999999"], ["pinned", "/nonexistent"]], ids=["id", "pinned"]
)
def test_show_missing_program_fails_with_one_line(selector: list[str]) -> None:
    for mode in MODES:
        proc = run_bpfbind(*mode_args(mode), "prog", "show", *selector)
        assert proc.returncode == 255  # bpftool's
        if mode:
            # As bpftool -j: the error as a JSON object on stdout, nothing on stderr.
            assert proc.stderr == ""
            assert list(json.loads(proc.stdout)) == ["error"]
            continue
        assert proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr


_AS_NOBODY = """\
import os, sys
import bpfbind.cli
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
sys.exit(bpfbind.cli.main(sys.argv[1:]))
"""


@pytest.mark.kernel
@pytest.mark.parametrize(
    "args", [["prog", "show"], ["-j", "prog", "show"], ["prog", "show", "id", "1"]]
)
def test_unprivileged_gets_clear_permission_error(args: list[str]) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to nobody")
    # Imported as root, then privileges dropped: nobody may not read this interpreter.
    proc = subprocess.run(
        [sys.executable, "-c", _AS_NOBODY, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 255
    if "-j" in args:
        # bpftool -j's form: the error as JSON on stdout, one object.
        assert proc.stderr == ""
        lines = [json.loads(proc.stdout)["error"]]
    else:
        assert proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "CAP_BPF" in lines[0] or "root" in lines[0], lines[0]


# --- offline metadata OBJ -------------------------------------------------------------

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_BPF_NR = {"x86_64": 321, "aarch64": 280}

# In a child: a seccomp filter that kills the process on any bpf(2), then the CLI.
_NO_BPF_SYSCALL = """\
import ctypes, runpy, struct, sys
arch, nr = int(sys.argv[1]), int(sys.argv[2])
ALLOW, KILL = 0x7FFF0000, 0x80000000
ins = [
    (0x20, 0, 0, 4),       # A = seccomp_data.arch
    (0x15, 1, 0, arch),    # if A == arch: skip the next
    (0x06, 0, 0, KILL),    # foreign arch: kill
    (0x20, 0, 0, 0),       # A = seccomp_data.nr
    (0x15, 0, 1, nr),      # if A == bpf: fall through, else skip
    (0x06, 0, 0, KILL),
    (0x06, 0, 0, ALLOW),
]
buf = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *i) for i in ins))
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
prog = Fprog(len(ins), ctypes.cast(buf, ctypes.c_void_p))
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(38, 1, 0, 0, 0) == 0           # PR_SET_NO_NEW_PRIVS
assert libc.prctl(22, 2, ctypes.byref(prog), 0, 0) == 0  # PR_SET_SECCOMP, FILTER
sys.argv = ["bpfbind", *sys.argv[3:]]
runpy.run_module("bpfbind", run_name="__main__")
"""


def run_without_bpf(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    """`bpfbind ARGS` in a child that is killed (SIGSYS) by any bpf(2) call."""
    machine = platform.machine()
    if machine not in _AUDIT_ARCH:
        pytest.skip(f"no seccomp arch constant for {machine}")
    return subprocess.run(
        [
            sys.executable,
            "-c",
            _NO_BPF_SYSCALL,
            str(_AUDIT_ARCH[machine]),
            str(_BPF_NR[machine]),
            *map(str, args),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_seccomp_guard_catches_bpf_calls() -> None:
    """The guard below is real: a command that uses bpf(2) dies under it."""
    proc = run_without_bpf("prog", "show")
    assert proc.returncode == -signal.SIGSYS, (proc.returncode, proc.stderr)


def _tool_metadata_json(tool_json: str) -> str:
    """The text of bpftool's compact `"metadata":{...}` object."""
    start = tool_json.index('"metadata":') + len('"metadata":')
    body = tool_json.rstrip("\n")
    assert body.endswith("}}")
    return body[start:-1]


def _tool_metadata_plain(tool_plain: str) -> list[str]:
    block = tool_plain[tool_plain.index("\tmetadata:\n") + len("\tmetadata:\n") :]
    return [line.removeprefix("\t\t") for line in block.splitlines()]


@pytest.mark.kernel
@pytest.mark.parametrize("obj_name", ["kinds", "multi", "seed"])
def test_metadata_command_offline_matches(
    obj_name: str,
    bpf_objs: Mapping[str, Path],
    pin_dir: Path,
    bpftool: Callable[..., str],
) -> None:
    obj_path = bpf_objs[obj_name]
    plain = run_without_bpf("metadata", obj_path)
    compact = run_without_bpf("metadata", obj_path, "-j")
    for proc in (plain, compact):
        assert proc.returncode == 0, (proc.returncode, proc.stderr)

    # What a loaded object reports, and what bpftool prints for the bpf_metadata_ vars.
    with bpfbind.sync.load_object(obj_path) as obj:
        want = obj.metadata
    got = json.loads(compact.stdout)
    assert list(got) == list(want)
    for key, value in want.items():
        if key == "bits":
            # Bitfields follow bpftool: hex text of the raw (unsigned) bits; the Python
            # value is the C value (signed for `int mid : 5`).
            widths = {"lo": 3, "mid": 5, "hi": 24}
            assert {f: int(t, 16) for f, t in got[key].items()} == {
                f: v & ((1 << widths[f]) - 1) for f, v in value.items()
            }
        else:
            assert got[key] == value, key
    assert [line.split(" = ", 1)[0] for line in plain.stdout.splitlines()] == list(want)

    where = load_with("bpftool", obj_path, pin_dir / "tool", bpftool)
    pin = sorted(where.iterdir())[0]
    tool_json = bpftool(["-j", "prog", "show", "pinned", pin])
    tool_plain = bpftool(["prog", "show", "pinned", pin])
    extra = SECTION_METADATA.get(obj_name, {})
    want_json = (
        "{"
        + ",".join(
            filter(
                None,
                [
                    _tool_metadata_json(tool_json)[1:-1]
                    if '"metadata"' in tool_json
                    else "",
                    *(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in extra.items()),
                ],
            )
        )
        + "}"
    )
    assert compact.stdout == want_json + "\n"
    # Plain: bpftool's plain metadata lines (bitfields bare, as `prog show` prints
    # them), then one line per `.metadata` variable.
    lines = plain.stdout.splitlines()
    tool_lines = (
        _tool_metadata_plain(tool_plain) if "\tmetadata:" in tool_plain else []
    )
    extra_lines = [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    assert lines == tool_lines + extra_lines

    # -p: the same object in bpftool's `-p` layout, its metadata block one level up.
    pretty = run_without_bpf("-p", "metadata", obj_path)
    assert pretty.returncode == 0, (pretty.returncode, pretty.stderr)
    assert json.loads(pretty.stdout) == got
    if not extra:
        tool_pretty = bpftool(["-p", "prog", "show", "pinned", pin]).splitlines()
        start = tool_pretty.index('    "metadata": {')
        end = tool_pretty.index("    }", start)
        inner = tool_pretty[start + 1 : end + 1]
        block = ["{", *(x.removeprefix("    ") for x in inner)]
        assert pretty.stdout == "\n".join(block) + "\n"


def test_metadata_command_needs_no_kernel(bpf_objs: Mapping[str, Path]) -> None:
    """No bpf(2) at all: the command works on a build machine without BPF."""
    proc = run_without_bpf("metadata", bpf_objs["seed"], "-j")
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert json.loads(proc.stdout) == {"commit_hash": "abcdef123456"}
    proc = run_without_bpf("metadata", bpf_objs["metadata_used"])
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert proc.stdout == 'a = "foo"\nb = 1\n'


# --- feature probe --------------------------------------------------------------------


@pytest.mark.kernel
def test_feature_probe_reports_this_kernel() -> None:
    feats = json.loads(bpfbind_out("feature", "probe", "-j"))
    # fd_array_cnt is Linux 6.14+ (the kernel matrix boots older ones).
    release = tuple(int(x) for x in platform.release().split("-")[0].split(".")[:2])
    assert feats.get("fd_array_cnt") is (release >= (6, 14)), feats
    for key in FEATURE_NAMES:
        if key != "fd_array_cnt":
            assert feats.get(key) is True, (key, feats)
    pretty = bpfbind_out("-p", "feature", "probe")
    assert json.loads(pretty) == feats
