#!/usr/bin/env python3
"""The client of the egress lab's legacy database (lab/tools/legacy_db.py),
run inside a pod's namespace by tests/tests/egress_lab.rs or by hand.

  db_client.py tcp ADDR PORT [--count N] [--parallel P] [--timeout S]
  db_client.py udp ADDR PORT [--count N] [--size BYTES] [--timeout S]

tcp: N connections, at most P open at once; each sends a line and reads
the server's answer, the source address and port it saw, then closes.
udp: N datagrams one after the other, each from its own connected socket
(so an ICMP error about it comes back as ECONNREFUSED), of BYTES bytes (a
datagram above the pod's MTU leaves in fragments), each waiting for its
answer.

Prints one JSON line: {"ok": answered, "failed": not answered, "sources":
{source address the server saw: count}, "errors": {reason: count},
"seconds": wall time}. A reason is an errno name (ECONNREFUSED,
ECONNRESET, ...), "timeout" (no connection or no answer within S seconds)
or "no-answer" (closed without an answer). Exits 0 whatever the outcome:
the caller judges it.
"""
import argparse
import asyncio
import errno
import json
import socket
import time


def reason(e):
    if isinstance(e, (asyncio.TimeoutError, socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(e, OSError) and e.errno:
        return errno.errorcode.get(e.errno, str(e.errno))
    return type(e).__name__


class Tally:
    def __init__(self):
        self.ok = 0
        self.sources = {}
        self.errors = {}

    def answered(self, line):
        source = line.split()[0] if line.split() else ""
        if not source:
            self.failed("no-answer")
            return
        self.ok += 1
        self.sources[source] = self.sources.get(source, 0) + 1

    def failed(self, why):
        self.errors[why] = self.errors.get(why, 0) + 1

    def report(self, count, started):
        return {
            "ok": self.ok,
            "failed": count - self.ok,
            "sources": self.sources,
            "errors": self.errors,
            "seconds": round(time.monotonic() - started, 3),
        }


async def tcp(addr, port, count, parallel, timeout):
    tally = Tally()
    gate = asyncio.Semaphore(parallel)

    async def one():
        async with gate:
            writer = None
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(addr, port), timeout
                )
                writer.write(b"source?\n")
                await writer.drain()
                line = await asyncio.wait_for(reader.readline(), timeout)
                tally.answered(line.decode(errors="replace"))
            except Exception as e:  # every failure is counted by its reason
                tally.failed(reason(e))
            finally:
                if writer is not None:
                    writer.close()
                    try:
                        await writer.wait_closed()
                    except Exception:
                        pass

    await asyncio.gather(*(one() for _ in range(count)))
    return tally


def udp(addr, port, count, size, timeout):
    tally = Tally()
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    payload = (b"source?\n" + b"x" * size)[: max(size, 1)]
    for _ in range(count):
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        try:
            s.connect((addr, port))
            s.send(payload)
            data = s.recv(4096)
            tally.answered(data.decode(errors="replace"))
        except OSError as e:
            tally.failed(reason(e))
        finally:
            s.close()
    return tally


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("proto", choices=["tcp", "udp"])
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--parallel", type=int, default=1)
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument("--size", type=int, default=8)
    a = p.parse_args()
    started = time.monotonic()
    if a.proto == "tcp":
        tally = asyncio.run(tcp(a.addr, a.port, a.count, max(a.parallel, 1), a.timeout))
    else:
        tally = udp(a.addr, a.port, a.count, a.size, a.timeout)
    print(json.dumps(tally.report(a.count, started)), flush=True)


if __name__ == "__main__":
    main()
