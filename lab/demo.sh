#!/usr/bin/env bash
# Tern's main job on its built-in default: set up the machine, build, bring up
# the default lab (an FRR top-of-rack router and two Tern nodes, each in its
# own network namespace, with two pods each on the eBPF datapath), check it
# (nodes ping the ToR, pods ping each other on one node and across nodes, a
# LoadBalancer service announced by both nodes answers tor1's connections
# from all pods), and show it. The lab stays up afterwards;
# the last lines say how to enter a node and how to tear the lab down.
#   bash lab/demo.sh [TOPOLOGY.clab.yml]
set -euo pipefail
cd "$(dirname "$0")/.."
topo=${1:-lab/topologies/tern.clab.yml}

bash lab/setup.sh
echo "[demo] building Tern (cargo build --bins)"
cargo build --bins --quiet
bin=target/debug

# A lab left from an earlier run (or a crashed one) is removed first.
"$bin/tern-lab" down -t "$topo" >/dev/null
echo "[demo] bringing up $topo"
"$bin/tern-lab" up -t "$topo"

lab=$(sed -n 's/^name:[[:space:]]*//p' "$topo" | head -n1)
echo
echo "[demo] checks: each Tern node pings the ToR over its uplink"
ok=1
for check in "node1 192.0.2.0" "node1 2001:db8:0:1::1" "node2 192.0.2.2" "node2 2001:db8:0:2::1"; do
  set -- $check
  if "$bin/tern-lab" exec -t "$topo" "$1" -- ping -c 3 -i 0.2 -W 2 "$2" >/dev/null; then
    echo "  ok    $1 -> $2"
  else
    echo "  FAIL  $1 -> $2"; ok=0
  fi
done
# Pods (tern-cni) reach each other on one node and across nodes through the
# eBPF datapath (`datapath mode native` in the nodes' ternd.conf).
pod_addr() { ip -n "clab-$lab-$1" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1 | head -n1; }
if grep -q 'tern.pods' "$topo"; then
  echo
  echo "[demo] checks: pods ping each other through the eBPF datapath"
  for check in "node1-pod1 node1-pod2" "node1-pod1 node2-pod1" "node2-pod2 node1-pod2"; do
    set -- $check
    to=$(pod_addr "$2")
    ok_pod=0
    # The route to the other node's pod CIDR arrives over BGP shortly after up.
    for _ in $(seq 1 30); do
      if [ -n "$to" ] && ip netns exec "clab-$lab-$1" ping -c 2 -i 0.2 -W 2 "$to" >/dev/null 2>&1; then
        ok_pod=1; break
      fi
      sleep 1
    done
    if [ "$ok_pod" -eq 1 ]; then echo "  ok    $1 -> $2 ($to)"; else echo "  FAIL  $1 -> $2 ($to)"; ok=0; fi
  done
  echo
  echo "[demo] node1's pods and their datapath counters (tern -N clab-$lab-node1 -c 'show datapath endpoints'):"
  "$bin/tern" -N "clab-$lab-node1" -c "show datapath endpoints" | sed 's/^/  /'

  # A LoadBalancer service: VIP 198.51.100.100 port 80 to port 8080 of the
  # four pods, pushed to both nodes as an orchestrator would, with
  # external-traffic-policy local: each node announces the VIP for its own
  # pods and keeps the client's address; tor1 spreads connections over the
  # two nodes (ECMP, L4 hash), the nodes' eBPF programs over their pods
  # (each pod's server answers with its name).
  echo
  echo "[demo] checks: LoadBalancer service 'web' (VIP 198.51.100.100:80) reached from tor1"
  svc="configure terminal
service web
 frontend 198.51.100.100 port 80 tcp
 external-traffic-policy local"
  for p in node1-pod1 node1-pod2 node2-pod1 node2-pod2; do
    svc="$svc
 backend $(pod_addr "$p") port 8080"
  done
  svc="$svc
exit
end"
  for n in node1 node2; do printf '%s\n' "$svc" | "$bin/tern" -N "clab-$lab-$n" >/dev/null; done
  servers=()
  for p in node1-pod1 node1-pod2 node2-pod1 node2-pod2; do
    ip netns exec "clab-$lab-$p" python3 lab/tools/name_server.py "$p" 8080 >/dev/null 2>&1 &
    servers+=($!)
  done
  # From tor1's loopback (198.51.100.1, announced to the nodes): the
  # nodes route the replies back to it.
  answered=""
  for _ in $(seq 1 10); do
    answered=$(ip netns exec "clab-$lab-tor1" python3 -c '
import socket
seen = set()
for i in range(40):
    try:
        s = socket.create_connection(("198.51.100.100", 80), timeout=1, source_address=("198.51.100.1", 0))
        seen.add(s.recv(64).decode().split()[0]); s.close()
    except (OSError, IndexError):
        pass
print(" ".join(sorted(seen)))' 2>/dev/null || true)
    [ "$(echo "$answered" | wc -w)" -ge 3 ] && break
    sleep 1
  done
  kill "${servers[@]}" 2>/dev/null || true
  wait "${servers[@]}" 2>/dev/null || true
  if [ "$(echo "$answered" | wc -w)" -ge 3 ]; then
    echo "  ok    40 connections from tor1 answered by: $answered"
  else
    echo "  FAIL  connections from tor1 to the VIP answered by: '$answered'"; ok=0
  fi
  echo
  echo "[demo] the service on node1 (tern -N clab-$lab-node1 -c 'show service web'):"
  "$bin/tern" -N "clab-$lab-node1" -c "show service web" | sed 's/^/  /'
  echo "[demo] tor1's route to the VIP (vtysh -N clab-$lab-tor1 -c 'show ip route 198.51.100.100'):"
  vtysh -N "clab-$lab-tor1" -c "show ip route 198.51.100.100" 2>/dev/null | sed 's/^/  /'
fi
echo
"$bin/tern-lab" status -t "$topo" || ok=0
echo
echo "[demo] eBPF counters on node1's uplink (tern -N clab-$lab-node1 -c 'show interface eth1'):"
"$bin/tern" -N "clab-$lab-node1" -c "show interface eth1" | sed 's/^/  /'
cat <<EOT

The lab '$lab' is up.
  enter a node:     $bin/tern-lab exec -t $topo node1 -- bash
                    (or: ip netns exec clab-$lab-node1 bash)
  ternd's shell:    $bin/tern -N clab-$lab-node1          (try: show interface brief, show datapath)
  FRR's shell:      vtysh -N clab-$lab-tor1               (try: show bgp summary)
  tear it down:     $bin/tern-lab down -t $topo
EOT
[ "$ok" -eq 1 ] || { echo "[demo] some checks FAILED" >&2; exit 1; }
