"""Ring buffers and perf buffers against the kernel, on asyncio and trio: records in
order as bytes or typed by BTF, several rings in one reader, discarded records, a
reader woken by the kernel, backpressure and drop counts, lost samples, cancellation
that closes every fd; and BPF_ENABLE_STATS as a context manager."""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from conftest import FdSnapshot

import bpfbind
import bpfbind.sync
from bpfbind import BpfObject

pytestmark = pytest.mark.kernel

EVENT = struct.Struct("<QI4s")


@pytest.fixture
def obj(bpf_objs: Mapping[str, Path]) -> Iterator[BpfObject]:
    with bpfbind.sync.load_object(bpf_objs["events"]) as o:
        yield o


def emit(obj: BpfObject, n: int, mode: int = 1) -> None:
    obj.maps[".data"].update(0, {"mode": mode})
    obj.programs["emit"].test_run(bytes(64), repeat=n)


def counters(obj: BpfObject) -> dict[str, int]:
    bss = obj.maps[".bss"].lookup(0)
    return {k: bss[k] for k in ("seq", "ring_drops", "perf_drops")}


@pytest.mark.anyio
async def test_ring_buffer_records_in_order(obj: BpfObject) -> None:
    async with obj.ring_buffer("events") as rb:
        emit(obj, 50)
        got: list[bytes] = []
        async for rec in rb:
            got.append(rec)
            if len(got) == 50:
                break
        assert [EVENT.unpack(r)[0] for r in got] == list(range(50))
        assert all(EVENT.unpack(r)[2] == b"ev1\0" for r in got)
        assert rb.pending() == [0]
    assert rb.closed
    async with obj.ring_buffer("events", record_type="struct event") as rb:
        emit(obj, 3)
        assert await rb.read_batch() == [
            {
                "seq": 50 + i,
                "cpu": obj.maps[".bss"].lookup(0)["last"]["cpu"],
                "tag": "ev1",
            }
            for i in range(3)
        ]


@pytest.mark.anyio
async def test_several_rings_in_one_reader(obj: BpfObject) -> None:
    async with obj.ring_buffer("events", "events2", record_type="event") as rb:
        assert rb.names == ["events", "events2"]
        emit(obj, 10, mode=3)
        got: list[tuple[str, dict[str, object]]] = []
        while len(got) < 20:
            got += await rb.read_batch()
    by_ring = {
        name: [r["seq"] for n, r in got if n == name] for name in ("events", "events2")
    }
    assert by_ring == {"events": list(range(10)), "events2": list(range(10))}
    assert {r["tag"] for n, r in got if n == "events2"} == {"ev2"}


@pytest.mark.anyio
async def test_discarded_records_are_skipped(obj: BpfObject) -> None:
    async with obj.ring_buffer("events", record_type="event") as rb:
        emit(obj, 20, mode=8)
        got = await rb.read_batch()
        assert [r["seq"] for r in got] == list(range(0, 20, 2))
        assert rb.pending() == [0]


@pytest.mark.anyio
async def test_a_waiting_reader_is_woken_by_the_kernel(obj: BpfObject) -> None:
    got: list[bytes] = []
    async with obj.ring_buffer("events") as rb:

        async def read() -> None:
            async for rec in rb:
                got.append(rec)
                if len(got) == 5:
                    return

        with anyio.fail_after(30):  # a guard against a hang, not a timing assertion
            async with anyio.create_task_group() as tg:
                tg.start_soon(read)
                await anyio.wait_all_tasks_blocked()
                assert got == []  # nothing yet: the reader waits on epoll
                await anyio.to_thread.run_sync(emit, obj, 5)
    assert [EVENT.unpack(r)[0] for r in got] == list(range(5))


@pytest.mark.anyio
async def test_a_reader_that_stops_reading_makes_the_program_drop(
    obj: BpfObject,
) -> None:
    async with obj.ring_buffer("events") as rb:
        emit(obj, 1000)
        c = counters(obj)
        # 4096 bytes hold 170 records of 24 (16 + the 8-byte header): the rest dropped.
        assert c["ring_drops"] > 0
        got = []
        while rb.pending() != [0]:
            got += await rb.read_batch()
        assert len(got) + c["ring_drops"] == 1000
        assert [EVENT.unpack(r)[0] for r in got] == list(range(len(got)))
        # Read, the ring takes records again.
        emit(obj, 10)
        assert counters(obj)["ring_drops"] == c["ring_drops"]
        assert len(await rb.read_batch()) == 10


