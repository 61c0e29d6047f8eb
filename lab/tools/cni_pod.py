#!/usr/bin/env python3
"""Adds or deletes one pod of a tern-lab node the way a Kubernetes runtime
does, with the pod's Kubernetes namespace in CNI_ARGS (which the
`tern.pods` label of a topology cannot give). Used by the egress lab
(lab/topologies/egress.clab.yml, tests/tests/egress_lab.rs).

  cni_pod.py add LAB NODE POD --k8s-namespace NS --netconf FILE [--cni PATH]
  cni_pod.py del LAB NODE POD --netconf FILE [--cni PATH]

`add` creates the network namespace clab-LAB-NODE-POD, runs tern-cni ADD
inside the node's namespace (nsenter --net, so bpffs stays visible) with
CNI_CONTAINERID clab-LAB-NODE-POD, CNI_NETNS /run/netns/clab-LAB-NODE-POD,
CNI_IFNAME eth0 and CNI_ARGS
"IgnoreUnknown=1;K8S_POD_NAMESPACE=NS;K8S_POD_NAME=POD;K8S_POD_INFRA_CONTAINER_ID=ID"
(the kubelet's keys), and FILE (the node's tern-cni network configuration)
on stdin with `ternd` (the node's instance) and `dataDir`
(/run/tern-lab/LAB/NODE/cni, as for tern-lab's own pods) filled in when the
file leaves them out. It prints tern-cni's result.
`del` runs tern-cni DEL with the same configuration and deletes the
namespace. tern-cni is --cni, else $TERN_BIN_DIR/tern-cni, else
target/debug/tern-cni of this repository, else tern-cni on PATH.
Exits non-zero with tern-cni's output when a step fails.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

NETNS_DIR = "/run/netns"


def find_cni(given):
    if given:
        return given
    candidates = []
    if os.environ.get("TERN_BIN_DIR"):
        candidates.append(os.path.join(os.environ["TERN_BIN_DIR"], "tern-cni"))
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    candidates.append(os.path.join(repo, "target", "debug", "tern-cni"))
    for c in candidates:
        if os.access(c, os.X_OK):
            return c
    found = shutil.which("tern-cni")
    if not found:
        sys.exit("cni_pod.py: tern-cni not found (build it: cargo build -p tern-cni)")
    return found


def run_cni(cni, command, node_ns, pod_ns, stdin, k8s_ns=None, pod=None):
    env = dict(os.environ)
    env.update(
        {
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": pod_ns,
            "CNI_NETNS": os.path.join(NETNS_DIR, pod_ns),
            "CNI_IFNAME": "eth0",
            "CNI_PATH": os.path.dirname(os.path.abspath(cni)),
        }
    )
    if k8s_ns is not None:
        env["CNI_ARGS"] = (
            f"IgnoreUnknown=1;K8S_POD_NAMESPACE={k8s_ns};K8S_POD_NAME={pod};"
            f"K8S_POD_INFRA_CONTAINER_ID={pod_ns}"
        )
    return subprocess.run(
        ["nsenter", f"--net={NETNS_DIR}/{node_ns}", "--", cni],
        input=stdin,
        env=env,
        capture_output=True,
        timeout=30,
    )


def netconf(path, node_ns, data_dir):
    with open(path, encoding="utf-8") as f:
        conf = json.load(f)
    conf.setdefault("ternd", {"instance": node_ns})
    conf.setdefault("dataDir", data_dir)
    return json.dumps(conf).encode()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=["add", "del"])
    p.add_argument("lab")
    p.add_argument("node")
    p.add_argument("pod")
    p.add_argument("--k8s-namespace", help="the pod's Kubernetes namespace (add)")
    p.add_argument("--netconf", required=True, help="the node's tern-cni configuration")
    p.add_argument("--cni", help="the tern-cni binary")
    a = p.parse_args()
    cni = find_cni(a.cni)
    node_ns = f"clab-{a.lab}-{a.node}"
    pod_ns = f"clab-{a.lab}-{a.node}-{a.pod}"
    data_dir = f"/run/tern-lab/{a.lab}/{a.node}/cni"
    if not os.path.exists(os.path.join(NETNS_DIR, node_ns)):
        sys.exit(f"cni_pod.py: node namespace {node_ns} does not exist (is the lab up?)")
    conf = netconf(a.netconf, node_ns, data_dir)
    if a.command == "add":
        if not a.k8s_namespace:
            sys.exit("cni_pod.py: add needs --k8s-namespace")
        os.makedirs(data_dir, exist_ok=True)
        subprocess.run(["ip", "netns", "add", pod_ns], check=True)
        out = run_cni(cni, "ADD", node_ns, pod_ns, conf, a.k8s_namespace, a.pod)
        if out.returncode != 0:
            sys.stderr.write(out.stdout.decode(errors="replace"))
            sys.stderr.write(out.stderr.decode(errors="replace"))
            run_cni(cni, "DEL", node_ns, pod_ns, conf)
            subprocess.run(["ip", "netns", "del", pod_ns], check=False)
            sys.exit(f"cni_pod.py: tern-cni ADD of {pod_ns} failed ({out.returncode})")
        sys.stdout.write(out.stdout.decode(errors="replace"))
        return
    out = run_cni(cni, "DEL", node_ns, pod_ns, conf)
    if os.path.exists(os.path.join(NETNS_DIR, pod_ns)):
        subprocess.run(["ip", "netns", "del", pod_ns], check=False)
    if out.returncode != 0:
        sys.stderr.write(out.stdout.decode(errors="replace"))
        sys.stderr.write(out.stderr.decode(errors="replace"))
        sys.exit(f"cni_pod.py: tern-cni DEL of {pod_ns} failed ({out.returncode})")


if __name__ == "__main__":
    main()
