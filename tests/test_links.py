"""Links: every attach kind runs its program on a real hook (a syscall, a function of
a compiled test binary, packets on a veth pair, a connect in a cgroup, a datagram on a
socket, CPU-clock samples), and closing the link stops it. Link info, pins, the link
scan and `bpfbind link show` are compared with Debian's bpftool."""

from __future__ import annotations

import errno
import json
import os
import platform
import random
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import Bpftool, FdSnapshot, assert_programs_freed, renamed
from conftest import cli_stdout as bpfbind_cli

import bpfbind

pytestmark = pytest.mark.kernel

(
    H_TP,
    H_RAW_TP,
    H_KPROBE,
    H_KRETPROBE,
    H_KSYSCALL,
    H_KMULTI,
    H_UPROBE,
    H_URETPROBE,
    H_XDP,
    H_TCX,
    H_CONNECT4,
    H_SKB,
    H_SK_LOOKUP,
    H_SOCKET,
    H_PERF,
    H_TP_BTF,
) = range(16)

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


class Loaded:
    """A loaded test object whose programs count runs of this process in `hits`."""

    def __init__(self, path: Path, slots: int, port: int = 0) -> None:
        self.obj = bpfbind.sync.load_object(path)
        self.slots = slots
        self.set(port=port)

    def set(self, port: int = 0) -> None:
        data = self.obj.maps[".data"]
        value = struct.pack("=I", os.getpid())
        if data.value_size >= 8:
            value += struct.pack("=I", port)
        data.update(b"\0" * 4, value)

    def hits(self) -> tuple[int, ...]:
        raw = self.obj.maps[".bss"].lookup(b"\0" * 4, raw=True)
        assert raw is not None
        return struct.unpack(f"={self.slots}Q", raw[: 8 * self.slots])

    def hit(self, slot: int) -> int:
        return self.hits()[slot]

    def prog(self, name: str) -> bpfbind.Program:
        return self.obj.programs[name]


def close_and_wait(loaded: Loaded) -> None:
    """Closes the object and waits (bounded) until the kernel has freed its programs,
    after their RCU grace periods: later tests that compare the host's ids then see
    none of this one's objects go."""
    ids = {p.id for p in loaded.obj.programs.values()}
    loaded.obj.close()
    for _ in range(500):
        alive = set()
        for i in ids:
            try:
                bpfbind.open_program(bpfbind.Id(i)).close()
            except bpfbind.BpfNotFoundError:
                continue
            alive.add(i)
        if not alive:
            return
        ids = alive
        time.sleep(0.01)


def loaded_until_teardown(path: Path, slots: int) -> Iterator[Loaded]:
    """A fixture's loaded object, closed (and its links seen gone) afterwards."""
    loaded = Loaded(path, slots)
    try:
        yield loaded
    finally:
        close_and_wait(loaded)


@pytest.fixture
def links(bpf_objs: dict[str, Path]) -> Iterator[Loaded]:
    yield from loaded_until_teardown(bpf_objs["links"], 16)


def live_link_ids() -> set[int]:
    return {rec["id"] for rec in bpfbind.scan_links()}


def assert_stops(
    loaded: Loaded, slot: int, link: bpfbind.Link, trigger: Callable[[], object]
) -> None:
    """The program ran; after close() the same trigger no longer runs it."""
    assert loaded.hit(slot) > 0
    link_id = link.id
    link.close()
    assert link.closed
    before = loaded.hit(slot)
    trigger()
    assert loaded.hit(slot) == before
    if link_id is not None:
        assert link_id not in live_link_ids()


def getppid_three_times() -> None:
    for _ in range(3):
        os.getppid()


# --- tracepoints ----------------------------------------------------------------


def test_tracepoint_counts_syscalls_and_close_detaches(links: Loaded) -> None:
    link = links.prog("tp_getppid").attach()
    assert (link.kind, link.target) == (
        "tracepoint",
        "tracepoint syscalls/sys_enter_getppid",
    )
    getppid_three_times()
    assert links.hit(H_TP) == 3
    info = link.info()
    assert info["type"] == "perf_event"
    assert info["prog_id"] == links.prog("tp_getppid").id == link.prog_id
    assert link.id in live_link_ids()
    # Tracepoint ids come from tracefs, mounted by the attach where none was.
    with open("/proc/self/mounts") as f:
        fstypes = {line.split()[1]: line.split()[2] for line in f}
    assert "tracefs" in (
        fstypes.get("/sys/kernel/tracing"),
        fstypes.get("/sys/kernel/debug/tracing"),
    )
    assert_stops(links, H_TP, link, getppid_three_times)


