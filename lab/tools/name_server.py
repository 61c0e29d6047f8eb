#!/usr/bin/env python3
"""A pod's server for the service checks (lab/demo.sh,
tests/tests/services_lab.rs): `name_server.py NAME PORT` answers every TCP
connection and every UDP datagram on PORT (IPv4 and IPv6) with
"NAME CLIENT-ADDRESS\n" (TCP: then closes, the server first)."""
import socket
import sys
import threading

name, port = sys.argv[1], int(sys.argv[2])


def tcp():
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    s.listen(1024)
    while True:
        c, peer = s.accept()
        try:
            host = peer[0].removeprefix("::ffff:")
            c.sendall(f"{name} {host}\n".encode())
        finally:
            c.close()


def udp():
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    while True:
        _, peer = s.recvfrom(2048)
        host = peer[0].removeprefix("::ffff:")
        s.sendto(f"{name} {host}\n".encode(), peer)


threading.Thread(target=udp, daemon=True).start()
print("listening", flush=True)
tcp()
