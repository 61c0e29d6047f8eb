//! BGP under load: ternd's CPU is cut to a sliver (a cgroup CPU quota)
//! while one scripted peer floods it with a large table and a second,
//! quiet peer only keeps its session alive with KEEPALIVEs. A node that is
//! slow to process must slow its peers down, never drop them: no session
//! may go down on either side (ternd sends no NOTIFICATION, and its
//! KEEPALIVEs reach both peers within the hold time), and every route
//! arrives in ternd's RIB and in the kernel.
//!
//! Lab `lab/topologies/starved.clab.yml`; the peers are written here, on
//! raw BGP bytes, so that they keep exact RFC 4271 timers of their own.
//! Needs root and the cgroup CPU controller (v1 `cpu` or v2 `cpu.max`).
use std::{
    io::{Read, Write},
    net::{Ipv4Addr, TcpStream},
    path::PathBuf,
    process::Command,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use tern_tests::{Lab, eventually, in_netns, run_ok, tern};

/// Routes the flooding peer sends (/24s, about a thousand per UPDATE).
const FLOOD_PREFIXES: u32 = 150_000;
/// ternd's share of one CPU, in percent, while the table arrives.
const CPU_PERCENT: u32 = 5;
/// The peers' hold time and keepalive interval (FRR's datacenter profile,
/// ternd's default).
const HOLD: Duration = Duration::from_secs(9);
const KEEPALIVE: Duration = Duration::from_secs(3);
const PEER_AS: u32 = 65099;

/// ternd moved into a CPU-limited cgroup; moved back and the group removed
/// on drop.
struct CpuLimit {
    group: PathBuf,
    root: PathBuf,
    pid: i32,
}

impl CpuLimit {
    /// Limits process `pid` (all its threads) to `percent` of one CPU.
    fn apply(pid: i32, percent: u32) -> CpuLimit {
        let v1 = PathBuf::from("/sys/fs/cgroup/cpu");
        let v2 = PathBuf::from("/sys/fs/cgroup");
        let name = format!("tern-test-starved-{}", std::process::id());
        let period = 100_000u32;
        let quota = period * percent / 100;
        let limit = if v1.join("cpu.cfs_quota_us").exists() {
            let group = v1.join(&name);
            std::fs::create_dir_all(&group).expect("create the cgroup");
            write(&group.join("cpu.cfs_period_us"), &period.to_string());
            write(&group.join("cpu.cfs_quota_us"), &quota.to_string());
            CpuLimit {
                group,
                root: v1,
                pid,
            }
        } else if std::fs::read_to_string(v2.join("cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "cpu"))
        {
            write(&v2.join("cgroup.subtree_control"), "+cpu");
            let group = v2.join(&name);
            std::fs::create_dir_all(&group).expect("create the cgroup");
            write(&group.join("cpu.max"), &format!("{quota} {period}"));
            CpuLimit {
                group,
                root: v2,
                pid,
            }
        } else {
            panic!(
                "this test needs the cgroup CPU controller (cgroup v1 /sys/fs/cgroup/cpu or \
                 cgroup v2 with `cpu` in /sys/fs/cgroup/cgroup.controllers) to starve ternd"
            );
        };
        write(&limit.group.join("cgroup.procs"), &pid.to_string());
        limit
    }
}

impl Drop for CpuLimit {
    fn drop(&mut self) {
        let _ = std::fs::write(self.root.join("cgroup.procs"), self.pid.to_string());
        let _ = std::fs::remove_dir(&self.group);
    }
}

fn write(path: &std::path::Path, value: &str) {
    std::fs::write(path, value).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// A BGP message of `kind` with `body`.
fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    let len = u16::try_from(19 + body.len()).expect("message fits");
    m.extend_from_slice(&len.to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

/// Our OPEN: AS 65099 (AS_TRANS in the 2-octet field, the 4-octet AS
/// capability), hold 9 s, IPv4 unicast.
fn open(id: Ipv4Addr) -> Vec<u8> {
    let mut caps = vec![1, 4, 0, 1, 0, 1]; // multiprotocol IPv4 unicast
    caps.extend_from_slice(&[65, 4]);
    caps.extend_from_slice(&PEER_AS.to_be_bytes());
    let mut body = vec![4];
    body.extend_from_slice(&23456u16.to_be_bytes());
    body.extend_from_slice(&u16::try_from(HOLD.as_secs()).expect("hold").to_be_bytes());
    body.extend_from_slice(&id.octets());
    let params_len = u8::try_from(2 + caps.len()).expect("params fit");
    body.push(params_len);
    body.push(2); // capabilities
    body.push(u8::try_from(caps.len()).expect("caps fit"));
    body.extend_from_slice(&caps);
    message(1, &body)
}

/// An UPDATE announcing `nlri` (encoded prefixes) from `next_hop`.
fn update(next_hop: Ipv4Addr, nlri: &[u8]) -> Vec<u8> {
    let mut attrs = vec![0x40, 1, 1, 0]; // ORIGIN IGP
    attrs.extend_from_slice(&[0x40, 2, 6, 2, 1]); // AS_PATH: AS_SEQUENCE of one
    attrs.extend_from_slice(&PEER_AS.to_be_bytes());
    attrs.extend_from_slice(&[0x40, 3, 4]); // NEXT_HOP
    attrs.extend_from_slice(&next_hop.octets());
    let mut body = vec![0, 0];
    body.extend_from_slice(&u16::try_from(attrs.len()).expect("attrs").to_be_bytes());
    body.extend_from_slice(&attrs);
    body.extend_from_slice(nlri);
    message(2, &body)
}

/// The flood: FLOOD_PREFIXES /24s from 10.0.0.0 up, packed into UPDATEs
/// of at most 4,096 octets.
fn flood_updates(next_hop: Ipv4Addr) -> Vec<Vec<u8>> {
    let per_update = (4096 - 19 - 4 - 20) / 4;
    let mut out = Vec::new();
    let mut nlri = Vec::with_capacity(per_update * 4);
    for i in 0..FLOOD_PREFIXES {
        let net = (10u32 << 24) + (i << 8);
        nlri.push(24);
        nlri.extend_from_slice(&net.to_be_bytes()[..3]);
        if nlri.len() / 4 == per_update {
            out.push(update(next_hop, &nlri));
            nlri.clear();
        }
    }
    if !nlri.is_empty() {
        out.push(update(next_hop, &nlri));
    }
    out
}

/// What a scripted peer saw go wrong, shared by its threads.
#[derive(Clone, Default)]
struct Verdict(Arc<Mutex<Vec<String>>>);

impl Verdict {
    fn fail(&self, what: String) {
        if let Ok(mut v) = self.0.lock() {
            v.push(what);
        }
    }

    fn failures(&self) -> Vec<String> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// One scripted BGP speaker: it connects from `local` to ternd, opens the
/// session and then runs a reader thread that acts as its hold timer.
struct ScriptedPeer {
    name: &'static str,
    stream: TcpStream,
    last_keepalive: Instant,
    verdict: Verdict,
}

impl ScriptedPeer {
    fn connect(
        name: &'static str,
        local: Ipv4Addr,
        verdict: Verdict,
        stop: Arc<AtomicBool>,
        reads: bool,
    ) -> ScriptedPeer {
        use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn};
        use std::os::fd::AsRawFd;
        let ternd = std::net::SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 179);
        let deadline = Instant::now() + Duration::from_secs(20);
        // ternd knows the peer by its source address, so the socket is
        // bound before it connects (std's TcpStream cannot); one socket
        // per attempt.
        let socket = loop {
            let s = nix::sys::socket::socket(
                AddressFamily::Inet,
                SockType::Stream,
                SockFlag::empty(),
                None,
            )
            .expect("socket");
            nix::sys::socket::bind(
                s.as_raw_fd(),
                &SockaddrIn::from(std::net::SocketAddrV4::new(local, 0)),
            )
            .expect("bind the peer's address");
            if !reads {
                // A small window: ternd's writes stall sooner.
                nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::RcvBuf, &4096)
                    .expect("SO_RCVBUF");
            }
            match nix::sys::socket::connect(s.as_raw_fd(), &SockaddrIn::from(ternd)) {
                Ok(()) => break s,
                Err(e) => {
                    assert!(Instant::now() < deadline, "{name}: connect to {ternd}: {e}");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        };
        let stream = TcpStream::from(socket);
        let mut p = ScriptedPeer {
            name,
            stream,
            last_keepalive: Instant::now(),
            verdict,
        };
        p.send(&open(local));
        p.send(&message(4, &[]));
        if reads {
            let reader = p.stream.try_clone().expect("clone the stream");
            let (name, verdict) = (p.name, p.verdict.clone());
            std::thread::spawn(move || hold_timer(name, reader, verdict, stop));
        }
        p
    }

    fn send(&mut self, bytes: &[u8]) {
        if let Err(e) = self.stream.write_all(bytes) {
            self.verdict
                .fail(format!("{}: writing to ternd failed: {e}", self.name));
        }
    }

    /// A KEEPALIVE if the interval has passed since the last one.
    fn keepalive_if_due(&mut self) {
        if self.last_keepalive.elapsed() >= KEEPALIVE {
            self.send(&message(4, &[]));
            self.last_keepalive = Instant::now();
        }
    }
}

/// Reads everything ternd sends, as the peer's side of the session: a
/// NOTIFICATION, a close, or no message within the hold time is a failure
/// (until `stop`, when the test closes the session itself).
fn hold_timer(name: &'static str, mut stream: TcpStream, verdict: Verdict, stop: Arc<AtomicBool>) {
    let fail = |what: String| {
        if !stop.load(Ordering::Relaxed) {
            verdict.fail(what);
        }
    };
    stream.set_read_timeout(Some(HOLD)).expect("read timeout");
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        while buf.len() >= 19 {
            let len = usize::from(u16::from_be_bytes([buf[16], buf[17]]));
            if len < 19 || buf.len() < len {
                break;
            }
            if buf[18] == 3 {
                let (code, sub) = (buf.get(19).copied(), buf.get(20).copied());
                fail(format!(
                    "{name}: ternd sent NOTIFICATION {code:?}/{sub:?} (the session went down)"
                ));
                return;
            }
            buf.drain(..len);
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                fail(format!("{name}: ternd closed the session"));
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                fail(format!(
                    "{name}: nothing from ternd for the hold time ({} s): its KEEPALIVEs stopped",
                    HOLD.as_secs()
                ));
                return;
            }
            // Our own side shut the socket at the end of the test.
            Err(_) => return,
        }
    }
}

/// What a scripted peer does.
#[derive(Clone, Copy)]
struct Role {
    /// Sends the big table (else one route).
    flood: bool,
    /// Reads what ternd sends (else never reads a byte).
    reads: bool,
}

/// Runs a scripted peer in the lab's `peers` namespace until `stop`: once
/// `go` is set, the flood sends its table and an End-of-RIB, the quiet one
/// a single route; both keep sending KEEPALIVEs on their interval.
fn run_peer(
    ns: String,
    name: &'static str,
    local: Ipv4Addr,
    role: Role,
    (go, stop): (Arc<AtomicBool>, Arc<AtomicBool>),
    verdict: Verdict,
) -> std::thread::JoinHandle<()> {
    in_netns(&ns, move || {
        let mut p = ScriptedPeer::connect(name, local, verdict, Arc::clone(&stop), role.reads);
        let flood = role.flood;
        // Wait for ternd to call the session Established before the load.
        while !stop.load(Ordering::Relaxed) && !go.load(Ordering::Relaxed) {
            p.keepalive_if_due();
            std::thread::sleep(Duration::from_millis(50));
        }
        if flood {
            for u in flood_updates(local) {
                p.send(&u);
                p.keepalive_if_due();
            }
        } else {
            p.send(&update(local, &[24, 203, 0, 113]));
        }
        p.send(&message(2, &[0, 0, 0, 0])); // End-of-RIB
        while !stop.load(Ordering::Relaxed) {
            p.keepalive_if_due();
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = p.stream.shutdown(std::net::Shutdown::Both);
    })
}

/// The lab's two scripted peers: the flood (192.0.2.2) and a second one
/// (192.0.2.3) that reads what ternd sends or, for the send hold test,
/// never does.
struct Peers {
    threads: Vec<std::thread::JoinHandle<()>>,
    go: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Peers {
    /// Starts both and waits until ternd has both sessions Established.
    fn start(lab: &Lab, second_reads: bool, (flood, second): (Verdict, Verdict)) -> Peers {
        let (go, stop) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let ns = lab.ns("peers");
        let flags = || (Arc::clone(&go), Arc::clone(&stop));
        let threads = vec![
            run_peer(
                ns.clone(),
                "flood",
                Ipv4Addr::new(192, 0, 2, 2),
                Role {
                    flood: true,
                    reads: true,
                },
                flags(),
                flood,
            ),
            run_peer(
                ns,
                if second_reads { "quiet" } else { "stalled" },
                Ipv4Addr::new(192, 0, 2, 3),
                Role {
                    flood: false,
                    reads: second_reads,
                },
                flags(),
                second,
            ),
        ];
        let node = lab.ns("node1");
        eventually(30, "both sessions Established", || {
            for addr in ["192.0.2.2", "192.0.2.3"] {
                let n = neighbor(&node, addr);
                if n["state"] != "Established" {
                    return Err(format!("{addr}: {n}"));
                }
            }
            Ok(())
        });
        Peers { threads, go, stop }
    }

    /// The flood starts.
    fn go(&self) {
        self.go.store(true, Ordering::Relaxed);
    }

    /// Both close their sessions and end.
    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// The neighbor's entry in `show bgp summary json`.
fn neighbor(ns: &str, addr: &str) -> serde_json::Value {
    tern(ns, "show bgp summary json")["ipv4Unicast"]["peers"][addr].clone()
}

/// How many of Tern's routes (protocol 202) the kernel holds in `ns`.
fn fib_count(ns: &str) -> usize {
    let proto = tern_netlink::TERN_PROTO.to_string();
    run_ok(Command::new("ip").args(["-n", ns, "route", "show", "proto", &proto]))
        .lines()
        .count()
}

#[test]
fn a_starved_ternd_keeps_every_session_and_every_route() {
    let lab = Lab::up("starved.clab.yml", "starved");
    let node = lab.ns("node1");
    let verdict = Verdict::default();
    let peers = Peers::start(&lab, true, (verdict.clone(), verdict.clone()));
    let limit = CpuLimit::apply(lab.pid("node1", "ternd"), CPU_PERCENT);
    let started = Instant::now();
    peers.go();
    let total = FLOOD_PREFIXES as usize + 1;
    eventually(400, "the flood's routes in", || {
        let failures = verdict.failures();
        if !failures.is_empty() {
            // A session went down: no point waiting for the routes.
            return Ok(());
        }
        let flood = neighbor(&node, "192.0.2.2")["pfxRcd"].as_u64().unwrap_or(0);
        let quiet = neighbor(&node, "192.0.2.3")["pfxRcd"].as_u64().unwrap_or(0);
        let fib = fib_count(&node);
        if flood == u64::from(FLOOD_PREFIXES) && quiet == 1 && fib == total {
            Ok(())
        } else {
            Err(format!(
                "flood {flood} of {FLOOD_PREFIXES}, quiet {quiet} of 1, kernel {fib} of {total}"
            ))
        }
    });
    let took = started.elapsed();
    drop(limit);
    // The whole table, streamed, while the sessions run: every route once,
    // in order, text and JSON.
    // The learned routes and node1's own network.
    let in_rib = total + 1;
    let text = tern_tests::tern_text(&node, "show ip bgp");
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("*>")).collect();
    assert_eq!(rows.len(), in_rib, "rows of show ip bgp");
    let mut sorted = rows.clone();
    sorted.sort_by_key(|l| {
        let (addr, len) = l.split_whitespace().nth(1)?.split_once('/')?;
        Some((addr.parse::<Ipv4Addr>().ok()?, len.parse::<u8>().ok()?))
    });
    assert!(sorted == rows, "show ip bgp is in address order");
    assert!(
        text.ends_with(&format!(
            "\nDisplayed  {in_rib} routes and {in_rib} total paths\n"
        )),
        "the end of show ip bgp: {:?}",
        text.get(text.len().saturating_sub(200)..)
    );
    let json = tern(&node, "show ip bgp json");
    let routes = json["routes"].as_object().map_or(0, |r| r.len());
    assert_eq!(routes, in_rib, "routes of show ip bgp json");
    // And the kernel's table as zebra shows it, streamed too.
    let text = tern_tests::tern_text(&node, "show ip route");
    let bgp = text.lines().filter(|l| l.starts_with("B>* ")).count();
    assert_eq!(bgp, total, "BGP routes of show ip route");
    let json = tern(&node, "show ip route json");
    let bgp = json.as_object().map_or(0, |m| {
        m.values().filter(|v| v[0]["protocol"] == "bgp").count()
    });
    assert_eq!(bgp, total, "BGP routes of show ip route json");
    // Let a hold time pass with ternd at full speed: a reset it decided
    // late still shows.
    std::thread::sleep(Duration::from_secs(2));
    let counters: Vec<(String, serde_json::Value)> = ["192.0.2.2", "192.0.2.3"]
        .into_iter()
        .map(|a| (a.to_owned(), neighbor(&node, a)))
        .collect();
    peers.stop();

    let failures = verdict.failures();
    if !failures.is_empty() {
        let log = std::fs::read_to_string(lab.dir("node1").join("node.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "sessions went down: {failures:?}\nternd's log (last lines):\n{}",
            tail.join("\n")
        );
    }
    for (addr, n) in counters {
        assert_eq!(n["connectionsEstablished"], 1, "{addr}: {n}");
        assert_eq!(n["connectionsDropped"], 0, "{addr}: {n}");
    }
    // The test only means something when the backlog outlasted the hold
    // time (that is when ternd used to reset the quiet peer).
    assert!(
        took > 2 * HOLD,
        "ternd took the table in {took:?} under a {CPU_PERCENT}% CPU limit, not long enough \
         to outlast the hold time twice: raise FLOOD_PREFIXES or lower CPU_PERCENT"
    );
}

#[test]
fn a_peer_that_stops_reading_is_cut_off_by_the_send_hold_timer() {
    // node1 passes the flood on to the quiet peer, which reads nothing.
    let lab = Lab::up_with("starved.clab.yml", "sendhold", |dir| {
        let conf = dir.join("starved/ternd.conf");
        let text = std::fs::read_to_string(&conf).expect("ternd.conf");
        let text = text.replace(
            "  network 198.51.100.11/32\n",
            "  network 198.51.100.11/32\n  neighbor 192.0.2.3 route-map TRANSIT out\n",
        ) + "route-map TRANSIT permit 10\nexit\n";
        std::fs::write(&conf, text).expect("ternd.conf");
    });
    let node = lab.ns("node1");
    let flood_verdict = Verdict::default();
    // The second peer's writes fail once ternd has closed its session:
    // expected here.
    let peers = Peers::start(&lab, false, (flood_verdict.clone(), Verdict::default()));
    peers.go();
    let rss_at = |what: &str| {
        let pid = lab.pid("node1", "ternd");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no VmRSS {what}"));
        kb
    };
    // Send hold time: twice the hold time of 9 s.
    let cut = eventually(60, "the quiet peer cut off by the send hold timer", || {
        let n = tern(&node, "show bgp neighbors 192.0.2.3 json")["192.0.2.3"].clone();
        let why = n["lastResetDueTo"].as_str().unwrap_or("");
        if why.contains("Send Hold Timer Expired") {
            Ok(rss_at("after the cut"))
        } else {
            Err(format!("not cut off yet: {n}"))
        }
    });
    // The flooding peer was never touched, and all its routes are in.
    eventually(
        60,
        "the flooding peer Established with all its routes",
        || {
            let n = neighbor(&node, "192.0.2.2");
            if n["state"] == "Established" && n["pfxRcd"] == u64::from(FLOOD_PREFIXES) {
                Ok(())
            } else {
                Err(format!("flood: {n}"))
            }
        },
    );
    let later = rss_at("later");
    let flood_counters = neighbor(&node, "192.0.2.2");
    peers.stop();
    assert!(
        flood_verdict.failures().is_empty(),
        "{:?}",
        flood_verdict.failures()
    );
    let n = flood_counters;
    assert_eq!(n["connectionsDropped"], 0, "flood: {n}");
    // Nothing more is queued for the peer that was cut off: the memory
    // does not keep growing with what it would have been sent.
    assert!(
        later < cut + 64 * 1024,
        "ternd's RSS grew from {cut} kB to {later} kB after the stalled peer was cut off"
    );
}
