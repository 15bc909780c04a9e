"""bind_map and the used-maps record under concurrency, fd ownership across close, and
cancellation at random points: the record always equals the kernel's map ids, and no fd
or kernel object outlives its owner."""

from __future__ import annotations

import errno
import os
import random
import threading
import time
from contextlib import closing
from pathlib import Path

import anyio
import pytest
from conftest import assert_programs_freed

import bpfbind

pytestmark = pytest.mark.kernel

BPF_MAP_TYPE_ARRAY = 2


def open_fds() -> set[int]:
    return {int(x) for x in os.listdir("/proc/self/fd")}


def kernel_map_ids(prog: bpfbind.Program) -> set[int]:
    return set(bpfbind.sync.program_info(prog).map_ids)


def gone(kind: str, ids: set[int]) -> bool:
    opener = bpfbind.open_program if kind == "prog" else bpfbind.open_map
    for i in ids:
        try:
            h = opener(bpfbind.Id(i))
        except bpfbind.BpfNotFoundError:
            continue
        h.close()
        return False
    return True


async def wait_gone(kind: str, ids: set[int]) -> None:
    # The kernel frees programs and maps after an RCU grace period.
    with anyio.fail_after(10):
        while not gone(kind, ids):
            await anyio.sleep(0.05)


@pytest.mark.anyio
async def test_concurrent_binds_keep_the_record_equal_to_the_kernel(
    bpf_objs: dict[str, Path],
) -> None:
    rng = random.Random(4)
    objs = [await bpfbind.load_object(bpf_objs["nometa"]) for _ in range(50)]
    progs = [o.programs["nometa_prog"] for o in objs]
    maps = [
        bpfbind.create_map(BPF_MAP_TYPE_ARRAY, 4, 8, 1, f"m{i}") for i in range(2000)
    ]
    # Every (prog, map) pair at least once per map, plus repeats, shuffled.
    pairs = [(rng.choice(progs), m) for m in maps]
    pairs += [rng.choice(pairs) for _ in range(500)]
    rng.shuffle(pairs)
    try:
        queue = iter(pairs)

        async def worker() -> None:
            for p, m in queue:
                await bpfbind.bind_map(p, m)

        async with anyio.create_task_group() as tg:
            for _ in range(64):
                tg.start_soon(worker)
        expected: dict[int, set[int]] = {p.id: set() for p in progs}
        for p, m in pairs:
            expected[p.id].add(m.id)
        for p in progs:
            assert set(p.used_maps()) == kernel_map_ids(p) == expected[p.id]
            assert p.refresh() == ([], [])
    finally:
        for m in maps:
            m.close()
        for o in objs:
            o.close()


def test_refresh_reports_binds_made_elsewhere(bpf_objs: dict[str, Path]) -> None:
    with bpfbind.sync.load_object(bpf_objs["nometa"]) as obj:
        prog = obj.programs["nometa_prog"]
        with closing(bpfbind.create_map(BPF_MAP_TYPE_ARRAY, 4, 4, 1, "elsewhere")) as m:
            # Bound through another handle of the same program: this one did not see it.
            bpfbind.sync.bind_map(bpfbind.Fd(prog.fd), bpfbind.Fd(m.fd))
            assert m.id not in prog.used_maps()
            assert prog.refresh() == ([m.id], [])
            assert m.id in prog.used_maps()


def test_bind_map_accepts_ids_paths_and_fds(
    bpf_objs: dict[str, Path], pin_dir: Path
) -> None:
    with bpfbind.sync.load_object(bpf_objs["nometa"], pin_dir=pin_dir) as obj:
        prog = obj.programs["nometa_prog"]
        a, b, c = (bpfbind.create_map(BPF_MAP_TYPE_ARRAY, 4, 4, 1) for _ in range(3))
        try:
            c.pin(str(pin_dir / "c"))
            bpfbind.sync.bind_map(bpfbind.Id(prog.id), bpfbind.Id(a.id))
            bpfbind.sync.bind_map(pin_dir / "nometa_prog", bpfbind.Fd(b.fd))
            bpfbind.sync.bind_map(prog, pin_dir / "c")
            bpfbind.sync.bind_map(prog, a)  # again: success
            assert {a.id, b.id, c.id} <= kernel_map_ids(prog)
            assert {a.id, c.id} <= set(prog.used_maps())
        finally:
            for m in (a, b, c):
                m.close()


