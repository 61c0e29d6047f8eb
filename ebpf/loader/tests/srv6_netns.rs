//! The SRv6 L3VPN datapath on real namespaces: two "nodes" joined by an
//! IPv6-only veth fabric, two pods per node in two VRFs (tables 100 and
//! 200) with the same addresses, SIDs, locators and SR policies written
//! by the test (no BGP). Pods reach their own VRF's pod on the other node
//! (ping, 4 MiB of TCP each way, which the pods' stacks send as GSO
//! packets), never the other VRF's; UDP GSO sends arrive as whole
//! datagrams; tshark decodes the captured fabric packets as IPv6 to the
//! remote SID carrying the pods' packets. Then again with the fabric's
//! IPv6-in-IPv6 segmentation offload off: the kernel cuts the encapsulated
//! GSO packets in software. Needs root, iproute2, ethtool, ping, tcpdump
//! and tshark; fails (never skips) without them. Namespaces carry the
//! prefix `tsr<pid>` and are deleted on drop.
// Test helpers unwrap too (clippy.toml allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]
mod common;

use std::{
    io::{ErrorKind, Read, Write},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::Command,
    time::Duration,
};

use tern_ebpf::{
    Datapath, DatapathConfig, Hook,
    datapath::{Mode, PathKind},
    srv6::{Behavior, Srv6Encap},
};
use tern_tests::{Capture, Netns, netns_command, require_tool, run_ok, udp_gso, with_netns};

/// The VRFs: (name, table id).
const VRFS: [(&str, u32); 2] = [("a", 100), ("b", 200)];

fn run(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A pod's IPv4 address on node `node` (the same in both VRFs).
fn pod_v4(node: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 240, node as u8, 10)
}

fn pod_v6(node: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0x240, node as u16, 0, 0, 0, 0, 0x10)
}

/// Node `node`'s End.DT46 SID of the VRF with table `table`.
fn sid(node: usize, table: u32) -> Ipv6Addr {
    Ipv6Addr::new(0xfc00, 0, node as u16, table as u16, 0, 0, 0, 0)
}

