#!/usr/bin/env python3
"""The legacy database of the egress lab (lab/topologies/egress.clab.yml,
tests/tests/egress_lab.rs): a server that records the source address of
every connection it gets.

  legacy_db.py PORT

It listens on PORT over TCP and UDP, IPv4 and IPv6, on every address of its
namespace. A TCP client sends one line (any request); the server answers
"SOURCE-ADDRESS SOURCE-PORT\\n", the peer as it saw it, and closes the
connection. Every UDP datagram is answered the same way, from the address
it was sent to. Each connection and datagram is logged on stdout, one line
each, after a first line "listening" once every socket is bound:

  tcp SOURCE-ADDRESS SOURCE-PORT LOCAL-ADDRESS LOCAL-PORT
  udp SOURCE-ADDRESS SOURCE-PORT LOCAL-ADDRESS LOCAL-PORT

A TCP client that sends no line within 60 s is dropped unanswered.
"""
import asyncio
import socket
import sys
import threading

REQUEST_TIMEOUT = 60
# Linux's IP_PKTINFO (not exported by every Python build).
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)


LOG_LOCK = threading.Lock()


def log(kind, peer, local):
    with LOG_LOCK:
        print(kind, peer[0], peer[1], local[0], local[1], flush=True)


def answer(peer):
    return f"{peer[0]} {peer[1]}\n".encode()


async def serve_tcp(reader, writer):
    peer = writer.get_extra_info("peername")
    local = writer.get_extra_info("sockname")
    try:
        await asyncio.wait_for(reader.readline(), REQUEST_TIMEOUT)
        writer.write(answer(peer))
        await writer.drain()
        log("tcp", peer, local)
    except (OSError, asyncio.TimeoutError):
        pass
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


def serve_udp(family, port):
    """Answers datagrams on a thread, each from the address it was sent to
    (IP_PKTINFO / IPV6_PKTINFO): the namespace has several addresses."""
    s = socket.socket(family, socket.SOCK_DGRAM)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        s.bind(("::", port))
    else:
        s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        s.bind(("0.0.0.0", port))

    def run():
        while True:
            try:
                _, anc, _, peer = s.recvmsg(65535, 256)
            except OSError:
                continue
            local, reply_anc = "?", []
            for level, kind, data in anc:
                if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
                    # struct in_pktinfo: ifindex, spec_dst, addr (the
                    # destination); the reply's source goes in spec_dst.
                    dst = data[8:12]
                    local = socket.inet_ntop(socket.AF_INET, dst)
                    reply_anc = [(level, kind, bytes(4) + dst + bytes(4))]
                elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
                    # struct in6_pktinfo: addr (the destination), ifindex.
                    local = socket.inet_ntop(socket.AF_INET6, data[:16])
                    reply_anc = [(level, kind, data[:16] + bytes(4))]
            log("udp", peer, (local, port))
            try:
                s.sendmsg([answer(peer)], reply_anc, 0, peer)
            except OSError:
                pass

    threading.Thread(target=run, daemon=True).start()


async def main(port):
    # host None: every address of both families (the IPv6 socket V6ONLY).
    server = await asyncio.start_server(serve_tcp, host=None, port=port, backlog=4096)
    for family in (socket.AF_INET, socket.AF_INET6):
        serve_udp(family, port)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: legacy_db.py PORT")
    try:
        asyncio.run(main(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
