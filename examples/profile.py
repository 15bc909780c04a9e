"""libbpf-bootstrap's "profile" in Python: a perf_event program on CPU-clock samples of
every CPU (one link per CPU), counting samples per process while this one spins.

python examples/profile.py build/examples/profile.bpf.o [SECONDS]
"""

from __future__ import annotations

import os
import struct
import sys
import time

import bpfbind


def main(path: str, seconds: float) -> None:
    with bpfbind.sync.load_object(path) as obj:
        samples = obj.maps["samples"]
        with obj.programs["profile"].attach(sample_freq=1000) as link:
            print(f"attached: {len(link.ids)} links, one per CPU", flush=True)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                sum(range(10_000))
        mine = samples.lookup(struct.pack("=I", os.getpid()), raw=True)
        n = struct.unpack("=Q", mine)[0] if mine else 0
        print(f"pid {os.getpid()}: {n} samples")


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0.5)
