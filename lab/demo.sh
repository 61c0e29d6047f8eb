#!/usr/bin/env bash
# Tern's main job on its built-in default: set up the machine, build, bring up
# the default lab (an FRR top-of-rack router and two Tern nodes, each in its
# own network namespace), check it, and show it. The lab stays up afterwards;
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
echo
"$bin/tern-lab" status -t "$topo" || ok=0
echo
echo "[demo] eBPF counters on node1's uplink (tern -N clab-$lab-node1 -c 'show interface eth1'):"
"$bin/tern" -N "clab-$lab-node1" -c "show interface eth1" | sed 's/^/  /'
cat <<EOT

The lab '$lab' is up.
  enter a node:     $bin/tern-lab exec -t $topo node1 -- bash
                    (or: ip netns exec clab-$lab-node1 bash)
  ternd's shell:    $bin/tern -N clab-$lab-node1          (try: show interface brief)
  FRR's shell:      vtysh -N clab-$lab-tor1               (try: show bgp summary)
  tear it down:     $bin/tern-lab down -t $topo
EOT
[ "$ok" -eq 1 ] || { echo "[demo] some checks FAILED" >&2; exit 1; }
