"""libbpf-bootstrap's "tc" in Python: a tcx ingress program on an interface (Linux
6.6+), counting IPv4 packets while UDP datagrams are sent to it.

python examples/tc.py build/examples/tc.bpf.o [IFNAME] [ADDR]
"""

from __future__ import annotations

import socket
import struct
import sys

import bpfbind


def main(path: str, ifname: str, addr: str) -> None:
    with bpfbind.sync.load_object(path) as obj:
        with obj.programs["tc_ingress"].attach(ifindex=ifname) as link:
            print(f"attached: {link.target} (link {link.id})", flush=True)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for _ in range(5):
                    s.sendto(b"bpfbind", (addr, 9))
        raw = obj.maps[".bss"].lookup(b"\0" * 4, raw=True)
        assert raw is not None
        packets, ipv4, ttl = struct.unpack_from("=QQI", raw)
        print(f"{ifname}: {packets} packets, {ipv4} IPv4, last TTL {ttl}")


if __name__ == "__main__":
    args = sys.argv[1:] + ["lo", "127.0.0.1"][len(sys.argv) - 2 :]
    main(*args[:3])
