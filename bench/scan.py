"""Scan benchmark (issue 3): read every loaded program with its metadata, as `bpftool
prog show` does, with 10,000 programs of multi.bpf.o pinned; then the peak memory of a
streaming scan at 1,000 and at 10,000 programs.

Anchors, all in the same run: bench/out/scan_floor (the fewest bpf(2) calls such a scan
can make, in C: the floor), `bpftool -j prog show`, and `python3 -c` running bpftool and
json.loads. Times are best of --repeat; ratios are to the floor. Goals: bpfbind's scan
<= 0.6 x floor; (bpftool + json.loads) / bpfbind >= 4; peak RSS of a streaming scan
grows < 5 MiB from 1,000 to 10,000 programs. Other processes' programs are scanned
too: the host's program count is reported at each point.

    python3 bench/scan.py [--objects 2500] [--small 250] [--repeat 5] [--quick]
        [--loader mass_load|bpfbind]

--loader bpfbind pins the copies with bpfbind instead of libbpf: libbpf skips the
`.metadata` section, so only bpfbind-loaded programs carry both metadata conventions.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common as c
import anyio

import bpfbind
from bpfbind import sync

# Run in a fresh interpreter per point: peak RSS of a streaming scan that keeps nothing.
# VmHWM is the figure: ru_maxrss also counts the parent's peak (vfork + exec keep it).
RSS_CHILD = r"""
import json, resource, sys
from bpfbind import sync

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])

baseline = status("VmHWM:")
progs = with_metadata = variables = 0
for rec in sync.iter_scan(batch=int(sys.argv[1])):
    progs += 1
    md = rec.metadata
    if md:
        with_metadata += 1
        variables += len(md)
print(json.dumps({
    "programs": progs,
    "with_metadata": with_metadata,
    "variables": variables,
    "baseline_hwm_kib": baseline,
    "vm_hwm_kib": status("VmHWM:"),
    "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
}))
"""

BPFTOOL_JSON = (
    "import json, subprocess, sys; "
    "print(len(json.loads(subprocess.run([sys.argv[1], '-j', 'prog', 'show'], "
    "stdout=subprocess.PIPE, check=True).stdout)))"
)


def bpftool_path() -> str:
    found = shutil.which("bpftool") or "/usr/sbin/bpftool"
    if not Path(found).exists():
        raise SystemExit("bpftool not found")
    return found


def pin_copies(loader: str, obj: Path, count: int, where: Path) -> dict[str, Any]:
    """`count` copies of `obj` pinned under `where`/<i>/, by libbpf or by bpfbind."""
    if loader == "mass_load":
        return c.anchor("mass_load", obj, count, where)
    where.mkdir()
    start = time.perf_counter()
    programs = 0
    for i in range(count):
        with sync.load_object(obj, pin_dir=where / str(i)) as o:
            programs += len(o.programs)
    return {
        "count": count,
        "programs": programs,
        "seconds": time.perf_counter() - start,
    }


def pin_in_two(
    loader: str,
    obj: Path,
    small: int,
    total: int,
    pins: Path,
    at_small: Callable[[], None],
) -> list[dict[str, Any]]:
    """`total` copies of `obj` pinned under `pins`: `small` of them first (in a/), then
    `at_small()` measures that point, then the rest (in b/); each load's figures."""
    loads = [pin_copies(loader, obj, small, pins / "a")]
    at_small()
    if total > small:
        loads.append(pin_copies(loader, obj, total - small, pins / "b"))
    return loads


def rss_point(batch: int) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, str(batch)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        timeout=600,
    )
    point: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    point["host_programs"] = c.host_programs()
    return point


def bpftool_discarded(bpftool: str) -> int:
    subprocess.run(
        [bpftool, "-j", "prog", "show"], check=True, stdout=subprocess.DEVNULL
    )
    return 0  # the output is not read: no count