def test_bind_map_errors_name_the_problem(bpf_objs: dict[str, Path]) -> None:
    with bpfbind.sync.load_object(bpf_objs["metadata_used"]) as obj:
        prog = obj.programs["prog"]
        meta = next(iter(obj.maps.values()))
        with pytest.raises(bpfbind.BpfError) as e:
            bpfbind.sync.bind_map(prog, meta, flags=1)
        assert e.value.errno == errno.EINVAL
        assert e.value.command == "BPF_PROG_BIND_MAP"
        assert "flags" in str(e.value)
        with pytest.raises(ValueError, match="not a BPF program"):
            bpfbind.sync.bind_map(bpfbind.Fd(meta.fd), meta)
        with pytest.raises(ValueError, match="not a BPF map"):
            bpfbind.sync.bind_map(prog, bpfbind.Fd(prog.fd))
        with pytest.raises(bpfbind.BpfNotFoundError):
            bpfbind.sync.bind_map(prog, bpfbind.Id(2**31 - 2))
        r, w = os.pipe()
        try:
            with pytest.raises(ValueError, match="not a BPF program"):
                bpfbind.sync.bind_map(bpfbind.Fd(r), meta)
        finally:
            os.close(r)
            os.close(w)
        with pytest.raises(OSError) as bad:
            bpfbind.sync.bind_map(prog, bpfbind.Fd(987654))
        assert bad.value.errno == errno.EBADF


def test_closed_handles_refuse_use_and_close_once(bpf_objs: dict[str, Path]) -> None:
    before = open_fds()
    obj = bpfbind.sync.load_object(bpf_objs["metadata_used"])
    prog = obj.programs["prog"]
    m = next(iter(obj.maps.values()))
    obj.close()
    obj.close()
    prog.close()
    assert obj.closed and prog.closed and m.closed
    with pytest.raises(ValueError, match="closed"):
        _ = prog.fd
    with pytest.raises(ValueError, match="closed"):
        bpfbind.sync.bind_map(prog, m)
    assert open_fds() == before


def test_close_while_binding_in_other_threads(bpf_objs: dict[str, Path]) -> None:
    before = open_fds()
    obj = bpfbind.sync.load_object(bpf_objs["nometa"])
    prog = obj.programs["nometa_prog"]
    maps = [bpfbind.create_map(BPF_MAP_TYPE_ARRAY, 4, 4, 1) for _ in range(8)]
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def binder(m: bpfbind.Map) -> None:
        # Bounded: the program is closed long before this many binds.
        for _ in range(2_000_000):
            try:
                bpfbind.sync.bind_map(prog, m)
                outcomes.append("ok")
            except ValueError as e:
                # The only acceptable failure: the program was closed first.
                if "closed" not in str(e):
                    errors.append(e)
                outcomes.append("closed")
                return
            except BaseException as e:
                errors.append(e)
                return

    threads = [threading.Thread(target=binder, args=(m,)) for m in maps]
    for t in threads:
        t.start()
    time.sleep(0.02)
    obj.close()
    for t in threads:
        t.join()
    for m in maps:
        m.close()
    assert not errors
    # Every binder saw binds succeed, then the close, and nothing else.
    assert outcomes.count("closed") == len(maps)
    assert "ok" in outcomes
    assert open_fds() == before


@pytest.mark.anyio
async def test_cancellation_storm_leaves_nothing_behind(
    bpf_objs: dict[str, Path],
) -> None:
    rng = random.Random(7)
    holder = await bpfbind.load_object(bpf_objs["nometa"])
    target = holder.programs["nometa_prog"]
    spare = bpfbind.create_map(BPF_MAP_TYPE_ARRAY, 4, 4, 1, "storm")
    # Other processes may load the same object: mark this run's copies with a unique
    # build_id (the object's `.metadata` string) to find survivors among them.
    token = os.urandom(8).hex()
    image = bpf_objs["multi"].read_bytes()
    assert image.count(b"0123456789abcdef") == 1
    image = image.replace(b"0123456789abcdef", token.encode())
    fds_before = open_fds()
    loaded_ids: set[int] = set()
    started = completed = 0

    async def load_once() -> None:
        nonlocal started, completed
        started += 1
        obj = await bpfbind.load_object(image, name="multi")
        # Completed despite the deadline: record its ids, then close.
        loaded_ids.update(p.id for p in obj.programs.values())
        completed += 1
        await obj.aclose()

    async def bind_once() -> None:
        await bpfbind.bind_map(target, spare)

    async def scan_once() -> None:
        async with bpfbind.stream_metadata(batch=8) as s:
            async for _ in s:
                pass

    # Deadlines around one load's time on this machine (4 ms on the host, far more
    # under emulation), so that some loads finish and others are cut short.
    # The quickest of a few loads: a first one may pay for one-time set-up.
    times = []
    for _ in range(3):
        t0 = anyio.current_time()
        await (await bpfbind.load_object(image, name="multi")).aclose()
        times.append(anyio.current_time() - t0)
    span = max(0.004, 2 * min(times))
    calls = [load_once, bind_once, scan_once]
    try:
        for _ in range(1000):
            with anyio.move_on_after(rng.uniform(0, span)):
                await rng.choice(calls)()
    finally:
        spare.close()
        await holder.aclose()
    # Every fd opened during the storm was closed (the holder and spare are closed too).
    leaked = open_fds() - fds_before
    assert not leaked
    await wait_gone("prog", loaded_ids)

    # No program of the storm's object survives, whether its load completed or not.
    await assert_programs_freed("build_id", token)
    # The deadlines let some loads finish and cut others short: both paths were taken.
    assert 0 < completed < started
