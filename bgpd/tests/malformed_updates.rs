//! A scripted BGP peer sends ternd well-formed and malformed UPDATEs over a
//! real TCP session and checks the RFC 7606 outcome in ternd's kernel FIB
//! and session state: treat-as-withdraw and attribute-discard keep the
//! session up, a malformed MP_REACH_NLRI or a broken header resets it with
//! the right NOTIFICATION, and ternd keeps running throughout. The same
//! peer checks the session rules around it: maximum-prefix, and a peer
//! that advertised graceful restart but never sends End-of-RIB.
//!
//! Two throwaway namespaces joined by a veth: ternd runs in one, the test's
//! peer thread enters the other. Needs root.
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    os::unix::net::UnixStream,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tern_bgp_wire::{Capability, Codec, Message, OpenMessage};

mod common;

use common::{linked_pair, message};
use tern_tests::{Netns, enter_netns, eventually, netns_command};

const TERND: &str = env!("CARGO_BIN_EXE_ternd");
const TERN_PROTO: &str = "202";

/// The two namespaces and ternd; all removed on drop.
struct Setup {
    ternd: Option<Child>,
    instance: String,
    _dir: tempfile::TempDir,
    dut: Netns,
    peer: Netns,
}

impl Drop for Setup {
    /// A clean stop (SIGTERM), so that ternd removes its pins and stands
    /// its stale-state guard down; SIGKILL after 5 s.
    fn drop(&mut self) {
        if let Some(mut c) = self.ternd.take() {
            let pid = nix::unistd::Pid::from_raw(c.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn setup(tag: &str, extra_config: &str) -> Setup {
    let pid = std::process::id();
    let dir = tempfile::tempdir().expect("tempdir");
    let (dut, peer) = linked_pair(tag);
    let mut s = Setup {
        ternd: None,
        instance: format!("t-{tag}-{pid}"),
        _dir: dir,
        dut,
        peer,
    };
    let conf = s._dir.path().join("ternd.conf");
    std::fs::write(
        &conf,
        format!("hostname dut\nrouter bgp 65001\n bgp router-id 198.51.100.11\n neighbor 192.0.2.2 remote-as 65099\n neighbor 192.0.2.2 timers 30 90\n neighbor 192.0.2.2 passive\n{extra_config}"),
    )
    .expect("write config");
    let child = netns_command(&s.dut.0, TERND)
        .args(["-N", &s.instance, "-f"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ternd");
    s.ternd = Some(child);
    let sock = format!("/run/tern/{}/ternd.sock", s.instance);
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&sock).is_err() {
        assert!(Instant::now() < deadline, "ternd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    s
}

/// Asks ternd for its BGP summary over the control socket.
fn peer_state(s: &Setup) -> String {
    let mut c =
        UnixStream::connect(format!("/run/tern/{}/ternd.sock", s.instance)).expect("socket");
    c.write_all(b"{\"request\":\"show-bgp-summary\"}\n")
        .expect("write");
    let mut line = String::new();
    BufReader::new(&c).read_line(&mut line).expect("read");
    let v: serde_json::Value = serde_json::from_str(&line).expect("json");
    v["peers"][0]["state"].as_str().unwrap_or("?").to_owned()
}

fn fib(s: &Setup) -> Vec<String> {
    let out = Command::new("ip")
        .args(["-n", &s.dut.0, "-j", "route", "show", "proto", TERN_PROTO])
        .output()
        .expect("ip route");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["dst"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// An UPDATE with these raw path attributes and IPv4 NLRI bytes.
fn update(attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0];
    b.extend_from_slice(
        &u16::try_from(attrs.len())
            .expect("attributes fit")
            .to_be_bytes(),
    );
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    message(2, &b)
}

const ORIGIN_IGP: [u8; 4] = [0x40, 1, 1, 0];
const ORIGIN_BAD: [u8; 4] = [0x40, 1, 1, 7];
/// AS_SEQUENCE [65099], 4-octet.
const AS_PATH: [u8; 9] = [0x40, 2, 6, 2, 1, 0, 0, 0xfe, 0x4b];
const NEXT_HOP: [u8; 7] = [0x40, 3, 4, 192, 0, 2, 2];
/// AGGREGATOR with 3 octets instead of 8.
const AGGREGATOR_BAD: [u8; 6] = [0xc0, 7, 3, 1, 2, 3];
/// MP_REACH_NLRI cut after AFI.
const MP_REACH_BAD: [u8; 5] = [0x80, 14, 2, 0, 1];

fn attrs(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The scripted peer's connection.
struct Peer {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// A thread answering for the peer with a KEEPALIVE every 500 ms, as a
/// peer that keeps the connection but sends nothing else; stopped on drop.
struct Keepalives {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Keepalives {
    fn start(p: &Peer) -> Keepalives {
        let mut w = p.stream.try_clone().expect("clone");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                if w.write_all(&message(4, &[])).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        Keepalives {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Keepalives {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Peer {
    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// The next message from ternd, skipping KEEPALIVEs unless asked for.
    fn recv(&mut self, keepalives: bool) -> Option<Message> {
        let codec = Codec {
            four_octet_as: true,
            ..Codec::default()
        };
        loop {
            if let Ok(Some(n)) = codec.frame(&self.buf) {
                let msg =
                    Message::decode(&self.buf[..n], &codec).expect("ternd sent a valid message");
                self.buf.drain(..n);
                if matches!(msg, Message::Keepalive) && !keepalives {
                    continue;
                }
                return Some(msg);
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// The next NOTIFICATION, skipping UPDATEs (End-of-RIB, routes) and
    /// KEEPALIVEs; None if the connection closes first.
    fn notification(&mut self) -> Option<tern_bgp_wire::NotificationMessage> {
        loop {
            match self.recv(false)? {
                Message::Notification(n) => return Some(n),
                _ => continue,
            }
        }
    }

    fn establish(peer_ns: &str) -> Peer {
        Peer::establish_with(peer_ns, Vec::new())
    }

    /// Opens a session with these capabilities besides IPv4 unicast and
    /// the 4-octet AS.
    fn establish_with(peer_ns: &str, more: Vec<Capability>) -> Peer {
        enter_netns(peer_ns);
        let stream = common::connect_ternd();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut p = Peer {
            stream,
            buf: Vec::new(),
        };
        let open = OpenMessage::new(
            65099,
            90,
            "192.0.2.99".parse().expect("id"),
            [
                Capability::Multiprotocol(tern_bgp_wire::AfiSafi::IPV4_UNICAST),
                Capability::FourOctetAs(65099),
            ]
            .into_iter()
            .chain(more)
            .collect(),
        );
        let bytes = Message::Open(open)
            .to_bytes(&Codec::default())
            .expect("encode");
        p.send(&bytes);
        assert!(
            matches!(p.recv(false), Some(Message::Open(_))),
            "ternd's OPEN"
        );
        p.send(&message(4, &[]));
        assert!(
            matches!(p.recv(true), Some(Message::Keepalive)),
            "ternd's KEEPALIVE"
        );
        p
    }
}

#[test]
fn rfc7606_outcomes_against_a_live_ternd() {
    let s = setup("mu", "");
    let peer_ns = s.peer.0.clone();
    let mut p = std::thread::scope(|sc| sc.spawn(|| Peer::establish(&peer_ns)).join())
        .expect("peer thread");
    eventually(10, "Established", || peer_state(&s) == "Established");

    // A well-formed route is installed.
    p.send(&update(
        &attrs(&[&ORIGIN_IGP, &AS_PATH, &NEXT_HOP]),
        &[24, 100, 64, 1],
    ));
    eventually(10, "100.64.1.0/24 in the FIB", || {
        fib(&s).contains(&"100.64.1.0/24".to_owned())
    });

    // Bad ORIGIN: treat-as-withdraw; the route leaves, the session stays.
    p.send(&update(
        &attrs(&[&ORIGIN_BAD, &AS_PATH, &NEXT_HOP]),
        &[24, 100, 64, 1],
    ));
    eventually(10, "100.64.1.0/24 withdrawn", || {
        !fib(&s).contains(&"100.64.1.0/24".to_owned())
    });
    assert_eq!(peer_state(&s), "Established");

    // Bad AGGREGATOR: attribute discard; the route is used.
    p.send(&update(
        &attrs(&[&ORIGIN_IGP, &AS_PATH, &NEXT_HOP, &AGGREGATOR_BAD]),
        &[24, 100, 64, 2],
    ));
    eventually(10, "100.64.2.0/24 in the FIB", || {
        fib(&s).contains(&"100.64.2.0/24".to_owned())
    });
    assert_eq!(peer_state(&s), "Established");

    // Malformed MP_REACH_NLRI: session reset with an UPDATE Message Error.
    p.send(&update(
        &attrs(&[&ORIGIN_IGP, &AS_PATH, &NEXT_HOP, &MP_REACH_BAD]),
        &[],
    ));
    let n = p.notification().expect("a NOTIFICATION before the close");
    assert_eq!(n.code, 3, "UPDATE Message Error: {n:?}");
    assert!(p.recv(false).is_none(), "ternd closes the connection");
    eventually(10, "routes of the reset session withdrawn", || {
        fib(&s).is_empty()
    });
    assert_ne!(peer_state(&s), "Established");

    // A new session, then a header with a broken marker: Connection Not
    // Synchronized, and ternd is still serving afterwards.
    let peer_ns = s.peer.0.clone();
    let mut p = std::thread::scope(|sc| sc.spawn(|| Peer::establish(&peer_ns)).join())
        .expect("peer thread");
    let mut bad = message(4, &[]);
    bad[3] = 0;
    p.send(&bad);
    let n = p.notification().expect("a NOTIFICATION before the close");
    assert_eq!((n.code, n.subcode), (1, 1), "{n:?}");
    let mut s = s;
    let alive = s
        .ternd
        .as_mut()
        .map(|c| c.try_wait().map(|st| st.is_none()).unwrap_or(false));
    assert_eq!(
        alive,
        Some(true),
        "ternd must survive every malformed input"
    );
    assert!(!peer_state(&s).is_empty());
}

#[test]
fn maximum_prefix_stops_the_session_with_cease_1() {
    let s = setup(
        "mp",
        " address-family ipv4 unicast\n  neighbor 192.0.2.2 maximum-prefix 2\n",
    );
    let peer_ns = s.peer.0.clone();
    let mut p = std::thread::scope(|sc| sc.spawn(|| Peer::establish(&peer_ns)).join())
        .expect("peer thread");
    eventually(10, "Established", || peer_state(&s) == "Established");
    // Two prefixes are within the limit, a third is one too many.
    p.send(&update(
        &attrs(&[&ORIGIN_IGP, &AS_PATH, &NEXT_HOP]),
        &[24, 100, 64, 1, 24, 100, 64, 2],
    ));
    eventually(10, "two routes in the FIB", || fib(&s).len() == 2);
    assert_eq!(peer_state(&s), "Established");
    p.send(&update(
        &attrs(&[&ORIGIN_IGP, &AS_PATH, &NEXT_HOP]),
        &[24, 100, 64, 3],
    ));
    let n = p.notification().expect("a NOTIFICATION before the close");
    // Cease / Maximum Number of Prefixes Reached; data AFI 1, SAFI 1, limit 2.
    assert_eq!((n.code, n.subcode), (6, 1), "{n:?}");
    assert_eq!(n.data, vec![0, 1, 1, 0, 0, 0, 2]);
    eventually(10, "the session's routes withdrawn", || fib(&s).is_empty());
    assert_eq!(peer_state(&s), "Idle (PfxCt)");
}

/// The Graceful Restart capability of a helper-only peer (no R bit, no
/// family preserved).
fn graceful_restart() -> Vec<Capability> {
    vec![Capability::GracefulRestart(
        tern_bgp_wire::GracefulRestart {
            restart_state: false,
            notification: false,
            restart_time: 120,
            families: Vec::new(),
        },
    )]
}

#[test]
fn a_peer_that_never_sends_end_of_rib_is_reset() {
    // The End-of-RIB wait is the stale-path time: 3 s here.
    let s = setup("eor", " bgp graceful-restart stalepath-time 3\n");
    // A peer that sends its routes and End-of-RIB keeps the session.
    let peer_ns = s.peer.0.clone();
    let mut p = std::thread::scope(|sc| {
        sc.spawn(|| Peer::establish_with(&peer_ns, graceful_restart()))
            .join()
    })
    .expect("peer thread");
    eventually(10, "Established", || peer_state(&s) == "Established");
    p.send(&update(
        &attrs(&[&ORIGIN_IGP, &AS_PATH, &NEXT_HOP]),
        &[24, 100, 64, 1],
    ));
    p.send(&update(&[], &[]));
    // Past the wait, with KEEPALIVEs answered, it is still up.
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        p.send(&message(4, &[]));
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(peer_state(&s), "Established");
    drop(p);
    eventually(10, "the session closed", || peer_state(&s) != "Established");

    // One that answers KEEPALIVEs but sends neither UPDATE nor
    // End-of-RIB is not keeping the session: ternd resets it with a Cease.
    let peer_ns = s.peer.0.clone();
    let mut p = std::thread::scope(|sc| {
        sc.spawn(|| Peer::establish_with(&peer_ns, graceful_restart()))
            .join()
    })
    .expect("peer thread");
    let ka = Keepalives::start(&p);
    let n = p.notification().expect("a NOTIFICATION before the close");
    drop(ka);
    assert_eq!((n.code, n.subcode), (6, 0), "Cease: {n:?}");
}

#[test]
fn each_session_gets_its_own_end_of_rib_wait() {
    // The wait is 4 s. The first session sends nothing and is closed by
    // the peer after 2 s; the second one comes up at once on the same
    // connection slot. The first session's wait must not end the second:
    // that one is reset only after 4 s of its own (a flapping peer was
    // otherwise cut off for good, each old wait killing the next session).
    let s = setup("eor2", " bgp graceful-restart stalepath-time 4\n");
    let peer_ns = s.peer.0.clone();
    let mut p = std::thread::scope(|sc| {
        sc.spawn(|| Peer::establish_with(&peer_ns, graceful_restart()))
            .join()
    })
    .expect("peer thread");
    eventually(10, "Established", || peer_state(&s) == "Established");
    std::thread::sleep(Duration::from_secs(2));
    // Cease / Administrative Reset, as FRR's `clear bgp` sends it.
    p.send(&message(3, &[6, 4]));
    drop(p);
    eventually(10, "the session closed", || peer_state(&s) != "Established");

    let peer_ns = s.peer.0.clone();
    let mut p = std::thread::scope(|sc| {
        sc.spawn(|| Peer::establish_with(&peer_ns, graceful_restart()))
            .join()
    })
    .expect("peer thread");
    let up = Instant::now();
    let ka = Keepalives::start(&p);
    let n = p.notification().expect("a NOTIFICATION before the close");
    let lived = up.elapsed();
    drop(ka);
    assert_eq!((n.code, n.subcode), (6, 0), "Cease: {n:?}");
    assert!(
        lived >= Duration::from_millis(3500),
        "the second session was reset after {lived:?}, before its own 4 s wait"
    );
}

/// MP_REACH_NLRI for VPN-IPv4 (AFI 1, SAFI 128), never negotiated on the
/// session, whose NLRI carries an ADD-PATH path id (also never negotiated):
/// unparseable as VPN-IPv4, and to be ignored (RFC 4760 §7), not answered
/// with a session reset.
///
/// ```text
/// 80 0e 24                     flags Optional, type 14, length 36
/// 00 01 80                     AFI 1, SAFI 128
/// 0c                           next hop length 12
/// 00 00 00 00 00 00 00 00      next hop RD 0
/// c0 00 02 02                  next hop 192.0.2.2
/// 00                           reserved
/// 00 00 00 01                  path id 1
/// 70                           112 bits: label 24 + RD 64 + prefix 24
/// 00 01 01                     label 16, bottom of stack
/// 00 00 fd e9 00 00 00 64      RD 65001:100
/// 0a 01 01                     10.1.1.0/24
/// ```
const MP_REACH_VPNV4_PATH_ID: [u8; 39] = [
    0x80, 0x0e, 0x24, 0x00, 0x01, 0x80, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0x00, 0x02, 0x02, 0x00,
    0x00, 0x00, 0x00, 0x01, 0x70, 0x00, 0x01, 0x01, 0x00, 0x00, 0xfd, 0xe9, 0x00, 0x00, 0x00, 0x64,
    0x0a, 0x01, 0x01,
];

#[test]
fn mp_reach_of_a_family_not_negotiated_is_ignored() {
    let s = setup("nn", "");
    let peer_ns = s.peer.0.clone();
    let mut p = std::thread::scope(|sc| sc.spawn(|| Peer::establish(&peer_ns)).join())
        .expect("peer thread");
    eventually(10, "Established", || peer_state(&s) == "Established");
    // One UPDATE: the VPN-IPv4 MP_REACH_NLRI, and 100.64.5.0/24 in the NLRI
    // field with the usual attributes.
    p.send(&update(
        &attrs(&[&ORIGIN_IGP, &AS_PATH, &NEXT_HOP, &MP_REACH_VPNV4_PATH_ID]),
        &[24, 100, 64, 5],
    ));
    eventually(10, "100.64.5.0/24 in the FIB", || {
        fib(&s).contains(&"100.64.5.0/24".to_owned())
    });
    // The session stays up: no NOTIFICATION comes, KEEPALIVEs do, and a
    // later route is still learnt.
    p.send(&message(4, &[]));
    p.send(&update(
        &attrs(&[&ORIGIN_IGP, &AS_PATH, &NEXT_HOP]),
        &[24, 100, 64, 6],
    ));
    eventually(10, "100.64.6.0/24 in the FIB", || {
        fib(&s).contains(&"100.64.6.0/24".to_owned())
    });
    p.stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    // Everything ternd sends until it falls silent: its End-of-RIB and
    // routes, never a NOTIFICATION.
    while let Some(m) = p.recv(false) {
        assert!(
            !matches!(m, Message::Notification(_)),
            "ternd reset the session: {m:?}"
        );
    }
    assert_eq!(peer_state(&s), "Established");
    assert_eq!(fib(&s), ["100.64.5.0/24", "100.64.6.0/24"]);
}

/// ternd's IPv6 routes installed by its FIB task: (dst, gateway, dev).
fn fib6(s: &Setup) -> Vec<(String, String, String)> {
    let out = Command::new("ip")
        .args([
            "-n", &s.dut.0, "-6", "-j", "route", "show", "proto", TERN_PROTO,
        ])
        .output()
        .expect("ip route");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let field = |r: &serde_json::Value, k: &str| r[k].as_str().unwrap_or("").to_owned();
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|r| (field(r, "dst"), field(r, "gateway"), field(r, "dev")))
                .collect()
        })
        .unwrap_or_default()
}

/// MP_REACH_NLRI for IPv6 unicast with next hop `nh` (16 or 32 octets) and
/// one /48 route `2001:db8:N::/48`.
///
/// ```text
/// 80 0e LEN                    flags Optional, type 14
/// 00 02 01                     AFI 2 (IPv6), SAFI 1 (unicast)
/// NHLEN NH...                  next hop: 16 octets, or global + link-local
/// 00                           reserved
/// 30 20 01 0d b8 00 NN         2001:db8:NN::/48
/// ```
fn mp_reach_v6(nh: &[u8], n: u8) -> Vec<u8> {
    let mut v = vec![0x00, 0x02, 0x01, u8::try_from(nh.len()).expect("fits")];
    v.extend_from_slice(nh);
    v.push(0);
    v.extend_from_slice(&[48, 0x20, 0x01, 0x0d, 0xb8, 0x00, n]);
    let mut a = vec![0x80, 14, u8::try_from(v.len()).expect("fits")];
    a.extend_from_slice(&v);
    a
}

#[test]
fn link_local_next_hop_is_installed_on_the_sessions_interface() {
    let s = setup(
        "ll",
        " address-family ipv6 unicast\n  neighbor 192.0.2.2 activate\n exit-address-family\n",
    );
    let peer_ns = s.peer.0.clone();
    let mut p = std::thread::scope(|sc| {
        sc.spawn(|| {
            Peer::establish_with(
                &peer_ns,
                vec![Capability::Multiprotocol(
                    tern_bgp_wire::AfiSafi::IPV6_UNICAST,
                )],
            )
        })
        .join()
    })
    .expect("peer thread");
    eventually(10, "Established", || peer_state(&s) == "Established");
    let fe80_cafe: [u8; 16] = "fe80::cafe"
        .parse::<std::net::Ipv6Addr>()
        .expect("ip")
        .octets();
    // Over the IPv4 session: a 16-octet next hop that is link-local alone,
    // and a global :: with the link-local one (RFC 2545's 32 octets).
    p.send(&update(
        &attrs(&[&ORIGIN_IGP, &AS_PATH, &mp_reach_v6(&fe80_cafe, 1)]),
        &[],
    ));
    let mut pair = [0u8; 16].to_vec();
    pair.extend_from_slice(&fe80_cafe);
    p.send(&update(
        &attrs(&[&ORIGIN_IGP, &AS_PATH, &mp_reach_v6(&pair, 2)]),
        &[],
    ));
    let want = |n: u8| {
        (
            format!("2001:db8:{n}::/48"),
            "fe80::cafe".to_owned(),
            "eth1".to_owned(),
        )
    };
    eventually(10, "both routes via fe80::cafe dev eth1", || {
        let f = fib6(&s);
        f.contains(&want(1)) && f.contains(&want(2))
    });
    assert_eq!(peer_state(&s), "Established");
    // Withdrawn, they leave the kernel.
    p.send(&update(
        &attrs(&[&[
            0x80, 15, 10, 0x00, 0x02, 0x01, 48, 0x20, 0x01, 0x0d, 0xb8, 0x00, 1,
        ]]),
        &[],
    ));
    eventually(10, "2001:db8:1::/48 withdrawn", || {
        !fib6(&s).iter().any(|r| r.0 == "2001:db8:1::/48")
    });
    let mut s = s;
    let alive = s
        .ternd
        .as_mut()
        .map(|c| c.try_wait().map(|st| st.is_none()).unwrap_or(false));
    assert_eq!(alive, Some(true), "ternd is still running");
}

#[test]
fn refused_prefixes_count_towards_maximum_prefix() {
    let s = setup(
        "mpr",
        " address-family ipv4 unicast\n  neighbor 192.0.2.2 maximum-prefix 2\n",
    );
    let peer_ns = s.peer.0.clone();
    let mut p = std::thread::scope(|sc| sc.spawn(|| Peer::establish(&peer_ns)).join())
        .expect("peer thread");
    eventually(10, "Established", || peer_state(&s) == "Established");
    // AS_SEQUENCE [65099, 65001]: our own AS, a loop: refused, and held
    // only to count it.
    const LOOPED: [u8; 13] = [0x40, 2, 10, 2, 2, 0, 0, 0xfe, 0x4b, 0, 0, 0xfd, 0xe9];
    p.send(&update(
        &attrs(&[&ORIGIN_IGP, &LOOPED, &NEXT_HOP]),
        &[24, 100, 64, 1, 24, 100, 64, 2, 24, 100, 64, 3],
    ));
    let n = p.notification().expect("a NOTIFICATION before the close");
    assert_eq!((n.code, n.subcode), (6, 1), "{n:?}");
    assert!(fib(&s).is_empty(), "the looped routes were never installed");
    assert_eq!(peer_state(&s), "Idle (PfxCt)");
}