def test_tracepoint_named_by_the_caller(links: Loaded) -> None:
    with links.prog("tp_getppid").attach("syscalls/sys_enter_getppid") as link:
        os.getppid()
        assert links.hit(H_TP) == 1
    assert link.closed


def test_unknown_tracepoint_names_it(links: Loaded, fd_snapshot: FdSnapshot) -> None:
    before = fd_snapshot()
    with pytest.raises(bpfbind.BpfNotFoundError, match="syscalls/sys_enter_nosuch"):
        links.prog("tp_getppid").attach("syscalls/sys_enter_nosuch")
    with pytest.raises(ValueError, match="category/name"):
        links.prog("tp_getppid").attach("justaname")
    assert fd_snapshot() == before


def test_raw_tracepoint(links: Loaded, bpftool: Bpftool) -> None:
    link = links.prog("raw_sys_enter").attach()
    os.getppid()
    assert link.info()["tp_name"] == "sys_enter"
    shown = json.loads(bpftool(["-j", "link", "show", "id", str(link.id)]))
    assert shown == link.info()
    assert_stops(links, H_RAW_TP, link, getppid_three_times)


def test_tp_btf_runs_through_a_tracing_link(links: Loaded) -> None:
    prog = links.prog("tp_btf_sys_enter")
    try:
        link = prog.attach()
    except bpfbind.BpfPermissionError as e:
        assert e.command == "BPF_RAW_TRACEPOINT_OPEN" and e.errno == errno.EPERM
        pytest.skip(f"{platform.release()} refuses tp_btf attachment (EPERM)")
    getppid_three_times()
    assert links.hit(H_TP_BTF) >= 3
    assert_stops(links, H_TP_BTF, link, getppid_three_times)


def test_trampoline_links_fentry_fexit_lsm(
    bpf_objs: dict[str, Path], tmp_path: Path, bpftool: Bpftool
) -> None:
    """fentry/fexit/lsm programs attach to the function they were loaded against. This
    host refuses trampolines with EPERM; the 6.12 VM runs them."""
    try:
        loaded = Loaded(bpf_objs["links_tracing"], 3)
    except bpfbind.BpfPermissionError as e:
        assert e.errno == errno.EPERM
        pytest.skip(f"{platform.release()} refuses trampoline programs (EPERM)")

    def unlink_one() -> None:
        victim = tmp_path / f"victim-{uuid.uuid4().hex}"
        victim.write_text("x")
        victim.unlink()

    with loaded.obj:
        attached = []
        for slot, name in enumerate(
            ["fentry_unlinkat", "fexit_unlinkat", "lsm_path_unlink"]
        ):
            try:
                link = loaded.prog(name).attach()
            except bpfbind.BpfError as e:
                # An LSM program needs "bpf" among the kernel's active LSMs (lsm=).
                if name.startswith("lsm") and e.errno in (errno.EPERM, errno.EINVAL):
                    lsms = Path("/sys/kernel/security/lsm")
                    active = lsms.read_text() if lsms.exists() else "unknown"
                    if "bpf" not in active.split(","):
                        continue
                raise
            info = link.info()
            assert info["type"] == "tracing"
            assert (
                json.loads(bpftool(["-j", "link", "show", "id", str(link.id)])) == info
            )
            assert bpfbind_cli("link", "show", "id", str(link.id)) == bpftool(
                ["link", "show", "id", str(link.id)]
            )
            attached.append((slot, link))
        unlink_one()
        for slot, link in attached:
            assert_stops(loaded, slot, link, unlink_one)


# --- kprobes ----------------------------------------------------------------------