@pytest.mark.anyio
async def test_perf_buffer_samples_and_lost_counts(obj: BpfObject) -> None:
    async with obj.perf_buffer("perf_events", pages=1, tagged=True) as pb:
        assert pb.ncpus >= 1
        emit(obj, 5, mode=4)
        got = await pb.read_batch()
        assert [EVENT.unpack(s[:16])[0] for _, s in got] == list(range(5))
        # The kernel pads a sample so that the record stays 8-aligned: 16 + 4 -> 24.
        assert {len(s) for _, s in got} == {20}
        assert {cpu for cpu, _ in got} == {EVENT.unpack(got[0][1][:16])[1]}
        # One page holds 128 records of 32 bytes: fill it, then read and write again
        # so the kernel can report what it lost.
        emit(obj, 1000, mode=4)
        dropped = counters(obj)["perf_drops"]
        assert dropped > 0
        n = 0
        while batch := pb.poll(timeout=0):
            n += len(batch)
        emit(obj, 1, mode=4)
        n += len(await pb.read_batch())
        assert pb.lost == dropped
        assert n + dropped == 1001
    assert pb.closed
    # Closed, the array holds no events: the program's output fails.
    emit(obj, 1, mode=4)
    assert counters(obj)["perf_drops"] == dropped + 1


def test_blocking_poll(obj: BpfObject) -> None:
    with obj.ring_buffer("events", record_type="event") as rb:
        assert rb.poll(timeout=0) == []
        assert rb.poll(timeout=0.01) == []
        emit(obj, 2)
        assert [r["seq"] for r in rb.poll()] == [0, 1]
    with pytest.raises(ValueError, match="closed"):
        rb.poll(timeout=0)


def test_wrong_maps_and_types_are_refused(obj: BpfObject) -> None:
    with pytest.raises(ValueError, match="not a ring buffer"):
        obj.ring_buffer("perf_events")
    with pytest.raises(ValueError, match="not a perf event array"):
        obj.perf_buffer("events")
    with pytest.raises(KeyError):
        obj.ring_buffer("nope")
    with pytest.raises(bpfbind.BpfNotFoundError, match="no type 'struct nope'"):
        obj.ring_buffer("events", record_type="struct nope")
    with pytest.raises(ValueError, match="power of two"):
        obj.perf_buffer("perf_events", pages=3)


@pytest.mark.anyio
async def test_cancellation_storm_leaves_no_fd(
    obj: BpfObject, fd_snapshot: FdSnapshot
) -> None:
    before = fd_snapshot()
    for i in range(1000):
        rb = obj.ring_buffer("events", "events2")
        if i % 2:
            # Cancelled at its first wait.
            with anyio.CancelScope() as scope:
                scope.cancel()
                await rb.read_batch()
        else:
            # Cancelled while it waits on epoll.
            async with anyio.create_task_group() as tg:
                tg.start_soon(rb.read_batch)
                await anyio.wait_all_tasks_blocked()
                tg.cancel_scope.cancel()
        assert rb.closed
    for _ in range(50):
        pb = obj.perf_buffer("perf_events", pages=1)
        async with anyio.create_task_group() as tg:
            tg.start_soon(pb.read_batch)
            await anyio.wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
        assert pb.closed
    assert fd_snapshot() == before
    # The rings still work after all that.
    async with obj.ring_buffer("events") as rb:
        emit(obj, 1)
        assert len(await rb.read_batch()) == 1


def test_enable_stats_counts_runs(obj: BpfObject, fd_snapshot: FdSnapshot) -> None:
    before = fd_snapshot()
    prog = obj.programs["emit"]
    with bpfbind.enable_stats() as stats:
        start = bpfbind.sync.program_info(prog).run_cnt
        emit(obj, 50, mode=0)
        info = bpfbind.sync.program_info(prog)
        assert info.run_cnt - start == 50
        assert info.run_time_ns > 0
    assert stats.closed
    assert fd_snapshot() == before


@pytest.mark.anyio
async def test_enable_stats_async(obj: BpfObject) -> None:
    prog = obj.programs["emit"]
    async with bpfbind.enable_stats():
        start = bpfbind.sync.program_info(prog).run_cnt
        await anyio.to_thread.run_sync(emit, obj, 7, 0)
        assert bpfbind.sync.program_info(prog).run_cnt - start == 7
