#!/usr/bin/env python3
"""Soak: pod churn and BGP session flaps against FRR, then a count of what
was left behind (issue 19, item 10).

  python3 lab/tools/soak.py [--pods N] [--flaps N] [--lab NAME]

Brings up a private copy of the datapath lab (lab/topologies/datapath.clab.yml,
renamed NAME, default "soak": FRR tor1 and two Tern nodes in native mode with
their two pods each), lets it settle, and measures node1:
ternd's open file descriptors, resident memory and threads; the endpoints it
has registered and the entries of its endpoint, pod-interface and tunnel
maps (bpftool); the node's routes, nexthop objects, addresses, links and
neighbour entries of each family; the host's network namespaces and the
BGP prefixes tor1 has from node1. Then:
- N pod ADD/DEL cycles on node1 (default 10,000): a namespace, tern-cni ADD
  (the kubelet's CNI_ARGS), tern-cni DEL, the namespace deleted;
- N BGP flaps (default 1,000): `clear bgp 192.0.2.1` on tor1 (FRR resets
  the session with node1), each waited for until FRR has the session
  Established again with node1's prefixes.
The same figures are measured again (after the same settling) and printed
side by side with their difference. The lab is taken down at the end. It
exits 1 if any count other than memory differs, or if a step failed.
Run as root after lab/setup.sh and `cargo build`.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("TERN_BIN_DIR", os.path.join(REPO, "target", "debug"))
NODE_PEER = "192.0.2.1"


def run(cmd, check=True, stdin=None, env=None):
    p = subprocess.run(cmd, input=stdin, capture_output=True, env=env)
    if check and p.returncode != 0:
        sys.exit(
            f"soak: {' '.join(cmd)} failed ({p.returncode}):\n"
            + p.stdout.decode(errors="replace")
            + p.stderr.decode(errors="replace")
        )
    return p.stdout.decode(errors="replace")


def tern(ns, cmd):
    return run([os.path.join(BIN, "tern"), "-N", ns, "-c", cmd])


def vtysh(ns, cmd):
    return run(["vtysh", "-N", ns, "-c", cmd])


def ternd_pid(ns):
    out = tern(ns, "show version")
    return int(out.split("ternd pid ")[1].split(",")[0])


def count_lines(text):
    return len([line for line in text.splitlines() if line.strip()])


def map_entries(pins, name):
    out = run(["bpftool", "-j", "map", "dump", "pinned", os.path.join(pins, name)])
    return len(json.loads(out or "[]"))


def measure(lab, node):
    ns = f"clab-{lab}-{node}"
    pid = ternd_pid(ns)
    status = open(f"/proc/{pid}/status", encoding="utf-8").read()
    field = {
        line.split(":")[0]: line.split(":")[1].split()[0]
        for line in status.splitlines()
        if ":" in line and line.split(":")[1].split()
    }
    pins = f"/sys/fs/bpf/tern/{ns}"
    eps = json.loads(tern(ns, "show datapath endpoints json"))["endpoints"]
    tor = json.loads(vtysh(f"clab-{lab}-tor1", "show bgp ipv4 unicast summary json"))
    peer = tor.get("peers", {}).get(NODE_PEER, {})
    m = {
        "ternd file descriptors": len(os.listdir(f"/proc/{pid}/fd")),
        "ternd threads": int(field["Threads"]),
        "endpoints registered": len(eps),
        "endpoint map entries": map_entries(pins, "dp_endpoints"),
        "pod interface map entries": map_entries(pins, "dp_pod_ifaces"),
        "tunnel map entries": map_entries(pins, "dp_tunnels"),
        "trusted tunnel sources": map_entries(pins, "dp_nodes"),
        "pinned TCX links": len(os.listdir(os.path.join(pins, "links"))),
        "IPv4 routes (all tables)": count_lines(run(["ip", "-n", ns, "-4", "route", "show", "table", "all"])),
        "IPv6 routes (all tables)": count_lines(run(["ip", "-n", ns, "-6", "route", "show", "table", "all"])),
        "nexthop objects": count_lines(run(["ip", "-n", ns, "nexthop", "show"], check=False)),
        "addresses": run(["ip", "-n", ns, "addr", "show"]).count(" inet"),
        "links": count_lines(run(["ip", "-n", ns, "-o", "link", "show"])),
        "IPv4 neighbours": count_lines(run(["ip", "-n", ns, "-4", "neigh", "show"])),
        "IPv6 neighbours": count_lines(run(["ip", "-n", ns, "-6", "neigh", "show"])),
        "network namespaces": count_lines(run(["ip", "netns", "list"])),
        "tor1's prefixes from node1": peer.get("pfxRcd", -1),
        "ternd resident memory (KiB)": int(field["VmRSS"]),
    }
    return m


def established(lab):
    tor = json.loads(vtysh(f"clab-{lab}-tor1", "show bgp ipv4 unicast summary json"))
    p = tor.get("peers", {}).get(NODE_PEER, {})
    return p.get("state") == "Established" and p.get("pfxRcd", 0) > 0, p


def sessions(lab):
    """How many times FRR has had its session with node1 Established."""
    n = json.loads(vtysh(f"clab-{lab}-tor1", f"show bgp neighbors {NODE_PEER} json"))
    return n.get(NODE_PEER, {}).get("connectionsEstablished", 0)


def wait(what, secs, check):
    end = time.monotonic() + secs
    while True:
        ok, detail = check()
        if ok:
            return detail
        if time.monotonic() > end:
            sys.exit(f"soak: {what} did not happen within {secs} s: {detail}")
        time.sleep(0.05)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pods", type=int, default=10000, help="pod ADD/DEL cycles (default 10000)")
    p.add_argument("--flaps", type=int, default=1000, help="BGP session flaps (default 1000)")
    p.add_argument("--lab", default="soak", help="the lab's name (default soak)")
    a = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("soak: run as root")
    for tool in ["bpftool", "vtysh", "ip"]:
        if not shutil.which(tool):
            sys.exit(f"soak: {tool} is missing (lab/setup.sh installs it)")
    tmp = tempfile.mkdtemp(prefix="tern-soak-")
    topo_dir = os.path.join(tmp, "topologies")
    shutil.copytree(os.path.join(REPO, "lab", "topologies"), topo_dir)
    topo = os.path.join(topo_dir, "datapath.clab.yml")
    text = open(topo, encoding="utf-8").read().replace("name: datapath\n", f"name: {a.lab}\n", 1)
    open(topo, "w", encoding="utf-8").write(text)
    lab_bin = os.path.join(BIN, "tern-lab")
    run([lab_bin, "down", "-t", topo], check=False)
    run([lab_bin, "up", "-t", topo])
    try:
        soak(a, os.path.join(topo_dir, "datapath", "node1", "10-tern.conf"))
    finally:
        run([lab_bin, "down", "-t", topo], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def soak(a, netconf_file):
    lab = a.lab
    node_ns = f"clab-{lab}-node1"
    wait("tor1's session with node1", 120, lambda: established(lab))
    time.sleep(5)
    before = measure(lab, "node1")
    conf = json.load(open(netconf_file, encoding="utf-8"))
    conf.setdefault("ternd", {"instance": node_ns})
    conf.setdefault("dataDir", f"/run/tern-lab/{lab}/node1/cni")
    os.makedirs(conf["dataDir"], exist_ok=True)
    stdin = json.dumps(conf).encode()
    cni = os.path.join(BIN, "tern-cni")
    start = time.monotonic()
    for i in range(a.pods):
        pod = f"clab-{lab}-node1-soak"
        env = dict(os.environ)
        env.update(
            {
                "CNI_CONTAINERID": f"soak{i}",
                "CNI_NETNS": f"/run/netns/{pod}",
                "CNI_IFNAME": "eth0",
                "CNI_PATH": os.path.dirname(cni),
                "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=soak;K8S_POD_NAME=soak{i}",
            }
        )
        run(["ip", "netns", "add", pod])
        for command in ["ADD", "DEL"]:
            env["CNI_COMMAND"] = command
            run(["nsenter", f"--net=/run/netns/{node_ns}", "--", cni], stdin=stdin, env=env)
        run(["ip", "netns", "del", pod])
        if (i + 1) % 1000 == 0:
            print(f"soak: {i + 1} pod cycles ({time.monotonic() - start:.0f} s)", flush=True)
    pods_secs = time.monotonic() - start
    start = time.monotonic()
    for i in range(a.flaps):
        done = sessions(lab)
        vtysh(f"clab-{lab}-tor1", f"clear bgp {NODE_PEER}")

        def back():
            ok, p = established(lab)
            return ok and sessions(lab) > done, p

        wait("the session back", 60, back)
        if (i + 1) % 100 == 0:
            print(f"soak: {i + 1} BGP flaps ({time.monotonic() - start:.0f} s)", flush=True)
    flaps_secs = time.monotonic() - start
    time.sleep(5)
    after = measure(lab, "node1")
    n = json.loads(vtysh(f"clab-{lab}-tor1", f"show bgp neighbors {NODE_PEER} json"))
    n = n.get(NODE_PEER, {})
    print(
        "\nsoak: tor1's session with node1 at the end: "
        + ", ".join(
            f"{k} {n.get(k)}"
            for k in ["bgpState", "bgpTimerUpString", "connectionsEstablished",
                      "connectionsDropped", "lastResetDueTo", "lastNotificationReason"]
        )
    )
    keep = os.path.join(tempfile.gettempdir(), f"tern-soak-{lab}-node1.log")
    log = f"/run/tern-lab/{lab}/node1/node.log"
    if os.path.exists(log):
        shutil.copyfile(log, keep)
        print(f"soak: node1's ternd log kept in {keep}")
    print(
        f"\nsoak: node1 of lab {lab}: {a.pods} pod ADD/DEL cycles in {pods_secs:.0f} s, "
        f"{a.flaps} BGP flaps (FRR clear bgp) in {flaps_secs:.0f} s\n"
    )
    print("| measured on node1 | before | after | difference |")
    print("| --- | ---: | ---: | ---: |")
    leaked = []
    for k, v in before.items():
        d = after[k] - v
        print(f"| {k} | {v} | {after[k]} | {d:+} |")
        if d != 0 and "memory" not in k:
            leaked.append(k)
    if leaked:
        print(f"\nsoak: left behind: {', '.join(leaked)}")
        sys.exit(1)
    print("\nsoak: nothing left behind but what the memory line shows")


if __name__ == "__main__":
    main()