def require_kprobes(loaded: Loaded) -> None:
    """Skips where the kernel has no kprobes (this 6.18 host: CONFIG_KPROBES unset),
    after checking that attaching says so."""
    if Path("/sys/bus/event_source/devices/kprobe").exists():
        return
    with pytest.raises(bpfbind.UnsupportedFeatureError, match="CONFIG_KPROBES") as e:
        loaded.prog("kprobe_any").attach("__x64_sys_getppid")
    assert e.value.feature == "kprobe"
    pytest.skip(f"{platform.release()} has no kprobes (CONFIG_KPROBES unset)")


def test_kprobe_and_kretprobe_by_symbol(links: Loaded) -> None:
    require_kprobes(links)
    entry = links.prog("kprobe_any").attach("__x64_sys_getppid")
    ret = links.prog("kretprobe_any").attach("__x64_sys_getppid")
    assert ret.kind == "kretprobe"
    getppid_three_times()
    assert links.hit(H_KPROBE) == 3
    assert links.hit(H_KRETPROBE) == 3
    assert_stops(links, H_KPROBE, entry, getppid_three_times)
    assert_stops(links, H_KRETPROBE, ret, getppid_three_times)


def test_kprobe_errors_name_the_function(
    links: Loaded, fd_snapshot: FdSnapshot
) -> None:
    require_kprobes(links)
    before = fd_snapshot()
    with pytest.raises(bpfbind.BpfError, match="no_such_kernel_function_xyz") as e:
        links.prog("kprobe_any").attach("no_such_kernel_function_xyz")
    assert e.value.command == "perf_event_open"
    # Inside an instruction: the kernel refuses the address.
    with pytest.raises(bpfbind.BpfError, match=r"__x64_sys_getppid\+0x1") as e:
        links.prog("kprobe_any").attach("__x64_sys_getppid+1")
    assert e.value.errno in (errno.EILSEQ, errno.EINVAL, errno.ENOENT)
    assert fd_snapshot() == before


def test_ksyscall_section_names_the_syscall(links: Loaded) -> None:
    require_kprobes(links)
    link = links.prog("ksyscall_getppid").attach()
    assert "sys_getppid" in link.target
    getppid_three_times()
    assert links.hit(H_KSYSCALL) == 3
    assert_stops(links, H_KSYSCALL, link, getppid_three_times)


def test_kprobe_multi_by_pattern(links: Loaded, tmp_path: Path) -> None:
    require_kprobes(links)
    try:
        link = links.prog("kmulti_unlinkat").attach()
    except bpfbind.UnsupportedFeatureError as e:
        assert e.feature == "kprobe_multi"
        pytest.skip(f"{platform.release()} has no fprobe: {e}")
    assert link.info()["type"] == "kprobe_multi"

    def unlink_three() -> None:
        for i in range(3):
            victim = tmp_path / f"victim-{i}"
            victim.write_text("x")
            victim.unlink()

    unlink_three()
    assert links.hit(H_KMULTI) >= 3
    assert_stops(links, H_KMULTI, link, unlink_three)
    with pytest.raises(bpfbind.BpfNotFoundError, match="no kernel function matches"):
        links.prog("kmulti_unlinkat").attach("no_such_fn_xyz*")


# --- uprobes ----------------------------------------------------------------------

TARGET_C = r"""
#include <stdio.h>
__attribute__((noinline)) int bpfbind_target(int x) { asm volatile(""); return x + 1; }
int main(void) {
	int n = 0, s = 0;
	char line[64];
	while (fgets(line, sizeof line, stdin)) {
		sscanf(line, "%d", &n);
		for (int i = 0; i < n; i++) s += bpfbind_target(i);
		printf("%d\n", s);
		fflush(stdout);
	}
	return 0;
}
"""


