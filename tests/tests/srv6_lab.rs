//! The SRv6 L3VPN end to end (lab/topologies/srv6.clab.yml, issue 14): FRR
//! tor1 on an IPv6 fabric (the SIDs routed over IPv6, VPNv4 routes on IPv4
//! sessions), two Tern nodes, each with pods red1 and red2 in VRF red and
//! blue1 in VRF blue, blue1 holding red1's addresses.
//! Checked with real packets:
//! - red pods reach the other node's red pods and blue1 the other blue1
//!   (ping and a 1 MiB TCP transfer with every byte checked, IPv4 and
//!   IPv6), carried by the datapath's SRv6 paths (srv6-encap on the sender,
//!   srv6-decap on the receiver);
//! - red never reaches blue: the same address answers with its own VRF's
//!   server (a red client hears "red", a blue client "blue"), and an
//!   address that only red has is no route for blue (vrf-no-route);
//! - no other drop on either node;
//! - tshark reads the packets on node1's link to tor1 as IPv6 from node1's
//!   uplink address to a SID inside node2's locator, with the pod's packet
//!   inside, a different SID for each VRF.
//!
//! Needs root, FRR, ping, tcpdump, tshark and python3 (lab/setup.sh); fails
//! (never skips) without them.
use std::{
    collections::{BTreeMap, BTreeSet},
    io::{Read, Write},
    net::{IpAddr, Ipv6Addr, SocketAddr},
    path::Path,
    process::Command,
    time::Duration,
};

use tern_tests::{
    Capture, CniPods, Lab, bin, eventually, in_netns, ns_ping, require_tool, run, run_ok,
    tcp_transfer, tern, vtysh,
};

/// The lab's name in this test (namespaces `clab-srv6-*`).
const LAB: &str = "srv6";
const NODES: [&str; 2] = ["node1", "node2"];
/// Each node's pods and their VRF.
const PODS: [(&str, &str); 3] = [("red1", "red"), ("red2", "red"), ("blue1", "blue")];

fn ns(node: &str) -> String {
    format!("clab-{LAB}-{node}")
}

fn pod_ns(node: &str, pod: &str) -> String {
    format!("clab-{LAB}-{node}-{pod}")
}

fn drops(node: &str) -> BTreeMap<String, u64> {
    let v = tern(&ns(node), "show datapath drops json");
    v["drops"]
        .as_object()
        .unwrap_or_else(|| panic!("no drops in {v}"))
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or_default()))
        .collect()
}

fn path(node: &str, name: &str) -> u64 {
    let v = tern(&ns(node), "show datapath json");
    v["paths"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no path counter {name} in {v}"))
}

/// The reasons whose count differs between two readings.
fn grown(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeSet<String> {
    after
        .iter()
        .filter(|(k, n)| before.get(*k).copied().unwrap_or_default() != **n)
        .map(|(k, _)| k.clone())
        .collect()
}

/// A TCP server in `server_ns` on `addr:port` that writes `banner` to one
/// client; the client in `client_ns` reads what it is told (Err: it could
/// not connect or read).
fn banner(server_ns: &str, banner: &'static str, client_ns: &str, addr: SocketAddr) -> String {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server = in_netns(server_ns, move || {
        let l = std::net::TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let _ = ready_tx.send(());
        let (mut c, _) = l.accept().expect("accept");
        c.write_all(banner.as_bytes()).expect("write the banner");
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the server never listened");
    let heard = in_netns(client_ns, move || {
        let mut c = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut s = String::new();
        c.read_to_string(&mut s).expect("read the banner");
        s
    })
    .join()
    .expect("client thread");
    server.join().expect("server thread");
    heard
}

/// The SRv6 packets of a capture as tshark decodes them: (outer source,
/// outer destination, inner source, inner destination).
fn srv6_packets(file: &Path) -> Vec<(Ipv6Addr, Ipv6Addr, IpAddr, IpAddr)> {
    let out = run_ok(Command::new("tshark").args(["-n", "-r"]).arg(file).args([
        "-Y",
        "ipv6.nxt == 4 || ipv6.nxt == 41",
        "-T",
        "fields",
        "-E",
        "separator=;",
        "-e",
        "ipv6.src",
        "-e",
        "ipv6.dst",
        "-e",
        "ip.src",
        "-e",
        "ip.dst",
    ]));
    let malformed = run_ok(
        Command::new("tshark")
            .args(["-n", "-r"])
            .arg(file)
            .args(["-Y", "_ws.malformed || _ws.expert.severity >= error"]),
    );
    assert!(
        malformed.trim().is_empty(),
        "tshark flags packets: {malformed}"
    );
    out.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(';').collect();
            let v6 = |s: &str| -> Vec<Ipv6Addr> {
                s.split(',').filter_map(|a| a.parse().ok()).collect()
            };
            let (srcs, dsts) = (v6(f[0]), v6(f[1]));
            let (inner_src, inner_dst): (IpAddr, IpAddr) = if f[2].is_empty() {
                // IPv6 in IPv6: the second header is the pod's.
                assert!(srcs.len() == 2 && dsts.len() == 2, "{l}");
                (srcs[1].into(), dsts[1].into())
            } else {
                (
                    f[2].parse().unwrap_or_else(|e| panic!("{e}: {l}")),
                    f[3].parse().unwrap_or_else(|e| panic!("{e}: {l}")),
                )
            };
            (srcs[0], dsts[0], inner_src, inner_dst)
        })
        .collect()
}

