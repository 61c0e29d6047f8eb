//! tern-bench-datapath: the datapath throughput and latency benchmark
//! (issue 4). Two "nodes" in network namespaces joined by a veth uplink, two
//! pods per node with tern-cni's addressing; in one run, side by side, iperf3
//! TCP throughput and a 1-byte TCP request/response latency for
//!
//! - (a) node to node, no pods: the baseline;
//! - (b) pod to pod through Tern's datapath in native mode;
//! - (c0) pod to pod with plain kernel routing through the veths;
//! - (c) the same with 1000 non-matching iptables FORWARD rules and one
//!   ACCEPT (what a classic CNI's node does);
//! - (d) and (e) pod to pod through Tern's VXLAN and Geneve modes;
//! - (f) pod to pod over the kernel's own VXLAN device with plain routes;
//! - (g) pod to pod over Tern's SRv6 L3VPN: the pods in a VRF, H.Encaps.Red
//!   to the other node's End.DT46 SID over an IPv6 underlay, all in eBPF.
//!
//! Tern's datapath is loaded through the `tern_ebpf::Datapath` API, as ternd
//! does. Every case checks that its packets took the path it names (Tern's
//! path counters, the ACCEPT rule's counter, the VXLAN device's counter) and
//! fails otherwise. It asserts nothing about speed: the table says which
//! targets were met.
//!
//! ```text
//! cargo build --release -p tern-bench
//! sudo target/release/tern-bench-datapath [--seconds 5] [--streams 1] [--markdown]
//! ```
//!
//! Needs root, iproute2, iperf3 and iptables. Everything runs in namespaces
//! named `tdbPIDn1`, `tdbPIDp11`, ... that it deletes again, also on failure
//! and Ctrl-C.

mod measure;
mod report;
#[path = "../signals.rs"]
mod signals;
#[path = "../table.rs"]
mod table;
mod topo;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Result, bail};
use clap::Parser;
use std::net::IpAddr;
use tern_ebpf::Datapath;
use tern_ebpf::datapath::{Mode, PathKind};

use crate::measure::{Figures, Params};
use crate::report::{Case, Row};
use crate::topo::{IPTABLES_RULES, KERNEL_VXLAN, SRV6_OVERHEAD, SRV6_TABLE, Topology, UPLINK_MTU};
use tern_ebpf::DatapathConfig;
use tern_ebpf::srv6::{Behavior, Srv6Encap};

