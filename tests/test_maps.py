"""Typed map access against the kernel: struct keys and values by BTF, arrays and char
arrays, per-CPU values, queues and stacks, batch commands against the one-at-a-time
fallback on the same contents, and walks that survive concurrent deletion."""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from conftest import FdSnapshot, possible_cpus

import bpfbind
import bpfbind.sync
from bpfbind import BpfError, BpfObject

pytestmark = pytest.mark.kernel

STATS = {
    "count": 5,
    "delta": [-1, 2],
    "label": "hi",
    "state": "BUSY",
    "small": 3,
    "big": 17,
}


@pytest.fixture
def obj(bpf_objs: Mapping[str, Path]) -> Iterator[BpfObject]:
    with bpfbind.sync.load_object(bpf_objs["maps_typed"]) as o:
        yield o


def test_struct_keys_and_values_round_trip(obj: BpfObject) -> None:
    m = obj.maps["flows"]
    assert m.has_btf
    key = {"pid": 7, "comm": "bash"}
    m.update(key, STATS)
    assert m.lookup(key) == STATS
    assert m.keys() == [key]
    assert m.items() == [(key, STATS)]
    # The bytes are the C layout: u64, two s32, char[12], enum, then the bitfields.
    raw = m.lookup(key, raw=True)
    assert isinstance(raw, bytes)
    assert raw[:16] == struct.pack("<Qii", 5, -1, 2)
    assert raw[16:28] == b"hi".ljust(12, b"\0")
    assert raw[28:32] == struct.pack("<i", 1)
    assert raw[32] == 3 | (17 << 3)
    # Raw bytes go in as they are, and come out typed.
    rkey = struct.pack("<I", 8) + b"sh".ljust(8, b"\0")
    m.update(rkey, raw)
    assert m.lookup({"pid": 8, "comm": "sh"}) == STATS
    # Missing fields are zero; enumerators by name or number.
    m.update(key, {"count": 1, "state": 7})
    assert m.lookup(key) == {
        "count": 1,
        "delta": [0, 0],
        "label": "",
        "state": "GONE",
        "small": 0,
        "big": 0,
    }
    assert m.delete(key) is True
    assert m.delete(key) is False
    assert m.lookup(key) is None


def test_update_flags(obj: BpfObject) -> None:
    m = obj.maps["slots"]
    m.update(1, 10, "exist")  # array elements always exist
    with pytest.raises(BpfError) as e:
        m.update(1, 11, "noexist")
    assert e.value.errno == 17 and e.value.command == "BPF_MAP_UPDATE_ELEM"
    assert m.lookup(1) == 10
    h = obj.maps["big"]
    with pytest.raises(bpfbind.BpfNotFoundError):
        h.update(5, 1, "exist")
    h.update(5, 1, "noexist")
    with pytest.raises(BpfError) as e:
        h.update(5, 2, "noexist")
    assert e.value.errno == 17
    h.update(5, 3, "any")
    assert h.lookup(5) == 3
    with pytest.raises(ValueError):
        h.update(5, 3, "sometimes")


def test_wrong_values_are_refused_before_the_kernel(obj: BpfObject) -> None:
    m = obj.maps["flows"]
    key = {"pid": 1, "comm": "x"}
    with pytest.raises(ValueError, match="no field"):
        m.update(key, {"nope": 1})
    with pytest.raises(ValueError, match="does not fit"):
        m.update({"pid": 2**32, "comm": ""}, STATS)
    with pytest.raises(ValueError, match="char\\[8\\]"):
        m.update({"pid": 1, "comm": "far-too-long"}, STATS)
    with pytest.raises(ValueError, match="no enumerator"):
        m.update(key, {"state": "ASLEEP"})
    with pytest.raises(ValueError, match="items"):
        m.update(key, {"delta": [1, 2, 3]})
    assert m.keys() == []


