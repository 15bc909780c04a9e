"""Pytest fixtures and markers: the `kernel` marker and its one-time bpf(2) probe, the
compiled test objects, bpffs pin directories, bpftool, fd/id snapshots, async set-up.

Tests marked `kernel` are skipped when bpf(2) or bpffs is unusable, naming the errno;
with BPFBIND_REQUIRE_KERNEL=1 (CI on a capable machine) they fail instead, so a broken
runner cannot pass by skipping everything. Fixtures needing the kernel or a tool (clang,
bpftool) follow the same rule.

Async tests: a plain `async def test_...` runs under asyncio (pytest-asyncio in strict
mode; this conftest adds the `asyncio` marker). One marked `@pytest.mark.anyio` runs
once per `anyio_backend` (asyncio and trio) instead. Async fixtures of asyncio-only
tests use `@pytest_asyncio.fixture`; those of anyio tests use plain `@pytest.fixture`.
"""

from __future__ import annotations

import ctypes
import errno
import inspect
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, NoReturn

import pytest

BPF_DIR = Path(__file__).resolve().parent / "bpf"


def _settle_clang() -> None:
    """CLANG and CLANG_CORE_MATCHES as the Makefile picks them (scripts/find_clang.sh),
    when pytest runs without make: a machine may have only clang-19, no plain `clang`.
    Every test and sub-make reads them from the environment."""
    find = BPF_DIR.parent.parent / "scripts" / "find_clang.sh"
    for var, args in (("CLANG", []), ("CLANG_CORE_MATCHES", ["15"])):
        if os.environ.get(var):
            continue
        res = subprocess.run(
            [str(find), *args],
            capture_output=True,
            text=True,
            env={**os.environ, "CLANG": ""},
        )
        if res.returncode == 0 and res.stdout.strip():
            os.environ[var] = res.stdout.strip()


_settle_clang()
BPFFS = Path("/sys/fs/bpf")
REQUIRE_ENV = "BPFBIND_REQUIRE_KERNEL"

# bpf(2) has no libc wrapper; the number differs by architecture.
_BPF_SYSCALL = {
    "x86_64": 321,
    "aarch64": 280,
    "riscv64": 280,
    "ppc64le": 361,
    "s390x": 351,
    "i686": 357,
    "armv7l": 386,
}
_BPF_MAP_CREATE = 0
_BPF_MAP_TYPE_ARRAY = 2

_kernel_reason_key = pytest.StashKey[str | None]()

Bpftool = Callable[[Sequence[str]], str]


class BpftoolError(RuntimeError):
    """bpftool exited non-zero; the message carries its arguments and stderr."""

    def __init__(self, args: Sequence[str], returncode: int, stderr: str) -> None:
        super().__init__(
            f"bpftool {' '.join(args)} exited {returncode}: {stderr.strip()}"
        )
        self.returncode = returncode
        self.stderr = stderr


_features: dict[str, bool] = {}

# What `feature probe` names, in the order it prints them.
FEATURE_NAMES = [
    "prog_bind_map",
    "fd_array_cnt",
    "global_data",
    "mmapable_arrays",
    "btf",
    "bpffs_mounted",
    "map_census",
    "pids_iterator",
]


def kernel_features() -> dict[str, bool]:
    """What the running kernel offers, as bpfbind probes it (`feature probe`)."""
    if not _features:
        import bpfbind._native

        _features.update(bpfbind._native.features())
    return _features


def auto_binding() -> str:
    """The binding a load with bind="auto" gets here: atomic through fd_array on
    Linux 6.14+, BPF_PROG_BIND_MAP after the load before that."""
    return "fd_array" if kernel_features()["fd_array_cnt"] else "bind_map"


def require_fd_array_cnt() -> None:
    """Skips a test whose premise is a kernel with fd_array_cnt (6.14+)."""
    if not kernel_features()["fd_array_cnt"]:
        pytest.skip(
            f"needs BPF_PROG_LOAD's fd_array_cnt (Linux 6.14+); {platform.release()} "
            "binds with BPF_PROG_BIND_MAP"
        )


