"""libbpf-bootstrap's "minimal" in Python: a tracepoint on write(2) counting this
process's writes, detached when the `with` block ends.

python examples/minimal.py build/examples/minimal.bpf.o
"""

from __future__ import annotations

import os
import struct
import sys

import bpfbind


def main(path: str) -> None:
    with bpfbind.sync.load_object(path) as obj:
        obj.maps[".data"].update(b"\0" * 4, struct.pack("=I", os.getpid()))
        with obj.programs["handle_write"].attach() as link:
            print(f"attached: {link.target} (link {link.id})", flush=True)
            for i in range(3):
                os.write(1, f"write {i}\n".encode())
        raw = obj.maps[".bss"].lookup(b"\0" * 4, raw=True)
        assert raw is not None
        writes, last = struct.unpack_from("=QQ", raw)
        print(f"pid {os.getpid()}: {writes} writes seen, the last of {last} bytes")


if __name__ == "__main__":
    main(sys.argv[1])
