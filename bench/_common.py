"""What every bench script shares: building the C anchors and test objects, running
an anchor, a bpffs pin dir removed however the run ends, and the table + JSON report."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
ANCHORS = BENCH / "out"
BPF_OUT = ROOT / "build" / "bpf"
BPFFS = Path("/sys/fs/bpf")

# bpf(2) has no libc wrapper; counting programs must not depend on the code under test.
_BPF_SYSCALL = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361}
_BPF_PROG_GET_NEXT_ID = 11


def build() -> None:
    """The C anchors (bench/out) and the test objects (build/bpf), rebuilt if stale."""
    for args in (
        ["-C", str(BENCH)],
        ["-C", str(ROOT / "tests" / "bpf"), f"O={BPF_OUT}"],
    ):
        subprocess.run(["make", "-s", *args], check=True, stdout=subprocess.DEVNULL)


def bpf_object(name: str) -> Path:
    return BPF_OUT / f"{name}.bpf.o"


def anchor(name: str, *args: object, timeout: float = 600) -> dict[str, Any]:
    """Runs bench/out/NAME ARGS and returns the JSON line it prints last."""
    proc = subprocess.run(
        [str(ANCHORS / name), *map(str, args)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        timeout=timeout,
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def host_programs() -> int:
    """How many programs the kernel holds right now (every process's, not only ours)."""
    nr = _BPF_SYSCALL.get(platform.machine())
    if nr is None:
        return -1
    libc = ctypes.CDLL(None, use_errno=True)
    attr = (ctypes.c_uint32 * 4)()  # start_id, next_id, open_flags, pad
    count = 0
    while True:
        if libc.syscall(nr, _BPF_PROG_GET_NEXT_ID, attr, ctypes.sizeof(attr)) < 0:
            return count  # ENOENT: the walk is over
        attr[0] = attr[1]
        count += 1


def run(main: Callable[[], int]) -> int:
    """Runs a script's main: Ctrl-C or SIGTERM ends it after its cleanup, with 130."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return main()
    except KeyboardInterrupt:
        print("interrupted: what the run loaded and pinned is gone", file=sys.stderr)
        return 130


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def pin_dir(script: str) -> Iterator[Path]:
    """A fresh /sys/fs/bpf/bpfbind-bench-* directory, removed with its pins on exit."""
    path = BPFFS / f"bpfbind-bench-{script}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    path.mkdir(mode=0o700)
    try:
        yield path
    finally:
        # Unpinning is what frees the programs: a pin left behind keeps them loaded.
        shutil.rmtree(path, ignore_errors=True)
        if path.exists():
            print(f"warning: could not remove {path}", file=sys.stderr)


def clock(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def timer(
    runs: dict[str, list[float]], results: dict[str, int]
) -> Callable[[str, Callable[[], int]], None]:
    """`timed(key, fn)`: calls `fn`, adds its seconds to `runs[key]` and keeps what it
    returned (a count of records or bytes) in `results[key]`."""

    def timed(key: str, fn: Callable[[], int]) -> None:
        start = time.perf_counter()
        results[key] = fn()
        runs.setdefault(key, []).append(time.perf_counter() - start)

    return timed


def progress(text: str) -> None:
    """A note on stderr, after whatever stdout holds so far."""
    sys.stdout.flush()
    print(text, file=sys.stderr, flush=True)


def parser(doc: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    return p


def copies_args(
    p: argparse.ArgumentParser, small: str, each: str
) -> argparse.Namespace:
    """The arguments of a bench over many pinned copies of one object (`p`'s own
    first): how many copies, how many at the `small` point, the loader, and `each`
    measurement's repeats; --quick makes them few."""
    p.add_argument("--objects", type=int, default=2500, help="copies (x4 programs)")
    p.add_argument("--small", type=int, default=250, help=f"copies at the {small}")
    p.add_argument("--repeat", type=int, default=5, help=f"{each} of each, best kept")
    p.add_argument("--loader", choices=["mass_load", "bpfbind"], default="mass_load")
    args = p.parse_args()
    if args.quick:
        args.objects, args.small, args.repeat = 250, 25, 2
    args.small = min(args.small, args.objects)
    return args


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


class Report:
    """Rows of a human table, and every figure for the final JSON line."""

    def __init__(self, bench: str) -> None:
        self.figures: dict[str, Any] = {
            "bench": bench,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "cpus": os.cpu_count(),
            "kernel": platform.release(),
            "python": platform.python_version(),
            "code": code_version(),
            # Other work on the host skews every figure: say how busy it was.
            "loadavg_start": os.getloadavg()[0],
        }
        self.rows: list[Sequence[str]] = []

    def row(self, *cells: object) -> None:
        self.rows.append([_cell(c) for c in cells])

    def table(self, header: Sequence[str]) -> None:
        rows = [list(header), *self.rows]
        widths = [
            max(len(r[i]) for r in rows if i < len(r)) for i in range(len(header))
        ]
        for n, r in enumerate(rows):
            cells = zip(r, widths, strict=False)
            print(
                "  ".join(
                    c.ljust(w) if i == 0 else c.rjust(w)
                    for i, (c, w) in enumerate(cells)
                )
            )
            if n == 0:
                print("  ".join("-" * w for w in widths))
        self.rows = []

    def emit(self) -> None:
        self.figures["loadavg_end"] = os.getloadavg()[0]
        code = self.figures["code"]
        now = code_version()["native_built"]
        if now != code["native_built"]:
            code["rebuilt_during_run"] = now
            print(f"warning: the native module was rebuilt during the run ({now})")
        print(
            f"bpfbind {code['commit']}"
            f"{' (modified)' if code['sources_modified'] else ''}"
            f", native module built {code['native_built']}; 1-min load average "
            f"{self.figures['loadavg_start']:.2f} at start, "
            f"{self.figures['loadavg_end']:.2f} at end ({self.figures['cpus']} CPUs)"
        )
        print(json.dumps(self.figures, sort_keys=True), flush=True)


def code_version() -> dict[str, Any]:
    """Which bpfbind was measured: the commit, whether the sources differ from it, and
    when the native module in use was built."""
    from bpfbind import _native

    def git(*args: str) -> str:
        try:
            proc = subprocess.run(
                ["git", "-C", str(ROOT), *args], capture_output=True, text=True
            )
        except OSError:
            return ""
        return proc.stdout.strip()

    native = Path(_native.__file__ or "")
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "sources_modified": bool(git("status", "--porcelain", "src", "python")),
        "native_built": time.strftime(
            "%Y-%m-%d %H:%M:%S", time.localtime(native.stat().st_mtime)
        ),
    }


def _cell(c: object) -> str:
    if isinstance(c, float):
        return f"{c:.4g}" if abs(c) < 10000 else f"{c:.0f}"
    return str(c)


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b > 0 else None


def goal(value: float | None, limit: float, at_most: bool = True) -> str:
    if value is None:
        return "n/a"
    ok = value <= limit if at_most else value >= limit
    return "met" if ok else "missed"
