//! Hitless restart (lab/topologies/datapath.clab.yml with `bgp
//! graceful-restart` on both nodes; FRR tor1 is a graceful-restart helper
//! by default). Pods talk across the nodes, a ping stream both ways and a
//! TCP connection sending all along, while each node's ternd is killed
//! with SIGKILL and started again, one node after the other, in native
//! mode and then in Geneve mode. Nothing may be lost: every ping answered,
//! every byte of the TCP connection delivered in order, no reset. And the
//! eBPF datapath must have carried all of it: without it the kernel would
//! still route the pods natively, so the datapath's own counters of a pod
//! that only answers pings must count every request and every reply.
//!
//! What carries the pods meanwhile: the programs' TCX links and maps are
//! pinned, so they outlive the killed ternd; tor1 keeps the node's routes
//! (stale) and the node's kernel keeps tor1's; the new ternd adopts the
//! pins (its programs are swapped into the pinned links) and its BGP
//! sessions restart gracefully.
//!
//! Needs root, FRR, ping and bpffs (lab/setup.sh); fails (never skips)
//! without them.
use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use tern_tests::{
    Lab, Ternd, bin, endpoint_counters, eventually, gone, in_netns, insert_after, netns_command,
    ns_ping, pod_addr, require_tool, run_ok, tern_cmds, tor_next_hop_unchanged,
};

/// SIGKILL to `pid`; waits until it is gone.
fn kill9(pid: i32) {
    run_ok(Command::new("kill").args(["-KILL", &pid.to_string()]));
    eventually(10, "the killed ternd gone", || gone(pid));
}