#[derive(Parser, Debug)]
#[command(
    name = "tern-bench-datapath",
    version,
    about = "Datapath benchmark: iperf3 throughput and TCP request/response latency, node to node, \
             pod to pod through Tern (native, VXLAN, Geneve), through plain kernel routing with \
             and without iptables, and over the kernel's VXLAN device"
)]
struct Args {
    /// Seconds of each iperf3 run (the same for every case; one more second
    /// of slow start runs first and is left out).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Parallel iperf3 streams (the same for every case).
    #[arg(long, default_value_t = 1)]
    streams: u32,
    /// Seconds of each request/response run.
    #[arg(long, default_value_t = 3)]
    rr_seconds: u64,
    /// Cases to run: any of a,b,c0,c,d,e,f,g (a ratio needs (a), the tunnel
    /// targets need (f), SRv6's needs (e)).
    #[arg(long, value_delimiter = ',', default_value = "a,b,c0,c,d,e,f,g")]
    cases: Vec<String>,
    /// Rounds over all cases; the table shows medians over the rounds (a
    /// ratio: the median of the per-round ratios), the notes every round.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Pin the sending side to CPU 0 and the receiving side to CPU 1. Off by
    /// default: on one machine the pair is faster where the scheduler puts
    /// it (a pinned node-to-node run gave a third of the unpinned rate).
    #[arg(long)]
    pin: bool,
    /// Print the table in markdown.
    #[arg(long)]
    markdown: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cancel = Arc::new(AtomicBool::new(false));
    match run(args, cancel.clone()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tern-bench-datapath: {e:#}");
            if cancel.load(Ordering::SeqCst) {
                ExitCode::from(130)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(args: Args, cancel: Arc<AtomicBool>) -> Result<()> {
    let mut cases = Vec::new();
    for c in &args.cases {
        let case = Case::parse(c)?;
        if !cases.contains(&case) {
            cases.push(case);
        }
    }
    if args.seconds == 0 || args.streams == 0 || args.rr_seconds == 0 || args.rounds == 0 {
        bail!("--seconds, --streams, --rr-seconds and --rounds must be at least 1");
    }
    if !nix::unistd::geteuid().is_root() {
        bail!("run it as root: it creates network namespaces and loads eBPF programs");
    }
    for tool in ["ip", "iperf3", "iptables", "iptables-restore", "ss"] {
        if which(tool).is_none() {
            bail!("{tool} is needed and is not installed (lab/setup.sh installs it)");
        }
    }
    signals::watch(cancel.clone(), "tern-bench-datapath")?;
    let params = Params {
        seconds: args.seconds,
        streams: args.streams,
        rr_seconds: args.rr_seconds,
        pin: args.pin && std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2),
        cancel: cancel.clone(),
    };
    let load = table::load_average();
    let prefix = format!("tdb{}", std::process::id());
    eprintln!("tern-bench-datapath: building the topology ({prefix}*)");
    let t = Topology::create(&prefix)?;
    let mut rows: Vec<Row> = Vec::new();
    for r in 1..=args.rounds {
        eprintln!("tern-bench-datapath: round {r} of {}", args.rounds);
        for (case, f, evidence) in round(&t, &cases, &params)? {
            match rows.iter_mut().find(|row| row.case == case) {
                Some(row) => row.add(f, evidence),
                None => rows.push(Row::new(case, f, evidence)),
            }
        }
    }
    drop(t);
    rows.sort_by_key(|r| r.case);
    print!("{}", report::render(&rows, &params, &load, args.markdown));
    Ok(())
}

/// One pass over the chosen cases: the plain-kernel ones first, then the
/// kernel VXLAN device, then Tern's datapath loaded and switched live
/// between its modes (and unloaded again). Returns each case's figures and
/// the counters that prove its path.
fn round(t: &Topology, cases: &[Case], params: &Params) -> Result<Vec<(Case, Figures, String)>> {
    let mut out = Vec::new();
    let want = |c: Case| cases.contains(&c);
    let (src, dst) = (t.pod(1, 1)?.clone(), t.pod(2, 1)?.clone());
    let measure = |c: Case, from: &str, to: &str, addr: IpAddr, port: u16| -> Result<Figures> {
        eprintln!("tern-bench-datapath: {} ...", c.label());
        let f = measure::case(from, to, addr, port, params)?;
        eprintln!(
            "tern-bench-datapath: {}: {:.2} Gbit/s, RR mean {:.1} us",
            c.label(),
            f.gbps,
            f.rr.mean_us
        );
        Ok(f)
    };
    let pod_to_pod = |c: Case, port: u16| measure(c, &src.ns, &dst.ns, IpAddr::V4(dst.v4), port);

    // Plain kernel: no programs anywhere.
    if want(Case::A) {
        let server = IpAddr::V4(Topology::node_addr(2));
        let f = measure(Case::A, &t.node(1), &t.node(2), server, 5201)?;
        out.push((
            Case::A,
            f,
            "node 1 to node 2's uplink address, plain routing".to_owned(),
        ));
    }
    if want(Case::C0) {
        let f = pod_to_pod(Case::C0, 5211)?;
        out.push((
            Case::C0,
            f,
            "pod /32 routes, remote pod CIDR via the other node".to_owned(),
        ));
    }
    if want(Case::C) {
        t.add_iptables_rules()?;
        let before = t.iptables_accepted(2)?;
        let f = pod_to_pod(Case::C, 5221);
        let after = t.iptables_accepted(2);
        t.flush_iptables()?;
        let (f, after) = (f?, after?);
        if after <= before {
            bail!("case (c): node 2's ACCEPT rule saw no packets: the rules were not on the path");
        }
        out.push((
            Case::C,
            f,
            format!(
                "node 2's ACCEPT rule counted {} packets after the {IPTABLES_RULES} others",
                after - before
            ),
        ));
    }
    if want(Case::F) {
        t.add_kernel_vxlan()?;
        t.set_pod_mtu(UPLINK_MTU - 50)?;
        let before = t.tx_packets(1, KERNEL_VXLAN)?;
        let f = pod_to_pod(Case::F, 5261);
        let after = t.tx_packets(1, KERNEL_VXLAN);
        t.remove_kernel_vxlan()?;
        t.remote_routes_via_uplink()?;
        t.set_pod_mtu(UPLINK_MTU)?;
        let (f, after) = (f?, after?);
        if after <= before {
            bail!("case (f): node 1's {KERNEL_VXLAN} sent nothing: the traffic bypassed it");
        }
        out.push((
            Case::F,
            f,
            format!(
                "{KERNEL_VXLAN} (VNI {}, pod MTU {}) sent {} packets",
                topo::VNI,
                UPLINK_MTU - 50,
                after - before
            ),
        ));
    }

    // Tern's datapath, loaded as ternd loads it, switched live between modes.
    let tern: Vec<(Case, Mode)> = [
        (Case::B, Mode::Native),
        (Case::D, Mode::Vxlan),
        (Case::E, Mode::Geneve),
    ]
    .into_iter()
    .filter(|(c, _)| want(*c))
    .collect();
    if tern.is_empty() && !want(Case::G) {
        return Ok(out);
    }
    let (mut dp1, mut s1) = t.load_datapath(1)?;
    let (mut dp2, mut s2) = t.load_datapath(2)?;
    let result = (|| -> Result<()> {
        for (case, mode) in &tern {
            s1 = s1.with_mode(*mode);
            s2 = s2.with_mode(*mode);
            dp1.set_config(&s1)?;
            dp2.set_config(&s2)?;
            if *mode == Mode::Native {
                t.remote_routes_via_uplink()?;
            } else {
                // The tunnel modes must not lean on routes to the pods.
                let _ = t.remove_remote_routes();
            }
            t.set_pod_mtu(s1.pod_mtu(false))?;
            let (o, i) = match mode {
                Mode::Native => (PathKind::Native, PathKind::UplinkDeliver),
                Mode::Vxlan => (PathKind::VxlanEncap, PathKind::VxlanDeliver),
                Mode::Geneve => (PathKind::GeneveEncap, PathKind::GeneveDecap),
            };
            let (o0, i0) = (path(&dp1, o)?, path(&dp2, i)?);
            let d0 = drops(&dp1)? + drops(&dp2)?;
            let port = 5231 + 10 * (*mode as u16);
            let f = pod_to_pod(*case, port)?;
            let (o1, i1) = (path(&dp1, o)?, path(&dp2, i)?);
            let d1 = drops(&dp1)? + drops(&dp2)?;
            if o1 <= o0 || i1 <= i0 {
                bail!(
                    "case {}: the packets did not take the {o:?} / {i:?} paths \
                     (node 1 {o:?} {o0} -> {o1}, node 2 {i:?} {i0} -> {i1})",
                    case.label()
                );
            }
            out.push((
                *case,
                f,
                format!(
                    "node 1 {o:?} {} packets, node 2 {i:?} {}, datapath drops {}, pod MTU {}",
                    o1 - o0,
                    i1 - i0,
                    d1 - d0,
                    s1.pod_mtu(false)
                ),
            ));
        }
        if want(Case::G) {
            out.push(srv6_case(
                t,
                [(&mut dp1, &s1), (&mut dp2, &s2)],
                &pod_to_pod,
            )?);
        }
        Ok(())
    })();
    dp1.shutdown();
    dp2.shutdown();
    drop(dp1);
    drop(dp2);
    // Back to the plain kernel for the next round; a measuring error is
    // reported before a clean-up error.
    let cleanup = t
        .remove_tern_vxlan()
        .and_then(|()| {
            if want(Case::G) {
                t.remove_srv6()
            } else {
                Ok(())
            }
        })
        .and_then(|()| t.remote_routes_via_uplink())
        .and_then(|()| t.set_pod_mtu(UPLINK_MTU));
    result?;
    cleanup?;
    Ok(out)
}

/// Case (g), last of a round (the pods stop being endpoints of the
/// default VRF): each node's pods in VRF table [`SRV6_TABLE`], its
/// End.DT46 SID decapsulating into that table, the other node's pod CIDR
/// encapsulated to the other node's SID (H.Encaps.Red over IPv6), the pods'
/// MTU lowered by the outer header.
fn srv6_case(
    t: &Topology,
    nodes: [(&mut Datapath, &DatapathConfig); 2],
    pod_to_pod: &dyn Fn(Case, u16) -> Result<Figures>,
) -> Result<(Case, Figures, String)> {
    t.setup_srv6()?;
    let _ = t.remove_remote_routes();
    let mut dps = Vec::new();
    for (i, (dp, s)) in (1u8..).zip(nodes) {
        let other = 3 - i;
        dp.set_config(
            &s.with_mode(Mode::Native)
                .with_local_v6(Some(Topology::node_v6(i))),
        )?;
        for j in 1..=2 {
            let p = t.pod(i, j)?;
            dp.remove_endpoint(IpAddr::V4(p.v4))?;
            dp.set_vrf_iface(t.host_ifindex(p)?, SRV6_TABLE)?;
        }
        dp.upsert_srv6_locator(Topology::locator(i))?;
        dp.upsert_srv6_sid(Topology::srv6_sid(i), Behavior::EndDt46, SRV6_TABLE)?;
        dp.upsert_srv6_encap(
            SRV6_TABLE,
            Topology::pod_cidr(other).parse()?,
            &Srv6Encap::new(vec![Topology::srv6_sid(other)]),
        )?;
        dps.push(dp);
    }
    let mtu = UPLINK_MTU - SRV6_OVERHEAD;
    t.set_pod_mtu(mtu)?;
    let (o, i) = (PathKind::Srv6Encap, PathKind::Srv6Decap);
    let (o0, i0) = (path(dps[0], o)?, path(dps[1], i)?);
    let d0 = drops(dps[0])? + drops(dps[1])?;
    let f = pod_to_pod(Case::G, 5291)?;
    let (o1, i1) = (path(dps[0], o)?, path(dps[1], i)?);
    let d1 = drops(dps[0])? + drops(dps[1])?;
    if o1 <= o0 || i1 <= i0 {
        bail!(
            "case (g): the packets did not take the SRv6 paths \
             (node 1 {o:?} {o0} -> {o1}, node 2 {i:?} {i0} -> {i1})"
        );
    }
    Ok((
        Case::G,
        f,
        format!(
            "node 1 {o:?} {} packets, node 2 {i:?} {}, datapath drops {}, pod MTU {mtu}",
            o1 - o0,
            i1 - i0,
            d1 - d0
        ),
    ))
}

fn path(dp: &Datapath, p: PathKind) -> Result<u64> {
    Ok(dp
        .path_counters()?
        .into_iter()
        .find(|(k, _)| *k == p)
        .map_or(0, |(_, n)| n))
}

fn drops(dp: &Datapath) -> Result<u64> {
    Ok(dp.drop_counters()?.into_iter().map(|(_, n)| n).sum())
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}
