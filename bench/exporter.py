"""Exporter benchmark (issue 13): one Prometheus scrape of 10,000 programs (the set of
bench/scan.py: 2,500 copies of multi.bpf.o pinned), against what a user would
otherwise run: `bpftool -j prog show` turned into the same exposition text by a small
Python script. Then the exporter's peak RSS at 1,000 and at 10,000 programs.

Timed, best of --repeat, in the same run:
- `GET /metrics` from a running `bpfbind exporter` (scan at scrape time, no gzip),
  and the first one of a fresh exporter (once: no entry of the last scan to reuse);
- the same with gzip, as Prometheus asks for it (bytes: compressed), and from an
  exporter run with `--interval 3600`, which serves its last scan;
- the same collection and rendering in-process, a fresh ProgramCollector each time
  (nothing to reuse), and `bpfbind.sync.scan()` alone, what every scrape costs at least;
- the anchor: bpftool -j prog show, json.loads and the text, from this process
  (`BPFTOOL_TO_TEXT` below), and the same script in a fresh `python3 -c`.
Goal: scrape / anchor (in-process) <= 0.25.

    python3 bench/exporter.py [--objects 2500] [--small 250] [--repeat 5] [--quick]
        [--loader mass_load|bpfbind]
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import _common as c

import scan
from bpfbind import exporter, sync

# The user's alternative: bpftool's JSON into the exposition text, the same families
# and labels (bpftool reports only `.rodata` metadata: libbpf skips `.metadata`).
BPFTOOL_TO_TEXT = r"""
import json, subprocess, sys

def esc(v):
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

def text(v):
    return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))

def family(name, typ, doc, rows):
    return [f"# HELP {name} {doc}\n# TYPE {name} {typ}\n"] + rows

def exposition(bpftool):
    progs = json.loads(subprocess.run([bpftool, "-j", "prog", "show"],
                                      stdout=subprocess.PIPE, check=True).stdout)
    info, per = [], {k: [] for k in ("run_cnt", "run_time", "misses", "xlated",
                                     "jited", "loaded", "maps")}
    types, keys = {}, {}
    for p in progs:
        base = f'id="{p["id"]}",name="{esc(p.get("name", ""))}"'
        labels = {"id": str(p["id"]), "name": p.get("name", ""), "type": p["type"],
                  "tag": p["tag"]}
        for k, v in p.get("metadata", {}).items():
            labels.setdefault(k, text(v))
            keys[k] = keys.get(k, 0) + 1
        types[p["type"]] = types.get(p["type"], 0) + 1
        lt = ",".join(f'{k}="{esc(v)}"' for k, v in sorted(labels.items()))
        info.append(f"bpf_program_info{{{lt}}} 1\n")
        for key, value in (("run_cnt", p.get("run_cnt", 0)),
                           ("run_time", p.get("run_time_ns", 0) / 1e9),
                           ("misses", p.get("recursion_misses", 0)),
                           ("xlated", p["bytes_xlated"]),
                           ("jited", p.get("bytes_jited", 0)),
                           ("loaded", p["loaded_at"]),
                           ("maps", len(p.get("map_ids", [])))):
            per[key].append(f"{key}{{{base}}} {value}\n")
    out = family("bpf_program_info", "gauge", "info", info)
    for k, rows in per.items():
        out += family(k, "gauge", k, rows)
    out += family("bpf_programs", "gauge", "by type",
                  [f'bpf_programs{{type="{t}"}} {n}\n'
                   for t, n in sorted(types.items())])
    out += family("bpf_metadata_programs", "gauge", "by key",
                  [f'bpf_metadata_programs{{key="{esc(k)}"}} {n}\n'
                   for k, n in sorted(keys.items())])
    return "".join(out)

if __name__ == "__main__":
    sys.stdout.write(exposition(sys.argv[1]))
