"""The scanning API: `stream_metadata` under asyncio and trio, `sync.scan`/`iter_scan`,
`find_metadata` and `program_info`; filters, batching, leaving early and cancelling,
scans racing with loads and closes, and no metadata shown for the wrong program.

Other processes load programs concurrently: every assertion is about our own ids."""

from __future__ import annotations

import errno
import itertools
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
import seccomp_faults
from conftest import require_fd_array_cnt, socket_object

import bpfbind

pytestmark = pytest.mark.kernel

# The metadata each object declares (tests/bpf/*.bpf.c), both conventions: the
# `bpf_metadata_*` variables of .rodata (prefix stripped) then the `.metadata` section.
DECLARED: dict[str, dict[str, Any]] = {
    "metadata_used": {"a": "foo", "b": 1},
    "metadata_unused": {"a": "foo", "b": 1},
    "long_name": {"owner": "long_name", "revision": 7},
    "nometa": {},
    "multi": {"version": "1.2.3", "level": 3, "build_id": "0123456789abcdef"},
    "counter": {"counter_meta": "counter-v1"},
    "seed": {"commit_hash": "abcdef123456"},
}
LOADED = [*DECLARED, "kinds"]


@dataclass(frozen=True)
class Ours:
    """One of our loaded programs."""

    obj: str
    prog: bpfbind.Program
    metadata: dict[str, Any]
    pin: Path
    meta_maps: frozenset[int]


@pytest.fixture
def loaded(bpf_objs: Mapping[str, Path], pin_dir: Path) -> Iterator[dict[int, Ours]]:
    """Every test object loaded by bpfbind and pinned: program id -> Ours."""
    objs: list[bpfbind.BpfObject] = []
    ours: dict[int, Ours] = {}
    try:
        for name in LOADED:
            where = pin_dir / name
            obj = bpfbind.sync.load_object(bpf_objs[name], pin_dir=where)
            objs.append(obj)
            if name in DECLARED:
                assert obj.metadata == DECLARED[name], name
            meta_maps = frozenset(m.id for m in obj.maps.values() if m.is_metadata)
            for pname, prog in obj.programs.items():
                ours[prog.id] = Ours(name, prog, obj.metadata, where / pname, meta_maps)
        yield ours
    finally:
        for obj in objs:
            obj.close()


def check_record(rec: bpfbind.ProgramInfo, own: Ours) -> None:
    """A scan record of one of our programs says what the program is."""
    assert rec.id == own.prog.id
    assert rec.name == own.prog.name
    assert rec.kernel_name == own.prog.name[:15]
    assert rec.tag == own.prog.tag
    assert rec.prog_type == own.prog.prog_type
    assert rec.metadata == own.metadata, (own.obj, rec.metadata)
    # Every metadata map is bound to every program, referenced or not.
    assert own.meta_maps <= set(rec.map_ids), (own.obj, rec.map_ids)
    assert rec.uid == os.geteuid()
    assert rec.loaded_at > 0
    assert rec.bytes_xlated > 0


def assert_increasing(ids: list[int]) -> None:
    assert all(a < b for a, b in itertools.pairwise(ids)), ids


# --- the stream under asyncio and trio ------------------------------------------------


@pytest.mark.anyio
async def test_stream_yields_our_programs_in_id_order(loaded: dict[int, Ours]) -> None:
    async with bpfbind.stream_metadata() as stream:
        recs = [rec async for rec in stream]
    assert_increasing([r.id for r in recs])
    by_id = {r.id: r for r in recs}
    assert set(loaded) <= set(by_id)
    for ident, own in loaded.items():
        check_record(by_id[ident], own)
    # The long name comes from BTF; the kernel keeps 15 characters.
    (long_rec,) = (by_id[i] for i, o in loaded.items() if o.obj == "long_name")
    assert long_rec.name == "a_program_name_longer_than_fifteen"
    assert long_rec.kernel_name == "a_program_name_"


@pytest.mark.anyio
async def test_stream_plain_async_for(loaded: dict[int, Ours]) -> None:
    seen = [rec.id async for rec in bpfbind.stream_metadata(ids=sorted(loaded))]
    assert seen == sorted(loaded)