@pytest.fixture(scope="module")
def target_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny C program calling bpfbind_target() n times per line of input."""
    out = tmp_path_factory.mktemp("uprobe")
    src = out / "target.c"
    src.write_text(TARGET_C)
    exe = out / "target"
    subprocess.run(["gcc", "-O1", "-o", str(exe), str(src)], check=True)
    return exe


def run_target(exe: Path, calls: int) -> None:
    subprocess.run(
        [str(exe)], input=f"{calls}\n".encode(), check=True, capture_output=True
    )


def test_uprobe_and_uretprobe_on_a_function_of_a_binary(
    links: Loaded, target_binary: Path
) -> None:
    entry = links.prog("uprobe_any").attach("bpfbind_target", binary=target_binary)
    ret = links.prog("uretprobe_any").attach("bpfbind_target", binary=target_binary)
    assert (entry.kind, ret.kind) == ("uprobe", "uretprobe")
    run_target(target_binary, 5)
    assert (links.hit(H_UPROBE), links.hit(H_URETPROBE)) == (5, 5)
    assert_stops(links, H_UPROBE, entry, lambda: run_target(target_binary, 5))
    assert_stops(links, H_URETPROBE, ret, lambda: run_target(target_binary, 5))


def test_uprobe_pid_filter(links: Loaded, target_binary: Path) -> None:
    procs = [
        subprocess.Popen(
            [str(target_binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        for _ in range(2)
    ]
    try:
        watched, other = procs
        with links.prog("uprobe_any").attach(
            "bpfbind_target", binary=target_binary, pid=watched.pid
        ):
            for p, n in ((other, 7), (watched, 4)):
                assert p.stdin and p.stdout
                p.stdin.write(f"{n}\n".encode())
                p.stdin.flush()
                p.stdout.readline()
            assert links.hit(H_UPROBE) == 4
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_uprobe_errors(
    links: Loaded, target_binary: Path, fd_snapshot: FdSnapshot
) -> None:
    before = fd_snapshot()
    with pytest.raises(bpfbind.BpfNotFoundError, match="no function nosuchfn"):
        links.prog("uprobe_any").attach("nosuchfn", binary=target_binary)
    with pytest.raises(bpfbind.BpfNotFoundError, match="/no/such/binary"):
        links.prog("uprobe_any").attach("f", binary="/no/such/binary")
    with pytest.raises(bpfbind.ObjectFormatError):
        links.prog("uprobe_any").attach("f", binary=target_binary.with_suffix(".c"))
    with pytest.raises(bpfbind.BpfError) as e:
        # No such process: perf_event_open refuses the pid filter.
        links.prog("uprobe_any").attach(
            "bpfbind_target", binary=target_binary, pid=2**22 + 1
        )
    assert e.value.command == "perf_event_open" and e.value.errno == errno.ESRCH
    assert "bpfbind_target" in str(e.value)
    assert fd_snapshot() == before


# --- iterators --------------------------------------------------------------------


def test_iter_link_reads_every_task(links: Loaded) -> None:
    link = links.prog("iter_tasks").attach()
    assert link.info() == {
        "id": link.id,
        "type": "iter",
        "prog_id": link.prog_id,
        "target_name": "task",
    }
    with link.open_iter() as reader:
        text = reader.readall().decode()
    pids = {int(line.split()[0]) for line in text.splitlines()}
    assert {os.getpid(), os.getppid(), 2} <= pids  # this process, its parent, kthreadd
    link.close()
    with pytest.raises(ValueError, match="closed"):
        link.open_iter()


@pytest.mark.anyio
async def test_iter_stream(links: Loaded) -> None:
    async with await bpfbind.attach(links.prog("iter_tasks")) as link:
        chunks = [c async for c in bpfbind.stream_iter(link, chunk=256)]
    assert link.closed
    text = b"".join(chunks).decode()
    assert any(line.split()[0] == str(os.getpid()) for line in text.splitlines())


# --- networking: veth pair in a namespace -----------------------------------------


class Veth:
    """A veth pair: `host` in this namespace (10.x.y.1), its peer in a fresh network
    namespace (10.x.y.2). `send(n)` sends n UDP datagrams from the peer to the host."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.ns = f"bpfbind-{tag}"
        self.host = f"bbh{tag}"
        self.peer = f"bbp{tag}"
        r = random.Random(tag)
        self.net = f"10.{r.randrange(64, 250)}.{r.randrange(1, 250)}"

    def sh(self, *argv: str) -> None:
        subprocess.run(argv, check=True, capture_output=True)

    def up(self) -> None:
        self.sh("ip", "netns", "add", self.ns)
        self.sh(
            "ip", "link", "add", self.host, "type", "veth", "peer", "name", self.peer
        )
        self.sh("ip", "link", "set", self.peer, "netns", self.ns)
        self.sh("ip", "addr", "add", f"{self.net}.1/30", "dev", self.host)
        self.sh("ip", "link", "set", self.host, "up")
        inns = ("ip", "netns", "exec", self.ns)
        self.sh(*inns, "ip", "addr", "add", f"{self.net}.2/30", "dev", self.peer)
        self.sh(*inns, "ip", "link", "set", self.peer, "up")
        self.sh(*inns, "ip", "link", "set", "lo", "up")

    def down(self) -> None:
        subprocess.run(["ip", "link", "del", self.host], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)

    @property
    def ifindex(self) -> int:
        return socket.if_nametoindex(self.host)

    def send(self, n: int) -> None:
        code = (
            "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"for _ in range({n}): s.sendto(b'x', ('{self.net}.1', 9))"
        )
        self.sh("ip", "netns", "exec", self.ns, sys.executable, "-c", code)


