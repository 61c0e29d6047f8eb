//! The services benchmark's load: a tiny HTTP/1.0 responder in the pods
//! (threads of tern-bench whose listeners live in the pods' namespaces), a
//! client that opens new TCP connections in a loop on N threads (connect,
//! request, response to the server's close, reset), iperf3 for throughput,
//! and a probe that times how soon a new frontend answers a connection.
//!
//! Every connection is closed first by the responder (as a web server does
//! after `Connection: close`); the client then closes with SO_LINGER 0 (an
//! RST), so that neither side holds TIME_WAIT sockets: at 10,000+
//! connections a second those would exhaust the client's ports and the
//! pods' time-wait buckets within seconds and measure that instead of the
//! load balancer. The client's connections come from many addresses in
//! turn, so that a 5-tuple recurs only minutes later, as with many clients;
//! from one address the ephemeral ports come round every two seconds, and
//! the load balancers' conntrack would see the same tuple reopen while its
//! last connection's entries are still there.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, SockaddrIn, setsockopt, sockopt};
use nix::sys::time::TimeVal;

use super::lab::{in_ns, ns_path};
use crate::netns;

/// What the client sends; the responder answers once it has read it all.
const REQUEST: &[u8] = b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
/// How long one connection may take before it counts as failed (a lost SYN
/// would be sent again only after a second).
pub const IO_TIMEOUT: Duration = Duration::from_secs(1);

/// The responders of every pod; dropping them stops their threads.
pub struct Responders {
    listeners: Vec<Arc<TcpListener>>,
    threads: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Responders {
    /// Listens on `port` in each of `namespaces`, `per_pod` threads each.
    pub fn start(namespaces: &[String], port: u16, per_pod: usize) -> Result<Responders> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut r = Responders {
            listeners: Vec::new(),
            threads: Vec::new(),
            stop: stop.clone(),
        };
        for ns in namespaces {
            let l = in_ns(ns, || {
                TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))
                    .with_context(|| format!("listening on port {port} in {ns}"))
            })?;
            let l = Arc::new(l);
            r.listeners.push(l.clone());
            for i in 0..per_pod {
                let (l, stop) = (l.clone(), stop.clone());
                let t = std::thread::Builder::new()
                    .name(format!("responder-{i}"))
                    .spawn(move || serve(&l, &stop))
                    .context("starting a responder thread")?;
                r.threads.push(t);
            }
        }
        Ok(r)
    }
}

fn serve(l: &TcpListener, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        let Ok((mut s, _)) = l.accept() else {
            continue;
        };
        let _ = s.set_read_timeout(Some(IO_TIMEOUT));
        // The request ends with an empty line; then answer and close.
        let mut buf = [0u8; 512];
        let mut tail = [0u8; 4];
        let mut complete = false;
        while !complete {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    for b in &buf[..n] {
                        tail.rotate_left(1);
                        tail[3] = *b;
                        complete |= &tail == b"\r\n\r\n";
                    }
                }
            }
        }
        if complete {
            let _ = s.write_all(RESPONSE);
        }
    }
}

impl Drop for Responders {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // shutdown() on a listening socket wakes the threads blocked in accept().
        for l in &self.listeners {
            let _ = socket::shutdown(l.as_raw_fd(), socket::Shutdown::Both);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A blocking connection from `src` (port chosen at connect) to `dst`,
/// given up after [`IO_TIMEOUT`].
fn connect_from(src: Ipv4Addr, dst: SocketAddrV4) -> Result<TcpStream> {
    let fd = socket::socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    setsockopt(&fd, sockopt::IpBindAddressNoPort, &true)?;
    // A blocking connect() gives up after the send timeout.
    setsockopt(
        &fd,
        sockopt::SendTimeout,
        &TimeVal::new(IO_TIMEOUT.as_secs() as _, 0),
    )?;
    socket::bind(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(src, 0)))?;
    socket::connect(fd.as_raw_fd(), &SockaddrIn::from(dst))?;
    Ok(TcpStream::from(fd))
}

/// One connection: connect, request, read the response to its end (the
/// server's FIN), then reset. The time is connect to the last byte.
fn one_request(src: Ipv4Addr, dst: SocketAddrV4) -> Result<Duration> {
    let start = Instant::now();
    let mut s = connect_from(src, dst)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.write_all(REQUEST)?;
    let mut head = [0u8; 12];
    let mut got = 0;
    let mut buf = [0u8; 256];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        for b in &buf[..n] {
            if let Some(h) = head.get_mut(got) {
                *h = *b;
            }
            got += 1;
        }
    }
    let took = start.elapsed();
    if &head != b"HTTP/1.0 200" {
        bail!("unexpected answer");
    }
    let _ = setsockopt(
        &s,
        sockopt::Linger,
        &nix::libc::linger {
            l_onoff: 1,
            l_linger: 0,
        },
    );
    drop(s);
    Ok(took)
}

