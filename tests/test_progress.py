"""Long scans show progress: `prog show --metadata` on a terminal counts the programs it
has scanned on stderr once past a few thousand, and erases the count at the end; plain
`prog show`, output to a pipe and the exporter stay quiet. The API offers a progress
callback and a count on the stream."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import bpfbind
from bpfbind import cli

pytestmark = pytest.mark.kernel

PROGRAMS = cli.PROGRESS_AFTER + 200


@pytest.fixture(scope="module")
def many_programs(bpf_objs: dict[str, Path]) -> Iterator[int]:
    """More programs than the CLI counts silently, pinned (so that no fd holds them)."""
    where = Path("/sys/fs/bpf") / f"bpfbind-progress-{uuid.uuid4().hex[:8]}"
    where.mkdir()
    try:
        for i in range(PROGRAMS):
            with bpfbind.sync.load_object(bpf_objs["nometa"]) as obj:
                for prog in obj.programs.values():
                    prog.pin(where / f"p{i}")
                    break
        yield PROGRAMS
    finally:
        shutil.rmtree(where)


def on_a_terminal(*args: str) -> tuple[int, str, bytes]:
    """(exit code, stdout, what went to stderr) with stderr on a pseudo-terminal."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bpfbind", *args],
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
    )
    os.close(slave)
    err = b""
    out_chunks = []
    assert proc.stdout is not None
    while True:
        ready, _, _ = select.select([master, proc.stdout], [], [])
        if master in ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                data = b""
            err += data
            if not data:
                break
        if proc.stdout in ready:
            out_chunks.append(proc.stdout.read())
    out_chunks.append(proc.stdout.read())
    os.close(master)
    return proc.wait(), "".join(out_chunks), err


def test_metadata_listing_on_a_terminal_counts_and_erases(many_programs: int) -> None:
    rc, out, err = on_a_terminal("prog", "show", "--metadata")
    assert rc == 0
    assert b"programs scanned" in err
    counts = [int(part.split(b" ")[0]) for part in err.split(b"bpfbind: ")[1:]]
    assert counts == sorted(counts) and counts[-1] >= many_programs
    assert err.endswith(b"\r\x1b[K")  # the count erased: the terminal shows the output
    assert "programs scanned" not in out


def test_plain_listing_and_pipes_stay_quiet(many_programs: int) -> None:
    rc, out, err = on_a_terminal("prog", "show")
    assert out.count("\n") >= many_programs
    assert rc == 0 and err == b""  # bpftool's output, nothing else
    piped = subprocess.run(
        [sys.executable, "-m", "bpfbind", "prog", "show", "--metadata"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert piped.returncode == 0 and piped.stderr == ""


@pytest.mark.anyio
async def test_the_api_reports_progress(many_programs: int, anyio_backend: str) -> None:
    seen: list[int] = []
    recs = bpfbind.sync.scan(batch=500, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == len(recs) >= many_programs
    assert all(b - a <= 500 for a, b in zip([0, *seen], seen, strict=False))

    streamed: list[int] = []
    n = 0
    async with bpfbind.stream_metadata(batch=1000, progress=streamed.append) as stream:
        async for _ in stream:
            n += 1
            assert stream.count >= n
    assert streamed[-1] == stream.count == n