@pytest.mark.anyio
async def test_stream_sees_libbpf_loaded_programs(
    bpf_objs: Mapping[str, Path], pin_dir: Path, bpftool: Any
) -> None:
    """Programs loaded by libbpf (bpftool) show their `bpf_metadata_*` variables; libbpf
    skips the `.metadata` section, so those never appear for them."""
    ids: dict[int, str] = {}
    for name in ("kinds", "multi", "seed", "metadata_unused"):
        where = pin_dir / name
        bpftool(["prog", "loadall", bpf_objs[name], where])
        for pin in where.iterdir():
            ids[bpfbind.sync.program_info(pin).id] = name
    want = {}
    for name in set(ids.values()):
        with bpfbind.sync.load_object(bpf_objs[name]) as obj:
            want[name] = obj.metadata
    section = {"multi": {"build_id"}, "seed": {"commit_hash"}}
    async with bpfbind.stream_metadata(ids=sorted(ids)) as stream:
        recs = [rec async for rec in stream]
    assert [r.id for r in recs] == sorted(ids)
    for rec in recs:
        name = ids[rec.id]
        expect = {
            k: v for k, v in want[name].items() if k not in section.get(name, set())
        }
        assert rec.metadata == expect, name


@pytest.mark.anyio
async def test_stream_filters(loaded: dict[int, Ours]) -> None:
    async def collect(**kw: Any) -> list[bpfbind.ProgramInfo]:
        async with bpfbind.stream_metadata(**kw) as stream:
            return [rec async for rec in stream]

    ours = set(loaded)
    by_name = {o.prog.name: i for i, o in loaded.items()}

    # ids: exactly those, any that vanished (or never were) skipped.
    recs = await collect(ids=[*sorted(ours), 999_999_999])
    assert [r.id for r in recs] == sorted(ours)
    for r in recs:
        check_record(r, loaded[r.id])

    # name: every record has it (full or kernel name), ours among them.
    for name in ("multi_xdp", "a_program_name_longer_than_fifteen"):
        recs = await collect(name=name)
        assert recs and all(name in (r.name, r.kernel_name) for r in recs)
        assert by_name[name] in {r.id for r in recs}
    recs = await collect(name=f"no_such_{uuid.uuid4().hex[:6]}")
    assert recs == []
    # An empty id list selects nothing (it is not "no filter").
    assert await collect(ids=[]) == []

    # prog_type, by name and by number.
    xdp = {i for i, o in loaded.items() if o.prog.type == "xdp"}
    assert xdp, "multi and counter have xdp programs"
    for t in ("xdp", 6):
        recs = await collect(prog_type=t)
        assert all(r.type == "xdp" and r.prog_type == 6 for r in recs)
        assert ours & {r.id for r in recs} == xdp
    with pytest.raises(ValueError):
        bpfbind.stream_metadata(prog_type="no_such_type")

    # with_metadata_only: the metadata-less program drops out, on its own and in full.
    with_meta = {i for i, o in loaded.items() if o.metadata}
    assert ours - with_meta == {by_name["nometa_prog"]}
    recs = await collect(ids=sorted(ours), with_metadata_only=True)
    assert [r.id for r in recs] == sorted(with_meta)
    recs = await collect(with_metadata_only=True)
    assert all(r.metadata for r in recs)
    assert ours & {r.id for r in recs} == with_meta

    # Filters combine.
    recs = await collect(ids=sorted(ours), prog_type="xdp", with_metadata_only=True)
    assert {r.id for r in recs} == xdp & with_meta


@pytest.mark.anyio
@pytest.mark.parametrize("given", ["reversed", "repeated"])
async def test_stream_ids_come_in_id_order(loaded: dict[int, Ours], given: str) -> None:
    """The documented order ("in id order") holds for an explicit id list given in
    another order, and each program comes once."""
    ids = sorted(loaded)
    ask = ids[::-1] if given == "reversed" else [*ids, *ids]
    async with bpfbind.stream_metadata(ids=ask) as stream:
        seen = [rec.id async for rec in stream]
    assert seen == ids
    assert [r.id for r in bpfbind.sync.scan(ids=ask)] == ids


