"""Who holds a program: `ProgramInfo.pids`, `prog show`'s `pids` line and key (upstream
bpftool's layout), `--no-pids` (Debian's bpftool), against processes the tests start:
children holding an inherited fd, or a program they loaded themselves. Both ways of
gathering (the task-file iterator and /proc) must give the same answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_cli_show import align_loaded_at, bpfbind_out, expected

import bpfbind
from bpfbind import _native

pytestmark = pytest.mark.kernel

PYTHONPATH = str(Path(bpfbind.__file__).resolve().parent.parent)

# A child that names itself, holds BPF programs (an inherited fd, or an object it loads)
# and closes them when told: "ready IDS" once it holds them, "closed" after "close".
HOLDER = r"""
import os, sys
with open("/proc/self/comm", "w") as f:
    f.write(sys.argv[1])
obj = None
if sys.argv[2] == "fd":
    fd = int(sys.argv[3])
    ids = ""
else:
    import bpfbind.sync
    obj = bpfbind.sync.load_object(sys.argv[3])
    ids = ",".join(str(p.id) for p in obj.programs.values())
print("ready", ids, flush=True)
for line in sys.stdin:
    if line.strip() == "close":
        if obj is None:
            os.close(fd)
        else:
            obj.close()
        print("closed", flush=True)
