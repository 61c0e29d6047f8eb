//! The two measurements of one case: iperf3 TCP throughput (its `-J`
//! report parsed) and a request/response latency, a TCP ping-pong of 1-byte
//! messages with Nagle off (what netperf's TCP_RR does), timed per
//! transaction. Processes started here are stopped by pid when their guard
//! drops, also on error and Ctrl-C.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::topo::{in_ns, output};

/// A child process, killed (by its pid) and reaped on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What one iperf3 run and one ping-pong run gave.
#[derive(Clone, Debug)]
pub struct Figures {
    pub gbps: f64,
    /// iperf3's retransmitted segments (sender side).
    pub retransmits: u64,
    pub rr: Latency,
}

/// Request/response latency per transaction.
#[derive(Clone, Debug)]
pub struct Latency {
    pub mean_us: f64,
    pub p99_us: f64,
    pub transactions: usize,
}

/// How long and with how many streams each case runs.
#[derive(Clone, Debug)]
pub struct Params {
    pub seconds: u64,
    pub streams: u32,
    pub rr_seconds: u64,
    /// Pin the sending side to CPU 0 and the receiving side to CPU 1 (iperf3
    /// and the ping-pong alike).
    pub pin: bool,
    pub cancel: Arc<AtomicBool>,
}

/// CPU of the sending side and of the receiving side when pinned.
const CLIENT_CPU: usize = 0;
const SERVER_CPU: usize = 1;

/// Pins the calling thread to `cpu`.
fn pin_thread(cpu: usize) -> Result<()> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu).context("CPU set")?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .with_context(|| format!("pinning a thread to CPU {cpu}"))
}

