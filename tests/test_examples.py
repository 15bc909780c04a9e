"""The libbpf-bootstrap examples in Python (examples/*.py): each runs as a user runs
it, against the real kernel, and prints the events or counters it must produce."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module")
def example_objs(tmp_path_factory: pytest.TempPathFactory) -> Mapping[str, Path]:
    """examples/bpf built once (clang, vmlinux.h from this kernel)."""
    clang = os.environ.get("CLANG", "clang")
    if shutil.which(clang) is None:
        pytest.fail(f"{clang} not found: cannot build examples/bpf")
    out = tmp_path_factory.mktemp("examples")
    proc = subprocess.run(
        ["make", "-s", "-C", str(EXAMPLES / "bpf"), f"O={out}", f"CLANG={clang}"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.fail(f"building examples/bpf failed:\n{proc.stdout}{proc.stderr}")
    return {p.name.removesuffix(".bpf.o"): p for p in out.glob("*.bpf.o")}


def run(
    name: str, objs: Mapping[str, Path], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), str(objs[name]), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok(name: str, objs: Mapping[str, Path], *args: str) -> str:
    proc = run(name, objs, *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_minimal_counts_its_writes(example_objs: Mapping[str, Path]) -> None:
    out = ok("minimal", example_objs)
    m = re.search(r"pid (\d+): (\d+) writes seen, the last of (\d+) bytes", out)
    assert m, out
    # Three writes of "write N\n" and the flushed "attached" line, at least.
    assert int(m[2]) >= 4 and int(m[3]) == len("write 2\n")


def test_kprobe_sees_the_unlink(example_objs: Mapping[str, Path]) -> None:
    proc = run("kprobe", example_objs)
    if not Path("/sys/bus/event_source/devices/kprobe").exists():
        assert proc.returncode != 0 and "CONFIG_KPROBES" in proc.stderr
        pytest.skip(f"{platform.release()} has no kprobes (CONFIG_KPROBES unset)")
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"do_unlinkat: (\d+) entries, (\d+) exits", proc.stdout)
    assert m and int(m[1]) >= 1 and m[1] == m[2], proc.stdout
    m = re.search(r"last file (\S+) returned (-?\d+)", proc.stdout)
    assert m and "bpfbind-kprobe-" in m[1] and m[2] == "0", proc.stdout


def test_uprobe_sees_getppid_return_its_parent(
    example_objs: Mapping[str, Path],
) -> None:
    out = ok("uprobe", example_objs)
    # The example's parent is this process: the uretprobe saw getppid() return it.
    assert f"getppid: 4 calls, 4 returns, last returned {os.getpid()}" in out


def test_tc_counts_ipv4_on_lo(example_objs: Mapping[str, Path]) -> None:
    major, minor = (int(x) for x in platform.release().split(".")[:2])
    proc = run("tc", example_objs)
    if (major, minor) < (6, 6):
        assert proc.returncode != 0 and "tcx" in proc.stderr
        pytest.skip(f"{platform.release()} has no tcx (Linux 6.6+)")
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"lo: (\d+) packets, (\d+) IPv4, last TTL (\d+)", proc.stdout)
    assert m, proc.stdout
    assert int(m[2]) >= 5 and int(m[3]) == 64


def test_sockfilter_counts_udp(example_objs: Mapping[str, Path]) -> None:
    out = ok("sockfilter", example_objs)
    m = re.search(r"udp: (\d+) packets", out)
    assert m and int(m[1]) >= 5, out


def test_task_iter_lists_this_process(example_objs: Mapping[str, Path]) -> None:
    out = ok("task_iter", example_objs)
    rows = [line.split(None, 3) for line in out.splitlines()[1:]]
    # This process's main thread (tid == tgid): other threads may come first, as
    # tids wrap around on a long-running host.
    me = [r for r in rows if r[0] == r[1] == str(os.getpid())]
    assert me and me[0][3] == os.path.basename(sys.executable)[:15]
    child = [r for r in rows if r[2] == str(os.getpid())]
    assert child, "the example itself runs as this process's child"


def test_profile_samples_the_spinning_process(example_objs: Mapping[str, Path]) -> None:
    out = ok("profile", example_objs, "0.3")
    m = re.search(r"pid (\d+): (\d+) samples", out)
    assert m and int(m[2]) > 0, out
    assert "links, one per CPU" in out


BOOT_LINE = re.compile(r"^\S+ +(EXEC|EXIT) +(\S+) +(\d+) +(\d+) (.*)$", re.M)


def test_bootstrap_streams_exec_and_exit_events(
    example_objs: Mapping[str, Path],
) -> None:
    """A ring buffer of typed events: the command it runs appears as an EXEC of
    /bin/sh and an EXIT of the same pid with its exit code and lifetime."""
    out = ok("bootstrap", example_objs, "--run", "/bin/sh", "-c", "sleep 0.2; exit 3")
    lines = BOOT_LINE.findall(out)
    execs = {int(pid): rest for kind, comm, pid, _, rest in lines if kind == "EXEC"}
    exits = [(int(pid), rest) for kind, comm, pid, _, rest in lines if kind == "EXIT"]
    pid, rest = exits[-1]  # the example stops after its command's exit
    assert execs.get(pid) == "/bin/sh", (pid, out)
    m = re.fullmatch(r"\[(\d+)\] \((\d+)ms\)", rest)
    assert m and m[1] == "3" and int(m[2]) >= 200, rest


def test_bootstrap_min_duration_is_set_before_load(
    example_objs: Mapping[str, Path],
) -> None:
    """`--min-duration-ms` goes into .rodata before the load: no EXEC events then, and
    only exits of processes that lived at least that long."""
    out = ok(
        "bootstrap",
        example_objs,
        "--min-duration-ms",
        "100",
        "--run",
        "/bin/sh",
        "-c",
        "sleep 0.3; exit 4",
    )
    lines = BOOT_LINE.findall(out)
    assert lines and all(kind == "EXIT" for kind, *_ in lines), out
    assert all(int(re.search(r"\((\d+)ms\)", r[4])[1]) >= 100 for r in lines), out
    assert re.fullmatch(r"\[4\] \(\d+ms\)", lines[-1][4]), lines[-1]
