#!/usr/bin/env python3
"""The client of tests/tests/services_lab.rs: `client.py tcp|udp ADDR PORT
COUNT [FIRST-SOURCE-PORT] [SOURCE-ADDR]` makes COUNT connections (or sends
COUNT datagrams) and prints one line each: "SPORT NAME CLIENT PEER": the
server's answer, then the peer as the socket reports it (getpeername for
TCP, recvfrom's address for UDP); or "SPORT ERR reason". With a first source port, the
source ports are FIRST, FIRST+1, ... (the same 5-tuples every run)."""
import socket
import sys

proto, addr, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
first = int(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[5] != "0" else None
src = sys.argv[6] if len(sys.argv) > 6 else ""
family = socket.AF_INET6 if ":" in addr else socket.AF_INET
kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
for i in range(count):
    s = socket.socket(family, kind)
    s.settimeout(2)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sport = first + i if first else 0
    try:
        s.bind((src, sport))
        sport = s.getsockname()[1]
        if proto == "tcp":
            s.connect((addr, port))
            peer = s.getpeername()[0]
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(256)
                if not chunk:
                    break
                data += chunk
        else:
            s.sendto(b"hello", (addr, port))
            data, frm = s.recvfrom(256)
            peer = frm[0]
        answer = data.decode().strip()
        print(sport, f"{answer} {peer}" if answer else "ERR empty", flush=True)
    except OSError as e:
        print(sport, "ERR", str(e).replace(" ", "_"), flush=True)
    finally:
        s.close()