def require_kernel_symbol(name: str, since: str) -> None:
    """Skips a test of a kernel function (a kfunc) that this kernel's BTF lacks."""
    btf = Path("/sys/kernel/btf/vmlinux").read_bytes()
    if b"\0" + name.encode() + b"\0" not in btf:
        pytest.skip(f"{platform.release()} has no {name} (Linux {since}+)")


def require_obj(bpf_objs: Mapping[str, Path], case: str) -> Path:
    """The object; those needing clang >= 15 (core_matches, btf_kinds) are left out by
    tests/bpf/Makefile where clang-19 is missing: skip then, or fail in CI."""
    if case not in bpf_objs:
        _unavailable(f"{case}.bpf.o not built (tests/bpf/Makefile: clang-19 not found)")
    return bpf_objs[case]


def _unavailable(reason: str) -> NoReturn:
    """Skip, or fail when the environment demands a working kernel."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(reason)


def _errno_text(err: int) -> str:
    return f"{errno.errorcode.get(err, str(err))} ({os.strerror(err)})"


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _probe_bpf() -> str | None:
    """Create and close a 1-entry array map; the reason bpf(2) is unusable, or None."""
    nr = _BPF_SYSCALL.get(platform.machine())
    if nr is None:
        return f"bpf(2) syscall number unknown for {platform.machine()}"
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    # union bpf_attr for BPF_MAP_CREATE: map_type, key_size, value_size, max_entries;
    # the rest must be zero. 128 bytes covers every field this probe needs.
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("=IIII", attr, 0, _BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    fd = libc.syscall(
        ctypes.c_long(nr), ctypes.c_int(_BPF_MAP_CREATE), attr, ctypes.c_uint(len(attr))
    )
    if fd < 0:
        err = ctypes.get_errno()
        return f"bpf(2) unusable: BPF_MAP_CREATE failed with {_errno_text(err)}"
    os.close(fd)
    return None


def _bpffs_mounted() -> bool:
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) > 2 and fields[1] == str(BPFFS) and fields[2] == "bpf":
                return True
    return False


def _probe_bpffs() -> str | None:
    """Ensure a bpffs at /sys/fs/bpf, mounting one as root; the reason if not."""
    if _bpffs_mounted():
        return None
    if os.geteuid() != 0:
        return f"no bpffs mounted at {BPFFS} and not root to mount one"
    libc = _libc()
    if libc.mount(b"bpf", str(BPFFS).encode(), b"bpf", ctypes.c_ulong(0), None) != 0:
        err = ctypes.get_errno()
        return f"no bpffs at {BPFFS}: mount failed with {_errno_text(err)}"
    return None


def _kernel_reason(config: pytest.Config) -> str | None:
    """Probe once per session: why kernel tests cannot run, or None when they can."""
    if _kernel_reason_key not in config.stash:
        config.stash[_kernel_reason_key] = _probe_bpf() or _probe_bpffs()
    return config.stash[_kernel_reason_key]


def _require_kernel(config: pytest.Config) -> None:
    reason = _kernel_reason(config)
    if reason is not None:
        _unavailable(reason)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "kernel: needs bpf(2) and bpffs as root; skipped without them "
        f"(failed instead when {REQUIRE_ENV}=1)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> None:
    """Mark plain coroutine tests `asyncio`; leave anyio and already-marked ones alone.

    This must happen before the Function item exists: pytest-asyncio decides then."""
    if not (collector.istestfunction(obj, name) and inspect.iscoroutinefunction(obj)):
        return
    own = {mark.name for mark in getattr(obj, "pytestmark", ())}
    if own & {"anyio", "asyncio"}:
        return
    if collector.get_closest_marker("anyio") or collector.get_closest_marker("asyncio"):
        return
    if "anyio_backend" in inspect.signature(obj).parameters:
        return
    pytest.mark.asyncio(obj)


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    # Probe at collection, once, and only when some selected test needs the kernel.
    if any(item.get_closest_marker("kernel") for item in items):
        _kernel_reason(config)


def pytest_report_collectionfinish(config: pytest.Config) -> str | None:
    if _kernel_reason_key not in config.stash:
        return None
    reason = config.stash[_kernel_reason_key]
    return f"kernel tests: {'runnable' if reason is None else reason}"


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("kernel"):
        _require_kernel(item.config)


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every anyio-marked test under both backends."""
    backend: str = request.param
    return backend


