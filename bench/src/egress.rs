//! `tern-bench --egress`: the egress gateway benchmark of issue 13. A pod
//! reaches an outside server through a gateway that translates its address;
//! Tern's eBPF egress gateway against iptables MASQUERADE with the kernel's
//! conntrack, on this machine, in one run, printed as one side-by-side
//! table:
//! - iperf3 TCP throughput from the pod to the server, 1 and 4 streams;
//! - new TCP connections per second from the pod to the server (connect,
//!   request, answer, close, on several threads), and the time of each;
//! - the NAT entries the run leaves, and whether collection removes them.
//!
//! Each system has a chain of namespaces of its own, built the same way
//! (topo.rs): pod, gateway node, server. Tern's node is the policy's
//! gateway, so the pod's own TC program translates (ternd's wiring is
//! replaced by the loader API, as the datapath benchmark does); the
//! anchor's node forwards with the kernel and MASQUERADEs. A third chain
//! puts the gateway on another node, the pod's node tunnelling to it with
//! Geneve: an extra Tern row, with nothing to compare it with. The
//! measurements alternate between the systems, round by round, under the
//! same load of the machine. The servers know no route to the pod, so a
//! connection is answered only when its packets were translated; the
//! datapath's path counters and the MASQUERADE rule's counter show that
//! each system's packets took its path, or the row is marked failed, as it
//! is when a connection goes unanswered.

mod topo;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tern_ebpf::datapath::ip_key;
use tern_ebpf::egress::EgressConfig;
use tern_ebpf::services::{CT_STATE_CLOSING, CT_STATE_ESTABLISHED, CT_STATE_SYN, monotonic_ns};

use self::topo::{Chains, EGRESS_IP, POD, POLICY, SERVER, SERVER_NET, Side, Tern};
use crate::services::lab::{ChildGuard, wait_for};
use crate::services::load::{self, Responders, Run};
use crate::services::{heading, median, met, quantiles_cell, thousands};
use crate::{signals, table};

/// Rounds over every measurement; Tern and the anchor swap places each
/// round, the remote chain comes last.
const ROUNDS: usize = 3;
/// iperf3's parallel streams, one run each.
const STREAMS: [u32; 2] = [1, 4];
const IPERF_SECS: u32 = 10;
/// Client threads, each with one connection at a time.
const THREADS: usize = 8;
const WARMUP: Duration = Duration::from_secs(1);
/// Long enough to hold a collection of the warm-up's entries (closing
/// timeout 10 s, collector every 10 s): the steady state, not a first burst.
const WINDOW: Duration = Duration::from_secs(20);
/// The servers' responder and iperf3 ports.
const RESPONDER_PORT: u16 = 8080;
const IPERF_PORT: u16 = 5201;
/// Every chain of the run, in table order.
const SIDES: [Side; 3] = [Side::Tern, Side::Anchor, Side::Remote];

/// What one system measured, a value per round.
#[derive(Debug, Default)]
struct Figures {
    /// Gbit/s, for each entry of [`STREAMS`].
    gbps: [Vec<f64>; 2],
    /// New connections per second.
    cps: Vec<f64>,
    /// NAT state right after the connection window: Tern's egress ports
    /// held (reply entries) and flows (forward entries); the kernel's
    /// conntrack entries, twice.
    held: Vec<(u64, u64)>,
    /// The connection runs merged (times, failures).
    conns: Run,
}

/// The NAT entries a Tern gateway holds after the run.
#[derive(Debug, Default)]
struct NatCheck {
    /// Translated flows (forward entries) at the end of the run.
    entries: usize,
    /// Of these, not from the pod to the server through the egress IP with
    /// a port of the range under the policy.
    wrong: usize,
    /// Left after a collection past every timeout but the established one:
    /// how many in each state, and their server ports.
    left: BTreeMap<&'static str, usize>,
    left_ports: BTreeSet<u16>,
}

impl NatCheck {
    fn left(&self) -> usize {
        self.left.values().sum()
    }

    /// Every flow as the policy says, none left after collection (the
    /// path counters, not this check, show that flows were translated).
    fn ok(&self) -> bool {
        self.wrong == 0 && self.left() == 0
    }
}