@pytest.mark.anyio
async def test_stream_batch_one(loaded: dict[int, Ours]) -> None:
    async with bpfbind.stream_metadata(batch=1) as stream:
        recs = [rec async for rec in stream]
    assert_increasing([r.id for r in recs])
    by_id = {r.id: r for r in recs}
    for ident, own in loaded.items():
        check_record(by_id[ident], own)
    async with bpfbind.stream_metadata(ids=sorted(loaded), batch=1) as stream:
        assert [rec.id async for rec in stream] == sorted(loaded)
    with pytest.raises(ValueError):
        bpfbind.stream_metadata(batch=0)


def test_sync_scan_and_iter_scan(loaded: dict[int, Ours]) -> None:
    for recs in (
        bpfbind.sync.scan(),
        bpfbind.sync.scan(batch=1),
        list(bpfbind.sync.iter_scan(batch=3)),
    ):
        assert_increasing([r.id for r in recs])
        by_id = {r.id: r for r in recs}
        for ident, own in loaded.items():
            check_record(by_id[ident], own)


def test_records_agree_with_bpftool(loaded: dict[int, Ours], bpftool: Any) -> None:
    """The fields a record shares with `bpftool -j prog show` have bpftool's values."""
    listed = {e["id"]: e for e in json.loads(bpftool(["-j", "prog", "show"]))}
    recs = {r.id: r for r in bpfbind.sync.scan(ids=sorted(loaded), memlock=True)}
    assert set(recs) == set(loaded)
    # memlock costs a /proc read per program: only read when asked for.
    assert all(r.bytes_memlock is None for r in bpfbind.sync.scan(ids=sorted(loaded)))
    for ident, rec in recs.items():
        tool = listed[ident]
        assert rec.type == tool["type"]
        assert rec.name == tool["name"]
        assert rec.tag == tool["tag"]
        assert rec.gpl_compatible == tool["gpl_compatible"]
        assert rec.uid == tool["uid"]
        assert rec.bytes_xlated == tool["bytes_xlated"]
        assert rec.jited == tool["jited"]
        assert rec.bytes_jited == tool.get("bytes_jited", 0)
        assert rec.bytes_memlock == tool["bytes_memlock"]
        assert rec.map_ids == tool.get("map_ids", [])
        assert rec.btf_id == tool["btf_id"]
        assert rec.run_cnt == tool.get("run_cnt", 0)
        # Wall time from boot time, computed in two processes: +-1 s (test_cli_show).
        assert abs(rec.loaded_at - tool["loaded_at"]) <= 1
        rodata = {
            k: v
            for k, v in rec.metadata.items()
            if k not in {"build_id", "counter_meta", "commit_hash"}
        }
        if loaded[ident].obj != "kinds":  # kinds' bitfields: hex text in bpftool's JSON
            assert rodata == tool.get("metadata", {}), loaded[ident].obj


# --- leaving early and cancelling -----------------------------------------------------


@pytest.mark.anyio
async def test_leaving_early_leaks_no_fd(
    loaded: dict[int, Ours], fd_snapshot: Any
) -> None:
    before = fd_snapshot()
    async with bpfbind.stream_metadata(batch=1) as stream:
        async for _ in stream:
            break
    assert fd_snapshot() == before

    # Without `async with`: records hold no fds, so dropping the stream is enough.
    stream = bpfbind.stream_metadata(batch=2)
    async for _ in stream:
        break
    del stream
    assert fd_snapshot() == before

    # aclose() in the middle ends the iteration.
    stream = bpfbind.stream_metadata(ids=sorted(loaded), batch=1)
    first = await stream.__anext__()
    await stream.aclose()
    assert first.id == min(loaded)
    assert [r async for r in stream] == []
    assert fd_snapshot() == before

    for batch in (1, 256):
        it = bpfbind.sync.iter_scan(batch=batch)
        next(it)
        del it  # a generator left early is closed when dropped
    assert fd_snapshot() == before


