//! The control socket cannot be wedged: idle, slow and greedy clients are
//! timed out, refused with a reason or made to give up their slot, while
//! `tern` and tern-cni's registrations are still answered; and a BGP session
//! with 3/9 timers stays Established while eight clients hammer the socket.
//! Needs root (bpf, namespaces) and `cargo build --bins` (for `tern`).
mod common;

use std::{
    io::{BufRead, BufReader, Read, Write},
    os::unix::net::UnixStream,
    time::{Duration, Instant},
};

use common::{Peer, Polled, Ternd, linked_pair, roundtrip};
use tern_bgp_wire::Message;
use tern_tests::{Netns, eventually};

const SHOW_VERSION: &str = r#"{"request":"show-version"}"#;

/// What tern-cni sends first on ADD: its addresses, allocated by ternd.
const REGISTER: &str = r#"{"request":"endpoint-allocate","container_id":"c-wedge","ifname":"eth0","netns":"/var/run/netns/x","host_ifname":"ternwedge","pools":["10.244.9.0/24"]}"#;

/// Reads until the daemon closes the connection; how long that took.
fn closed_within(c: &mut UnixStream, limit: Duration) -> Duration {
    let t0 = Instant::now();
    c.set_read_timeout(Some(limit)).ok();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) => return t0.elapsed(),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return t0.elapsed(),
            Err(e) => panic!("not closed within {limit:?}: {e}"),
        }
    }
}

