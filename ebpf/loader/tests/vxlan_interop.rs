//! Tern's VXLAN against the kernel's own VXLAN devices (issue 17, item 3):
//! a Tern node (the datapath in VXLAN mode on a veth uplink, one pod) and a
//! plain Linux VTEP in another namespace with two ordinary VXLAN devices,
//! one over an IPv4 underlay and one over IPv6, each with an IPv4 and an
//! IPv6 address of its own. The Linux devices are set up as an operator
//! sets up a VTEP (`ip link add vxN type vxlan id VNI local A remote B`);
//! Tern knows them by `datapath vtep` (here the loader's
//! [`Datapath::set_vteps`], with the tunnel routes of their prefixes and
//! their addresses as trusted outer sources: until they are, their packets
//! are dropped as unknown-tunnel-source).
//!
//! Checked, for each underlay family and each inner family, both ways:
//! ping from the pod to the device's address and from the Linux namespace
//! to the pod, and 1 MiB over TCP from the pod. The Linux devices keep
//! their defaults: over IPv6 they refuse a zero UDP checksum
//! (`udp6zerocsumrx` off), so the IPv6 underlay also proves that Tern's
//! VXLAN computes its outer checksums; and they take only frames addressed
//! to their own MAC, which Tern puts in as the inner destination. Needs
//! root, iproute2 and ping; fails (never skips) without them. Namespaces
//! carry the prefix `tvi<pid>` and are deleted on drop.
#![allow(clippy::unwrap_used)]
mod common;

use std::path::Path;

use common::sh;
use tern_ebpf::{
    Datapath, DatapathConfig, Hook,
    datapath::{DropReason, EP_FLAG_VETH_PEER, EndpointInfo, Mode, PathKind},
};
use tern_tests::{Netns, netns_command, require_tool, run_ok, tcp_transfer, with_netns};

const VNI: u32 = 4242;
const POD_MAC: [u8; 6] = [0x02, 0, 0, 1, 1, 2];
const HOST_MAC: [u8; 6] = [0x02, 0, 0, 1, 1, 1];
/// The Linux devices' MACs: vx4 (IPv4 underlay), vx6 (IPv6 underlay).
const VX4_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x99, 4];
const VX6_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x99, 6];

fn mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn ping(ns: &str, to: &str) {
    run_ok(netns_command(ns, "ping").args(["-c", "3", "-i", "0.2", "-W", "2", to]));
}

