//! Path MTU through the tunnels (issue 17, item 1), on the datapath lab
//! (lab/topologies/datapath.clab.yml: FRR tor1, two Tern nodes with two
//! pods each): the link from tor1 to node2 is narrowed to 1400 bytes on
//! both ends, so tor1 answers node1's larger tunnel packets with ICMP
//! "fragmentation needed" / "packet too big" addressed to node1. In VXLAN
//! and in Geneve mode, for IPv4 and IPv6:
//! - node1 learns the path MTU towards node2 from that message (`show
//!   datapath json`: `pathMtus`, and the `path-mtu-learnt` path counter);
//! - a pod on node1 that sends a full-size packet with DF gets "too big"
//!   with the room the tunnel leaves (1400 - 50 = 1350), so ping reports
//!   that MTU;
//! - 1 MiB over TCP goes through, both ways (node2's own uplink is 1400:
//!   its pods are told at once);
//! - IPv4 without DF is fragmented as a router would (issue 17, item 2):
//!   4000-byte and 1430-byte pings without DF (the pods' route caches
//!   flushed, so that they send packets of their link's MTU, 1430) go
//!   through, both ways, none lost. node1 fragments the requests (too big
//!   for the 1350 bytes the learnt path leaves), node2 the replies (its
//!   narrowed uplink leaves 1350 too), each through its stack and the
//!   VXLAN device's egress program (`stack-fragment`,
//!   `fragment-tunnelled`).
//!
//! Before, large packets from node1's pods vanished (Geneve sets DF on the
//! outer header; VXLAN's outer IPv6 cannot be fragmented on the way), and
//! TCP hung. Needs root, FRR and ping (lab/setup.sh); fails (never skips)
//! without them.
use std::process::Command;

use tern_tests::{
    Lab, eventually, netns_command, pod_addr, run, run_ok, tcp_transfer, tern, tern_script,
};

/// The narrowed link's MTU.
const LINK_MTU: u32 = 1400;

/// `ping -M do` from `ns` to `to` with `size` bytes of payload; ping's output.
fn ping_df(ns: &str, to: &str, size: u32) -> String {
    ping(ns, to, "do", size, 1)
}

/// `count` pings without DF (`-M dont`), 0.2 s apart; ping's output.
fn ping_no_df(ns: &str, to: &str, size: u32, count: u32) -> String {
    ping(ns, to, "dont", size, count)
}