@pytest.fixture(scope="session")
def bpf_objs(tmp_path_factory: pytest.TempPathFactory) -> Mapping[str, Path]:
    """Build tests/bpf once per session; name ("multi") -> path of "multi.bpf.o".
    BPFBIND_TEST_OBJS names a directory where they are already built (the kernel
    matrix builds them once on the host, not in each slow VM)."""
    prebuilt = os.environ.get("BPFBIND_TEST_OBJS")
    if prebuilt:
        objs = {
            p.name.removesuffix(".bpf.o"): p
            for p in sorted(Path(prebuilt).glob("*.bpf.o"))
        }
        if not objs:
            pytest.fail(f"BPFBIND_TEST_OBJS={prebuilt} holds no *.bpf.o", pytrace=False)
        return MappingProxyType(objs)
    clang = os.environ.get("CLANG", "clang")
    for tool in (clang, "make"):
        if shutil.which(tool) is None:
            _unavailable(f"{tool} not found: cannot build the BPF test objects")
    out = tmp_path_factory.mktemp("bpf_objs")
    proc = subprocess.run(
        [
            "make",
            f"-j{os.cpu_count() or 1}",
            "-C",
            str(BPF_DIR),
            f"O={out}",
            f"CLANG={clang}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        # A compile error is a bug in tests/bpf, never a reason to skip.
        pytest.fail(
            f"building tests/bpf failed:\n{proc.stdout}{proc.stderr}", pytrace=False
        )
    objs = {p.name.removesuffix(".bpf.o"): p for p in sorted(out.glob("*.bpf.o"))}
    return MappingProxyType(objs)


@pytest.fixture
def pin_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A fresh directory in bpffs, removed with everything pinned in it afterwards."""
    _require_kernel(request.config)
    path = BPFFS / f"bpfbind-test-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    path.mkdir()
    try:
        yield path
    finally:
        if path.exists():
            shutil.rmtree(path)


def _find_bpftool() -> str | None:
    # Debian installs it in /usr/sbin, which a non-root PATH may lack.
    return shutil.which("bpftool") or shutil.which("bpftool", path="/usr/sbin:/sbin")


@pytest.fixture(scope="session")
def bpftool() -> Bpftool:
    """`bpftool(["-j", "prog", "show"])` -> stdout; raises BpftoolError with stderr."""
    exe = _find_bpftool()
    if exe is None:
        _unavailable("bpftool not found")

    def run(args: Sequence[str]) -> str:
        argv = [str(arg) for arg in args]
        proc = subprocess.run([exe, *argv], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BpftoolError(argv, proc.returncode, proc.stderr)
        return proc.stdout

    return run


LibbpfLoadall = Callable[..., dict[str, dict[str, object]]]


@pytest.fixture
def libbpf_loadall(bpftool: Bpftool) -> LibbpfLoadall:
    """`libbpf_loadall(obj, pin_dir, maps_dir=None)`: `bpftool prog loadall obj pin_dir`
    (libbpf loads every program and pins it by name; `maps_dir` adds `pinmaps`), then
    each program's `bpftool -j prog show pinned` record by pinned name."""

    def run(
        obj: Path, pin_dir: Path, maps_dir: Path | None = None
    ) -> dict[str, dict[str, object]]:
        args: list[object] = ["prog", "loadall", obj, pin_dir]
        if maps_dir is not None:
            args += ["pinmaps", maps_dir]
        bpftool([str(arg) for arg in args])
        return {
            name: json.loads(bpftool(["-j", "prog", "show", "pinned", pin_dir / name]))
            for name in sorted(os.listdir(pin_dir))
        }

    return run


# --- the command line ----------------------------------------------------------------


def run_cli(*args: object, **kw: Any) -> subprocess.CompletedProcess[str]:
    """`python3 -m bpfbind ARGS` in a fresh process, as a user runs it: its output
    captured as text, its exit code left to the caller; `kw` goes to subprocess.run."""
    return subprocess.run(
        [sys.executable, "-m", "bpfbind", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        **kw,
    )


def cli_stdout(*args: object) -> str:
    """What `python3 -m bpfbind ARGS` prints; CalledProcessError unless it exits 0."""
    proc = run_cli(*args)
    proc.check_returncode()
    return proc.stdout


def shown_metadata(prog_id: int) -> dict[str, Any]:
    """The metadata `bpfbind -j prog show id` prints for one program, in its order."""
    shown: dict[str, Any] = json.loads(cli_stdout("-j", "prog", "show", "id", prog_id))
    return shown["metadata"]


async def assert_programs_freed(key: str, token: str) -> None:
    """No loaded program's metadata holds `key` = `token`, once the kernel has freed
    them after an RCU grace period (polled, for 10 s at most)."""
    import anyio

    import bpfbind

    def survivors() -> list[int]:
        recs = bpfbind.sync.scan(with_metadata_only=True)
        return [r.id for r in recs if r.metadata.get(key) == token]

    with anyio.move_on_after(10):
        while survivors():
            await anyio.sleep(0.05)
    assert survivors() == []


# --- objects of a test's own ---------------------------------------------------------


def renamed(obj: Path, old: bytes, new: bytes) -> bytes:
    """The object's bytes with a name it holds (`old`, a section or attach target)
    replaced by `new` of the same length, so that the ELF stays well-formed."""
    assert len(new) == len(old)
    data = obj.read_bytes()
    assert data.count(old) >= 1
    return data.replace(old, new)


def compile_bpf(out_dir: Path, name: str, source: str) -> Path:
    """The C `source` compiled as the test objects are (the CLANG they use, -g -O2
    -target bpf) into out_dir/NAME.bpf.o; the test fails where clang is missing or
    refuses the source, naming why."""
    clang = os.environ.get("CLANG", "clang")
    if shutil.which(clang) is None:
        pytest.fail(f"{clang} not found", pytrace=False)
    src, out = out_dir / f"{name}.bpf.c", out_dir / f"{name}.bpf.o"
    src.write_text(source)
    proc = subprocess.run(
        [clang, "-g", "-O2", "-target", "bpf", "-c", str(src), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return out


def socket_object(
    out_dir: Path, name: str, globals_: str, ret: int = 0, prog: str | None = None
) -> Path:
    """NAME.bpf.o: one socket program (`prog`, else `name`) returning `ret`, after the
    C declarations `globals_` (its metadata), compiled by `compile_bpf`."""
    program = (
        f'__attribute__((section("socket"), used)) int {prog or name}(void *ctx)'
        f" {{ return {ret}; }}\n"
        'char LICENSE[] __attribute__((section("license"), used)) = "GPL";\n'
    )
    return compile_bpf(out_dir, name, textwrap.dedent(globals_) + program)


# --- comparing with libbpf ------------------------------------------------------------


@pytest.fixture
def libbpf_side(pin_dir: Path) -> tuple[Path, Path]:
    """(programs dir, maps dir) for one bpftool loadall, inside the test's pin_dir."""
    progs, maps = pin_dir / "bpftool", pin_dir / "bpftool_maps"
    maps.mkdir()
    return progs, maps


class LibbpfLoad(NamedTuple):
    """An object libbpf loaded: its path, the directories its programs and maps are
    pinned in, and each program's `bpftool -j prog show` record by name."""

    obj: Path
    progs: Path
    maps: Path
    theirs: dict[str, dict[str, object]]


LibbpfPinned = Callable[[str], LibbpfLoad]


@pytest.fixture
def libbpf_pinned(
    bpf_objs: Mapping[str, Path],
    libbpf_side: tuple[Path, Path],
    libbpf_loadall: LibbpfLoadall,
) -> LibbpfPinned:
    """`libbpf_pinned("maps_bloom")`: that test object loaded by libbpf, programs and
    maps pinned in the test's pin_dir (`libbpf_side`), to compare bpfbind with."""

    def run(name: str) -> LibbpfLoad:
        obj = require_obj(bpf_objs, name)
        progs, maps = libbpf_side
        return LibbpfLoad(obj, progs, maps, libbpf_loadall(obj, progs, maps))

    return run


def assert_same_programs(theirs: Mapping[str, Mapping[str, Any]], obj: Any) -> None:
    """bpfbind loaded (in `obj`, a BpfObject) the programs libbpf loaded (`theirs`, from
    `libbpf_loadall`), with the same instructions."""
    assert theirs, "bpftool loaded no program"
    assert sorted(obj.programs) == sorted(theirs)
    for name, info in theirs.items():
        prog = obj.programs[name]
        assert prog.type == info["type"], name
        assert prog.tag == info["tag"], (
            f"{name}: bpfbind's instructions differ from libbpf's "
            f"(tag {prog.tag}, libbpf {info['tag']})"
        )


@contextmanager
def loaded_as_libbpf_loads(
    libbpf_loadall: Callable[..., dict[str, dict[str, Any]]], path: Path, pin_dir: Path
) -> Iterator[Any]:
    """`path` loaded by libbpf (its programs pinned in `pin_dir`) and by bpfbind, which
    must have loaded the same programs (`assert_same_programs`): bpfbind's object."""
    import bpfbind

    theirs = libbpf_loadall(path, pin_dir)
    with bpfbind.sync.load_object(path) as obj:
        assert_same_programs(theirs, obj)
        yield obj


def pinned_value(bpftool: Bpftool, path: Path) -> bytes:
    """The value at key 0 of a pinned array map (a .bss), as raw bytes."""
    entries = json.loads(bpftool(["-j", "map", "dump", "pinned", str(path)]))
    return bytes(int(byte, 16) for byte in entries[0]["value"])


def possible_cpus() -> int:
    """How many CPUs /sys/devices/system/cpu/possible lists ("0-3,8"), as libbpf's
    libbpf_num_possible_cpus() counts them: the number of values of a per-CPU map."""
    text = Path("/sys/devices/system/cpu/possible").read_text().strip()
    count = 0
    for part in text.split(","):
        first, _, last = part.partition("-")
        count += int(last or first) - int(first) + 1
    return count


class FdSnapshot:
    """`fd_snapshot()`: this process's open fds; `.kernel_ids()`: live kernel ids."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request

    def __call__(self) -> set[int]:
        return self.fds()

    def fds(self) -> set[int]:
        listed = {int(name) for name in os.listdir("/proc/self/fd")}
        # The directory listing's own fd is in the list but already closed: drop it.
        alive = set()
        for fd in listed:
            try:
                os.fstat(fd)
            except OSError:
                continue
            alive.add(fd)
        return alive

    def kernel_ids(self) -> tuple[set[int], set[int]]:
        """(program ids, map ids) loaded in the kernel now, as bpftool lists them."""
        _require_kernel(self._request.config)
        # Looked up here, so that fds() works on a machine without bpftool.
        run: Bpftool = self._request.getfixturevalue("bpftool")
        progs = json.loads(run(["-j", "prog", "show"]) or "[]")
        maps = json.loads(run(["-j", "map", "show"]) or "[]")
        return {int(p["id"]) for p in progs}, {int(m["id"]) for m in maps}


@pytest.fixture
def fd_snapshot(request: pytest.FixtureRequest) -> FdSnapshot:
    """Compare before/after a test body to find leaked fds, programs and maps."""
    return FdSnapshot(request)