/// A run of the client: completed connections in the measured window and
/// their times (sorted).
#[derive(Clone, Debug, Default)]
pub struct Run {
    pub completed: u64,
    pub errors: u64,
    pub secs: f64,
    pub times_us: Vec<u32>,
}

impl Run {
    pub fn per_sec(&self) -> f64 {
        if self.secs > 0.0 {
            self.completed as f64 / self.secs
        } else {
            0.0
        }
    }

    /// Adds `other`'s connections and window to this run's.
    pub fn merge(&mut self, mut other: Run) {
        self.completed += other.completed;
        self.errors += other.errors;
        self.secs += other.secs;
        self.times_us.append(&mut other.times_us);
        self.times_us.sort_unstable();
    }

    /// The q-quantile (0..=1) of the connection times, in microseconds.
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        if self.times_us.is_empty() {
            return None;
        }
        let i = ((self.times_us.len() - 1) as f64 * q).round() as usize;
        self.times_us.get(i).map(|t| f64::from(*t))
    }
}

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

/// Opens connections to `dst` from namespace `ns` on `threads` threads, as
/// fast as they are answered: `warmup`, then `window` counted. Connection k
/// of thread i comes from `sources[(i + k * threads) % sources.len()]`, so
/// that a client 5-tuple comes back only after `sources.len()` x the
/// ephemeral ports' connections, as from many clients.
pub fn run_client(
    ns: &str,
    sources: &[Ipv4Addr],
    dst: SocketAddrV4,
    threads: usize,
    warmup: Duration,
    window: Duration,
    cancel: &AtomicBool,
) -> Result<Run> {
    let phase = Arc::new(AtomicU8::new(WARMUP));
    let total = Arc::new(Mutex::new(Run::default()));
    let path = ns_path(ns);
    let mut handles = Vec::new();
    if sources.is_empty() {
        bail!("no client address");
    }
    for i in 0..threads {
        let (phase, total, path) = (phase.clone(), total.clone(), path.clone());
        let sources = sources.to_vec();
        handles.push(std::thread::spawn(move || -> Result<()> {
            netns::enter(&path)?;
            let mut mine = Run::default();
            let mut next = i;
            loop {
                let p = phase.load(Ordering::SeqCst);
                if p == STOP {
                    break;
                }
                let src = sources[next % sources.len()];
                next = next.wrapping_add(threads);
                let r = one_request(src, dst);
                let end = phase.load(Ordering::SeqCst);
                // An answer counts when the connection began and ended in
                // the window, a failure when it began or ended there.
                match r {
                    Ok(t) if p == MEASURE && end == MEASURE => {
                        mine.completed += 1;
                        mine.times_us
                            .push(u32::try_from(t.as_micros()).unwrap_or(u32::MAX));
                    }
                    Err(_) if p == MEASURE || end == MEASURE => mine.errors += 1,
                    _ => {}
                }
            }
            let mut all = total.lock().unwrap_or_else(|e| e.into_inner());
            all.completed += mine.completed;
            all.errors += mine.errors;
            all.times_us.append(&mut mine.times_us);
            Ok(())
        }));
    }
    std::thread::sleep(warmup);
    phase.store(MEASURE, Ordering::SeqCst);
    let start = Instant::now();
    let end = start + window;
    while Instant::now() < end && !cancel.load(Ordering::SeqCst) {
        std::thread::sleep(
            Duration::from_millis(20).min(end.saturating_duration_since(Instant::now())),
        );
    }
    phase.store(STOP, Ordering::SeqCst);
    let secs = start.elapsed().as_secs_f64();
    for h in handles {
        h.join()
            .unwrap_or_else(|_| bail!("a client thread panicked"))?;
    }
    if cancel.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    let mut run = std::mem::take(&mut *total.lock().unwrap_or_else(|e| e.into_inner()));
    run.secs = secs;
    run.times_us.sort_unstable();
    Ok(run)
}