fn ping(ns: &str, to: &str, df: &str, size: u32, count: u32) -> String {
    let out = run(netns_command(ns, "ping").args([
        "-M",
        df,
        "-c",
        &count.to_string(),
        "-i",
        "0.2",
        "-W",
        "1",
        "-s",
        &size.to_string(),
        to,
    ]));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn pods_behind_a_narrower_link_are_told_its_mtu_in_vxlan_and_geneve_mode() {
    let lab = Lab::up("datapath.clab.yml", "pmtu");
    let (tor, n1, n2) = (lab.ns("tor1"), lab.ns("node1"), lab.ns("node2"));
    let (p1, p2) = (lab.ns("node1-pod1"), lab.ns("node2-pod1"));
    tern_tests::tor_next_hop_unchanged(&tor);
    let mtu = LINK_MTU.to_string();
    run_ok(Command::new("ip").args(["-n", &tor, "link", "set", "eth2", "mtu", &mtu]));
    run_ok(Command::new("ip").args(["-n", &n2, "link", "set", "eth1", "mtu", &mtu]));
    let mut port = 7100;
    for mode in ["geneve", "vxlan"] {
        for n in [&n1, &n2] {
            tern_script(
                n,
                &format!("configure terminal\ndatapath mode {mode}\nend\n"),
            );
        }
        for (n, other) in [(&n1, "10.244.2."), (&n2, "10.244.1.")] {
            eventually(60, "the tunnel mode with the other node's pods", || {
                let v = tern(n, "show datapath json");
                if v["mode"] == mode && v["tunnels"].to_string().contains(other) {
                    Ok(())
                } else {
                    Err(format!(
                        "{n} in {mode} mode with the other node's pods: {v}"
                    ))
                }
            });
        }
        for v6 in [false, true] {
            // The pods start from their link's MTU each time.
            let fam = if v6 { "-6" } else { "-4" };
            run_ok(Command::new("ip").args(["-n", &p1, fam, "route", "flush", "cache"]));
            let (a1, a2) = (pod_addr(&p1, v6), pod_addr(&p2, v6));
            let header = if v6 { 48 } else { 28 };
            // IPv6 pods' prefixes have IPv6 next hops: the outer header is
            // IPv6 too (70 bytes of tunnel, 50 over IPv4).
            let room = LINK_MTU - if v6 { 70 } else { 50 };
            // A packet that fills the pod's MTU does not fit the narrow
            // link: the first is lost while node1 learns, the next ones get
            // "too big" with the room left.
            let said = eventually(20, "ICMP too big with the room left", || {
                let out = ping_df(&p1, &a2, 1430 - header);
                if out.contains("mtu") && out.contains(&room.to_string()) {
                    Ok(out)
                } else {
                    Err(format!("{mode} {fam}: ping -M do from {p1} to {a2}: {out}"))
                }
            });
            let fits = ping_df(&p1, &a2, room - header);
            assert!(
                fits.contains(" 0% packet loss"),
                "{mode} {fam}: {room} bytes fit: {fits}"
            );
            println!(
                "{mode} {fam}: the pod is told mtu {room}: {}",
                said.lines().find(|l| l.contains("mtu")).unwrap_or("")
            );
            tcp_transfer(&p2, &a2, &p1, port);
            tcp_transfer(&p1, &a1, &p2, port + 1);
            port += 2;
            if !v6 {
                no_df_is_fragmented(mode, (&n1, &n2), (&p1, &p2), &a2);
            }
        }
        let v = tern(&n1, "show datapath json");
        let learnt = v["pathMtus"].as_array().cloned().unwrap_or_default();
        for node in ["192.0.2.3", "2001:db8:0:2::2"] {
            assert!(
                learnt
                    .iter()
                    .any(|e| e["node"] == node && e["mtu"] == u64::from(LINK_MTU)),
                "{mode}: node1 learnt the path MTU to node2's {node}: {v}"
            );
        }
        assert!(
            v["paths"]["path-mtu-learnt"].as_u64().unwrap_or(0) > 0,
            "{mode}: {}",
            v["paths"]
        );
    }
    println!("1 MiB over TCP both ways in Geneve and VXLAN mode, IPv4 and IPv6");
}

/// A path counter of `show datapath json` on node `n`.
fn path_count(n: &str, name: &str) -> u64 {
    tern(n, "show datapath json")["paths"][name]
        .as_u64()
        .unwrap_or(0)
}

/// IPv4 pings without DF from `p1` to `a2` (`p2`'s) in `mode`: 4000 and
/// 1430 bytes, every one answered; each node fragmented through its stack
/// (node1 the requests, node2 the replies).
fn no_df_is_fragmented(mode: &str, (n1, n2): (&str, &str), (p1, p2): (&str, &str), a2: &str) {
    for p in [p1, p2] {
        run_ok(Command::new("ip").args(["-n", p, "-4", "route", "flush", "cache"]));
    }
    let before = [n1, n2].map(|n| {
        (
            path_count(n, "stack-fragment"),
            path_count(n, "fragment-tunnelled"),
        )
    });
    for size in [3972, 1402] {
        let out = ping_no_df(p1, a2, size, 10);
        assert!(
            out.contains(" 0% packet loss"),
            "{mode}: {} bytes without DF from {p1} to {a2}: {out}",
            size + 28
        );
    }
    for (n, (made, tunnelled)) in [n1, n2].into_iter().zip(before) {
        let (m, t) = (
            path_count(n, "stack-fragment"),
            path_count(n, "fragment-tunnelled"),
        );
        assert!(
            m > made && t > tunnelled,
            "{mode}: {n} fragmented through its stack: stack-fragment {made} -> {m}, \
             fragment-tunnelled {tunnelled} -> {t}"
        );
    }
    println!("{mode}: 4000 and 1430 bytes without DF fragmented by both nodes, none lost");
}
