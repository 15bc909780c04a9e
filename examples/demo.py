"""Loads BPF objects with metadata, shows what bpfbind and the kernel hold, unloads.

python examples/demo.py OBJ.bpf.o [OBJ.bpf.o ...]
"""

from __future__ import annotations

import subprocess
import sys

import anyio

import bpfbind


async def show(path: str) -> None:
    async with await bpfbind.load_object(path) as obj:
        print(
            f"== {path}: loaded {len(obj.programs)} program(s), metadata {obj.binding}"
        )
        print(f"   metadata: {obj.metadata}")
        for prog in obj.programs.values():
            print(f"   {prog.name} (id {prog.id}) holds maps {prog.used_maps()}")
            # What any process sees: the CLI scans the kernel like `bpftool prog show`.
            subprocess.run(
                [sys.executable, "-m", "bpfbind", "prog", "show", "id", str(prog.id)],
                check=True,
            )
            meta = await bpfbind.find_metadata(bpfbind.Id(prog.id))
            print(f"   read back from the kernel: {meta}")


async def main(paths: list[str]) -> None:
    for p in paths:
        await show(p)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1:])