"""

RSS_SCRAPES = 3


def anchor_module() -> Any:
    namespace: dict[str, Any] = {"__name__": "bpftool_to_text"}
    exec(BPFTOOL_TO_TEXT, namespace)
    return namespace


class Running:
    """A `bpfbind exporter` child on a free loopback port."""

    def __init__(self, *args: str) -> None:
        argv = [sys.executable, "-m", "bpfbind", "exporter", "--listen", "127.0.0.1:0"]
        self.proc = subprocess.Popen(
            [*argv, *args],
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        m = re.search(r"listening on ([\d.]+:\d+)", line)
        if not m:
            self.proc.kill()
            raise SystemExit(f"exporter did not start: {line}")
        self.url = f"http://{m.group(1)}/metrics"

    def scrape(self, gzip: bool = False) -> int:
        headers = {"Accept-Encoding": "gzip"} if gzip else {}
        req = urllib.request.Request(self.url, headers=headers)
        with urllib.request.urlopen(req, timeout=600) as r:
            return len(r.read())

    def hwm_kib(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return -1

    def close(self) -> int:
        self.proc.terminate()
        code = self.proc.wait(30)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return code


def rss_point() -> dict[str, Any]:
    """A fresh exporter: its peak RSS idle, then after RSS_SCRAPES scrapes."""
    run = Running()
    try:
        idle = run.hwm_kib()
        start = time.perf_counter()
        size = run.scrape()
        first = time.perf_counter() - start
        for _ in range(RSS_SCRAPES - 1):
            size = run.scrape()
        return {
            "first_scrape_seconds": first,
            "idle_hwm_kib": idle,
            "vm_hwm_kib": run.hwm_kib(),
            "scrape_bytes": size,
            "host_programs": c.host_programs(),
        }
    finally:
        run.close()


def in_process() -> int:
    registry = exporter._Fixed(exporter.ProgramCollector().collect())
    return len(exporter.render(registry))


def main() -> int:
    args = c.copies_args(c.parser(__doc__), "first point", "scrapes")
    c.build()
    obj = c.bpf_object("multi")
    bpftool = scan.bpftool_path()
    anchor = anchor_module()
    rep = c.Report("exporter")
    fig = rep.figures
    fig.update(object=obj.name, loader=args.loader, objects=args.objects)
    fig["repeat"] = args.repeat
    runs: dict[str, list[float]] = {}
    sizes: dict[str, int] = {}
    rss: dict[str, dict[str, Any]] = {}

    timed = c.timer(runs, sizes)

    def at_small() -> None:
        rss["small"] = rss_point()

    with c.pin_dir("exporter") as pins:
        loads = scan.pin_in_two(
            args.loader, obj, args.small, args.objects, pins, at_small
        )
        fig["pinned"] = sum(x["programs"] for x in loads)
        fig["host_programs"] = c.host_programs()
        c.progress(f"pinned {fig['pinned']} programs; host has {fig['host_programs']}")
        rss["full"] = rss_point()

        run = Running()
        cached = Running("--interval", "3600")
        try:
            run.scrape()  # the first scrape imports what rendering needs
            cached.scrape()
            timings: dict[str, Callable[[], int]] = {
                "exporter_scrape": run.scrape,
                "exporter_scrape_gzip": lambda: run.scrape(gzip=True),
                "exporter_scrape_interval": cached.scrape,
                "scan_alone": lambda: len(sync.scan()),
                "exporter_in_process": in_process,
                "bpftool_to_text": lambda: len(anchor["exposition"](bpftool)),
                "python_c_bpftool_to_text": lambda: len(
                    subprocess.run(
                        [sys.executable, "-c", BPFTOOL_TO_TEXT, bpftool],
                        check=True,
                        stdout=subprocess.PIPE,
                    ).stdout
                ),
            }
            for r in range(args.repeat):
                for key, fn in timings.items():
                    timed(key, fn)
                c.progress(f"run {r + 1}/{args.repeat} done")
        finally:
            run.close()
            cached.close()

    runs["exporter_first_scrape"] = [rss["full"]["first_scrape_seconds"]]
    sizes["exporter_first_scrape"] = rss["full"]["scrape_bytes"]
    best = {k: min(v) for k, v in runs.items()}
    ratio = c.ratio(best["exporter_scrape"], best["bpftool_to_text"])
    goals = {"scrape_vs_bpftool_to_text": c.goal(ratio, 0.25)}
    labels = {
        "exporter_scrape": "GET /metrics (bpfbind exporter)",
        "exporter_scrape_gzip": "GET /metrics, gzip (as Prometheus asks)",
        "exporter_first_scrape": "first GET /metrics of a fresh exporter",
        "exporter_scrape_interval": "GET /metrics --interval 3600 (the last scan)",
        "scan_alone": "bpfbind.sync.scan() alone (the scrape's floor)",
        "exporter_in_process": "ProgramCollector + render, in-process",
        "bpftool_to_text": "bpftool -j + json + text, in-process (anchor)",
        "python_c_bpftool_to_text": "python3 -c (bpftool -j + json + text)",
    }
    print(f"\none scrape of {fig['host_programs']} programs, best of {args.repeat}")
    for key, label in labels.items():
        note = ""
        if key == "exporter_scrape":
            note = f"<= 0.25: {goals['scrape_vs_bpftool_to_text']}"
        rep.row(
            label,
            best[key],
            c.ratio(best[key], best["bpftool_to_text"]),
            sizes[key],
            note,
        )
    rep.table(["scrape", "seconds", "x anchor", "bytes", "goal"])

    print(
        f"\nexporter peak RSS (VmHWM) after {RSS_SCRAPES} scrapes, fresh process each"
    )
    for name, x in rss.items():
        rep.row(
            name,
            x["host_programs"],
            x["idle_hwm_kib"] / 1024,
            x["vm_hwm_kib"] / 1024,
            x["scrape_bytes"],
        )
    rep.table(["point", "host progs", "idle MiB", "peak MiB", "scrape bytes"])
    fig.update(runs=runs, best_seconds=best, bytes=sizes, ratio=ratio, rss=rss)
    fig["goals"] = goals
    rep.emit()
    return 0


if __name__ == "__main__":
    sys.exit(c.run(main))