#[test]
fn idle_and_slow_clients_cannot_wedge_the_socket() {
    let d = Ternd::start(
        &format!("t-wedge-{}", std::process::id()),
        "hostname wedge\n",
        None,
    );
    // 70 clients that connect and send nothing (64 used to take every slot).
    let mut idle: Vec<UnixStream> = (0..70).map(|_| d.connect()).collect();
    let t0 = Instant::now();
    let (ok, out, err) = d.tern("show version");
    assert!(ok, "tern: {out}{err}");
    assert!(out.contains("wedge"), "{out}");
    let r = d.ask(REGISTER);
    assert_eq!(r["reply"], "endpoint-reserved", "{r}");
    assert_eq!(r["addresses"], serde_json::json!(["10.244.9.2/32"]), "{r}");
    let r = d.ask(r#"{"request":"endpoint-del","container_id":"c-wedge","ifname":"eth0"}"#);
    assert_eq!(r["reply"], "endpoints", "{r}");
    // ... and are disconnected after the request timeout (10 s).
    for c in &mut idle {
        closed_within(c, Duration::from_secs(15));
    }
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(8),
        "closed too early: {waited:?}"
    );

    // Half a line, then nothing: disconnected after the timeout.
    let mut half = d.connect();
    half.write_all(br#"{"request":"sho"#).expect("write");
    let took = closed_within(&mut half, Duration::from_secs(15));
    assert!(took >= Duration::from_secs(9), "{took:?}");

    // A 2 MiB request is refused with a reason.
    let mut big = d.connect();
    let writer = {
        let mut w = big.try_clone().expect("clone");
        std::thread::spawn(move || {
            let mut req = br#"{"request":"show-version","pad":""#.to_vec();
            req.resize(req.len() + (2 << 20), b'x');
            req.extend_from_slice(b"\"}\n");
            let _ = w.write_all(&req);
        })
    };
    let mut reply = String::new();
    BufReader::new(&big).read_line(&mut reply).expect("read");
    assert!(reply.contains("longer than 1048576 bytes"), "{reply:?}");
    closed_within(&mut big, Duration::from_secs(5));
    let _ = writer.join();

    // A client that sends requests but does not read the answers is
    // disconnected once it has taken none for the timeout.
    let greedy = d.connect();
    let sender = {
        let mut w = greedy.try_clone().expect("clone");
        std::thread::spawn(move || {
            for _ in 0..20_000 {
                if w.write_all(b"{\"request\":\"show-running-config\"}\n")
                    .is_err()
                {
                    return;
                }
            }
        })
    };
    std::thread::sleep(Duration::from_secs(12));
    let mut answers = 0;
    let mut rd = BufReader::new(&greedy);
    let mut line = String::new();
    while rd.read_line(&mut line).is_ok_and(|n| n > 0) {
        answers += 1;
        line.clear();
    }
    assert!(answers < 20_000, "every answer was sent: not disconnected");
    let _ = sender.join();

    // Through all of it the daemon kept serving.
    assert_eq!(d.ask(SHOW_VERSION)["hostname"], "wedge");
}

#[test]
fn a_full_pool_refuses_with_a_reason_and_idle_sessions_make_room() {
    let d = Ternd::start(
        &format!("t-full-{}", std::process::id()),
        "hostname full\n",
        None,
    );
    // 64 sessions that asked something and now sit idle (shells).
    let mut sessions: Vec<UnixStream> = (0..64)
        .map(|_| {
            let mut s = d.connect();
            assert_eq!(roundtrip(&mut s, SHOW_VERSION)["reply"], "version");
            s
        })
        .collect();
    // A 65th is refused with the reason instead of dropped silently.
    let r = d.ask(SHOW_VERSION);
    assert_eq!(
        r["message"], "ternd: too many control connections (64); try again",
        "{r}"
    );
    let (ok, out, err) = d.tern("show version");
    assert!(!ok, "{out}");
    assert!(err.contains("too many control connections"), "{err}");
    // tern-cni's registrations have slots of their own.
    assert_eq!(d.ask(REGISTER)["reply"], "endpoint-reserved");

    // Once they have been idle for the timeout, a newcomer takes the slot
    // of the one idle the longest, which is closed.
    std::thread::sleep(Duration::from_secs(11));
    let (ok, out, err) = d.tern("show version");
    assert!(ok, "{out}{err}");
    // The evicted session's end reaches it asynchronously: watch every
    // session for up to 5 s (a closed one reads end-of-stream each time).
    for s in &mut sessions {
        s.set_nonblocking(true).expect("nonblocking");
    }
    let mut is_closed = vec![false; sessions.len()];
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        for (s, c) in sessions.iter_mut().zip(&mut is_closed) {
            let mut b = [0u8; 64];
            if matches!(s.read(&mut b), Ok(0)) {
                *c = true;
            }
        }
        if is_closed.iter().any(|c| *c) || std::time::Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let closed = is_closed.iter().filter(|c| **c).count();
    assert_eq!(closed, 1, "one idle session gave up its slot");
    // The others keep their sessions.
    let s = sessions.last_mut().expect("a session");
    s.set_nonblocking(false).expect("blocking");
    assert_eq!(roundtrip(s, SHOW_VERSION)["reply"], "version");
}

/// Eight clients ask `show running-config`, `show bgp summary` (and now
/// and then `write memory`) as fast as they can for 20 s; a scripted peer
/// with a 9 s hold time sees ternd's KEEPALIVEs every 3 s and no
/// NOTIFICATION, and the session never leaves Established.
#[test]
fn bgp_keepalives_flow_while_the_socket_is_hammered() {
    let (dut, peer_ns): (Netns, Netns) = linked_pair("ham");
    let d = Ternd::start(
        &format!("t-ham-{}", std::process::id()),
        "hostname dut\nrouter bgp 65001\n bgp router-id 198.51.100.11\n \
         neighbor 192.0.2.2 remote-as 65099\n neighbor 192.0.2.2 timers 3 9\n \
         neighbor 192.0.2.2 passive\n address-family ipv4 unicast\n  network 203.0.113.0/24\n \
         exit-address-family\n",
        Some(&dut),
    );
    let run = Duration::from_secs(20);
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|sc| {
        let peer = sc.spawn(|| {
            let mut p = Peer::establish(&peer_ns, 9);
            p.stream
                .set_read_timeout(Some(Duration::from_millis(500)))
                .expect("timeout");
            let t0 = Instant::now();
            let mut last_heard = Instant::now();
            let mut last_sent = Instant::now();
            let mut worst = Duration::ZERO;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                assert!(t0.elapsed() < run * 3, "the test never finished");
                if last_sent.elapsed() >= Duration::from_secs(3) {
                    p.keepalive();
                    last_sent = Instant::now();
                }
                match p.poll() {
                    Polled::Message(Message::Notification(n)) => {
                        panic!("NOTIFICATION from ternd: {n:?}")
                    }
                    Polled::Message(_) => {
                        worst = worst.max(last_heard.elapsed());
                        last_heard = Instant::now();
                    }
                    Polled::Nothing => {}
                    Polled::Closed => panic!("ternd closed the session"),
                }
                worst = worst.max(last_heard.elapsed());
            }
            worst
        });
        eventually(15, "Established", || {
            let r = d.ask(r#"{"request":"show-bgp-summary"}"#);
            r["peers"][0]["state"] == "Established"
        });
        let hammers: Vec<_> = (0..8)
            .map(|i| {
                let d = &d;
                sc.spawn(move || {
                    let mut s = d.connect();
                    let t0 = Instant::now();
                    let mut n = 0u64;
                    while t0.elapsed() < run {
                        let req = match (n + i) % 50 {
                            0 => r#"{"request":"write-memory"}"#,
                            k if k % 2 == 0 => r#"{"request":"show-running-config"}"#,
                            _ => r#"{"request":"show-bgp-summary"}"#,
                        };
                        let r = roundtrip(&mut s, req);
                        assert_ne!(r["reply"], "error", "{req}: {r}");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let answered: u64 = hammers.into_iter().map(|h| h.join().expect("hammer")).sum();
        assert!(answered > 1000, "only {answered} answers in 20 s");
        let r = d.ask(r#"{"request":"show-bgp-summary"}"#);
        let p = &r["peers"][0];
        assert_eq!(p["state"], "Established", "{r}");
        assert_eq!(p["established"], 1, "the session flapped: {r}");
        assert_eq!(p["dropped"], 0, "{r}");
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let worst = peer.join().expect("peer");
        assert!(
            worst < Duration::from_secs(6),
            "ternd was silent for {worst:?} (keepalive 3 s, hold 9 s)"
        );
    });
}