/// The egress mode. Ok(false) when a row failed: a connection unanswered,
/// a system's packets not on its path, NAT entries left behind. Asserts
/// nothing about speed.
pub fn run(markdown: bool, cancel: Arc<AtomicBool>) -> Result<bool> {
    if !nix::unistd::geteuid().is_root() {
        bail!("run it as root: it creates network namespaces and loads eBPF programs");
    }
    for prog in ["ip", "iperf3", "iptables", "iptables-save"] {
        std::process::Command::new(prog)
            .arg("-V")
            .output()
            .with_context(|| format!("{prog} is missing (lab/setup.sh installs it)"))?;
    }
    signals::watch(cancel.clone(), "tern-bench")?;
    let load_start = table::load_average();
    let started = Instant::now();
    let prefix = format!("teg{}", std::process::id());
    eprintln!("tern-bench: egress: building the chains ({prefix}*)");
    let chains = Chains::create(&prefix, &SIDES)?;
    topo::add_masquerade(chains.get(Side::Anchor)?)?;
    let tern = Tern::load(&chains)?;
    let servers: Vec<String> = chains.chains.iter().map(|c| c.server.clone()).collect();
    let _responders = Responders::start(&servers, RESPONDER_PORT, 2)?;
    let mut _iperf_servers = Vec::new();
    for s in &servers {
        _iperf_servers.push(ChildGuard::start_in(
            s,
            "iperf3",
            &["-s", "-p", &IPERF_PORT.to_string()],
        )?);
    }
    let dst = SocketAddrV4::new(SERVER, RESPONDER_PORT);
    for c in &chains.chains {
        wait_for(
            10,
            &cancel,
            &format!("the server answering {}'s pod", c.side.name()),
            || load::answers(&c.pod, POD, dst),
        )?;
    }

    let before = counters(&chains, &tern)?;
    let mut figures: BTreeMap<usize, Figures> = BTreeMap::new();
    for round in 0..ROUNDS {
        let order = if round % 2 == 0 {
            SIDES
        } else {
            [Side::Anchor, Side::Tern, Side::Remote]
        };
        eprintln!("tern-bench: egress: round {} of {ROUNDS}", round + 1);
        for (i, streams) in STREAMS.iter().enumerate() {
            for side in order {
                check(&cancel)?;
                let c = chains.get(side)?;
                let g = load::iperf(&c.pod, SERVER, IPERF_PORT, IPERF_SECS, *streams)
                    .with_context(|| format!("{}: iperf3", side.name()))?;
                eprintln!(
                    "tern-bench: {}: {} {g:.2} Gbit/s",
                    side.name(),
                    streams_label(*streams)
                );
                figures.entry(slot(side)).or_default().gbps[i].push(g);
            }
        }
        for side in order {
            check(&cancel)?;
            let c = chains.get(side)?;
            let r = load::run_client(&c.pod, &[POD], dst, THREADS, WARMUP, WINDOW, &cancel)?;
            let held = match tern.nodes.iter().find(|n| n.side == side && n.gateway) {
                Some(node) => node.ports_held()?,
                None => {
                    let n = topo::kernel_conntrack_count(c)?;
                    (n, n)
                }
            };
            eprintln!(
                "tern-bench: {}: {:.0} connections/s ({} failed), {} NAT entries after",
                side.name(),
                r.per_sec(),
                r.errors,
                held.0
            );
            let f = figures.entry(slot(side)).or_default();
            f.cps.push(r.per_sec());
            f.held.push(held);
            f.conns.merge(r);
        }
    }
    let after = counters(&chains, &tern)?;
    let mut nat = BTreeMap::new();
    for node in tern.nodes.iter().filter(|n| n.gateway) {
        nat.insert(slot(node.side), check_nat(&mut node.lock())?);
    }
    drop(tern);

    let mut out = heading(
        "Egress gateway: Tern (eBPF SNAT to an egress IP) against iptables MASQUERADE \
         (kernel conntrack), pod to an outside server, same run",
        &load_start,
        started,
    );
    let report = Report {
        figures: &figures,
        nat: &nat,
        evidence: evidence(&before, &after),
    };
    let ok = report.render(&mut out, markdown);
    print!("{out}");
    Ok(ok)
}