@pytest.mark.anyio
async def test_cancelling_leaks_no_fd(
    loaded: dict[int, Ours], fd_snapshot: Any
) -> None:
    before = fd_snapshot()
    # Cancelled while a record is in hand: the next batch is never read.
    with anyio.CancelScope() as scope:
        async with bpfbind.stream_metadata(batch=1) as stream:
            async for _ in stream:
                scope.cancel()
    assert scope.cancelled_caught
    assert fd_snapshot() == before

    # Cancelled at whatever point a deadline falls, many times.
    for i in range(30):
        with anyio.move_on_after(i * 0.0003):
            async with bpfbind.stream_metadata(batch=1 + i % 4) as stream:
                async for _ in stream:
                    pass
        assert fd_snapshot() == before

    # Cancelled from another task while the worker is reading a batch.
    async with anyio.create_task_group() as tg:

        async def scan_all() -> None:
            async with bpfbind.stream_metadata(batch=512) as stream:
                async for _ in stream:
                    pass

        tg.start_soon(scan_all)
        await anyio.sleep(0)
        tg.cancel_scope.cancel()
    assert fd_snapshot() == before

    # The API is still usable afterwards.
    async with bpfbind.stream_metadata(ids=sorted(loaded)) as stream:
        assert [r.id async for r in stream] == sorted(loaded)


# --- find_metadata and program_info ---------------------------------------------------


@pytest.mark.anyio
async def test_find_metadata_by_every_reference(loaded: dict[int, Ours]) -> None:
    for ident, own in loaded.items():
        refs: list[Any] = [
            own.prog,
            bpfbind.Fd(own.prog.fd),
            bpfbind.Id(ident),
            own.pin,
            str(own.pin),
        ]
        for ref in refs:
            assert bpfbind.sync.find_metadata(ref) == own.metadata, (own.obj, ref)
            assert await bpfbind.find_metadata(ref) == own.metadata, (own.obj, ref)
            check_record(bpfbind.sync.program_info(ref), own)
        # Borrowed references stay usable: the Program's fd was not closed.
        assert not own.prog.closed
        assert bpfbind.sync.find_metadata(bpfbind.Fd(own.prog.fd)) == own.metadata


def test_find_metadata_missing_program() -> None:
    with pytest.raises(bpfbind.BpfNotFoundError):
        bpfbind.sync.find_metadata(bpfbind.Id(999_999_999))
    with pytest.raises(FileNotFoundError):
        bpfbind.sync.find_metadata("/sys/fs/bpf/no-such-pin-" + uuid.uuid4().hex)


# --- races: scans while another thread loads and closes -------------------------------


CHURN = ["multi", "seed", "kinds", "metadata_used", "counter", "nometa", "long_name"]


def test_scans_race_with_loads_and_closes(
    bpf_objs: Mapping[str, Path], fd_snapshot: Any
) -> None:
    # Every record has its metadata only where it is bound atomically at load.
    require_fd_array_cnt()
    want: dict[str, dict[str, Any]] = {}
    for name in CHURN:
        with bpfbind.sync.load_object(bpf_objs[name]) as obj:
            want[name] = obj.metadata
    before = fd_snapshot()

    lock = threading.Lock()
    churned: dict[int, tuple[str, str]] = {}  # id -> (object, program name)
    alive: set[int] = set()  # loaded and not yet being closed
    errors: list[BaseException] = []
    stop = threading.Event()

    scans_done = [0]

    def churn() -> None:
        window: deque[bpfbind.BpfObject] = deque()
        # About 2 s, and at least until three scans had churned programs alive from
        # start to end (a host with many programs makes scans slow); bounded.
        start = time.monotonic()
        try:
            for i in range(20_000):
                elapsed = time.monotonic() - start
                enough = elapsed > 2 and scans_done[0] >= 3
                if stop.is_set() or elapsed > 30 or enough:
                    break
                name = CHURN[i % len(CHURN)]
                obj = bpfbind.sync.load_object(bpf_objs[name])
                window.append(obj)
                # Atomic binding is what makes "every record has its metadata" hold.
                assert obj.binding in ("fd_array", "none"), obj.binding
                with lock:
                    for p in obj.programs.values():
                        churned[p.id] = (name, p.name)
                        alive.add(p.id)
                if len(window) > 3:
                    old = window.popleft()
                    with lock:
                        alive.difference_update(p.id for p in old.programs.values())
                    old.close()
        except BaseException as e:  # re-raised by the main thread
            errors.append(e)
        finally:
            with lock:
                alive.clear()
            for obj in window:
                obj.close()

    thread = threading.Thread(target=churn, name="churn")
    records: list[bpfbind.ProgramInfo] = []
    scans = 0
    thread.start()
    try:
        while thread.is_alive():
            with lock:
                at_start = set(alive)
            kind = scans % 3
            if kind == 0:
                recs = bpfbind.sync.scan()
            elif kind == 1:
                recs = bpfbind.sync.scan(batch=1 + scans % 7)
            else:
                recs = bpfbind.sync.scan(with_metadata_only=True, batch=16)
            with lock:
                throughout = at_start & alive
            scans += 1
            if throughout:
                scans_done[0] += 1
            ids = [r.id for r in recs]
            assert_increasing(ids)
            # A program that existed for the whole scan is in it (nometa drops out of
            # the metadata-only scans).
            missing = throughout - set(ids)
            if kind == 2:
                missing = {i for i in missing if churned[i][0] != "nometa"}
            assert not missing, f"scan {scans} missed live programs {missing}"
            records.extend(recs)
    finally:
        stop.set()
        thread.join()
    if errors:
        raise errors[0]
    assert scans >= 1
    assert len(churned) >= len(CHURN)

    checked = 0
    for rec in records:
        if rec.id not in churned:
            continue
        name, pname = churned[rec.id]
        assert rec.name == pname
        assert rec.metadata == want[name], (name, rec.id, rec.metadata)
        checked += 1
    assert checked > 0, "no scan saw a churned program"

    assert fd_snapshot() == before
    assert_gone(set(churned), fd_snapshot)


