"""libbpf-bootstrap's "uprobe" in Python: a uprobe and a uretprobe on a function of a
shared library (libc's getppid), its file offset read from the library's ELF.

python examples/uprobe.py build/examples/uprobe.bpf.o [LIBC]
"""

from __future__ import annotations

import os
import struct
import sys

import bpfbind

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def main(path: str, libc: str) -> None:
    with bpfbind.sync.load_object(path) as obj:
        obj.maps[".data"].update(b"\0" * 4, struct.pack("=I", os.getpid()))
        entry = obj.programs["getppid_entry"].attach("getppid", binary=libc)
        with entry, obj.programs["getppid_exit"].attach("getppid", binary=libc):
            print(f"attached: {entry.target}", flush=True)
            for _ in range(4):
                os.getppid()
        raw = obj.maps[".bss"].lookup(b"\0" * 4, raw=True)
        assert raw is not None
        calls, returns, ret = struct.unpack_from("=QQq", raw)
        print(f"getppid: {calls} calls, {returns} returns, last returned {ret}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else LIBC)