fn check(cancel: &AtomicBool) -> Result<()> {
    if cancel.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

/// A side's key in the maps of figures (table order).
fn slot(side: Side) -> usize {
    SIDES.iter().position(|s| *s == side).unwrap_or(SIDES.len())
}

/// The counters that say which path the packets took, by name: Tern's
/// path and drop counters per node (`NODE path NAME`, `NODE drop NAME`),
/// the MASQUERADE rule's packets (`masquerade`).
fn counters(chains: &Chains, tern: &Tern) -> Result<BTreeMap<String, u64>> {
    let mut m = BTreeMap::new();
    for node in &tern.nodes {
        let role = if node.gateway { "gateway" } else { "node" };
        let who = format!("{}|{role}", slot(node.side));
        let dp = node.lock();
        for (p, n) in dp.path_counters()? {
            m.insert(format!("{who}|path|{}", p.name()), n);
        }
        for (d, n) in dp.drop_counters()? {
            m.insert(format!("{who}|drop|{}", d.name()), n);
        }
    }
    m.insert(
        "masquerade".into(),
        topo::masquerade_packets(chains.get(Side::Anchor)?)?,
    );
    Ok(m)
}

/// What the counters moved by over the run: per side, whether the packets
/// took its path and a line that says so (with the drops of Tern's nodes).
fn evidence(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> Vec<(bool, String)> {
    let delta = |k: &str| {
        after
            .get(k)
            .copied()
            .unwrap_or(0)
            .saturating_sub(before.get(k).copied().unwrap_or(0))
    };
    let drops = |side: Side| {
        let mut d: Vec<String> = after
            .keys()
            .filter_map(|k| {
                let mut parts = k.split('|');
                let (s, role, kind, name) =
                    (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
                let n = delta(k);
                (s == slot(side).to_string() && kind == "drop" && n > 0)
                    .then(|| format!("{role} {name} {n}"))
            })
            .collect();
        if d.is_empty() {
            d.push("none".into());
        }
        format!("datapath drops: {}", d.join(", "))
    };
    SIDES
        .iter()
        .map(|side| {
            let s = slot(*side);
            let needed: &[(&str, &str)] = match side {
                Side::Tern => &[("gateway", "egress-snat"), ("gateway", "egress-reply")],
                Side::Remote => &[
                    ("node", "egress-steer"),
                    ("gateway", "egress-snat"),
                    ("gateway", "egress-reply"),
                ],
                Side::Anchor => &[],
            };
            if *side == Side::Anchor {
                let n = delta("masquerade");
                return (
                    n > 0,
                    format!("the MASQUERADE rule translated {n} connections' first packets"),
                );
            }
            let seen: Vec<(String, u64)> = needed
                .iter()
                .map(|(role, path)| {
                    (
                        format!("{role} {path}"),
                        delta(&format!("{s}|{role}|path|{path}")),
                    )
                })
                .collect();
            let ok = seen.iter().all(|(_, n)| *n > 0);
            let list: Vec<String> = seen.iter().map(|(k, n)| format!("{k} {n}")).collect();
            (
                ok,
                format!("packets by path: {}; {}", list.join(", "), drops(*side)),
            )
        })
        .collect()
}

/// Reads the gateway's translated flows, then collects them as ternd's
/// collector would once every timeout but the established one has passed.
fn check_nat(dp: &mut tern_ebpf::Datapath) -> Result<NatCheck> {
    let s = EgressConfig::default();
    let (pod, server, egress) = (
        ip_key(IpAddr::V4(POD)).addr,
        ip_key(IpAddr::V4(SERVER)).addr,
        ip_key(IpAddr::V4(EGRESS_IP)).addr,
    );
    let flows = dp.egress_conntrack()?;
    let mut c = NatCheck {
        entries: flows.len(),
        ..NatCheck::default()
    };
    for (k, e) in &flows {
        if k.src != pod
            || k.dst != server
            || e.addr_b != egress
            || e.service_id != POLICY
            || !s.ports().contains(&e.port_b)
        {
            c.wrong += 1;
        }
    }
    let longest = s.tcp_syn.max(s.tcp_closing).max(s.other);
    dp.conntrack_gc(monotonic_ns() + (u64::from(longest) + 1) * 1_000_000_000)?;
    for (k, e) in dp.egress_conntrack()? {
        let state = match e.state {
            CT_STATE_SYN => "syn",
            CT_STATE_ESTABLISHED => "established",
            CT_STATE_CLOSING => "closing",
            _ => "other",
        };
        *c.left.entry(state).or_default() += 1;
        c.left_ports.insert(k.dport);
    }
    Ok(c)
}

/// "1 stream", "4 streams".
fn streams_label(n: u32) -> String {
    format!("{n} stream{}", if n == 1 { "" } else { "s" })
}

/// The median over the rounds of `a`'s value divided by `b`'s in the same
/// round: pairing the rounds keeps the machine's drift out of the ratio.
fn paired_ratio(a: &[f64], b: &[f64]) -> f64 {
    let r: Vec<f64> = a
        .iter()
        .zip(b)
        .filter(|(_, b)| **b > 0.0)
        .map(|(a, b)| a / b)
        .collect();
    median(&r).unwrap_or(0.0)
}

/// Everything the table is made of.
struct Report<'a> {
    figures: &'a BTreeMap<usize, Figures>,
    nat: &'a BTreeMap<usize, NatCheck>,
    /// Per side in [`SIDES`] order: path taken, and the line that says so.
    evidence: Vec<(bool, String)>,
}

impl Report<'_> {
    fn fig(&self, side: Side) -> Option<&Figures> {
        self.figures.get(&slot(side))
    }

    /// Why a row of `sides` failed (empty: it did not): packets off their
    /// path, and with `answered` connections that went unanswered.
    fn failures(&self, sides: &[Side], answered: bool) -> Vec<String> {
        let mut why = Vec::new();
        for side in sides {
            if !self.evidence.get(slot(*side)).is_some_and(|(ok, _)| *ok) {
                why.push(format!("{}: not on its path", side.name()));
            }
            let errors = self.fig(*side).map_or(0, |f| f.conns.errors);
            if answered && errors > 0 {
                why.push(format!("{}: {errors} unanswered", side.name()));
            }
        }
        why
    }

    /// A result cell: met / missed against `ratio` (None: no target), or
    /// failed with the reasons.
    fn result(ratio: Option<f64>, why: &[String]) -> String {
        match (ratio, why.is_empty()) {
            (Some(r), true) => format!("{} ({r:.2}x)", met(r >= 1.0)),
            (None, true) => "-".into(),
            (Some(r), false) => format!("{} ({r:.2}x); failed: {}", met(r >= 1.0), why.join("; ")),
            (None, false) => format!("failed: {}", why.join("; ")),
        }
    }

    /// Appends the row of `side`'s NAT check; false when it failed.
    fn nat_row(&self, rows: &mut Vec<Vec<String>>, label: String, side: Side) -> bool {
        let nat = self.nat.get(&slot(side));
        let ok = nat.is_some_and(NatCheck::ok);
        rows.push(vec![
            label,
            nat.map_or("-".into(), nat_cell),
            "-".into(),
            "none left".into(),
            if ok { "ok" } else { "failed" }.into(),
        ]);
        ok
    }

    /// Appends the table and its notes; false when a row failed.
    fn render(&self, out: &mut String, markdown: bool) -> bool {
        let empty = Figures::default();
        let t = self.fig(Side::Tern).unwrap_or(&empty);
        let k = self.fig(Side::Anchor).unwrap_or(&empty);
        let dash = || "-".to_owned();
        let target = ">= 1.0x MASQUERADE".to_owned();
        let both = [Side::Tern, Side::Anchor];
        let gbps = |f: &Figures, i: usize| format!("{:.2}", median(&f.gbps[i]).unwrap_or(0.0));
        let cps = |f: &Figures| {
            let c = thousands(median(&f.cps).unwrap_or(0.0));
            match f.conns.errors {
                0 => c,
                e => format!("{c} ({e} failed)"),
            }
        };
        let held = |f: &Figures| f.held.iter().copied().max().unwrap_or((0, 0));
        let ports = |f: &Figures| {
            let (ports, flows) = held(f);
            format!(
                "{} ports held by {} flows",
                thousands(ports as f64),
                thousands(flows as f64)
            )
        };
        let mut ok = true;
        let mut rows: Vec<Vec<String>> = Vec::new();
        for (i, streams) in STREAMS.iter().enumerate() {
            let why = self.failures(&both, false);
            ok &= why.is_empty();
            rows.push(vec![
                format!("throughput, {} (Gbit/s)", streams_label(*streams)),
                gbps(t, i),
                gbps(k, i),
                target.clone(),
                Self::result(Some(paired_ratio(&t.gbps[i], &k.gbps[i])), &why),
            ]);
        }
        let why = self.failures(&both, true);
        ok &= why.is_empty();
        rows.push(vec![
            format!("new TCP connections/s, {THREADS} threads"),
            cps(t),
            cps(k),
            target.clone(),
            Self::result(Some(paired_ratio(&t.cps, &k.cps)), &why),
        ]);
        rows.push(vec![
            format!("connection time p50 / p99 (us), {THREADS} at a time"),
            quantiles_cell(&t.conns),
            quantiles_cell(&k.conns),
            dash(),
            dash(),
        ]);
        rows.push(vec![
            "NAT entries right after the connections (largest round)".into(),
            ports(t),
            format!("{} conntrack entries", thousands(held(k).0 as f64)),
            dash(),
            dash(),
        ]);
        ok &= self.nat_row(
            &mut rows,
            "Tern's translated flows after the run / after collection".into(),
            Side::Tern,
        );
        if let Some(g) = self.fig(Side::Remote) {
            let label = |what: &str| format!("remote gateway (Geneve): {what}");
            for (i, streams) in STREAMS.iter().enumerate() {
                let why = self.failures(&[Side::Remote], false);
                ok &= why.is_empty();
                rows.push(vec![
                    label(&format!("throughput, {} (Gbit/s)", streams_label(*streams))),
                    gbps(g, i),
                    dash(),
                    dash(),
                    Self::result(None, &why),
                ]);
            }
            let why = self.failures(&[Side::Remote], true);
            ok &= why.is_empty();
            rows.push(vec![
                label(&format!("new TCP connections/s, {THREADS} threads")),
                cps(g),
                dash(),
                dash(),
                Self::result(None, &why),
            ]);
            rows.push(vec![
                label("connection time p50 / p99 (us)"),
                quantiles_cell(&g.conns),
                dash(),
                dash(),
                dash(),
            ]);
            rows.push(vec![
                label("NAT entries right after the connections"),
                ports(g),
                dash(),
                dash(),
                dash(),
            ]);
            ok &= self.nat_row(
                &mut rows,
                label("translated flows after the run / after collection"),
                Side::Remote,
            );
        }
        table::write(
            out,
            &[
                "measurement",
                "Tern",
                "iptables MASQUERADE",
                "target",
                "result",
            ],
            &rows,
            |i| i == 1 || i == 2,
            markdown,
        );
        self.notes(out);
        ok
    }

    /// The setup in a paragraph, then each system's rounds and path.
    fn notes(&self, out: &mut String) {
        let s = EgressConfig::default();
        let _ = writeln!(
            out,
            "\nA pod ({POD}) to an outside server ({SERVER}) through a gateway node, one chain of \
             namespaces per system. Tern: the pod's node is the gateway of one egress policy \
             ({SERVER_NET} -> egress IP {EGRESS_IP}); its TC programs translate and conntrack \
             (ports {}-{}, closing timeout {} s, collected every 10 s as ternd does). iptables: \
             kernel forwarding, `-t nat POSTROUTING -s {POD}/32 -d {SERVER_NET} -o up0 -j \
             MASQUERADE`, kernel conntrack. Remote gateway: the pod's node tunnels to a gateway \
             node (Geneve, policy id as VNI), which translates; pod MTU 1450. The servers route \
             only the egress address back. iperf3: {IPERF_SECS} s after 1 s left out. \
             Connections: {THREADS} threads, each connect / request / answer / reset, {:.0} s \
             counted after {:.0} s of warm-up; unanswered within {:.0} s counts as failed. \
             {ROUNDS} rounds, Tern and iptables alternating; figures: median of the rounds, \
             ratios: median of the per-round ratios.",
            s.port_min,
            s.port_max,
            s.tcp_closing,
            WINDOW.as_secs_f64(),
            WARMUP.as_secs_f64(),
            load::IO_TIMEOUT.as_secs_f64(),
        );
        for side in SIDES {
            let Some(f) = self.fig(side) else { continue };
            let list = |v: &[f64], prec: usize| {
                v.iter()
                    .map(|x| format!("{x:.prec$}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let streams: Vec<String> = STREAMS
                .iter()
                .enumerate()
                .map(|(i, n)| format!("{} {}", streams_label(*n), list(&f.gbps[i], 2)))
                .collect();
            let held: Vec<String> = f
                .held
                .iter()
                .map(|(n, flows)| match side {
                    Side::Anchor => n.to_string(),
                    _ => format!("{n} ports / {flows} flows"),
                })
                .collect();
            let _ = writeln!(
                out,
                "- {}: Gbit/s by round: {}; connections/s by round: {} ({} counted, {} failed); \
                 NAT entries after each window: {}; {}",
                side.name(),
                streams.join("; "),
                list(&f.cps, 0),
                f.conns.completed,
                f.conns.errors,
                held.join(", "),
                self.evidence
                    .get(slot(side))
                    .map_or("", |(_, text)| text.as_str()),
            );
        }
    }
}

/// `ENTRIES / LEFT`, with what is wrong about them.
fn nat_cell(n: &NatCheck) -> String {
    let mut s = format!("{} / {}", thousands(n.entries as f64), n.left());
    if n.left() > 0 {
        let states: Vec<String> = n.left.iter().map(|(k, v)| format!("{v} {k}")).collect();
        let ports: Vec<String> = n.left_ports.iter().map(u16::to_string).collect();
        let _ = write!(
            s,
            " ({}; server port {})",
            states.join(", "),
            ports.join(", ")
        );
    }
    if n.wrong > 0 {
        let _ = write!(s, " ({} not as the policy says)", n.wrong);
    }
    s
}
