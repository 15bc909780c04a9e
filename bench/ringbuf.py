"""Ring buffer and map-walk benchmark (issue 12).

Ring buffer: the `emit` program of tests/bpf/events.bpf.c writes one fixed-size event
(16 bytes) per BPF_PROG_TEST_RUN repeat into a 16 MiB ring; a loop runs it --batch
times, then drains the ring, until --events went through. bpfbind's async reader
(`RingBuffer.read_batch`, records into Python `bytes`, on asyncio) against the C anchor
bench/out/ringbuf_consume (libbpf's ring_buffer__consume, each record copied out), on
the same pinned ring and program in the same run. Figures: events per second through
the whole loop (producer included) and consumer time per event; ratios are bpfbind's
rate / C's rate. Goal: >= 0.5x with batching.

Map walk: `Map.items()` of a 100,000-entry hash map (u32 -> u64; typed ints, and
raw bytes) against bench/out/batch_lookup (BPF_MAP_LOOKUP_BATCH, 4096 a call).
Ratios are C time / bpfbind time (1.0: as fast as C).

    python3 bench/ringbuf.py [--events 2000000] [--batch 65536] [--repeat 5] [--quick]
"""

from __future__ import annotations

import sys
import time

import _common as c
import anyio

import bpfbind
from bpfbind import sync

RING = 1 << 24


async def drain_async(
    prog: bpfbind.Program, rb: bpfbind.RingBuffer, events: int, batch: int
) -> tuple[float, float, int]:
    """(whole loop seconds, consumer seconds, bytes) for `events` events."""
    got = nbytes = 0
    consume = 0.0
    data = bytes(64)
    start = time.perf_counter()
    while got < events:
        prog.test_run(data, repeat=batch)
        t0 = time.perf_counter()
        want = got + batch
        while got < want:
            recs = await rb.read_batch()
            got += len(recs)
            # Fixed-size events: the byte count needs no walk over the records.
            nbytes += len(recs) * len(recs[0])
        consume += time.perf_counter() - t0
    return time.perf_counter() - start, consume, nbytes


def main() -> int:
    p = c.parser(__doc__)
    p.add_argument("--events", type=int, default=2_000_000)
    p.add_argument("--batch", type=int, default=65536)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--entries", type=int, default=100_000)
    args = p.parse_args()
    if args.quick:
        args.events, args.repeat, args.entries = 200_000, 2, 20_000
    # Whole rounds of --batch events, so that both loops move the same number.
    args.events = -(-args.events // args.batch) * args.batch
    c.build()
    report = c.Report("ringbuf")
    spec = bpfbind.open_object(c.bpf_object("events"))
    spec.maps["events"].max_entries = RING
    with sync.load_object(spec) as obj, c.pin_dir("ringbuf") as pins:
        obj.maps["events"].pin(pins / "events")
        obj.programs["emit"].pin(pins / "emit")
        prog = obj.programs["emit"]
        runs: dict[str, list[tuple[float, float]]] = {"c": [], "bpfbind": []}
        nbytes = 0
        for _ in range(args.repeat):
            r = c.anchor(
                "ringbuf_consume",
                pins / "events",
                pins / "emit",
                args.events,
                args.batch,
            )
            runs["c"].append((r["seconds"], r["consume_seconds"]))

            async def ours() -> tuple[float, float, int]:
                async with obj.ring_buffer("events", chunk=args.batch) as rb:
                    return await drain_async(prog, rb, args.events, args.batch)

            whole, consume, nbytes = anyio.run(ours)
            runs["bpfbind"].append((whole, consume))
        drops = obj.maps[".bss"].lookup(0)["ring_drops"]
        if drops:
            print(f"warning: the program dropped {drops} events", file=sys.stderr)
        n = args.events
        best = {
            k: (min(w for w, _ in v), min(x for _, x in v)) for k, v in runs.items()
        }
        for k, (whole, consume) in best.items():
            report.row(
                k,
                f"{n / whole / 1e6:.2f} M/s",
                f"{consume / n * 1e9:.1f} ns",
                f"{best['c'][0] / whole:.2f}x",
                f"{best['c'][1] / consume:.2f}x",
            )
        report.table(["ring buffer", "events/s", "consume/event", "rate", "consume"])
        report.figures.update(
            events=n,
            batch=args.batch,
            event_bytes=nbytes // n if n else 0,
            ring_bytes=RING,
            drops=drops,
            c_seconds=best["c"][0],
            c_consume_seconds=best["c"][1],
            bpfbind_seconds=best["bpfbind"][0],
            bpfbind_consume_seconds=best["bpfbind"][1],
            rate_ratio=best["c"][0] / best["bpfbind"][0],
            consume_ratio=best["c"][1] / best["bpfbind"][1],
            bpfbind_ns_per_event=best["bpfbind"][1] / n * 1e9,
            c_ns_per_event=best["c"][1] / n * 1e9,
        )

    # items() of a big hash map against C batch lookups.
    spec = bpfbind.open_object(c.bpf_object("maps_typed"))
    spec.maps["big"].max_entries = max(args.entries, 1)
    with sync.load_object(spec) as obj, c.pin_dir("items") as pins:
        big = obj.maps["big"]
        big.update_batch([(i, i * 7) for i in range(args.entries)])
        big.pin(pins / "big")
        anchor = c.anchor("batch_lookup", pins / "big", 4096, args.repeat)
        assert anchor["elements"] == args.entries, anchor
        times = {}
        for label, fn in (
            ("items() typed", lambda: big.items()),
            ("items(raw=True)", lambda: big.items(raw=True)),
            ("items(batch=False)", lambda: big.items(batch=False, raw=True)),
        ):
            best_t = min(c.clock(fn) for _ in range(args.repeat))
            times[label] = best_t
        report.row("C batch lookup", f"{anchor['seconds'] * 1e3:.1f} ms", "1.00x")
        for label, t in times.items():
            report.row(label, f"{t * 1e3:.1f} ms", f"{anchor['seconds'] / t:.2f}x")
        report.table([f"walk {args.entries} entries", "time", "C/ours"])
        report.figures.update(
            entries=args.entries,
            items_c_seconds=anchor["seconds"],
            items_typed_seconds=times["items() typed"],
            items_raw_seconds=times["items(raw=True)"],
            items_nobatch_seconds=times["items(batch=False)"],
            items_typed_ratio=anchor["seconds"] / times["items() typed"],
            items_raw_ratio=anchor["seconds"] / times["items(raw=True)"],
        )
    report.emit()
    return 0


if __name__ == "__main__":
    sys.exit(c.run(main))