fn cancelled(cancel: &AtomicBool) -> Result<()> {
    if cancel.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

/// Measures throughput from `client_ns` to `server` (listening in
/// `server_ns`), then the ping-pong latency between the same two.
pub fn case(
    client_ns: &str,
    server_ns: &str,
    server: IpAddr,
    port: u16,
    p: &Params,
) -> Result<Figures> {
    let (gbps, retransmits) = iperf3(client_ns, server_ns, server, port, p)?;
    cancelled(&p.cancel)?;
    let rr = ping_pong(client_ns, server_ns, server, port + 1, p)?;
    Ok(Figures {
        gbps,
        retransmits,
        rr,
    })
}

/// One iperf3 TCP test; returns Gbit/s received and retransmits.
fn iperf3(
    client_ns: &str,
    server_ns: &str,
    server: IpAddr,
    port: u16,
    p: &Params,
) -> Result<(f64, u64)> {
    let (addr, port_s) = (server.to_string(), port.to_string());
    let _server = Proc(
        Command::new("ip")
            .args(["netns", "exec", server_ns, "iperf3", "-s", "-1", "-B"])
            .args([&addr, "-p", &port_s])
            .args(affinity(p.pin, SERVER_CPU))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the iperf3 server (is iperf3 installed?)")?,
    );
    wait_listening(server_ns, port, &p.cancel)?;
    let mut client = Proc(
        Command::new("ip")
            .args(["netns", "exec", client_ns, "iperf3", "-c", &addr, "-p"])
            .arg(&port_s)
            .args(["-t", &p.seconds.to_string(), "-P", &p.streams.to_string()])
            // The first second (slow start) is left out of the figure.
            .args(["-O", "1", "-J"])
            .args(affinity(p.pin, CLIENT_CPU))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting the iperf3 client")?,
    );
    // Read the report on a thread so that a full pipe never stalls iperf3.
    let mut stdout = client.0.stdout.take().context("iperf3's stdout")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(p.seconds + 30);
    let status = loop {
        if let Some(st) = client.0.try_wait().context("waiting for iperf3")? {
            break st;
        }
        cancelled(&p.cancel)?;
        if Instant::now() > deadline {
            bail!("iperf3 {client_ns} -> {addr} did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let json = reader
        .join()
        .unwrap_or_else(|_| String::from("(reader panicked)"));
    let v: serde_json::Value = serde_json::from_str(&json).with_context(|| {
        format!("iperf3 {client_ns} -> {addr} ({status}) gave no JSON report: {json}")
    })?;
    if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
        bail!("iperf3 {client_ns} -> {addr}: {e}");
    }
    let bps = v
        .pointer("/end/sum_received/bits_per_second")
        .and_then(|b| b.as_f64())
        .with_context(|| format!("iperf3 {client_ns} -> {addr}: no end.sum_received in {json}"))?;
    let retrans = v
        .pointer("/end/sum_sent/retransmits")
        .and_then(|r| r.as_u64())
        .unwrap_or(0);
    if bps <= 0.0 {
        bail!("iperf3 {client_ns} -> {addr}: nothing arrived");
    }
    Ok((bps / 1e9, retrans))
}

/// iperf3's CPU affinity option, when pinning.
fn affinity(pin: bool, cpu: usize) -> Vec<String> {
    if pin {
        vec!["-A".into(), cpu.to_string()]
    } else {
        Vec::new()
    }
}

/// Waits until something listens on TCP `port` in `ns` (`ss`, so that no
/// probe connection reaches the one-shot iperf3 server).
fn wait_listening(ns: &str, port: u16, cancel: &AtomicBool) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let filter = format!("sport = :{port}");
    loop {
        let out = output("ip", &["netns", "exec", ns, "ss", "-Hltn", &filter])?;
        if !out.trim().is_empty() {
            return Ok(());
        }
        cancelled(cancel)?;
        if Instant::now() > deadline {
            bail!("the iperf3 server in {ns} did not listen on port {port} within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Transactions left out at the start (connection warm-up, caches).
const WARMUP: usize = 1000;

/// A TCP ping-pong of 1-byte messages for `rr_seconds`: the client writes
/// one byte and waits for the server's one byte back; each round trip is
/// one transaction.
fn ping_pong(
    client_ns: &str,
    server_ns: &str,
    server: IpAddr,
    port: u16,
    p: &Params,
) -> Result<Latency> {
    let at = SocketAddr::new(server, port);
    let listener = in_ns(server_ns, || {
        TcpListener::bind(at).with_context(|| format!("listening on {at} in {server_ns}"))
    })?;
    let mut client = in_ns(client_ns, || {
        TcpStream::connect_timeout(&at, Duration::from_secs(5))
            .with_context(|| format!("connecting {client_ns} -> {at}"))
    })?;
    let timeout = Some(Duration::from_secs(5));
    client.set_nodelay(true)?;
    client.set_read_timeout(timeout)?;
    client.set_write_timeout(timeout)?;
    std::thread::scope(|s| -> Result<Latency> {
        let echo = s.spawn(|| -> Result<u64> {
            if p.pin {
                pin_thread(SERVER_CPU)?;
            }
            let (mut c, _) = listener.accept().context("accepting the ping-pong")?;
            c.set_nodelay(true)?;
            c.set_read_timeout(timeout)?;
            c.set_write_timeout(timeout)?;
            let mut b = [0u8; 1];
            let mut n = 0;
            loop {
                match c.read(&mut b)? {
                    0 => return Ok(n),
                    _ => {
                        c.write_all(&b)?;
                        n += 1;
                    }
                }
            }
        });
        // The client runs on a thread of its own so that pinning it leaves
        // the caller's affinity alone.
        let client = s.spawn(move || -> Result<(Vec<u32>, usize)> {
            if p.pin {
                pin_thread(CLIENT_CPU)?;
            }
            time_transactions(&mut client, client_ns, at, p)
        });
        let timed = client
            .join()
            .unwrap_or_else(|_| bail!("the ping-pong client panicked"));
        let echoed = echo
            .join()
            .unwrap_or_else(|_| bail!("the ping-pong server panicked"));
        let (mut samples, i) = timed.with_context(|| format!("ping-pong {client_ns} -> {at}"))?;
        let echoed = echoed.with_context(|| format!("ping-pong server {at}"))?;
        if echoed != i as u64 {
            bail!("ping-pong {client_ns} -> {at}: sent {i}, echoed {echoed}");
        }
        if samples.is_empty() {
            bail!("ping-pong {client_ns} -> {at}: fewer than {WARMUP} transactions");
        }
        samples.sort_unstable();
        let mean = samples.iter().map(|&x| f64::from(x)).sum::<f64>() / samples.len() as f64;
        let p99 = samples[(samples.len() * 99 / 100).min(samples.len() - 1)];
        Ok(Latency {
            mean_us: mean / 1000.0,
            p99_us: f64::from(p99) / 1000.0,
            transactions: samples.len(),
        })
    })
}

/// The client's side of the ping-pong: transactions for `rr_seconds`, each
/// timed (the first [`WARMUP`] left out); closes the connection at the end,
/// also on error. Returns the samples in ns and the transaction count.
fn time_transactions(
    client: &mut TcpStream,
    client_ns: &str,
    at: SocketAddr,
    p: &Params,
) -> Result<(Vec<u32>, usize)> {
    let mut samples: Vec<u32> = Vec::with_capacity(1 << 20);
    let end = Instant::now() + Duration::from_secs(p.rr_seconds);
    let mut b = [0u8; 1];
    let mut i: usize = 0;
    let result = (|| -> Result<()> {
        while Instant::now() < end {
            let t = Instant::now();
            client.write_all(&[i as u8])?;
            client.read_exact(&mut b)?;
            let ns = t.elapsed().as_nanos();
            if b[0] != i as u8 {
                bail!("ping-pong {client_ns} -> {at}: wrong byte back");
            }
            if i >= WARMUP {
                samples.push(u32::try_from(ns).unwrap_or(u32::MAX));
            }
            i += 1;
            if i.is_multiple_of(1024) {
                cancelled(&p.cancel)?;
            }
        }
        Ok(())
    })();
    let _ = client.shutdown(std::net::Shutdown::Both);
    result?;
    Ok((samples, i))
}