@pytest.fixture
def veth() -> Iterator[Veth]:
    v = Veth()
    try:
        v.up()
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        v.down()
        pytest.fail(f"cannot set up a veth pair: {e}")
    try:
        yield v
    finally:
        v.down()


def test_xdp_by_name_and_by_ifindex(links: Loaded, veth: Veth) -> None:
    link = links.prog("xdp_count").attach(ifindex=veth.host)
    assert link.info() == {"id": link.id, "type": "xdp", "prog_id": link.prog_id}
    veth.send(3)
    assert links.hit(H_XDP) >= 3
    assert_stops(links, H_XDP, link, lambda: veth.send(3))
    # By index, with flags (XDP_FLAGS_SKB_MODE: generic XDP).
    with links.prog("xdp_count").attach(ifindex=veth.ifindex, flags=2):
        before = links.hit(H_XDP)
        veth.send(2)
        assert links.hit(H_XDP) >= before + 2


def test_xdp_errors_name_the_ifindex(links: Loaded, fd_snapshot: FdSnapshot) -> None:
    before = fd_snapshot()
    with pytest.raises(bpfbind.BpfError, match="ifindex 999999") as e:
        links.prog("xdp_count").attach(ifindex=999999)
    assert e.value.command == "BPF_LINK_CREATE"
    assert e.value.errno in (errno.ENODEV, errno.EINVAL)
    with pytest.raises(bpfbind.BpfNotFoundError, match="nosuchif0"):
        links.prog("xdp_count").attach(ifindex="nosuchif0")
    with pytest.raises(ValueError, match="ifindex="):
        links.prog("xdp_count").attach()
    assert fd_snapshot() == before


def tcx_supported() -> bool:
    major, minor = (int(x) for x in platform.release().split(".")[:2])
    return (major, minor) >= (6, 6)


def test_tcx_ingress(links: Loaded, veth: Veth) -> None:
    prog = links.prog("tcx_count")
    if not tcx_supported():
        with pytest.raises(bpfbind.UnsupportedFeatureError, match=r"Linux 6\.6\+") as e:
            prog.attach(ifindex=veth.host)
        assert e.value.feature == "tcx"
        pytest.skip(f"{platform.release()} has no tcx (Linux 6.6+)")
    link = prog.attach(ifindex=veth.host)
    assert link.info()["type"] == 11  # bpftool 7.1 has no name for tcx links
    veth.send(3)
    assert links.hit(H_TCX) >= 3
    assert_stops(links, H_TCX, link, lambda: veth.send(3))
    with pytest.raises(ValueError, match="direction"):
        prog.attach(ifindex=veth.host, direction="sideways")


# --- cgroups, sk_lookup, sockets ----------------------------------------------------


def cgroup2_root() -> Path:
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 2 and fields[2] == "cgroup2":
                return Path(fields[1])
    pytest.fail("no cgroup2 file system mounted")


@pytest.fixture
def cgroup() -> Iterator[Path]:
    path = cgroup2_root() / f"bpfbind-test-{uuid.uuid4().hex[:12]}"
    path.mkdir()
    try:
        yield path
    finally:
        path.rmdir()