/// Whether a request to `dst` from namespace `ns` is answered.
pub fn answers(ns: &str, src: Ipv4Addr, dst: SocketAddrV4) -> Result<bool> {
    in_ns(ns, || Ok(one_request(src, dst).is_ok()))
}

/// How often the probe starts a connection attempt.
const PROBE_EVERY: Duration = Duration::from_micros(100);
/// An attempt not answered by then is given up (its SYN was dropped or
/// refused; the next retransmission would come a second later).
const PROBE_GIVE_UP: Duration = Duration::from_millis(20);

/// Starts a thread in namespace `ns` that opens a connection attempt from
/// `src` to `dst` every 100 us until one is established (or `limit`
/// passes): its result is the instant the first handshake completed.
pub fn probe(
    ns: &str,
    src: Ipv4Addr,
    dst: SocketAddrV4,
    limit: Duration,
    cancel: Arc<AtomicBool>,
) -> JoinHandle<Result<Option<Instant>>> {
    let path = ns_path(ns);
    std::thread::spawn(move || {
        netns::enter(&path)?;
        let deadline = Instant::now() + limit;
        let mut pending: VecDeque<(OwnedFd, Instant)> = VecDeque::new();
        let mut next = Instant::now();
        while Instant::now() < deadline && !cancel.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now >= next {
                pending.push_back((attempt(src, dst)?, now));
                next = now + PROBE_EVERY;
            }
            while pending
                .front()
                .is_some_and(|(_, t)| now.duration_since(*t) > PROBE_GIVE_UP)
            {
                pending.pop_front();
            }
            let mut i = 0;
            while i < pending.len() {
                let fd = pending[i].0.as_raw_fd();
                if socket::getpeername::<SockaddrIn>(fd).is_ok() {
                    let at = Instant::now();
                    let _ = setsockopt(
                        &pending[i].0,
                        sockopt::Linger,
                        &nix::libc::linger {
                            l_onoff: 1,
                            l_linger: 0,
                        },
                    );
                    return Ok(Some(at));
                }
                match socket::getsockopt(&pending[i].0, sockopt::SocketError) {
                    Ok(0) => i += 1,
                    _ => {
                        pending.remove(i);
                    }
                }
            }
            std::thread::sleep(Duration::from_micros(20));
        }
        Ok(None)
    })
}

/// A non-blocking connection attempt from `src` to `dst`.
fn attempt(src: Ipv4Addr, dst: SocketAddrV4) -> Result<OwnedFd> {
    let fd = socket::socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .context("probe socket")?;
    socket::bind(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(src, 0)))
        .with_context(|| format!("binding the probe to {src}"))?;
    match socket::connect(fd.as_raw_fd(), &SockaddrIn::from(dst)) {
        Ok(()) | Err(Errno::EINPROGRESS) => {}
        // Refused or unreachable at once: an attempt that never answers.
        Err(_) => {}
    }
    Ok(fd)
}

/// iperf3's receive rate in Gbit/s from namespace `ns` to `addr:port`
/// over `streams` parallel streams, `secs` seconds after one second of
/// slow start; retried while the server is not listening yet.
pub fn iperf(ns: &str, addr: Ipv4Addr, port: u16, secs: u32, streams: u32) -> Result<f64> {
    let (a, p, t) = (addr.to_string(), port.to_string(), secs.to_string());
    let n = streams.to_string();
    let mut last = String::new();
    for _ in 0..20 {
        let out = in_ns(ns, || {
            std::process::Command::new("iperf3")
                .args(["-c", &a, "-p", &p, "-t", &t, "-P", &n, "-O", "1", "-J"])
                .output()
                .context("running iperf3 (is it installed?)")
        })?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if let Some(bps) = v["end"]["sum_received"]["bits_per_second"].as_f64() {
            return Ok(bps / 1e9);
        }
        last = v["error"]
            .as_str()
            .map_or_else(|| super::lab::output_text(&out), str::to_owned);
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("iperf3 to {addr}:{port}: {last}")
}