def assert_gone(ids: set[int], fd_snapshot: Any) -> None:
    """None of `ids` is still a loaded program (waiting out the kernel's deferred free,
    bounded; the assertion is on the end state, not on how fast it is reached)."""
    deadline = time.monotonic() + 10
    while True:
        progs, _ = fd_snapshot.kernel_ids()
        left = ids & progs
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not left, f"programs still loaded: {sorted(left)}"


# --- caches never show another program's metadata -------------------------------------


def _compile_token_object(tmp_path: Path, token: str) -> Path:
    """An object of one socket program whose only metadata is `token`; two of them share
    names and layout, so only their values tell them apart."""
    return socket_object(
        tmp_path,
        f"tok_{token}",
        f"""\
        volatile const char bpf_metadata_token[]
            __attribute__((section(".rodata"))) = "{token}";
        char section_token[] __attribute__((section(".metadata"))) = "{token}";
        """,
        prog="tok_prog",
    )


def _meta_of(recs: list[bpfbind.ProgramInfo], ids: set[int]) -> dict[int, Any]:
    return {r.id: r.metadata for r in recs if r.id in ids}


def _ids(obj: bpfbind.BpfObject) -> set[int]:
    return {p.id for p in obj.programs.values()}


@pytest.mark.anyio
async def test_no_stale_metadata_across_close_and_load(
    bpf_objs: Mapping[str, Path], tmp_path: Path
) -> None:
    a_path = _compile_token_object(tmp_path, "aaaa")
    b_path = _compile_token_object(tmp_path, "bbbbbb")  # another size, same names

    # Two scans: close A, load B (and a different real object) in between.
    a = bpfbind.sync.load_object(a_path)
    with a, bpfbind.sync.load_object(bpf_objs["multi"]) as multi:
        a_ids, multi_ids = _ids(a), _ids(multi)
        recs = bpfbind.sync.scan()
    assert _meta_of(recs, a_ids) == {
        i: {"token": "aaaa", "section_token": "aaaa"} for i in a_ids
    }
    assert _meta_of(recs, multi_ids) == dict.fromkeys(multi_ids, DECLARED["multi"])
    b = bpfbind.sync.load_object(b_path)
    with b, bpfbind.sync.load_object(bpf_objs["seed"]) as seed:
        b_ids, seed_ids = _ids(b), _ids(seed)
        recs = bpfbind.sync.scan()
    assert not (a_ids | multi_ids) & {r.id for r in recs}
    assert _meta_of(recs, b_ids) == {
        i: {"token": "bbbbbb", "section_token": "bbbbbb"} for i in b_ids
    }
    assert _meta_of(recs, seed_ids) == dict.fromkeys(seed_ids, DECLARED["seed"])

    # One stream whose caches live across batches: the switch happens mid-stream, after
    # the stream has read (and cached) A's maps and BTF. One id per batch, so the walk
    # is not over when A comes out and goes on to B; the name filter keeps the number
    # of worker round trips small on a busy host.
    a = await bpfbind.load_object(a_path)
    a_ids = _ids(a)
    recs = []
    try:
        async with bpfbind.stream_metadata(name="tok_prog", batch=1) as stream:
            async for rec in stream:
                recs.append(rec)
                if rec.id in a_ids:
                    break
            await a.aclose()
            async with await bpfbind.load_object(b_path) as b:
                b_ids = _ids(b)
                recs.extend([rec async for rec in stream])
    finally:
        await a.aclose()  # closing twice is a no-op
    seen = {r.id for r in recs}
    # B was loaded after the stream passed A's id: ids grow, so the walk reaches it.
    assert b_ids <= seen
    assert _meta_of(recs, a_ids) == {
        i: {"token": "aaaa", "section_token": "aaaa"} for i in a_ids
    }
    assert _meta_of(recs, b_ids) == {
        i: {"token": "bbbbbb", "section_token": "bbbbbb"} for i in b_ids
    }