def connect_from(cg: Path, port: int) -> None:
    """A child process joins cgroup `cg` and connects to 127.0.0.1:port."""
    code = (
        "import os, socket\n"
        f"open({str(cg / 'cgroup.procs')!r}, 'w').write(str(os.getpid()))\n"
        "s = socket.socket(); s.settimeout(2)\n"
        f"s.connect_ex(('127.0.0.1', {port})); s.close()"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    try:
        yield s
    finally:
        s.close()


def test_cgroup_connect4_and_skb(
    links: Loaded, cgroup: Path, listener: socket.socket, bpftool: Bpftool
) -> None:
    port = listener.getsockname()[1]
    link = links.prog("connect4_count").attach(cgroup=cgroup)
    info = link.info()
    assert info["type"] == "cgroup" and info["attach_type"] == "cgroup_inet4_connect"
    assert info["cgroup_id"] == os.stat(cgroup).st_ino
    assert json.loads(bpftool(["-j", "link", "show", "id", str(link.id)])) == info
    connect_from(cgroup, port)
    assert links.hit(H_CONNECT4) == 1
    assert_stops(links, H_CONNECT4, link, lambda: connect_from(cgroup, port))
    # By fd, the attach type from the section (cgroup_skb/egress).
    fd = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY)
    try:
        skb = links.prog("skb_egress_count").attach(cgroup=fd)
    finally:
        os.close(fd)
    assert skb.info()["attach_type"] == "cgroup_inet_egress"
    connect_from(cgroup, port)
    assert_stops(links, H_SKB, skb, lambda: connect_from(cgroup, port))


