"""libbpf-bootstrap's "bootstrap" in Python: exec and exit of processes as a ring
buffer of typed events, read as an async stream; `--min-duration-ms` is a `.rodata`
setting filled in before load (libbpf's open/load split), `--run CMD` runs a command
and stops after its exit event.

python examples/bootstrap.py build/examples/bootstrap.bpf.o [--min-duration-ms N]
    [--run CMD ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import anyio

import bpfbind


async def main(path: str, min_duration_ms: int, run: list[str]) -> None:
    spec = bpfbind.open_object(path)
    spec.variables["min_duration_ns"] = min_duration_ms * 1_000_000
    async with (
        await bpfbind.load_object(spec) as obj,
        obj.attach_all(),
        obj.ring_buffer("rb", record_type="struct event") as events,
    ):
        print(
            f"{'TIME':<8} {'EVENT':<5} {'COMM':<16} {'PID':>7} {'PPID':>7} "
            "FILENAME/EXIT CODE",
            flush=True,
        )
        child = subprocess.Popen(run) if run else None
        async for e in events:
            when = time.strftime("%H:%M:%S")
            if e["exit_event"]:
                extra = f"[{e['exit_code']}] ({e['duration_ns'] // 1_000_000}ms)"
                kind = "EXIT"
            else:
                extra, kind = e["filename"], "EXEC"
            print(
                f"{when:<8} {kind:<5} {e['comm']:<16} {e['pid']:>7} {e['ppid']:>7} "
                f"{extra}",
                flush=True,
            )
            if child is not None and e["exit_event"] and e["pid"] == child.pid:
                child.wait()
                break


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("object")
    p.add_argument("--min-duration-ms", type=int, default=0)
    p.add_argument("--run", nargs=argparse.REMAINDER, default=[])
    a = p.parse_args()
    anyio.run(main, a.object, a.min_duration_ms, a.run)
    sys.exit(0)