# --- the map census -------------------------------------------------------------------

CENSUS_PROG = "bpfbind_census"


def _full_scan(batch: int, census: bool) -> tuple[list[bpfbind.ProgramInfo], Any]:
    s = bpfbind._native.Scanner(census=census)
    out: list[bpfbind.ProgramInfo] = []
    while chunk := s.next_batch(batch):
        out += chunk
    return out, s


def test_census_agrees_with_bpftool(loaded: dict[int, Ours], bpftool: Any) -> None:
    """The census lists exactly the maps that could hold metadata, with the fields
    bpftool reports for them; every map up to its end was seen."""
    ours = {m for own in loaded.values() for m in own.prog.used_maps()}
    covered_to, prog_id, rows = bpfbind._native.map_census()
    assert max(ours) <= covered_to
    assert prog_id > 0
    candidates = {r[0]: r for r in rows}
    assert list(candidates) == sorted(candidates), "candidates come in id order"
    for map_id in sorted(ours):
        tool = json.loads(bpftool(["-j", "map", "show", "id", str(map_id)]))
        shaped = (
            tool["type"] == "array"
            and tool["bytes_key"] == 4
            and tool["max_entries"] == 1
            and "btf_id" in tool
            and (".rodata" in tool["name"] or ".metada" in tool["name"])
        )
        assert (map_id in candidates) == shaped, tool
        if shaped:
            _, btf_id, value_type, value_size, frozen, name, value = candidates[map_id]
            assert (btf_id, value_size, name) == (
                tool["btf_id"],
                tool["bytes_value"],
                tool["name"],
            )
            assert value_type > 0
            assert frozen == bool(tool.get("frozen", 0))
            # Read for frozen maps (only their values are final), up to 256 bytes.
            if frozen and value_size <= 256:
                dump = json.loads(bpftool(["-j", "map", "dump", "id", str(map_id)]))
                assert value == bytes(int(b, 16) for b in dump[0]["value"]), name
            else:
                assert value is None
    metadata_maps = {m for own in loaded.values() for m in own.meta_maps}
    assert metadata_maps <= set(candidates)


def test_census_is_used_and_changes_nothing(loaded: dict[int, Ours]) -> None:
    """A full scan past its first batch classifies maps by the census; its records are
    those of a scan that opens every map."""
    with_census, s = _full_scan(batch=2, census=True)
    assert s.uses_census, f"the census could not be taken: {s.census_error}"
    without, s2 = _full_scan(batch=2, census=False)
    assert not s2.uses_census and s2.census_error is None
    # A scan of one batch never takes it: small hosts pay nothing for it.
    _, small = _full_scan(batch=1_000_000, census=True)
    assert not small.uses_census

    def mine(recs: list[bpfbind.ProgramInfo]) -> dict[int, Any]:
        return {
            r.id: (r.name, r.tag, r.map_ids, r.metadata) for r in recs if r.id in loaded
        }

    assert mine(with_census) == mine(without)
    by_id = {r.id: r for r in with_census}
    for ident, own in loaded.items():
        check_record(by_id[ident], own)