def test_sk_lookup_in_this_netns(links: Loaded, listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    links.set(port=port)
    link = links.prog("sk_lookup_count").attach()
    info = link.info()
    assert info["type"] == "netns" and info["attach_type"] == "sk_lookup"
    assert info["netns_ino"] == os.stat("/proc/self/ns/net").st_ino

    def connect() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        listener.accept()[0].close()

    connect()
    assert links.hit(H_SK_LOOKUP) == 1
    assert_stops(links, H_SK_LOOKUP, link, connect)


def test_socket_filter_on_a_udp_socket(links: Loaded, fd_snapshot: FdSnapshot) -> None:
    before = fd_snapshot()
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    try:
        link = links.prog("socket_count").attach(sock=rx)
        assert link.id is None and link.kind == "socket_filter"

        def send(n: int = 3) -> None:
            for _ in range(n):
                tx.sendto(b"ping", rx.getsockname())
                assert rx.recv(16) == b"ping"  # the filter passes what it counts

        send()
        assert links.hit(H_SOCKET) == 3
        with pytest.raises(bpfbind.UnsupportedFeatureError):
            link.pin("/sys/fs/bpf/never")
        assert_stops(links, H_SOCKET, link, send)
        # An fd works too.
        with links.prog("socket_count").attach(sock=rx.fileno()):
            send(1)
            assert links.hit(H_SOCKET) == 4
    finally:
        rx.close()
        tx.close()
    assert fd_snapshot() == before


# --- perf events --------------------------------------------------------------------


def online_cpus() -> list[int]:
    cpus: list[int] = []
    for part in Path("/sys/devices/system/cpu/online").read_text().strip().split(","):
        a, _, b = part.partition("-")
        cpus.extend(range(int(a), int(b or a) + 1))
    return cpus


def spin(loaded: Loaded, slot: int, at_least: int) -> None:
    """Burns CPU until the sampling program counted `at_least` samples (bounded)."""
    for _ in range(2_000_000):
        if loaded.hit(slot) >= at_least:
            return
    pytest.fail("no CPU-clock samples arrived")


def test_perf_event_sampling_on_every_cpu(links: Loaded) -> None:
    link = links.prog("perf_count").attach(sample_freq=1000)
    assert len(link.ids) == len(online_cpus())
    spin(links, H_PERF, 5)
    infos = [r for r in bpfbind.scan_links() if r["id"] in link.ids]
    assert {r["type"] for r in infos} == {"perf_event"}
    if len(link.ids) > 1:
        with pytest.raises(ValueError, match="one per CPU"):
            link.info()
    else:
        assert link.info()["type"] == "perf_event"
    ids = link.ids
    link.close()
    before = links.hit(H_PERF)
    sum(range(2_000_000))
    assert links.hit(H_PERF) == before
    assert not set(ids) & live_link_ids()


def test_perf_event_failing_on_a_later_cpu_closes_the_earlier(
    links: Loaded, fd_snapshot: FdSnapshot
) -> None:
    before = fd_snapshot()
    with pytest.raises(bpfbind.BpfError, match="on CPU 4095") as e:
        links.prog("perf_count").attach(cpus=[0, 4095], sample_freq=10)
    assert e.value.command == "perf_event_open"
    assert fd_snapshot() == before
    assert links.prog("perf_count").id not in {
        r["prog_id"] for r in bpfbind.scan_links()
    }


def test_perf_event_on_one_cpu_by_period(links: Loaded) -> None:
    with links.prog("perf_count").attach(cpus=[0], sample_period=100_000) as link:
        assert len(link.ids) == 1
        os.sched_setaffinity(0, {0})
        try:
            spin(links, H_PERF, 2)
        finally:
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    with pytest.raises(ValueError, match="sample_period= or sample_freq="):
        links.prog("perf_count").attach()


# --- pins, the scan and bpftool -----------------------------------------------------


def test_pinned_link_outlives_close(
    links: Loaded, pin_dir: Path, bpftool: Bpftool
) -> None:
    link = links.prog("raw_sys_enter").attach()
    link_id = link.id
    link.pin(pin_dir / "raw")
    link.close()
    before = links.hit(H_RAW_TP)
    os.getppid()
    assert links.hit(H_RAW_TP) > before  # still attached: the pin holds it
    (rec,) = bpfbind.scan_links(pinned=str(pin_dir / "raw"))
    assert rec["id"] == link_id
    for args in (["link", "show", "pinned"], ["-j", "link", "show", "pinned"]):
        ours = subprocess.run(
            [sys.executable, "-m", "bpfbind", *args, str(pin_dir / "raw")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert ours == bpftool([*args, pin_dir / "raw"])
    (pin_dir / "raw").unlink()
    assert link_id not in live_link_ids()
    links.prog("raw_sys_enter").pin(pin_dir / "prog")
    with pytest.raises(ValueError, match="not a BPF link"):
        bpfbind.scan_links(pinned=str(pin_dir / "prog"))


def test_link_show_matches_bpftool(
    links: Loaded, cgroup: Path, veth: Veth, bpftool: Bpftool
) -> None:
    """Each kind of link as `bpftool link show id N` prints it, plain and -j, -p; and
    the whole host's list holds them as bpftool's does."""
    attached = [
        links.prog("raw_sys_enter").attach(),
        links.prog("tp_getppid").attach(),
        links.prog("iter_tasks").attach(),
        links.prog("connect4_count").attach(cgroup=cgroup),
        links.prog("sk_lookup_count").attach(),
        links.prog("xdp_count").attach(ifindex=veth.host),
    ]
    if tcx_supported():
        attached.append(links.prog("tcx_count").attach(ifindex=veth.host))
    try:
        for link in attached:
            for flags in ([], ["-j"], ["-p"]):
                args = [*flags, "link", "show", "id", str(link.id)]
                assert bpfbind_cli(*args) == bpftool(args), args
        ours = {r["id"]: r for r in json.loads(bpfbind_cli("-j", "link", "show"))}
        theirs = {r["id"]: r for r in json.loads(bpftool(["-j", "link", "show"]))}
        for link in attached:
            assert ours[link.id] == theirs[link.id] == link.info()
        plain = bpfbind_cli("link", "show")
        for link in attached:
            assert bpftool(["link", "show", "id", str(link.id)]) in plain
    finally:
        for link in attached:
            link.close()


def test_link_show_errors(links: Loaded) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bpfbind", "link", "show", "id", "4000000000"],
        capture_output=True,
        text=True,
    )
    # bpftool's exit status here (-ENOENT: its link show returns the errno).
    assert proc.returncode == 254 and "no link with id 4000000000" in proc.stderr
    with pytest.raises(bpfbind.BpfNotFoundError):
        bpfbind.scan_links(id=4_000_000_000)


# --- attach_all ---------------------------------------------------------------------


@pytest.fixture
def auto(bpf_objs: dict[str, Path]) -> Iterator[Loaded]:
    yield from loaded_until_teardown(bpf_objs["links_auto"], 4)


@pytest.mark.anyio
async def test_attach_all_attaches_what_sections_name(auto: Loaded) -> None:
    if not Path(LIBC).exists():
        pytest.skip(f"no {LIBC} for the uprobe section")
    async with auto.obj.attach_all() as attached:
        assert sorted(attached) == [
            "auto_iter",
            "auto_raw_tp",
            "auto_tp",
            "auto_uprobe",
        ]
        assert attached["auto_uprobe"].kind == "uprobe"
        getppid_three_times()
        tp, raw, up, _ = auto.hits()
        assert (tp, raw, up) == (3, 3, 3)
        with attached["auto_iter"].open_iter() as reader:
            reader.readall()
        assert auto.hit(3) >= 1
        ids = {attached[n].id for n in attached}
    assert attached.closed
    before = auto.hits()
    getppid_three_times()
    assert auto.hits() == before
    assert not ids & live_link_ids()


def test_attach_all_undoes_a_partial_attach(
    bpf_objs: dict[str, Path], fd_snapshot: FdSnapshot
) -> None:
    # Only the raw tracepoint's name changes, to one the kernel lacks.
    bad = renamed(bpf_objs["links_auto"], b"raw_tp/sys_enter\0", b"raw_tp/sys_enoent")
    before = fd_snapshot()
    with bpfbind.sync.load_object(bad, name="links_auto") as obj:
        prog_ids = {p.id for p in obj.programs.values()}
        with pytest.raises(bpfbind.BpfNotFoundError, match="sys_enoent") as e:
            obj.attach_all()
        assert e.value.command == "BPF_RAW_TRACEPOINT_OPEN"
        assert not {r["prog_id"] for r in bpfbind.scan_links()} & prog_ids
    assert fd_snapshot() == before


# --- the program types attach cannot take -------------------------------------------


def test_unattachable_program_types_are_named(links: Loaded) -> None:
    with pytest.raises(bpfbind.UnsupportedFeatureError, match="sk_msg") as e:
        links.prog("sk_msg_verdict").attach()
    assert e.value.feature == "attaching sk_msg programs"
    with pytest.raises(bpfbind.UnsupportedFeatureError, match="usdt") as e:
        links.prog("usdt_probe").attach("f", binary="/bin/true")
    assert e.value.feature == "usdt attachment"


# --- async and cancellation ---------------------------------------------------------


@pytest.mark.anyio
async def test_async_attach_and_async_with(links: Loaded) -> None:
    async with await bpfbind.attach(links.prog("tp_getppid")) as link:
        os.getppid()
        assert links.hit(H_TP) == 1
    assert link.closed
    os.getppid()
    assert links.hit(H_TP) == 1


@pytest.mark.anyio
async def test_cancellation_storm_leaves_no_fd_link_or_program(
    bpf_objs: dict[str, Path], fd_snapshot: FdSnapshot
) -> None:
    """1,000 async attaches cut short at random points: no fd or link of the storm
    survives, whether its attach completed or not, and once the object is closed no
    program of it either. (test_bind's storm cancels loads.)"""
    rng = random.Random(12)
    token = uuid.uuid4().hex[:8]
    image = bpf_objs["links"].read_bytes()
    assert image.count(b"links-v1") == 1
    image = image.replace(b"links-v1", token.encode())
    fds_before = fd_snapshot()
    obj = await bpfbind.load_object(image, name="links")
    names = ["raw_sys_enter", "tp_getppid", "iter_tasks", "perf_count"]
    prog_ids = {obj.programs[n].id for n in names}
    done = started = 0

    async def attach_once() -> None:
        nonlocal done, started
        started += 1
        name = rng.choice(names)
        kw: dict[str, Any] = {"sample_freq": 10} if name == "perf_count" else {}
        async with await bpfbind.attach(obj.programs[name], **kw):
            done += 1

    try:
        # Deadlines around one attach's time here, so that some finish and others
        # are cut short; the quickest of a few, past one-time set-up.
        times = []
        for _ in range(3):
            t0 = anyio.current_time()
            await attach_once()
            times.append(anyio.current_time() - t0)
        span = max(0.0005, 2 * min(times))
        for _ in range(1000):
            with anyio.move_on_after(rng.uniform(0, span)):
                await attach_once()
        assert not {r["prog_id"] for r in bpfbind.scan_links()} & prog_ids
    finally:
        await obj.aclose()
    assert fd_snapshot() == fds_before

    await assert_programs_freed("links_meta", token)
    assert 0 < done - 3 < started - 3