def test_per_cpu_values_are_one_per_possible_cpu(obj: BpfObject) -> None:
    n = possible_cpus()
    pc = obj.maps["percpu"]
    assert pc.ncpus == n
    assert pc.lookup(0) == [0] * n
    obj.programs["bump"].test_run(bytes(64), repeat=10)
    # Every run happened on some CPU: the sum is what the program counted.
    assert sum(pc.lookup(0)) == 10
    pc.update(1, list(range(100, 100 + n)))
    assert pc.lookup(1) == list(range(100, 100 + n))
    # raw: each CPU's bytes; the kernel's buffer holds each u32 in an 8-byte slot.
    assert pc.lookup(1, raw=True) == [struct.pack("<I", 100 + i) for i in range(n)]
    slots = b"".join(struct.pack("<Q", 7 + i) for i in range(n))
    pc.update(1, slots)
    assert pc.lookup(1) == [7 + i for i in range(n)]
    with pytest.raises(ValueError, match="one per possible CPU"):
        pc.update(1, [1] * (n + 1))
    ph = obj.maps["percpu_hash"]
    vals = [{"pid": i, "comm": f"c{i}"} for i in range(n)]
    ph.update(3, vals)
    assert ph.items() == [(3, vals)]
    assert ph.items(batch=False) == [(3, vals)]


def test_queue_and_stack(obj: BpfObject) -> None:
    q, s = obj.maps["fifo"], obj.maps["lifo"]
    for i in (1, 2, 3):
        q.push(struct.pack("<I", i))
        s.push(struct.pack("<I", i))
    assert q.peek() == struct.pack("<I", 1)
    assert s.peek() == struct.pack("<I", 3)
    q.push(struct.pack("<I", 4))
    with pytest.raises(BpfError) as e:
        q.push(struct.pack("<I", 5))
    assert e.value.errno == 7  # E2BIG: full
    q.push(struct.pack("<I", 5), "exist")  # drops the oldest
    assert [q.pop() for _ in range(5)] == [
        struct.pack("<I", i) for i in (2, 3, 4, 5)
    ] + [None]
    assert [s.pop() for _ in range(4)] == [struct.pack("<I", i) for i in (3, 2, 1)] + [
        None
    ]
    with pytest.raises(ValueError, match="queue or stack"):
        obj.maps["slots"].pop()
    with pytest.raises(ValueError, match="no keys"):
        q.items()


def test_batch_and_fallback_read_the_same_contents(obj: BpfObject) -> None:
    big = obj.maps["big"]
    pairs = [(i, i * 3) for i in range(5000)]
    assert big.update_batch(pairs) == 5000
    c = big.cursor()
    first = c.next_batch(100)
    assert c.batched and len(first) == 100
    c.close()
    assert c.next_batch(100) == []
    batched = big.items()
    single = big.items(batch=False)
    assert sorted(batched) == sorted(single) == pairs
    assert sorted(big.keys()) == list(range(5000))
    assert big.delete_batch(range(0, 5000, 2)) == 2500
    assert sorted(big.items()) == pairs[1::2]
    # Batch delete of a missing key fails as the kernel says; one by one counts.
    with pytest.raises(bpfbind.BpfNotFoundError):
        big.delete_batch([0])
    assert big.delete_batch([0, 1], batch=False) == 1

    # An LPM trie, walked both ways.
    routes = obj.maps["routes"]
    entries = [({"prefixlen": 24, "addr": [10, i, 2 * i, 0]}, i) for i in range(20)]
    assert routes.update_batch(entries) == 20
    assert sorted(routes.items(), key=repr) == sorted(entries, key=repr)
    assert sorted(routes.items(batch=False), key=repr) == sorted(entries, key=repr)
    assert routes.delete_batch([k for k, _ in entries[:5]]) == 5
    assert len(routes.keys()) == 15


def test_map_types_without_batch_commands_fall_back() -> None:
    # A device map has no batch commands (ENOTSUPP): the same walk goes one by one.
    m = bpfbind.create_map(14, 4, 4, 8, name="devs")  # BPF_MAP_TYPE_DEVMAP
    try:
        lo = 1
        assert m.update_batch([(i, lo) for i in (1, 3, 6)]) == 3
        c = m.cursor()
        got = c.next_batch(100)
        assert not c.batched
        raw = struct.pack("<I", lo)
        assert got == [(struct.pack("<I", i), raw) for i in (1, 3, 6)]
        assert m.items(batch=False) == got
        assert m.delete_batch([1, 6]) == 2
        assert m.keys() == [struct.pack("<I", i) for i in range(8)]
        assert m.items() == [(struct.pack("<I", 3), raw)]
    finally:
        m.close()


