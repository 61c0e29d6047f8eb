#!/usr/bin/env python3
"""Sends malformed IPv4 and IPv6 packets out of a pod's eth0 as raw
Ethernet frames (an AF_PACKET socket: the kernel neither fixes nor checks
them), addressed to the pod's gateway as its normal traffic is. Used by
tests/tests/egress_lab.rs inside a pod's namespace.

  malformed_frames.py SRC4 DST4 SRC6 DST6 [--port PORT]

Frames, from SRCx to DSTx (UDP/TCP destination port PORT, 5432 by default):
  ipv4-header-cut        10 bytes of an IPv4 header
  ipv4-bad-ihl           header length 12 bytes (IHL 3)
  ipv4-beyond-frame      total length 1000 in a 40-byte packet
  ipv6-header-cut        20 bytes of an IPv6 header
  ipv6-beyond-frame      payload length 500, 20 bytes of payload
  ipv4-tcp-cut           a valid IPv4 header, then 8 bytes of TCP header
  ipv4-udp-cut           a valid IPv4 header, then 4 bytes of UDP header
  ipv6-tcp-cut           a valid IPv6 header, then 8 bytes of TCP header

Prints one JSON line: {"sent": [{"name": ..., "layer": 3 or 4}, ...]}:
layer 3 frames are malformed in their IP header (a parser of IP drops
them), layer 4 ones in their TCP/UDP header only.
"""
import json
import socket
import struct
import subprocess
import sys

IFNAME = "eth0"


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload, total=None, ihl=5, cut=None):
    total = 20 + len(payload) if total is None else total
    h = struct.pack(
        "!BBHHHBBH4s4s",
        (4 << 4) | ihl,
        0,
        total,
        0x1234,
        0x4000,  # DF
        64,
        proto,
        0,
        socket.inet_pton(socket.AF_INET, src),
        socket.inet_pton(socket.AF_INET, dst),
    )
    h = h[:10] + struct.pack("!H", checksum(h)) + h[12:]
    pkt = h + payload
    return pkt[:cut] if cut is not None else pkt


def ipv6(src, dst, nxt, payload, plen=None, cut=None):
    plen = len(payload) if plen is None else plen
    h = struct.pack(
        "!IHBB16s16s",
        6 << 28,
        plen,
        nxt,
        64,
        socket.inet_pton(socket.AF_INET6, src),
        socket.inet_pton(socket.AF_INET6, dst),
    )
    pkt = h + payload
    return pkt[:cut] if cut is not None else pkt


def gateway_mac():
    """The MAC address of the pod's IPv4 default gateway (its neighbour
    entry: tern-cni makes it permanent)."""
    routes = json.loads(
        subprocess.run(
            ["ip", "-j", "-4", "route", "show", "default"], capture_output=True, check=True
        ).stdout
    )
    if not routes or "gateway" not in routes[0]:
        sys.exit(f"malformed_frames.py: no IPv4 default route via a gateway: {routes}")
    gw = routes[0]["gateway"]
    neigh = json.loads(
        subprocess.run(
            ["ip", "-j", "neigh", "show", gw, "dev", IFNAME], capture_output=True, check=True
        ).stdout
    )
    macs = [n["lladdr"] for n in neigh if n.get("lladdr")]
    if not macs:
        sys.exit(f"malformed_frames.py: no neighbour entry for gateway {gw} on {IFNAME}")
    return bytes.fromhex(macs[0].replace(":", ""))


def main():
    args = sys.argv[1:]
    port = 5432
    if "--port" in args:
        i = args.index("--port")
        port = int(args[i + 1])
        del args[i : i + 2]
    if len(args) != 4:
        sys.exit("usage: malformed_frames.py SRC4 DST4 SRC6 DST6 [--port PORT]")
    src4, dst4, src6, dst6 = args
    with open(f"/sys/class/net/{IFNAME}/address", encoding="ascii") as f:
        own = bytes.fromhex(f.read().strip().replace(":", ""))
    dst_mac = gateway_mac()
    tcp8 = struct.pack("!HHI", 40000, port, 1)  # ports and sequence number only
    udp4 = struct.pack("!HH", 40001, port)  # ports only: no length, no checksum
    filler = bytes(20)
    frames = [
        ("ipv4-header-cut", 3, 0x0800, ipv4(src4, dst4, 17, filler, cut=10)),
        ("ipv4-bad-ihl", 3, 0x0800, ipv4(src4, dst4, 17, filler, ihl=3)),
        ("ipv4-beyond-frame", 3, 0x0800, ipv4(src4, dst4, 17, filler, total=1000)),
        ("ipv6-header-cut", 3, 0x86DD, ipv6(src6, dst6, 17, filler, cut=20)),
        ("ipv6-beyond-frame", 3, 0x86DD, ipv6(src6, dst6, 17, filler, plen=500)),
        ("ipv4-tcp-cut", 4, 0x0800, ipv4(src4, dst4, 6, tcp8)),
        ("ipv4-udp-cut", 4, 0x0800, ipv4(src4, dst4, 17, udp4)),
        ("ipv6-tcp-cut", 4, 0x86DD, ipv6(src6, dst6, 6, tcp8)),
    ]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((IFNAME, 0))
    sent = []
    for name, layer, ethertype, packet in frames:
        s.send(dst_mac + own + struct.pack("!H", ethertype) + packet)
        sent.append({"name": name, "layer": layer})
    s.close()
    print(json.dumps({"sent": sent}), flush=True)


if __name__ == "__main__":
    main()