#[test]
fn vrf_pods_reach_their_own_vrf_across_nodes_over_srv6() {
    for t in ["ping", "tcpdump", "tshark", "vtysh", "python3"] {
        require_tool(t);
    }
    let lab = Lab::up("srv6.clab.yml", LAB);
    let dir = lab
        .topology()
        .parent()
        .expect("the copy's folder")
        .to_owned();
    let mut pods = CniPods::new(LAB);
    for node in NODES {
        for (pod, vrf) in PODS {
            pods.add(node, pod, vrf, &dir.join(format!("srv6/{node}/{vrf}.conf")));
        }
        // Two VRFs, the same addresses; never twice in one VRF.
        for v6 in [false, true] {
            assert_eq!(
                pods.addr(node, "red1", v6),
                pods.addr(node, "blue1", v6),
                "{node}"
            );
            assert_ne!(pods.addr(node, "red1", v6), pods.addr(node, "red2", v6));
        }
    }
    // Each node has its VRF pods programmed and the other node's VPN routes
    // as policies, without an error.
    for node in NODES {
        eventually(90, &format!("{node}: the datapath programmed"), || {
            let v = tern(&ns(node), "show datapath json");
            let eps = tern(&ns(node), "show datapath endpoints json");
            let attached = eps["endpoints"]
                .as_array()
                .map_or(0, |a| a.iter().filter(|e| e["attached"] == true).count());
            if v["lastError"].is_null() && attached == PODS.len() {
                Ok(())
            } else {
                Err(format!("{v}\n{eps}"))
            }
        });
    }

    // `show ip route vrf red`: node1's own red pods as kernel routes, node2's
    // as BGP routes encapsulated to a SID of node2's locator; blue's table
    // has no red2.
    for (v6, cmd) in [
        (false, "show ip route vrf red json"),
        (true, "show ipv6 route vrf red json"),
    ] {
        let own = pods.addr("node1", "red1", v6);
        let len = if v6 { 128 } else { 32 };
        let remote = pods.addr("node2", "red2", v6);
        // The BGP sessions come up and the VPN routes arrive after the
        // datapath is programmed.
        let t = eventually(90, &format!("node1: {remote} in {cmd}"), || {
            let t = tern(&ns("node1"), cmd);
            if t[format!("{remote}/{len}")][0]["protocol"] == "bgp" {
                Ok(t)
            } else {
                Err(format!(
                    "{t}\ntor1:\n{}\n{}\nnode1: {}",
                    tern_tests::vtysh_text(&ns("tor1"), "show bgp summary"),
                    tern_tests::vtysh_text(&ns("tor1"), "show bgp ipv4 vpn"),
                    tern(&ns("node1"), "show bgp summary json")
                ))
            }
        });
        let mine = &t[format!("{own}/{len}")][0];
        assert_eq!(mine["protocol"], "kernel", "{cmd}: {t}");
        assert_eq!(mine["vrfName"], "red", "{cmd}: {t}");
        let theirs = &t[format!("{remote}/{len}")][0];
        assert_eq!(theirs["protocol"], "bgp", "{cmd}: {t}");
        let seg = theirs["nexthops"][0]["seg6"]["segs"]
            .as_str()
            .unwrap_or_else(|| panic!("{cmd}: no seg6 on {remote}: {t}"));
        assert!(seg.starts_with("fc00:0:2:"), "{cmd}: {seg}");
        let blue = tern(&ns("node1"), &cmd.replace("red", "blue"));
        assert!(blue.get(format!("{remote}/{len}")).is_none(), "{blue}");
    }

    // The VPN tables as FRR shows them: node1 has its own red pods under
    // its RD (exported from VRF red, table 100) and node2's under node2's
    // RD, with the label and SID that tor1's FRR received for the same
    // route from node2.
    for v6 in [false, true] {
        let (fam, len) = if v6 { ("ipv6", 128) } else { ("ipv4", 32) };
        let own = format!("{}/{len}", pods.addr("node1", "red1", v6));
        let remote = format!("{}/{len}", pods.addr("node2", "red2", v6));
        let t = tern(&ns("node1"), &format!("show bgp {fam} vpn json"));
        let rds = &t["routes"]["routeDistinguishers"];
        let mine = &rds["65001:100"][&own][0];
        assert_eq!(mine["nhVrfName"], "red", "{t}");
        assert_eq!(mine["nhVrfId"], 100, "{t}");
        assert_eq!(mine["bestpath"], true, "{t}");
        assert_eq!(rds["65002:100"][&remote][0]["valid"], true, "{t}");
        let detail = format!("show bgp {fam} vpn rd 65002:100 {remote} json");
        let ours = tern(&ns("node1"), &detail);
        let frr = eventually(30, &format!("tor1: {remote} from node2"), || {
            let v = vtysh(&ns("tor1"), &detail);
            if v["65002:100"]["paths"][0]["remoteSid"].is_string() {
                Ok(v)
            } else {
                Err(v.to_string())
            }
        });
        for key in ["remoteSid", "remoteLabel"] {
            assert_eq!(
                ours["65002:100"]["paths"][0][key], frr["65002:100"]["paths"][0][key],
                "{key}: tern {ours}\nfrr {frr}"
            );
        }
        let text = tern_tests::tern_text(&ns("node1"), &format!("show bgp {fam} vpn"));
        assert!(text.contains("Route Distinguisher: 65002:100\n"), "{text}");
        assert!(text.contains(" sid=fc00:0:2:"), "{text}");
    }
    // `rd all` is the whole table; an RD that does not read is refused
    // with FRR's words.
    assert_eq!(
        tern_tests::tern_text(&ns("node1"), "show bgp ipv4 vpn rd all"),
        tern_tests::tern_text(&ns("node1"), "show bgp ipv4 vpn")
    );
    let bad = run(Command::new(bin("tern")).args([
        "-N",
        &ns("node1"),
        "-c",
        "show bgp ipv4 vpn rd 65001:x",
    ]));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("% Malformed Route Distinguisher")
            || String::from_utf8_lossy(&bad.stdout).contains("% Malformed Route Distinguisher"),
        "{bad:?}"
    );
    // The VPN families in the summary: node2's routes through tor1, ours
    // sent to it.
    let sum = tern(&ns("node1"), "show bgp summary json");
    for (fam, peer) in [("ipv4Vpn", "192.0.2.0"), ("ipv6Vpn", "2001:db8:0:1::1")] {
        let p = &sum[fam]["peers"][peer];
        assert!(p["pfxRcd"].as_u64().unwrap_or(0) >= 2, "{fam}: {sum}");
        assert!(p["pfxSnt"].as_u64().unwrap_or(0) >= 2, "{fam}: {sum}");
    }
    let loc = tern(&ns("node1"), "show segment-routing srv6 locator json");
    assert_eq!(loc["locators"][0]["name"], "MAIN", "{loc}");
    assert_eq!(loc["locators"][0]["prefix"], "fc00:0:1::/48", "{loc}");
    assert_eq!(loc["locators"][0]["chunks"][0]["proto"], "bgp", "{loc}");
    let vrfs = tern_tests::tern_text(&ns("node1"), "show vrf");
    assert_eq!(
        vrfs, "vrf blue id 200 table 200 (configured)\nvrf red id 100 table 100 (configured)\n",
        "show vrf"
    );

    let capture = Capture::filtered(&ns("node1"), "eth1", &dir.join("srv6.pcap"), "ip6");
    let drops_before: Vec<_> = NODES.iter().map(|n| drops(n)).collect();
    let encap_before: Vec<u64> = NODES.iter().map(|n| path(n, "srv6-encap")).collect();
    let decap_before: Vec<u64> = NODES.iter().map(|n| path(n, "srv6-decap")).collect();

    // Each VRF's pods across nodes, both ways.
    let pairs = [
        (("node1", "red1"), ("node2", "red1")),
        (("node1", "red2"), ("node2", "red2")),
        (("node2", "red1"), ("node1", "red2")),
        (("node1", "blue1"), ("node2", "blue1")),
        (("node2", "blue1"), ("node1", "blue1")),
    ];
    let mut port = 7100;
    for ((fn_, fp), (tn, tp)) in pairs {
        for v6 in [false, true] {
            let to = pods.addr(tn, tp, v6);
            let (from_ns, to_ns) = (pod_ns(fn_, fp), pod_ns(tn, tp));
            eventually(90, &format!("{from_ns} -> {to}"), || {
                ns_ping(&from_ns, &to, 2)
            });
            port += 1;
            tcp_transfer(&to_ns, &to, &from_ns, port);
        }
    }
    for (i, node) in NODES.iter().enumerate() {
        assert!(
            path(node, "srv6-encap") > encap_before[i],
            "{node}: srv6-encap"
        );
        assert!(
            path(node, "srv6-decap") > decap_before[i],
            "{node}: srv6-decap"
        );
        let after = drops(node);
        assert!(
            grown(&drops_before[i], &after).is_empty(),
            "{node}: drops while the VRFs' pods talked: {after:?}"
        );
    }

    // Red never reaches blue: the same address, each VRF's own server.
    for v6 in [false, true] {
        let same: IpAddr = pods.addr("node2", "red1", v6).parse().expect("address");
        port += 1;
        let at = SocketAddr::new(same, port);
        let heard_red = banner(
            &pod_ns("node2", "red1"),
            "red",
            &pod_ns("node1", "red1"),
            at,
        );
        assert_eq!(heard_red, "red", "a red client reaches red at {at}");
        let heard_blue = banner(
            &pod_ns("node2", "blue1"),
            "blue",
            &pod_ns("node1", "blue1"),
            at,
        );
        assert_eq!(heard_blue, "blue", "a blue client reaches blue at {at}");
    }
    let before_isolation = drops("node1");
    for v6 in [false, true] {
        // red2's address exists in red only: blue has no route to it.
        let red_only = pods.addr("node2", "red2", v6);
        assert!(
            ns_ping(&pod_ns("node1", "blue1"), &red_only, 2).is_err(),
            "blue reached red's {red_only}"
        );
    }
    let after_isolation = drops("node1");
    assert_eq!(
        grown(&before_isolation, &after_isolation),
        BTreeSet::from(["vrf-no-route".to_owned()]),
        "node1: blue's packets to red's address dropped for want of a route: {after_isolation:?}"
    );
    assert!(
        grown(&drops_before[1], &drops("node2")).is_empty(),
        "node2 saw none of them"
    );

    // The fabric: IPv6 from node1's uplink to a SID of node2's locator,
    // the pod's packet inside; red and blue flows between the same
    // addresses go to different SIDs.
    let file = capture.stop();
    let packets = srv6_packets(&file);
    let node1_up: Ipv6Addr = "2001:db8:0:1::2".parse().expect("address");
    // node2's locator, fc00:0:2::/48.
    let in_locator2 = |a: &Ipv6Addr| a.segments()[..3] == [0xfc00, 0, 2];
    let out: Vec<_> = packets.iter().filter(|p| p.0 == node1_up).collect();
    assert!(
        !out.is_empty(),
        "no SRv6 packet from node1 in {}",
        file.display()
    );
    for p in &out {
        assert!(
            in_locator2(&p.1),
            "outer destination {} outside node2's locator",
            p.1
        );
    }
    for v6 in [false, true] {
        let src: IpAddr = pods.addr("node1", "red1", v6).parse().expect("address");
        let dst: IpAddr = pods.addr("node2", "red1", v6).parse().expect("address");
        let sids: BTreeSet<Ipv6Addr> = out
            .iter()
            .filter(|p| p.2 == src && p.3 == dst)
            .map(|p| p.1)
            .collect();
        assert_eq!(
            sids.len(),
            2,
            "{src} -> {dst}: one SID for red, one for blue: {sids:?}"
        );
    }
    drop(pods);
    drop(lab);
}