/// A TCP connection from `client_ns` to `addr` that sends 64 bytes every
/// 10 ms until `until`; the server checks every byte. Returns the thread
/// that yields the bytes delivered, or why the connection failed.
fn trickle(
    server_ns: &str,
    client_ns: &str,
    addr: SocketAddr,
    until: Instant,
) -> std::thread::JoinHandle<Result<usize, String>> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server = in_netns(server_ns, move || -> Result<usize, String> {
        let l = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
        let _ = ready_tx.send(());
        let (mut c, _) = l.accept().map_err(|e| format!("accept: {e}"))?;
        c.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let mut got = 0usize;
        let mut buf = [0u8; 4096];
        loop {
            let n = c
                .read(&mut buf)
                .map_err(|e| format!("read after {got} bytes: {e}"))?;
            if n == 0 {
                return Ok(got);
            }
            if let Some(i) = (0..n).find(|i| buf[*i] != ((got + i) % 251) as u8) {
                return Err(format!("byte {} differs", got + i));
            }
            got += n;
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the TCP server never listened");
    let client = in_netns(client_ns, move || -> Result<usize, String> {
        let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let mut sent = 0usize;
        while Instant::now() < until {
            let chunk: Vec<u8> = (sent..sent + 64).map(|i| (i % 251) as u8).collect();
            c.write_all(&chunk)
                .map_err(|e| format!("write after {sent} bytes: {e}"))?;
            sent += 64;
            std::thread::sleep(Duration::from_millis(10));
        }
        c.shutdown(std::net::Shutdown::Write)
            .map_err(|e| e.to_string())?;
        Ok(sent)
    });
    std::thread::spawn(move || {
        let sent = client.join().map_err(|_| "client thread panicked")??;
        let got = server.join().map_err(|_| "server thread panicked")??;
        if got == sent {
            Ok(got)
        } else {
            Err(format!("{sent} bytes sent, {got} received"))
        }
    })
}

#[test]
fn pods_keep_talking_while_ternd_is_killed_and_restarted() {
    for t in ["ping", "vtysh"] {
        require_tool(t);
    }
    let lab = Lab::up_with(
        "datapath.clab.yml",
        &format!("hr{}", std::process::id()),
        |dir| {
            for n in ["node1", "node2"] {
                let conf = dir.join("datapath").join(n).join("ternd.conf");
                insert_after(&conf, " bgp router-id", " bgp graceful-restart");
            }
        },
    );
    let ns = |n: &str| lab.ns(n);
    let (node1, node2, tor1) = (ns("node1"), ns("node2"), ns("tor1"));
    let (n1p1, n1p2, n2p1, n2p2) = (
        ns("node1-pod1"),
        ns("node1-pod2"),
        ns("node2-pod1"),
        ns("node2-pod2"),
    );
    let mut pids = [lab.pid("node1", "ternd"), lab.pid("node2", "ternd")];
    let mut guards: Vec<Ternd> = Vec::new();
    for (port, mode) in (7100..).zip(["native", "geneve"]) {
        if mode == "geneve" {
            tor_next_hop_unchanged(&tor1);
            for n in [&node1, &node2] {
                // Saved, so that the restarted ternd starts in this mode.
                tern_cmds(
                    n,
                    &[
                        "configure terminal",
                        "datapath mode geneve",
                        "end",
                        "write memory",
                    ],
                );
            }
        }
        eventually(60, "pods reach each other across the nodes", || {
            ns_ping(&n1p1, &pod_addr(&n2p1, false), 1)
                .and_then(|_| ns_ping(&n2p2, &pod_addr(&n1p2, true), 1))
        });
        // About 16 s of traffic; the two restarts fall inside.
        let secs = 16;
        // node1-pod2 only answers node2-pod2's pings: the datapath must
        // count every request and every reply, also those that crossed
        // while no ternd ran.
        let counted = endpoint_counters(&node1, &n1p2);
        let pings = [
            (&n1p1, pod_addr(&n2p1, false)),
            (&n2p2, pod_addr(&n1p2, true)),
        ]
        .map(|(from, to)| {
            netns_command(from, "ping")
                .args(["-i", "0.02", "-c", &(secs * 50).to_string(), "-W", "2", &to])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("ping")
        });
        let to: std::net::IpAddr = pod_addr(&n2p2, false).parse().expect("pod address");
        let tcp = trickle(
            &n2p2,
            &n1p1,
            SocketAddr::new(to, port),
            Instant::now() + Duration::from_secs(secs - 2),
        );
        std::thread::sleep(Duration::from_secs(2));
        for (i, node) in ["node1", "node2"].into_iter().enumerate() {
            kill9(pids[i]);
            let t = lab.start_ternd(node, None);
            let instance = lab.ns(node);
            let log = lab.dir(node).join("node.log");
            eventually(30, "the new ternd answers", || {
                let mut c = Command::new(bin("tern"));
                c.args(["-N", &instance, "-c", "show version"]);
                match c.output() {
                    Ok(o) if o.status.success() => Ok(()),
                    r => {
                        let text = std::fs::read_to_string(&log).unwrap_or_default();
                        let tail: Vec<&str> = text.lines().rev().take(8).collect();
                        Err(format!("{r:?}; {node}'s log ends: {tail:#?}"))
                    }
                }
            });
            pids[i] = i32::try_from(t.pid()).expect("pid");
            guards.push(t);
            std::thread::sleep(Duration::from_secs(4));
        }
        for (p, what) in pings
            .into_iter()
            .zip(["IPv4 node1 -> node2", "IPv6 node2 -> node1"])
        {
            let out = p.wait_with_output().expect("ping");
            let text = String::from_utf8_lossy(&out.stdout);
            let n = secs * 50;
            assert!(
                text.contains(&format!("{n} packets transmitted, {n} received")),
                "{mode}: ping {what} lost packets while ternd restarted: {text}"
            );
        }
        let now = endpoint_counters(&node1, &n1p2);
        let n = secs * 50;
        assert!(
            now.0 - counted.0 >= n && now.1 - counted.1 >= n,
            "{mode}: the datapath missed packets of node1-pod2 while ternd restarted \
             ({} replies and {} requests counted of {n} each): the programs were not attached",
            now.0 - counted.0,
            now.1 - counted.1
        );
        let delivered = tcp
            .join()
            .expect("tcp thread")
            .unwrap_or_else(|e| panic!("{mode}: the TCP connection across the restarts: {e}"));
        assert!(delivered > 0, "{mode}: nothing sent over TCP");
        // Both new ternds took the pinned datapath over rather than
        // loading a fresh one.
        for node in ["node1", "node2"] {
            let log = std::fs::read_to_string(lab.dir(node).join("node.log")).expect("node.log");
            let adopted = log
                .matches("took over the datapath of the earlier ternd")
                .count();
            let want = if mode == "native" { 1 } else { 2 };
            assert!(
                adopted >= want,
                "{mode}: {node}'s new ternd did not adopt the pinned datapath (log has {adopted})"
            );
        }
    }
    // Unpinned and detached before the lab goes (the guards' SIGTERM is a
    // stop for a restart, which leaves the datapath pinned).
    for n in [&node1, &node2] {
        tern_cmds(n, &["configure terminal", "no datapath mode"]);
    }
    drop(guards);
}
