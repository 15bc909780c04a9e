"""libbpf-bootstrap's "sockfilter" in Python: a socket filter on a raw packet socket
bound to an interface (SO_ATTACH_BPF), counting what it sees by IP protocol.

python examples/sockfilter.py build/examples/sockfilter.bpf.o [IFNAME]
"""

from __future__ import annotations

import socket
import struct
import sys

import bpfbind

ETH_P_ALL = 0x0003
PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp"}


def main(path: str, ifname: str) -> None:
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    raw.bind((ifname, 0))
    with raw, bpfbind.sync.load_object(path) as obj:
        with obj.programs["count_protocols"].attach(sock=raw) as link:
            print(f"attached: {link.kind} on {ifname}", flush=True)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for _ in range(5):
                    s.sendto(b"bpfbind", ("127.0.0.1", 9))
        value = obj.maps[".bss"].lookup(b"\0" * 4, raw=True)
        assert value is not None
        counts = struct.unpack("=256Q", value)
        for proto, n in enumerate(counts):
            if n:
                print(f"{PROTOCOLS.get(proto, f'proto {proto}')}: {n} packets")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "lo")