def bpftool_json_in_child(bpftool: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", BPFTOOL_JSON, bpftool],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    return int(out)


def bpftool_json(bpftool: str) -> int:
    out = subprocess.run(
        [bpftool, "-j", "prog", "show"], check=True, stdout=subprocess.PIPE
    ).stdout
    return len(json.loads(out))


def scan_records() -> int:
    return len(sync.scan())


def scan_with_pids() -> int:
    """The full scan with each program's holders (one pass over every process's fds)."""
    return len(sync.scan(pids=True))


def holders(method: str) -> int:
    """The pass over every process's fds alone, the iterator's or /proc's."""
    return len(bpfbind._native.program_holders(method).prog_ids())


def host_fds() -> int:
    """Open fds of every process: what a pass over the holders walks."""
    n = 0
    for p in os.listdir("/proc"):
        if p.isdigit():
            with contextlib.suppress(OSError):
                n += len(os.listdir(f"/proc/{p}/fd"))
    return n


def cli_show(*flags: str) -> int:
    """`bpfbind -j prog show` as a user runs it (interpreter start included)."""
    subprocess.run(
        [sys.executable, "-m", "bpfbind", "-j", *flags, "prog", "show"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return 0


def scan_with_metadata() -> int:
    """The full scan, then each record's metadata made into Python (lazy until read)."""
    return sum(len(r.metadata) for r in sync.scan())


async def stream_records(batch: int) -> tuple[float, int]:
    n = 0
    start = anyio.current_time()
    async with bpfbind.stream_metadata(batch=batch) as stream:
        async for _ in stream:
            n += 1
    return anyio.current_time() - start, n


def main() -> int:
    p = c.parser(__doc__)
    p.add_argument("--batch", type=int, default=256, help="records per batch")
    p.add_argument("--no-memory", action="store_true", help="skip the RSS points")
    args = c.copies_args(p, "first RSS point", "scans")
    c.build()
    obj = c.bpf_object("multi")
    bpftool = bpftool_path()
    rep = c.Report("scan")
    fig = rep.figures
    fig.update(
        object=obj.name,
        loader=args.loader,
        objects=args.objects,
        repeat=args.repeat,
        batch=args.batch,
    )
    hosts: dict[str, int] = {"before": c.host_programs()}
    runs: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    rss: dict[str, dict[str, Any]] = {}

    timed = c.timer(runs, counts)

    def at_small() -> None:
        hosts["small"] = c.host_programs()
        if not args.no_memory:
            rss["small"] = rss_point(args.batch)

    with c.pin_dir("scan") as pins:
        loads = pin_in_two(args.loader, obj, args.small, args.objects, pins, at_small)
        hosts["full"] = c.host_programs()
        fig["pinned"] = {
            "programs": sum(x["programs"] for x in loads),
            "seconds": sum(x["seconds"] for x in loads),
        }
        c.progress(
            f"pinned {fig['pinned']['programs']} programs; host has {hosts['full']}"
        )

        floors = [c.anchor("scan_floor", "--repeat", args.repeat)]
        scans = {
            "bpftool": lambda: bpftool_discarded(bpftool),
            "python_c_bpftool_json": lambda: bpftool_json_in_child(bpftool),
            "inproc_bpftool_json": lambda: bpftool_json(bpftool),
            "bpfbind_scan": scan_records,
            "bpfbind_scan_metadata": scan_with_metadata,
            "bpfbind_scan_pids": scan_with_pids,
            "pids_iterator": lambda: holders("iterator"),
            "pids_procfs": lambda: holders("procfs"),
            "bpfbind_cli": cli_show,
            "bpfbind_cli_no_pids": lambda: cli_show("--no-pids"),
        }
        for r in range(args.repeat):
            for key, fn in scans.items():
                timed(key, fn)
            secs, n = anyio.run(stream_records, args.batch, backend="asyncio")
            runs.setdefault("bpfbind_stream", []).append(secs)
            counts["bpfbind_stream"] = n
            c.progress(f"run {r + 1}/{args.repeat} done")
        floors.append(c.anchor("scan_floor", "--repeat", args.repeat))
        if not args.no_memory:
            rss["full"] = rss_point(args.batch)
        hosts["full_end"] = c.host_programs()
    hosts["after_cleanup"] = c.host_programs()

    floor = min(f["min_seconds"] for f in floors)
    best = {k: min(v) for k, v in runs.items()}
    ratios = {k: c.ratio(v, floor) for k, v in best.items()}
    tool_over_us = c.ratio(best["python_c_bpftool_json"], best["bpfbind_scan"])
    # What pids add to a scan, and to the command (against bpftool, which has none).
    fig["pids_cost_seconds"] = {
        "scan": best["bpfbind_scan_pids"] - best["bpfbind_scan"],
        "cli": best["bpfbind_cli"] - best["bpfbind_cli_no_pids"],
        "fds_on_host": host_fds(),
    }
    goals = {
        "bpfbind_scan_vs_floor": c.goal(ratios["bpfbind_scan"], 0.6),
        "bpftool_json_over_bpfbind": c.goal(tool_over_us, 4, at_most=False),
    }
    labels = {
        "bpftool": "bpftool -j prog show (subprocess)",
        "python_c_bpftool_json": "python3 -c bpftool + json.loads",
        "inproc_bpftool_json": "bpftool + json.loads, in-process",
        "bpfbind_scan": "bpfbind.sync.scan()",
        "bpfbind_scan_metadata": "sync.scan() + every .metadata",
        "bpfbind_stream": "async for in stream_metadata()",
        "bpfbind_scan_pids": "sync.scan(pids=True)",
        "pids_iterator": "holders alone: task-file iterator",
        "pids_procfs": "holders alone: /proc/*/fd + fdinfo",
        "bpfbind_cli": "bpfbind -j prog show (subprocess)",
        "bpfbind_cli_no_pids": "bpfbind -j --no-pids prog show",
    }
    print(
        f"\nscan of {floors[0]['programs']} programs "
        f"({floors[0]['with_metadata']} with metadata), best of {args.repeat}"
    )
    rep.row("scan_floor (C, raw bpf(2))", floor, 1.0, "", "anchor")
    for key, label in labels.items():
        note = ""
        if key == "bpfbind_scan":
            note = f"<= 0.6: {goals['bpfbind_scan_vs_floor']}"
        elif key == "python_c_bpftool_json":
            note = (
                f"{tool_over_us}x bpfbind (>= 4: {goals['bpftool_json_over_bpfbind']})"
            )
        rep.row(label, best[key], ratios[key], counts[key] or "-", note)
    rep.table(["scanner", "seconds", "x floor", "programs", "goal"])

    fig.update(
        floor=floors,
        floor_seconds=floor,
        runs=runs,
        best_seconds=best,
        ratios_to_floor=ratios,
        bpftool_json_over_bpfbind=tool_over_us,
        counts=counts,
        host_programs=hosts,
    )
    if rss:
        small, full = rss["small"], rss["full"]
        growth = (full["vm_hwm_kib"] - small["vm_hwm_kib"]) / 1024
        own = [(x["vm_hwm_kib"] - x["baseline_hwm_kib"]) / 1024 for x in (small, full)]
        goals["rss_growth"] = c.goal(growth, 5.0)
        fig.update(rss=rss, rss_growth_mib=round(growth, 3))
        print(f"\nstreaming scan (iter_scan, batch={args.batch}), fresh process each")
        for (name, x), mine in zip(rss.items(), own, strict=True):
            rep.row(
                name, x["programs"], x["host_programs"], x["vm_hwm_kib"] / 1024, mine
            )
        rep.row(
            "growth", "", "", growth, own[1] - own[0], f"< 5 MiB: {goals['rss_growth']}"
        )
        rep.table(
            ["point", "scanned", "host progs", "VmHWM MiB", "scan's own MiB", "goal"]
        )
    fig["goals"] = goals
    print(f"host programs: {hosts}")
    print(f"pids cost (seconds): {fig['pids_cost_seconds']}")
    rep.emit()
    return 0


if __name__ == "__main__":
    sys.exit(c.run(main))