"""


class Holder:
    """A child process holding programs until told to close them."""

    def __init__(self, comm: str, *args: str, pass_fds: tuple[int, ...] = ()) -> None:
        self.comm = comm
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, comm, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            pass_fds=pass_fds,
            env={**os.environ, "PYTHONPATH": PYTHONPATH},
        )
        line = self._line()
        assert line.startswith("ready"), line
        self.ids = (
            [int(i) for i in line.split()[1].split(",")] if " " in line.strip() else []
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline()

    def close_programs(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("close\n")
        self.proc.stdin.flush()
        assert self._line().strip() == "closed"

    def end(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@contextmanager
def holders(
    *specs: tuple[str, tuple[str, ...], tuple[int, ...]],
) -> Iterator[list[Holder]]:
    started: list[Holder] = []
    try:
        for comm, args, fds in specs:
            started.append(Holder(comm, *args, pass_fds=fds))
        yield started
    finally:
        for h in started:
            h.proc.kill()
            h.end()


def own() -> tuple[int, str]:
    with open("/proc/self/comm") as f:
        return os.getpid(), f.read().rstrip("\n")


def both_ways(prog_id: int) -> list[tuple[int, str]]:
    """The holders of `prog_id` by the iterator and by /proc, which must agree."""
    by_iter = _native.program_holders("iterator")
    by_proc = _native.program_holders("procfs")
    assert (by_iter.method, by_proc.method) == ("iterator", "procfs")
    assert by_iter.get(prog_id) == by_proc.get(prog_id)
    return by_iter.get(prog_id)


def test_holders_of_an_inherited_fd(bpf_objs: Mapping[str, Path]) -> None:
    with bpfbind.sync.load_object(bpf_objs["nometa"]) as obj:
        prog = next(iter(obj.programs.values()))
        me = own()
        with holders(
            ("bpfbind-pid-a", ("fd", str(prog.fd)), (prog.fd,)),
            ("bpfbind-pid-b", ("fd", str(prog.fd)), (prog.fd,)),
        ) as (a, b):
            want = sorted([me, (a.pid, a.comm), (b.pid, b.comm)])
            assert both_ways(prog.id) == want
            (rec,) = bpfbind.sync.scan(ids=[prog.id], pids=True)
            assert rec.pids == want
            # The handle program_info opens for an Id is not a holder; ours is.
            assert (
                bpfbind.sync.program_info(bpfbind.Id(prog.id), pids=True).pids == want
            )
            assert bpfbind.sync.program_info(prog, pids=True).pids == want

            a.close_programs()
            want = sorted([me, (b.pid, b.comm)])
            assert both_ways(prog.id) == want
            (rec,) = bpfbind.sync.scan(ids=[prog.id], pids=True)
            assert rec.pids == want

            b.end()
            assert both_ways(prog.id) == [me]
        # Without asking, no pass over the processes and no answer.
        (rec,) = bpfbind.sync.scan(ids=[prog.id])
        assert rec.pids is None
        assert bpfbind.sync.program_info(prog).pids is None


def _with_pids_line(text: str, line: str) -> str:
    """bpftool's plain output of one program with upstream's pids line in its place:
    after the btf_id line (else the xlated line), before the metadata block."""
    lines = text.splitlines(keepends=True)
    at = next(i for i, x in enumerate(lines) if x.startswith("\tbtf_id ")) + 1
    return "".join([*lines[:at], line, *lines[at:]])


def test_prog_show_prints_the_holders_of_a_program_loaded_by_a_child(
    bpf_objs: Mapping[str, Path], bpftool: Callable[..., str]
) -> None:
    with holders(("bpfbind-loader", ("load", str(bpf_objs["multi"])), ())) as (child,):
        assert len(child.ids) == 4
        recs = bpfbind.sync.scan(ids=child.ids, pids=True)
        assert [r.id for r in recs] == sorted(child.ids)
        for rec in recs:
            assert rec.pids == [(child.pid, "bpfbind-loader")]
            assert both_ways(rec.id) == [(child.pid, "bpfbind-loader")]

        for ident in map(str, child.ids):
            # bpfbind's load adds multi's .metadata variables to bpftool's lines.
            theirs = expected(
                "bpfbind", "multi", "", bpftool(["prog", "show", "id", ident])
            )
            # --no-pids: Debian's bpftool, byte for byte.
            plain = bpfbind_out("--no-pids", "prog", "show", "id", ident)
            assert align_loaded_at(plain, theirs) == theirs
            want = _with_pids_line(theirs, f"\tpids bpfbind-loader({child.pid})\n")
            ours = bpfbind_out("prog", "show", "id", ident)
            assert align_loaded_at(ours, want) == want

            # JSON: bpftool's keys in bpftool's order, and upstream's "pids" after
            # "btf_id".
            theirs_j = json.loads(
                expected(
                    "bpfbind",
                    "multi",
                    "-j",
                    bpftool(["-j", "prog", "show", "id", ident]),
                )
            )
            ours_j = json.loads(bpfbind_out("-j", "prog", "show", "id", ident))
            keys = list(ours_j)
            assert keys[keys.index("btf_id") + 1] == "pids"
            assert ours_j.pop("pids") == [{"pid": child.pid, "comm": "bpfbind-loader"}]
            assert abs(ours_j["loaded_at"] - theirs_j["loaded_at"]) <= 1
            ours_j["loaded_at"] = theirs_j["loaded_at"]
            assert json.dumps(ours_j) == json.dumps(theirs_j)
            pretty = bpfbind_out("-p", "prog", "show", "id", ident)
            assert f'"pids": [{{\n            "pid": {child.pid},\n' in pretty
            assert json.loads(pretty)["pids"] == [
                {"pid": child.pid, "comm": "bpfbind-loader"}
            ]

        # The full listing and a name selection print the same line; so does /proc.
        listing = bpfbind_out("prog", "show")
        line = f"\tpids bpfbind-loader({child.pid})\n"
        assert listing.count(line) == len(child.ids)
        assert bpfbind_out("prog", "show", "name", "multi_xdp").count(line) == 1
        env = {**os.environ, "BPFBIND_PIDS": "procfs"}
        proc = subprocess.run(
            [sys.executable, "-m", "bpfbind", "prog", "show", "id", str(child.ids[0])],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        assert line in proc.stdout
        # --metadata shows no pids; nor does --no-pids anywhere.
        assert line not in bpfbind_out("--metadata", "prog", "show")
        assert line not in bpfbind_out("--no-pids", "prog", "show")

        child.close_programs()
        for ident in child.ids:
            assert _native.program_holders().get(ident) == []


@pytest.mark.anyio
async def test_stream_pays_for_pids_only_when_asked(
    bpf_objs: Mapping[str, Path],
) -> None:
    async with await bpfbind.load_object(bpf_objs["nometa"]) as obj:
        prog = next(iter(obj.programs.values()))
        async with bpfbind.stream_metadata(ids=[prog.id]) as stream:
            assert [r.pids async for r in stream] == [None]
        async with bpfbind.stream_metadata(ids=[prog.id], pids=True) as stream:
            assert [r.pids async for r in stream] == [[own()]]


def test_the_iterator_leaves_nothing_and_is_never_listed(
    fd_snapshot: Callable[[], set[int]],
) -> None:
    before = fd_snapshot()
    table = _native.program_holders("iterator")
    assert fd_snapshot() == before
    assert table.prog_id != 0
    assert table.get(table.prog_id) == []
    scanner = _native.Scanner(pids=True)
    ids = []
    while chunk := scanner.next_batch(256):
        ids += [r.id for r in chunk]
    assert scanner.holders is not None
    assert scanner.holders.prog_id not in ids
    assert fd_snapshot() == before


def test_unknown_method_is_an_invalid_argument() -> None:
    with pytest.raises(bpfbind.InvalidArgumentError, match="procfs"):
        _native.program_holders("kallsyms")
