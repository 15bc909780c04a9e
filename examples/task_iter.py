"""libbpf-bootstrap's "task_iter" in Python: a task iterator read as an async stream
of text, one line per task.

python examples/task_iter.py build/examples/task_iter.bpf.o
"""

from __future__ import annotations

import sys

import anyio

import bpfbind


async def main(path: str) -> None:
    async with (
        await bpfbind.load_object(path) as obj,
        await bpfbind.attach(obj.programs["list_tasks"]) as link,
    ):
        text = b"".join([c async for c in bpfbind.stream_iter(link)]).decode()
    print(f"{'TGID':>7} {'PID':>7} {'PPID':>7} COMM")
    for line in text.splitlines():
        tgid, pid, ppid, comm = line.split(" ", 3)
        print(f"{tgid:>7} {pid:>7} {ppid:>7} {comm}")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