def test_walk_survives_deletion_of_the_current_key(obj: BpfObject) -> None:
    big = obj.maps["big"]
    big.update_batch([(i, i) for i in range(300)])
    for batch in (False, True):
        if batch:
            big.update_batch([(i, i) for i in range(300)])
        c = big.cursor(batch=batch)
        got = c.next_batch(50)
        # Delete the key the walk stands on and some it has not reached yet.
        last = got[-1][0]
        seen_keys = {k for k, _ in got}
        ahead = [k for k in range(300) if k not in seen_keys][:40]
        big.delete_batch([last, *ahead])
        while chunk := c.next_batch(50):
            got += chunk
        keys = [k for k, _ in got]
        assert len(keys) == len(set(keys)), "a key came twice"
        survivors = set(range(300)) - {last, *ahead}
        assert survivors <= set(keys)
        assert set(keys) <= set(range(300))


def test_items_under_concurrent_deletion_in_a_thread(obj: BpfObject) -> None:
    big = obj.maps["big"]
    n = 20000
    big.update_batch([(i, i) for i in range(n)])
    doomed = list(range(0, n, 3))
    go = threading.Event()

    def delete() -> None:
        go.wait()
        for k in doomed:
            big.delete(k)

    t = threading.Thread(target=delete)
    t.start()
    c = big.cursor(batch=False)
    got = c.next_batch(10)
    go.set()
    while chunk := c.next_batch(997):
        got += chunk
    t.join()
    keys = [k for k, _ in got]
    assert len(keys) == len(set(keys))
    # Every key nobody deleted is there, each with its value.
    assert set(range(n)) - set(doomed) <= set(keys)
    assert all(k == v for k, v in got)


def test_maps_without_btf_take_bytes_and_ints(obj: BpfObject) -> None:
    m = bpfbind.create_map(1, 4, 8, 16, name="nobtf")  # BPF_MAP_TYPE_HASH
    try:
        assert not m.has_btf
        m.update(3, 2**63)
        assert m.lookup(3) == (2**63).to_bytes(8, "little")
        assert m.lookup(struct.pack("<I", 3), raw=True) == (2**63).to_bytes(8, "little")
        assert m.items() == [(struct.pack("<I", 3), (2**63).to_bytes(8, "little"))]
        with pytest.raises(ValueError, match="does not fit"):
            m.update(2**32, 1)
        with pytest.raises(ValueError, match="4 bytes"):
            m.update(b"abc", 1)
    finally:
        m.close()


def test_open_map_by_name(obj: BpfObject) -> None:
    m = bpfbind.open_map(name="flows")
    try:
        assert m.id == obj.maps["flows"].id
        m.update({"pid": 1, "comm": "a"}, STATS)
        assert obj.maps["flows"].lookup({"pid": 1, "comm": "a"}) == STATS
    finally:
        m.close()
    with pytest.raises(bpfbind.BpfNotFoundError):
        bpfbind.open_map(name="no-such-map-x")


@pytest.mark.anyio
async def test_async_items_and_keys(obj: BpfObject, fd_snapshot: FdSnapshot) -> None:
    big = obj.maps["big"]
    big.update_batch([(i, 7 * i) for i in range(3000)])
    before = fd_snapshot()
    async with bpfbind.map_items(big, chunk=256) as items:
        got = [kv async for kv in items]
        assert items.batched
    assert sorted(got) == [(i, 7 * i) for i in range(3000)]
    async with bpfbind.map_keys(big) as keys:
        assert sorted([k async for k in keys]) == list(range(3000))
    async with bpfbind.map_items(obj.maps["routes"]) as items:
        assert [kv async for kv in items] == []
    assert fd_snapshot() == before