def test_census_program_is_never_reported_nor_left(
    loaded: dict[int, Ours], fd_snapshot: Any
) -> None:
    before = fd_snapshot()
    for batch in (1, 2, 5):
        recs, s = _full_scan(batch, census=True)
        assert s.uses_census
        assert CENSUS_PROG not in {r.name for r in recs}
    _, prog_id, _ = bpfbind._native.map_census()
    assert fd_snapshot() == before
    assert_gone({prog_id}, fd_snapshot)


def test_maps_created_after_the_census_are_read(
    loaded: dict[int, Ours], bpf_objs: Mapping[str, Path], tmp_path: Path
) -> None:
    """An object loaded mid-scan, after the census, still shows its metadata (its maps
    are newer than anything the census saw, and are opened instead)."""
    tok = _compile_token_object(tmp_path, "late")
    s = bpfbind._native.Scanner()
    first = s.next_batch(1)
    assert first
    assert s.uses_census, s.census_error
    with bpfbind.sync.load_object(tok) as late:
        late_ids = _ids(late)
        rest: list[bpfbind.ProgramInfo] = []
        while chunk := s.next_batch(3):
            rest += chunk
    assert _meta_of(rest, late_ids) == {
        i: {"token": "late", "section_token": "late"} for i in late_ids
    }


def test_scan_without_the_census_when_refused(bpf_objs: Mapping[str, Path]) -> None:
    """Where the census cannot be taken (here BPF_LINK_CREATE fails), a scan opens
    every map as before and says why, and leaks nothing."""
    code = f"OBJ = {str(bpf_objs['multi'])!r}\n" + textwrap.dedent(
        """\
            import json, os, bpfbind
            before = sorted(os.listdir("/proc/self/fd"))
            with bpfbind.sync.load_object(OBJ) as obj:
                ids = {p.id for p in obj.programs.values()}
                s = bpfbind._native.Scanner()
                recs = []
                while chunk := s.next_batch(1):
                    recs += chunk
                meta = [r.metadata for r in recs if r.id in ids]
                out = dict(uses=s.uses_census, error=s.census_error, meta=meta,
                           want=obj.metadata, n=len(ids))
            out["leaked"] = sorted(set(os.listdir("/proc/self/fd")) - set(before))
            print(json.dumps(out))
            """
    )
    out = seccomp_faults.run([{"cmd": 28, "errno": errno.EPERM}], code)  # LINK_CREATE
    assert out["uses"] is False
    assert "BPF_LINK_CREATE" in out["error"], out
    assert "not permitted" in out["error"] and "map census" in out["error"], out
    assert out["meta"] == [out["want"]] * out["n"]
    assert out["leaked"] == []


def test_census_can_be_turned_off(loaded: dict[int, Ours]) -> None:
    code = textwrap.dedent(
        """\
        import bpfbind
        s = bpfbind._native.Scanner()
        s.next_batch(1)
        s.next_batch(1)
        print(s.uses_census)
        """
    )
    env = dict(os.environ, BPFBIND_SCAN_CENSUS="0")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_a_slow_stream_retakes_its_census(
    loaded: dict[int, Ours], bpf_objs: Mapping[str, Path]
) -> None:
    """A census older than 5 s is retaken: a stream read slowly keeps up with the host
    (and never shows the census program it took later)."""
    s = bpfbind._native.Scanner()
    recs = s.next_batch(1)
    assert s.uses_census, s.census_error
    time.sleep(5.5)
    with bpfbind.sync.load_object(bpf_objs["seed"]) as late:
        late_ids = _ids(late)
        while chunk := s.next_batch(2):
            recs += chunk
    assert s.uses_census
    assert CENSUS_PROG not in {r.name for r in recs}
    assert _meta_of(recs, late_ids) == dict.fromkeys(late_ids, DECLARED["seed"])
    for ident, own in loaded.items():
        check_record(next(r for r in recs if r.id == ident), own)