#[test]
fn tern_vxlan_talks_with_linux_vxlan_devices_over_both_underlays() {
    for t in ["ip", "ping"] {
        require_tool(t);
    }
    let prefix = format!("tvi{}", std::process::id());
    let (node, linux, pod) = (
        format!("{prefix}n"),
        format!("{prefix}l"),
        format!("{prefix}p"),
    );
    let _ns: Vec<Netns> = [&node, &linux, &pod].map(|n| Netns::new(n)).into();
    sh(&format!(
        "ip link add up0 netns {node} type veth peer name up0 netns {linux} \
         && ip -n {node} addr add 10.250.0.1/24 dev up0 && ip -n {node} addr add fd00:250::1/64 dev up0 nodad \
         && ip -n {linux} addr add 10.250.0.2/24 dev up0 && ip -n {linux} addr add fd00:250::2/64 dev up0 nodad \
         && ip -n {node} link set up0 up && ip -n {linux} link set up0 up \
         && ip -n {node} link add tvx0 type vxlan external dstport 4789 && ip -n {node} link set tvx0 up"
    ));
    // The Linux VTEP: two plain VXLAN devices, defaults kept.
    for (dev, local, remote, m, four, six) in [
        (
            "vx4",
            "10.250.0.2",
            "10.250.0.1",
            VX4_MAC,
            "10.99.4.1/24",
            "fd00:99:4::1/64",
        ),
        (
            "vx6",
            "fd00:250::2",
            "fd00:250::1",
            VX6_MAC,
            "10.99.6.1/24",
            "fd00:99:6::1/64",
        ),
    ] {
        sh(&format!(
            "ip -n {linux} link add {dev} address {m} type vxlan id {VNI} local {local} remote {remote} dstport 4789 \
             && ip -n {linux} addr add {four} dev {dev} && ip -n {linux} addr add {six} dev {dev} nodad",
            m = mac(&m)
        ));
    }
    // The pod, as tern-cni sets one up, with one address per family for
    // each underlay (the Linux side routes each to one device; the pod
    // takes the second ones as sources towards the IPv6 underlay's
    // device).
    sh(&format!(
        "ip link add lxc1 netns {node} address {hm} type veth peer name eth0 netns {pod} address {pm} \
         && ip -n {node} link set lxc1 up && ip -n {pod} link set eth0 up \
         && ip -n {pod} addr add 10.251.1.11/32 dev eth0 && ip -n {pod} addr add 10.251.1.12/32 dev eth0 \
         && ip -n {pod} addr add fd00:251:1::11/128 dev eth0 nodad && ip -n {pod} addr add fd00:251:1::12/128 dev eth0 nodad \
         && ip -n {pod} route add 169.254.1.1 dev eth0 scope link \
         && ip -n {pod} route add default via 169.254.1.1 dev eth0 \
         && ip -n {pod} neigh add 169.254.1.1 lladdr {hm} dev eth0 nud permanent \
         && ip -n {pod} -6 route add default via fe80::1 dev eth0 \
         && ip -n {pod} -6 neigh add fe80::1 lladdr {hm} dev eth0 nud permanent \
         && ip -n {pod} route add 10.99.6.0/24 via 169.254.1.1 dev eth0 src 10.251.1.12 \
         && ip -n {pod} -6 route add fd00:99:6::/64 via fe80::1 dev eth0 src fd00:251:1::12",
        hm = mac(&HOST_MAC),
        pm = mac(&POD_MAC)
    ));
    let pin = tern_ebpf::pin_dir(Path::new("/sys/fs/bpf"), &node);
    let mut dp = Datapath::load(Some(&pin)).expect("load datapath (root needed)");
    let (up, vx, lxc) = with_netns(&node, || {
        (
            dp.attach(Hook::Uplink, "up0").unwrap(),
            dp.attach(Hook::Vxlan, "tvx0").unwrap(),
            dp.attach(Hook::Pod, "lxc1").unwrap(),
        )
    });
    let ep = EndpointInfo {
        ifindex: lxc,
        id: 1,
        pod_mac: POD_MAC,
        host_mac: HOST_MAC,
        flags: EP_FLAG_VETH_PEER,
    };
    for a in [
        "10.251.1.11",
        "10.251.1.12",
        "fd00:251:1::11",
        "fd00:251:1::12",
    ] {
        dp.upsert_endpoint(a.parse().unwrap(), ep).unwrap();
    }
    let route = |p: &str, n: &str| (p.parse().unwrap(), n.parse().unwrap());
    dp.replace_tunnel_routes(&[
        route("10.99.4.0/24", "10.250.0.2"),
        route("fd00:99:4::/64", "10.250.0.2"),
        route("10.99.6.0/24", "fd00:250::2"),
        route("fd00:99:6::/64", "fd00:250::2"),
    ])
    .unwrap();
    dp.set_vteps(
        &[
            ("10.250.0.2".parse().unwrap(), VX4_MAC),
            ("fd00:250::2".parse().unwrap(), VX6_MAC),
        ]
        .into(),
    )
    .unwrap();
    dp.set_config(
        &DatapathConfig {
            vni: VNI,
            vxlan_ifindex: vx,
            uplink_ifindex: up,
            uplink_mtu: 1500,
            ..DatapathConfig::new(Mode::Vxlan)
        }
        .with_local_v4(Some("10.250.0.1".parse().unwrap()))
        .with_local_v6(Some("fd00:250::1".parse().unwrap())),
    )
    .unwrap();

    // The Linux devices come up (and send their first neighbour discovery
    // over the tunnel) once Tern takes their VNI.
    sh(&format!(
        "ip -n {linux} link set vx4 up && ip -n {linux} link set vx6 up"
    ));
    // The pod's addresses behind each Linux device, with a neighbour entry
    // (the Tern node answers no ARP or ND over the tunnel; any MAC does).
    sh(&format!(
        "ip -n {linux} route add 10.251.1.11/32 dev vx4 && ip -n {linux} neigh add 10.251.1.11 lladdr 02:00:00:00:00:aa dev vx4 nud permanent \
         && ip -n {linux} route add 10.251.1.12/32 dev vx6 && ip -n {linux} neigh add 10.251.1.12 lladdr 02:00:00:00:00:aa dev vx6 nud permanent \
         && ip -n {linux} -6 route add fd00:251:1::11/128 dev vx4 && ip -n {linux} -6 neigh add fd00:251:1::11 lladdr 02:00:00:00:00:aa dev vx4 nud permanent \
         && ip -n {linux} -6 route add fd00:251:1::12/128 dev vx6 && ip -n {linux} -6 neigh add fd00:251:1::12 lladdr 02:00:00:00:00:aa dev vx6 nud permanent"
    ));
    // Until its addresses are trusted outer sources, the Linux VTEP's
    // packets are dropped (counted) on both underlays, whatever they carry.
    let unknown = |dp: &Datapath| {
        dp.drop_counters()
            .unwrap()
            .into_iter()
            .find(|(r, _)| *r == DropReason::UnknownTunnelSource)
            .map_or(0, |(_, n)| n)
    };
    for (underlay, own) in [("IPv4", "10.251.1.11"), ("IPv6", "10.251.1.12")] {
        let before = unknown(&dp);
        let st = netns_command(&linux, "ping")
            .args(["-c", "2", "-i", "0.2", "-W", "1", own])
            .output()
            .unwrap();
        assert!(
            !st.status.success(),
            "{underlay} underlay: ping from an untrusted VTEP got through"
        );
        assert!(
            unknown(&dp) >= before + 2,
            "{underlay} underlay: counted as unknown-tunnel-source ({before} -> {})",
            unknown(&dp)
        );
    }
    // Trusted as ternd trusts it: the `datapath vtep` address (with the
    // tunnel map's nodes, the same here).
    dp.set_trusted_sources(
        &[
            "10.250.0.2/32".parse().unwrap(),
            "fd00:250::2/128".parse().unwrap(),
        ]
        .into(),
    )
    .unwrap();
    let refused = unknown(&dp);
    let mut port = 7300;
    for (underlay, own4, own6, dev4, dev6) in [
        (
            "IPv4",
            "10.251.1.11",
            "fd00:251:1::11",
            "10.99.4.1",
            "fd00:99:4::1",
        ),
        (
            "IPv6",
            "10.251.1.12",
            "fd00:251:1::12",
            "10.99.6.1",
            "fd00:99:6::1",
        ),
    ] {
        for (own, dev) in [(own4, dev4), (own6, dev6)] {
            // Pinned to the pod address the Linux side routes to this device.
            run_ok(
                netns_command(&pod, "ping")
                    .args(["-c", "3", "-i", "0.2", "-W", "2", "-I", own, dev]),
            );
            ping(&linux, own);
            tcp_transfer(&linux, dev, &pod, port);
            port += 1;
            println!(
                "{underlay} underlay: pod {own} <-> Linux VXLAN {dev}: ping both ways, 1 MiB over TCP"
            );
        }
    }
    // Nothing dropped once trusted (the refused ones were counted before).
    let drops: Vec<(DropReason, u64)> = dp
        .drop_counters()
        .unwrap()
        .into_iter()
        .filter(|(r, n)| *n > 0 && !(*r == DropReason::UnknownTunnelSource && *n == refused))
        .collect();
    assert!(drops.is_empty(), "datapath drops: {drops:?}");
    let paths = dp.path_counters().unwrap();
    let count = |k: PathKind| paths.iter().find(|(p, _)| *p == k).map_or(0, |(_, n)| *n);
    assert!(
        count(PathKind::VxlanEncap) > 0 && count(PathKind::VxlanDeliver) > 0,
        "{paths:?}"
    );
    drop(dp);
    let _ = std::fs::remove_dir(&pin);
}