struct Lab {
    prefix: String,
    namespaces: Vec<Netns>,
    dir: PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Lab {
    fn node(&self, i: usize) -> String {
        format!("{}n{i}", self.prefix)
    }
    fn pod(&self, node: usize, vrf: &str) -> String {
        format!("{}p{node}{vrf}", self.prefix)
    }
}

/// Two nodes on an IPv6 fabric (fd00:250::/64), each with a pod per VRF.
fn build() -> Lab {
    for t in ["ip", "ethtool", "ping", "tcpdump", "tshark"] {
        require_tool(t);
    }
    let prefix = format!("tsr{}", std::process::id());
    let dir = std::env::temp_dir().join(&prefix);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut lab = Lab {
        prefix: prefix.clone(),
        namespaces: Vec::new(),
        dir,
    };
    for i in 1..=2 {
        let n = lab.node(i);
        lab.namespaces.push(Netns::new(&n));
        run_ok(netns_command(&n, "sysctl").args([
            "-qw",
            "net.ipv4.conf.all.forwarding=1",
            "net.ipv6.conf.all.forwarding=1",
        ]));
    }
    let (n1, n2) = (lab.node(1), lab.node(2));
    run(&format!(
        "ip link add up0 netns {n1} type veth peer name up0 netns {n2}"
    ));
    for i in 1..=2 {
        let n = lab.node(i);
        let other = 3 - i;
        // The node's IPv4 address on lo only gives ARP towards the pods a
        // source address; the fabric carries IPv6 alone.
        run(&format!(
            "ip -n {n} link set lo up && ip -n {n} addr add 10.250.0.{i}/32 dev lo \
             && ip -n {n} addr add fd00:250::{i}/64 dev up0 nodad && ip -n {n} link set up0 up \
             && ip -n {n} -6 route add fc00:0:{other}::/48 via fd00:250::{other}"
        ));
        for (j, (vrf, table)) in VRFS.iter().enumerate() {
            let ns = lab.pod(i, vrf);
            lab.namespaces.push(Netns::new(&ns));
            let host_mac = format!("02:00:00:0{i}:0{j}:01");
            let pod_mac = format!("02:00:00:0{i}:0{j}:02");
            run(&format!(
                "ip link add lxc{vrf} netns {n} address {host_mac} type veth peer name eth0 netns {ns} \
                   address {pod_mac} \
                 && ip -n {n} link set lxc{vrf} up && ip -n {ns} link set lo up \
                 && ip -n {ns} link set eth0 up && ip -n {ns} link set eth0 mtu 1460 \
                 && ip -n {ns} addr add {v4}/32 dev eth0 && ip -n {ns} addr add {v6}/128 dev eth0 nodad \
                 && ip -n {ns} route add 169.254.1.1 dev eth0 scope link \
                 && ip -n {ns} route add default via 169.254.1.1 dev eth0 \
                 && ip -n {ns} neigh add 169.254.1.1 lladdr {host_mac} dev eth0 nud permanent \
                 && ip -n {ns} -6 route add default via fe80::1 dev eth0 \
                 && ip -n {ns} -6 neigh add fe80::1 lladdr {host_mac} dev eth0 nud permanent \
                 && ip -n {n} route add {v4}/32 dev lxc{vrf} table {table} \
                 && ip -n {n} -6 route add {v6}/128 dev lxc{vrf} table {table}",
                v4 = pod_v4(i),
                v6 = pod_v6(i),
            ));
        }
    }
    lab
}

/// Node `i`'s datapath: the uplink and both pods attached, the VRFs, the
/// local SIDs and locator, and the SR policies towards the other node.
fn node_datapath(lab: &Lab, i: usize) -> Datapath {
    let mut dp = Datapath::load(None).expect("load datapath (root needed)");
    let n = lab.node(i);
    let (up, pods) = with_netns(&n, || {
        let up = dp.attach(Hook::Uplink, "up0").expect("attach uplink");
        let pods: Vec<u32> = VRFS
            .iter()
            .map(|(vrf, _)| dp.attach(Hook::Pod, &format!("lxc{vrf}")).unwrap())
            .collect();
        (up, pods)
    });
    dp.set_config(
        &DatapathConfig {
            uplink_ifindex: up,
            uplink_mtu: 1500,
            ..DatapathConfig::new(Mode::Native)
        }
        .with_local_v6(Some(format!("fd00:250::{i}").parse().unwrap())),
    )
    .unwrap();
    let other = 3 - i;
    dp.upsert_srv6_locator(format!("fc00:0:{i}::/48").parse().unwrap())
        .unwrap();
    for ((_, table), ifindex) in VRFS.iter().zip(pods) {
        dp.set_vrf_iface(ifindex, *table).unwrap();
        dp.upsert_srv6_sid(sid(i, *table), Behavior::EndDt46, *table)
            .unwrap();
        let policy = Srv6Encap::new(vec![sid(other, *table)]);
        for prefix in [
            format!("10.240.{other}.0/24"),
            format!("fd00:240:{other}::/64"),
        ] {
            dp.upsert_srv6_encap(*table, prefix.parse().unwrap(), &policy)
                .unwrap();
        }
    }
    dp
}

fn ping(from_ns: &str, to: IpAddr) {
    let six = if to.is_ipv6() { "-6" } else { "-4" };
    run_ok(netns_command(from_ns, "ping").args([
        six,
        "-c",
        "3",
        "-i",
        "0.2",
        "-W",
        "2",
        &to.to_string(),
    ]));
}

fn bind_any(addr: IpAddr, port: u16) -> SocketAddr {
    match addr {
        IpAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
        IpAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
    }
}

/// Sends 4 MiB over TCP from the pod in `from_ns` to `addr` (a listener
/// in `to_ns`) and checks every byte arrived.
fn tcp_transfer(from_ns: &str, to_ns: &str, addr: IpAddr, port: u16) {
    let data: Vec<u8> = (0..4 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let listener = with_netns(to_ns, || {
        TcpListener::bind(bind_any(addr, port)).expect("listen in pod")
    });
    std::thread::scope(|s| {
        let server = s.spawn(|| {
            let (mut c, _) = listener.accept().expect("accept");
            c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut got = Vec::new();
            c.read_to_end(&mut got).expect("read");
            got
        });
        with_netns(from_ns, || {
            let mut c =
                TcpStream::connect_timeout(&SocketAddr::new(addr, port), Duration::from_secs(10))
                    .unwrap_or_else(|e| panic!("connect {from_ns} -> {addr}: {e}"));
            c.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
            c.write_all(&data).expect("send");
        });
        let got = server.join().expect("server");
        assert_eq!(got.len(), data.len(), "TCP {from_ns} -> {addr}: length");
        assert!(got == data, "TCP {from_ns} -> {addr}: content");
    });
}

/// What the fabric captures keep: IPv6 unicast but ICMPv6 (neighbour
/// discovery).
const FABRIC_FILTER: &str = "ip6 and not icmp6 and not ip6 multicast";

#[test]
fn pods_reach_their_own_vrf_across_nodes_over_srv6_and_never_the_other() {
    let lab = build();
    let dp1 = node_datapath(&lab, 1);
    let dp2 = node_datapath(&lab, 2);
    let file = lab.dir.join("fabric.pcap");
    let capture = Capture::filtered(&lab.node(1), "up0", &file, FABRIC_FILTER);
    let mut port = 7300;
    for (vrf, _) in VRFS {
        let (from, to) = (lab.pod(1, vrf), lab.pod(2, vrf));
        ping(&from, IpAddr::V4(pod_v4(2)));
        ping(&from, IpAddr::V6(pod_v6(2)));
        for addr in [IpAddr::V4(pod_v4(2)), IpAddr::V6(pod_v6(2))] {
            port += 1;
            tcp_transfer(&from, &to, addr, port);
            // The other way round.
            port += 1;
            let back = match addr {
                IpAddr::V4(_) => IpAddr::V4(pod_v4(1)),
                IpAddr::V6(_) => IpAddr::V6(pod_v6(1)),
            };
            tcp_transfer(&to, &from, back, port);
        }
    }
    // UDP GSO (as QUIC stacks send): one 14,000-byte send cut into
    // datagrams of 1,400 by the pod's stack only when it leaves a link.
    for addr in [IpAddr::V4(pod_v4(2)), IpAddr::V6(pod_v6(2))] {
        port += 1;
        udp_gso(
            &lab.pod(1, "a"),
            &lab.pod(2, "a"),
            addr,
            port,
            1400,
            Duration::from_secs(5),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    // Isolation: a listener in node 2's VRF A pod is not reachable from
    // node 1's VRF B pod, whose packets land in node 2's VRF B pod (no
    // listener there: refused).
    port += 1;
    let listener = with_netns(&lab.pod(2, "a"), || {
        TcpListener::bind(bind_any(IpAddr::V4(pod_v4(2)), port)).unwrap()
    });
    let refused = with_netns(&lab.pod(1, "b"), || {
        TcpStream::connect_timeout(
            &SocketAddr::new(IpAddr::V4(pod_v4(2)), port),
            Duration::from_secs(5),
        )
    });
    assert_eq!(
        refused.map(|_| ()).map_err(|e| e.kind()),
        Err(ErrorKind::ConnectionRefused),
        "VRF B reached VRF A's listener"
    );
    drop(listener);
    let pcap = capture.stop();
    for (dp, name) in [(&dp1, "node 1"), (&dp2, "node 2")] {
        let encap = common::path(dp, PathKind::Srv6Encap);
        let decap = common::path(dp, PathKind::Srv6Decap);
        assert!(
            encap > 100 && decap > 100,
            "{name}: {encap} encapsulated, {decap} decapsulated"
        );
        let drops: Vec<_> = dp
            .drop_counters()
            .unwrap()
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect();
        assert!(drops.is_empty(), "{name}: drops {drops:?}");
    }
    // tshark: the fabric carries IPv6 to the remote SIDs, the pods' packets inside.
    let out = run(&format!(
        "tshark -n -r {} -T fields -E separator='|' -e ipv6.dst -e ip.src -e ip.dst -e frame.len",
        pcap.display()
    ));
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('|').collect()).collect();
    assert!(rows.len() > 100, "captured {} packets", rows.len());
    let sids: Vec<String> = VRFS
        .iter()
        .flat_map(|(_, t)| [sid(1, *t).to_string(), sid(2, *t).to_string()])
        .collect();
    let mut v4_inside = 0;
    for r in &rows {
        let outer_dst = r[0].split(',').next().unwrap_or("");
        assert!(sids.iter().any(|s| s == outer_dst), "not to a SID: {r:?}");
        if r[1] == pod_v4(1).to_string() || r[1] == pod_v4(2).to_string() {
            v4_inside += 1;
        }
    }
    assert!(v4_inside > 10, "IPv4 pods' packets inside: {v4_inside}");
    let v6_inside = rows
        .iter()
        .filter(|r| r[0].contains(&pod_v6(2).to_string()) || r[0].contains(&pod_v6(1).to_string()))
        .count();
    assert!(v6_inside > 10, "IPv6 pods' packets inside: {v6_inside}");
    // The pods' TCP left as GSO packets (the veths keep them whole): some
    // crossed the fabric larger than its MTU, to be cut where they leave a
    // real link, with the room the outer header takes.
    let gso = rows
        .iter()
        .filter(|r| r[3].parse::<usize>().is_ok_and(|n| n > 1514))
        .count();
    assert!(gso > 0, "no GSO packet was encapsulated");

    // A fabric link that cannot take IPv6-in-IPv6 GSO packets whole (as a
    // NIC without that offload): the kernel cuts them in software, each
    // piece with its own outer header, and TCP and UDP GSO still arrive.
    for i in 1..=2 {
        run(&format!(
            "ip netns exec {} ethtool -K up0 tx-ipxip6-segmentation off",
            lab.node(i)
        ));
    }
    let file = lab.dir.join("segmented.pcap");
    let capture = Capture::filtered(&lab.node(1), "up0", &file, FABRIC_FILTER);
    let (from, to) = (lab.pod(1, "a"), lab.pod(2, "a"));
    for addr in [IpAddr::V4(pod_v4(2)), IpAddr::V6(pod_v6(2))] {
        port += 1;
        tcp_transfer(&from, &to, addr, port);
        port += 1;
        udp_gso(&from, &to, addr, port, 1400, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let pcap = capture.stop();
    let out = run(&format!(
        "tshark -n -r {} -T fields -E separator='|' -e ipv6.dst -e frame.len",
        pcap.display()
    ));
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('|').collect()).collect();
    assert!(rows.len() > 100, "captured {} packets", rows.len());
    for r in &rows {
        let outer_dst = r[0].split(',').next().unwrap_or("");
        assert!(sids.iter().any(|s| s == outer_dst), "not to a SID: {r:?}");
        let len: usize = r[1].parse().unwrap();
        assert!(len <= 1514, "a {len}-byte frame on a 1500-byte link: {r:?}");
    }
    for (dp, name) in [(&dp1, "node 1"), (&dp2, "node 2")] {
        let drops: Vec<_> = dp
            .drop_counters()
            .unwrap()
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect();
        assert!(drops.is_empty(), "{name}: drops {drops:?}");
    }
}
