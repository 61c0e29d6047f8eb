#!/usr/bin/env python3
"""Sends UDP datagrams with a forged IPv4 source address (a raw socket
with IP_HDRINCL: the kernel keeps the source as written), as a pod that
pretends to be another would. Used by tests/tests/egress_lab.rs inside a
pod's namespace.

  spoofed_udp.py SRC DST PORT [COUNT]

Prints one JSON line: {"sent": COUNT}.
"""
import json
import socket
import struct
import sys


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    src, dst, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    count = int(sys.argv[4]) if len(sys.argv) == 5 else 3
    payload = b"spoofed"
    udp = struct.pack("!HHHH", 40000, port, 8 + len(payload), 0) + payload
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for i in range(count):
        header = struct.pack(
            "!BBHHHBBH4s4s",
            0x45, 0, 20 + len(udp), 0x1000 + i, 0, 64, socket.IPPROTO_UDP, 0,
            socket.inet_aton(src), socket.inet_aton(dst),
        )
        header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
        s.sendto(header + udp, (dst, 0))
    print(json.dumps({"sent": count}))


if __name__ == "__main__":
    main()
