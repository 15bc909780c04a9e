"""libbpf-bootstrap's "kprobe" in Python: a kprobe and a kretprobe on do_unlinkat
(their sections name the function), attached together with attach_all().

python examples/kprobe.py build/examples/kprobe.bpf.o
"""

from __future__ import annotations

import os
import struct
import sys
import tempfile

import anyio

import bpfbind


async def main(path: str) -> None:
    async with await bpfbind.load_object(path) as obj:
        obj.maps[".data"].update(b"\0" * 4, struct.pack("=I", os.getpid()))
        async with obj.attach_all() as links:
            print("attached:", ", ".join(links[n].target for n in links), flush=True)
            with tempfile.NamedTemporaryFile(
                prefix="bpfbind-kprobe-", delete=False
            ) as f:
                name = f.name
            os.unlink(name)
        raw = obj.maps[".bss"].lookup(b"\0" * 4, raw=True)
        assert raw is not None
        entries, exits, ret = struct.unpack_from("=QQq", raw)
        last = raw[24:88].split(b"\0", 1)[0].decode()
        print(f"do_unlinkat: {entries} entries, {exits} exits")
        print(f"last file {last} returned {ret}")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
