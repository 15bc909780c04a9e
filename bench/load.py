"""Load benchmark (issue 2): open, load and close multi.bpf.o N times with bpfbind, from
a path and from bytes, in a row and from 2/4 concurrent asyncio tasks, against libbpf.

The anchor is bench/out/load_libbpf (libbpf's open + load + close of the same object, N
times in a row), run in the same process tree, interleaved with the bpfbind runs. Ratios
are bpfbind seconds / libbpf seconds, best of --repeat runs each. Goals: sequential
<= 1.1, concurrent <= 0.7 (against libbpf's sequential time).

    python3 bench/load.py [--n 1000] [--repeat 5] [--tasks 2,4] [--quick]
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _common as c
import anyio

import bpfbind
from bpfbind import sync

Source = Path | bytes


def load_in_a_row(source: Source, n: int) -> float:
    def loop() -> None:
        for _ in range(n):
            with sync.load_object(source):
                pass

    return c.clock(loop)


async def load_concurrently(source: Source, n: int, tasks: int) -> float:
    """N loads split over `tasks` tasks; each closes its object before the next load."""

    async def worker(count: int) -> None:
        for _ in range(count):
            async with await bpfbind.load_object(source):
                pass

    shares = [n // tasks + (1 if i < n % tasks else 0) for i in range(tasks)]
    start = anyio.current_time()
    async with anyio.create_task_group() as tg:
        for share in shares:
            tg.start_soon(worker, share)
    return anyio.current_time() - start


def load_in_threads(source: Source, n: int, threads: int) -> float:
    """The async runs without the event loop: what the kernel and the GIL allow when
    no call pays for a hop to a worker thread and back."""
    shares = [n // threads + (1 if i < n % threads else 0) for i in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        start = time.perf_counter()
        for f in [pool.submit(load_in_a_row, source, share) for share in shares]:
            f.result()
        return time.perf_counter() - start


def main() -> int:
    p = c.parser(__doc__)
    p.add_argument("--n", type=int, default=1000, help="loads per run (default 1000)")
    p.add_argument("--repeat", type=int, default=5, help="runs of each, best kept")
    p.add_argument("--tasks", type=c.int_list, default=[2, 4], help="e.g. 2,4")
    p.add_argument("--object", type=Path, default=None, help="default multi.bpf.o")
    args = p.parse_args()
    if args.quick:
        args.n, args.repeat = min(args.n, 100), 1
    c.build()
    rep = c.Report("load")
    obj = args.object or c.bpf_object("multi")
    data = obj.read_bytes()
    n = args.n

    # Untimed: the first bpfbind load probes kernel features once per process.
    with sync.load_object(obj):
        pass
    c.anchor("load_libbpf", obj, 5)

    kinds = [("path", obj), ("bytes", data)]
    runs: dict[str, list[float]] = {"libbpf": []}
    for r in range(args.repeat):
        runs["libbpf"].append(c.anchor("load_libbpf", obj, n)["seconds"])
        for kind, src in kinds:
            runs.setdefault(f"seq_{kind}", []).append(load_in_a_row(src, n))
        for kind, src in kinds:
            for t in args.tasks:
                secs = anyio.run(load_concurrently, src, n, t, backend="asyncio")
                runs.setdefault(f"async{t}_{kind}", []).append(secs)
        for t in args.tasks:
            runs.setdefault(f"threads{t}_bytes", []).append(load_in_threads(data, n, t))
        c.progress(f"run {r + 1}/{args.repeat} done")

    best = {k: min(v) for k, v in runs.items()}
    anchor_s = best["libbpf"]
    fig = rep.figures
    fig.update(object=obj.name, n=n, repeat=args.repeat, runs=runs, best_seconds=best)
    ratios: dict[str, float | None] = {}
    goals: dict[str, str] = {}
    rep.row("libbpf (C, sequential)", anchor_s, anchor_s / n * 1e3, 1.0, "anchor")
    for key, secs in best.items():
        if key == "libbpf":
            continue
        how, kind = key.split("_")
        ratios[key] = ratio = c.ratio(secs, anchor_s)
        if how.startswith("threads"):
            # Not an API: the ceiling the async runs could reach on this machine.
            label = f"diagnostic: {how[7:]} threads, sync API, {kind}"
            rep.row(label, secs, secs / n * 1e3, ratio, "")
            continue
        limit = 1.1 if how == "seq" else 0.7
        goals[key] = c.goal(ratio, limit)
        label = (
            f"bpfbind sync, {kind}"
            if how == "seq"
            else f"bpfbind async {how[5:]} tasks, {kind}"
        )
        rep.row(label, secs, secs / n * 1e3, ratio, f"<= {limit}: {goals[key]}")
    fig.update(ratios=ratios, goals=goals)
    print(f"\n{n} loads of {obj.name}, best of {args.repeat} (ratio to libbpf)")
    rep.table(["loader", "seconds", "ms/load", "ratio", "goal"])
    rep.emit()
    return 0


if __name__ == "__main__":
    sys.exit(c.run(main))
