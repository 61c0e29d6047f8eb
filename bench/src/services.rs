//! `tern-bench --services`: the services benchmark of issue 12. Tern's load
//! balancer against kube-proxy-style iptables DNAT, on this machine, in one
//! run, printed as one side-by-side table:
//! - new TCP connections per second from a client to a VIP, and the time of
//!   each (connect to the last byte of the answer), with 1, 1,000 and 10,000
//!   services;
//! - iperf3 throughput through a VIP against straight to the pod;
//! - the time to add one service when 10,000 exist, until the answer to the
//!   request and until the VIP answers a connection to it;
//! - the Maglev table build time for 10,000 services x 100 backends.
//!
//! Both run at once in the services lab (lab/topologies/services.clab.yml,
//! brought up by tern-lab from a private copy, see lab.rs), one node each,
//! so that every figure of one is measured next to the same figure of the
//! other, in alternating order, under the same load of the machine:
//! - **Tern** on node2: the services pushed to its ternd with the bulk
//!   control request, the VIP announced by BGP, tor1 routing it to node2,
//!   node2's eBPF datapath balancing it to node2's pods;
//! - **the anchor** on node1: ternd's datapath turned off there
//!   (`no datapath mode`; node1's ternd still runs BGP and its pods are
//!   reached by plain kernel routing), tor1 routing the anchor's VIPs to
//!   node1, kube-proxy's rules for the same services loaded into node1 with
//!   iptables-restore (kubeproxy.rs).
//!
//! The client's connections (from 64 addresses in turn, as from many
//! clients) cross tor1 to the node, where the pods answer with a tiny
//! responder (load.rs); a connection not answered within a second counts as
//! failed. The measured services have external
//! traffic policy local (each node balances over its own two pods; neither
//! system translates the client's address); one extra row measures policy
//! cluster, where both send half the connections to the other node's pods
//! behind a source NAT.

mod kubeproxy;
pub(crate) mod lab;
pub(crate) mod load;

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;
use tern_services::{Algorithm, Backend, Frontend, Protocol, Service, TrafficPolicy};

use self::kubeproxy::{Endpoint, Svc};
use self::lab::{CLIENT_A, Lab, NODE1_UPLINK, PODS, wait_for};
use self::load::Run;
use crate::{signals, table};

/// Numbers of services the connection rate is measured with.
const SCALES: [usize; 3] = [1, 1_000, 10_000];
/// The node that runs Tern's datapath, and the anchor's.
const TERN_NODE: &str = "node2";
const KP_NODE: &str = "node1";
/// Tern's VIP: service i is `TERN_VIP` port `FIRST_PORT + i`.
const TERN_VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
/// Tern's throughput service (its own VIP, one backend).
const TERN_IPERF_VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 20);
/// The anchor's VIPs (tor1 routes 198.18.1.0/24 to node1).
const KP_VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 10);
const KP_IPERF_VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 20);
const KP_PREFIX: &str = "198.18.1.0/24";
const FIRST_PORT: u16 = 10_000;
/// The services added at 10,000 use ports from here.
const ADD_PORT: u16 = 9_000;
/// The policy-cluster service's port.
const CLUSTER_PORT: u16 = 30_000;
/// The pods' responder and iperf3 server ports.
const POD_PORT: u16 = 8080;
const IPERF_PORT: u16 = 5201;
/// Maglev table size of the measured services: 10,000 of them fit the
/// datapath's table pool (4 Mi entries) at 251, not at the default 16,381.
const TABLE_SIZE: u32 = 251;
/// Services per bulk request (requests are limited to 1 MiB).
const CHUNK: usize = 2_000;
/// Client threads, each with one connection at a time.
const THREADS: usize = 8;
/// The client's addresses the connections come from (203.0.113.10 and
/// up), in turn: many clients, whose 5-tuples recur only minutes apart
/// rather than every two seconds (one address's ephemeral ports at 30,000
/// connections a second), as a load balancer in front of real clients sees.
const CLIENT_SOURCES: u8 = 64;
/// Rounds of the connection-rate runs per scale (Tern and the anchor
/// alternate, the first of a round switching each time).
const ROUNDS: usize = 2;
const WARMUP: Duration = Duration::from_millis(500);
const WINDOW: Duration = Duration::from_secs(2);
/// The one-connection-at-a-time latency run.
const SINGLE_WINDOW: Duration = Duration::from_secs(3);
const IPERF_SECS: u32 = 3;
/// Samples of "add one service at 10,000", and of kube-proxy's partial
/// sync (seconds each).
const ADD_SAMPLES: u16 = 5;
const SYNC_SAMPLES: u16 = 3;
/// Maglev build benchmark: services x backends x table size.
const MAGLEV: (usize, usize, u32) = (10_000, 100, 16_381);

/// The figures of one scale.
#[derive(Debug, Default)]
struct Scale {
    services: usize,
    /// Time to load the services (Tern: the bulk requests; the anchor: a
    /// full iptables-restore).
    load: Duration,
    loaded: Run,
    single: Run,
}

/// Adding one service at 10,000, per sample.
#[derive(Debug, Default)]
struct Added {
    reply_ms: Vec<f64>,
    answer_ms: Vec<f64>,
}

/// Everything measured for one system.
#[derive(Debug, Default)]
struct System {
    scales: Vec<Scale>,
    direct_gbps: f64,
    vip_gbps: f64,
    added: Added,
    /// The anchor only: kube-proxy's partial sync (KUBE-SERVICES rewritten).
    synced: Added,
    /// One service under policy cluster.
    cluster: Run,
}

/// What both systems' runs share.
struct Bench<'a> {
    lab: &'a Lab,
    client: String,
    kp_ns: String,
    /// (node, address) of each pod, in [`PODS`] order.
    pods: Vec<(&'static str, Ipv4Addr)>,
    sources: Vec<Ipv4Addr>,
    cancel: &'a Arc<AtomicBool>,
}

/// The services mode. A failure is an error; the bench asserts nothing
/// about speed.
pub fn run(markdown: bool, keep: bool, cancel: Arc<AtomicBool>) -> Result<bool> {
    if !nix::unistd::geteuid().is_root() {
        bail!("run it as root: it creates network namespaces and starts routing daemons");
    }
    for prog in ["iperf3", "iptables-restore", "vtysh"] {
        std::process::Command::new(prog)
            .arg("--version")
            .output()
            .with_context(|| format!("{prog} is missing (lab/setup.sh installs it)"))?;
    }
    let bin_dir: PathBuf = std::env::current_exe()
        .context("locating tern-bench's own binary")?
        .parent()
        .map(PathBuf::from)
        .context("tern-bench's directory")?;
    signals::watch(cancel.clone(), "tern-bench")?;
    let load_start = table::load_average();
    let started = Instant::now();

    eprintln!(
        "tern-bench: Maglev: {} services x {} backends x {} entries ...",
        MAGLEV.0, MAGLEV.1, MAGLEV.2
    );
    let maglev = tern_services::maglev::bench_build(MAGLEV.0, MAGLEV.1, MAGLEV.2);

    let name = format!("tbsvc{}", std::process::id());
    eprintln!("tern-bench: bringing up lab {name} ...");
    let lab = Lab::up(&name, &bin_dir, keep)?;
    wait_for(60, &cancel, "tor1's four BGP sessions", || {
        Ok(lab.tor_sessions()? == 4)
    })?;
    wait_for(30, &cancel, "tor1's routes to both pod CIDRs", || {
        Ok(lab.tor_paths("10.244.1.0/24")? == 1 && lab.tor_paths("10.244.2.0/24")? == 1)
    })?;
    lab.configure(KP_NODE, &["no datapath mode"])?;
    lab::output(
        "ip",
        &[
            "-n",
            &lab.ns("tor1"),
            "route",
            "add",
            KP_PREFIX,
            "via",
            &NODE1_UPLINK.to_string(),
        ],
    )?;
    let mut pods = Vec::new();
    for (node, pod) in PODS {
        pods.push((node, lab.pod_addr(node, pod)?));
    }
    let client = lab.ns("client");
    lab::output(
        "ip",
        &[
            "netns",
            "exec",
            &client,
            "sysctl",
            "-qw",
            "net.ipv4.ip_local_port_range=1024 65535",
        ],
    )?;
    let sources: Vec<Ipv4Addr> = (0..CLIENT_SOURCES)
        .map(|i| Ipv4Addr::new(203, 0, 113, 10 + i))
        .collect();
    for a in &sources {
        lab::output(
            "ip",
            &[
                "-n",
                &client,
                "addr",
                "add",
                &format!("{a}/24"),
                "dev",
                "eth1",
            ],
        )?;
    }
    let pod_namespaces: Vec<String> = PODS.iter().map(|(n, p)| lab.pod_ns(n, p)).collect();
    let _responders = load::Responders::start(&pod_namespaces, POD_PORT, 2)?;
    let mut iperf_servers = Vec::new();
    for node in [KP_NODE, TERN_NODE] {
        iperf_servers.push(lab::ChildGuard::start_in(
            &lab.pod_ns(node, "pod1"),
            "iperf3",
            &["-s", "-p", &IPERF_PORT.to_string()],
        )?);
    }
    let b = Bench {
        lab: &lab,
        client,
        kp_ns: lab.ns(KP_NODE),
        pods,
        sources,
        cancel: &cancel,
    };
    let mut tern = System::default();
    let mut kp = System::default();
    throughput(&b, &mut tern, &mut kp)?;
    scales(&b, &mut tern, &mut kp)?;
    add_tern(&b, &mut tern)?;
    add_kube_proxy(&b, &mut kp)?;
    let nat_failed = cluster(&b, &mut tern, &mut kp)?;

    let mut out = heading(
        "Services: Tern (eBPF, Maglev) against kube-proxy-style iptables DNAT, same lab, same run",
        &load_start,
        started,
    );
    render(&mut out, &tern, &kp, maglev, nat_failed, markdown);
    print!("{out}");
    Ok(true)
}

/// The lines above a comparison's table: what it compares, the machine,
/// the load average at the start (`load_start`) and now, and how long the
/// run since `started` took.
pub(crate) fn heading(title: &str, load_start: &str, started: Instant) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{title}");
    let _ = writeln!(out, "{}", table::machine());
    let _ = writeln!(
        out,
        "load average at start: {load_start}, at end: {}; whole run {:.0} s",
        table::load_average(),
        started.elapsed().as_secs_f64()
    );
    out.push('\n');
    out
}

impl Bench<'_> {
    /// Fails once Ctrl-C or SIGTERM came, so that the guards clean up.
    fn check(&self) -> Result<()> {
        if self.cancel.load(Ordering::SeqCst) {
            bail!("interrupted");
        }
        Ok(())
    }

    fn pod(&self, node: &str) -> Result<Ipv4Addr> {
        self.pods
            .iter()
            .find(|(n, _)| *n == node)
            .map(|(_, a)| *a)
            .with_context(|| format!("no pod on {node}"))
    }

    fn backends(&self) -> Vec<(Ipv4Addr, u16)> {
        self.pods.iter().map(|(_, a)| (*a, POD_PORT)).collect()
    }

    fn endpoints(&self) -> Vec<Endpoint> {
        self.pods
            .iter()
            .map(|(node, a)| Endpoint {
                addr: *a,
                port: POD_PORT,
                local: *node == KP_NODE,
            })
            .collect()
    }

    /// Sends `services` to Tern's node in chunks (the first replacing all
    /// services); the time until the last answer.
    fn apply(&self, services: &[Service]) -> Result<Duration> {
        let chunks: Vec<&[Service]> = if services.is_empty() {
            vec![&[]]
        } else {
            services.chunks(CHUNK).collect()
        };
        let mut c = lab::Control::connect(&self.lab.ns(TERN_NODE))?;
        let start = Instant::now();
        for (i, chunk) in chunks.iter().enumerate() {
            c.send(&json!({
                "request": "services-apply",
                "upsert": chunk,
                "replace_all": i == 0,
            }))?;
            c.receive()?;
        }
        Ok(start.elapsed())
    }

    /// Waits until tor1 has one path to `vip` (node2's announcement).
    fn wait_route(&self, vip: Ipv4Addr) -> Result<()> {
        let prefix = format!("{vip}/32");
        wait_for(
            30,
            self.cancel,
            &format!("tor1's route to {prefix}"),
            || Ok(self.lab.tor_paths(&prefix)? == 1),
        )
    }

    /// Waits until `dst` answers the client (three requests in a row).
    fn wait_answers(&self, dst: SocketAddrV4) -> Result<()> {
        wait_for(30, self.cancel, &format!("{dst} answering"), || {
            for _ in 0..3 {
                if !load::answers(&self.client, self.sources[0], dst)? {
                    return Ok(false);
                }
            }
            Ok(true)
        })
    }

    fn client_run(&self, dst: SocketAddrV4, threads: usize, window: Duration) -> Result<Run> {
        let warmup = if threads == 1 {
            Duration::from_millis(200)
        } else {
            WARMUP
        };
        load::run_client(
            &self.client,
            &self.sources,
            dst,
            threads,
            warmup,
            window,
            self.cancel,
        )
    }
}

/// A service of Tern's with one TCP frontend.
fn tern_service(
    name: String,
    vip: Ipv4Addr,
    port: u16,
    backends: &[(Ipv4Addr, u16)],
    local: bool,
) -> Service {
    let mut s = Service::new(name);
    s.frontends
        .push(Frontend::new(vip.into(), port, Protocol::Tcp));
    s.backends = backends
        .iter()
        .map(|(a, p)| Backend::new((*a).into(), *p))
        .collect();
    s.algorithm = Algorithm::Maglev {
        table_size: TABLE_SIZE,
    };
    if local {
        s.traffic_policy = TrafficPolicy::Local;
    }
    s
}

/// One service of the anchor's.
fn kp_service(name: String, vip: Ipv4Addr, port: u16, endpoints: &[Endpoint], local: bool) -> Svc {
    Svc {
        name,
        vip,
        port,
        endpoints: endpoints.to_vec(),
        local,
    }
}

/// iperf3 straight to pod1 of each system's node and through a VIP whose
/// one backend is that pod.
fn throughput(b: &Bench, tern: &mut System, kp: &mut System) -> Result<()> {
    let (tern_pod, kp_pod) = (b.pod(TERN_NODE)?, b.pod(KP_NODE)?);
    b.apply(&[tern_service(
        "iperf".into(),
        TERN_IPERF_VIP,
        IPERF_PORT,
        &[(tern_pod, IPERF_PORT)],
        true,
    )])?;
    let ep = [Endpoint {
        addr: kp_pod,
        port: IPERF_PORT,
        local: true,
    }];
    kubeproxy::restore(
        &b.kp_ns,
        &kubeproxy::full(&[kp_service(
            "iperf".into(),
            KP_IPERF_VIP,
            IPERF_PORT,
            &ep,
            true,
        )]),
        false,
    )?;
    b.wait_route(TERN_IPERF_VIP)?;
    let iperf = |addr: Ipv4Addr| -> Result<f64> {
        b.check()?;
        load::iperf(&b.client, addr, IPERF_PORT, IPERF_SECS, 1)
    };
    tern.direct_gbps = iperf(tern_pod)?;
    tern.vip_gbps = iperf(TERN_IPERF_VIP)?;
    kp.vip_gbps = iperf(KP_IPERF_VIP)?;
    kp.direct_gbps = iperf(kp_pod)?;
    eprintln!(
        "tern-bench: throughput (Gbit/s): Tern direct {:.2}, VIP {:.2}; iptables direct {:.2}, VIP {:.2}",
        tern.direct_gbps, tern.vip_gbps, kp.direct_gbps, kp.vip_gbps
    );
    Ok(())
}

/// The connection rate and latency at each scale, Tern and the anchor in
/// alternating order.
fn scales(b: &Bench, tern: &mut System, kp: &mut System) -> Result<()> {
    let backends = b.backends();
    let endpoints = b.endpoints();
    for n in SCALES {
        b.check()?;
        let services: Vec<Service> = (0..n)
            .map(|i| {
                tern_service(
                    format!("svc{i}"),
                    TERN_VIP,
                    FIRST_PORT + i as u16,
                    &backends,
                    true,
                )
            })
            .collect();
        let tern_load = b.apply(&services)?;
        let rules: Vec<Svc> = (0..n)
            .map(|i| {
                kp_service(
                    format!("svc{i}"),
                    KP_VIP,
                    FIRST_PORT + i as u16,
                    &endpoints,
                    true,
                )
            })
            .collect();
        let (start, end) = kubeproxy::restore(&b.kp_ns, &kubeproxy::full(&rules), false)?;
        // The measured service is the middle one: kube-proxy's first
        // packet walks half of KUBE-SERVICES to reach it.
        let port = FIRST_PORT + (n / 2) as u16;
        let (t_dst, k_dst) = (
            SocketAddrV4::new(TERN_VIP, port),
            SocketAddrV4::new(KP_VIP, port),
        );
        b.wait_route(TERN_VIP)?;
        b.wait_answers(t_dst)?;
        b.wait_answers(k_dst)?;
        let mut t = Scale {
            services: n,
            load: tern_load,
            ..Scale::default()
        };
        let mut k = Scale {
            services: n,
            load: end - start,
            ..Scale::default()
        };
        for round in 0..ROUNDS {
            for tern_turn in [round % 2 == 0, round % 2 == 1] {
                b.check()?;
                if tern_turn {
                    t.loaded.merge(b.client_run(t_dst, THREADS, WINDOW)?);
                } else {
                    k.loaded.merge(b.client_run(k_dst, THREADS, WINDOW)?);
                }
            }
        }
        t.single = b.client_run(t_dst, 1, SINGLE_WINDOW)?;
        k.single = b.client_run(k_dst, 1, SINGLE_WINDOW)?;
        eprintln!(
            "tern-bench: {n} services: connections/s Tern {:.0} ({} failed), iptables {:.0} ({} failed); one at a time p50 {:.0} / {:.0} us",
            t.loaded.per_sec(),
            t.loaded.errors,
            k.loaded.per_sec(),
            k.loaded.errors,
            t.single.quantile_us(0.5).unwrap_or(0.0),
            k.single.quantile_us(0.5).unwrap_or(0.0),
        );
        tern.scales.push(t);
        kp.scales.push(k);
    }
    Ok(())
}

/// One service more at 10,000 on Tern's node: from sending the bulk request
/// to its answer, and until a connection to the new frontend is answered.
fn add_tern(b: &Bench, tern: &mut System) -> Result<()> {
    let backends = b.backends();
    let ns = b.lab.ns(TERN_NODE);
    for k in 0..ADD_SAMPLES {
        b.check()?;
        let name = format!("added{k}");
        let svc = tern_service(name.clone(), TERN_VIP, ADD_PORT + k, &backends, true);
        let dst = SocketAddrV4::new(TERN_VIP, ADD_PORT + k);
        let mut c = lab::Control::connect(&ns)?;
        let probe = load::probe(
            &b.client,
            CLIENT_A,
            dst,
            Duration::from_secs(10),
            b.cancel.clone(),
        );
        std::thread::sleep(Duration::from_millis(5));
        let req = json!({"request": "services-apply", "upsert": [svc]});
        let t0 = Instant::now();
        c.send(&req)?;
        c.receive()?;
        let replied = Instant::now();
        let answered = probe
            .join()
            .unwrap_or_else(|_| bail!("a probe thread panicked"))?
            .with_context(|| format!("{dst} did not answer within 10 s of its service"))?;
        tern.added.reply_ms.push(ms(replied - t0));
        tern.added
            .answer_ms
            .push(ms(answered.saturating_duration_since(t0)));
        lab::control(&ns, &json!({"request": "services-apply", "delete": [name]}))?;
    }
    eprintln!(
        "tern-bench: Tern adds one at 10,000: reply {:?} ms, answering {:?} ms",
        tern.added.reply_ms, tern.added.answer_ms
    );
    Ok(())
}

/// One service more at 10,000 on the anchor's node: only its rules
/// (`--noflush`), then as kube-proxy's partial sync writes it
/// (KUBE-SERVICES rewritten whole); from starting iptables-restore to its
/// exit, and until a connection to the new VIP:port is answered.
fn add_kube_proxy(b: &Bench, kp: &mut System) -> Result<()> {
    let endpoints = b.endpoints();
    let mut services: Vec<Svc> = (0..SCALES[SCALES.len() - 1])
        .map(|i| {
            kp_service(
                format!("svc{i}"),
                KP_VIP,
                FIRST_PORT + i as u16,
                &endpoints,
                true,
            )
        })
        .collect();
    for k in 0..ADD_SAMPLES + SYNC_SAMPLES {
        b.check()?;
        let partial = k >= ADD_SAMPLES;
        let svc = kp_service(format!("added{k}"), KP_VIP, ADD_PORT + k, &endpoints, true);
        let text = if partial {
            kubeproxy::partial_sync(&services, &svc)
        } else {
            kubeproxy::add_one(&svc)
        };
        let dst = SocketAddrV4::new(KP_VIP, ADD_PORT + k);
        let probe = load::probe(
            &b.client,
            CLIENT_A,
            dst,
            Duration::from_secs(30),
            b.cancel.clone(),
        );
        std::thread::sleep(Duration::from_millis(5));
        let (t0, replied) = kubeproxy::restore(&b.kp_ns, &text, true)?;
        let answered = probe
            .join()
            .unwrap_or_else(|_| bail!("a probe thread panicked"))?
            .with_context(|| format!("{dst} did not answer within 30 s of its rules"))?;
        let a = if partial {
            &mut kp.synced
        } else {
            &mut kp.added
        };
        a.reply_ms.push(ms(replied - t0));
        a.answer_ms.push(ms(answered.saturating_duration_since(t0)));
        services.push(svc);
    }
    eprintln!(
        "tern-bench: iptables adds one at 10,000: reply {:?} ms, answering {:?} ms; partial sync: reply {:?} ms",
        kp.added.reply_ms, kp.added.answer_ms, kp.synced.reply_ms
    );
    Ok(())
}

/// One service under policy cluster: both nodes send the connections that
/// land on the other node's pods there behind a source NAT (Tern: to its
/// node address from its SNAT port range; kube-proxy: MASQUERADE). Returns
/// the datapath's nat-failed drops on Tern's node during the run.
fn cluster(b: &Bench, tern: &mut System, kp: &mut System) -> Result<u64> {
    let nat_failed = || -> Result<u64> {
        let v = b.lab.tern_json(TERN_NODE, "show datapath drops json")?;
        Ok(v["drops"]["nat-failed"].as_u64().unwrap_or(0))
    };
    b.apply(&[tern_service(
        "cluster".into(),
        TERN_VIP,
        CLUSTER_PORT,
        &b.backends(),
        false,
    )])?;
    kubeproxy::restore(
        &b.kp_ns,
        &kubeproxy::full(&[kp_service(
            "cluster".into(),
            KP_VIP,
            CLUSTER_PORT,
            &b.endpoints(),
            false,
        )]),
        false,
    )?;
    let (t_dst, k_dst) = (
        SocketAddrV4::new(TERN_VIP, CLUSTER_PORT),
        SocketAddrV4::new(KP_VIP, CLUSTER_PORT),
    );
    b.wait_answers(t_dst)?;
    b.wait_answers(k_dst)?;
    kp.cluster = b.client_run(k_dst, THREADS, WINDOW)?;
    let before = nat_failed()?;
    tern.cluster = b.client_run(t_dst, THREADS, WINDOW)?;
    let dropped = nat_failed()?.saturating_sub(before);
    eprintln!(
        "tern-bench: policy cluster: connections/s Tern {:.0} ({} failed, {dropped} nat-failed drops), iptables {:.0} ({} failed)",
        tern.cluster.per_sec(),
        tern.cluster.errors,
        kp.cluster.per_sec(),
        kp.cluster.errors
    );
    Ok(dropped)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// `12,345`
pub(crate) fn thousands(x: f64) -> String {
    let s = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn rate_cell(r: &Run) -> String {
    if r.errors > 0 {
        format!("{} ({} failed)", thousands(r.per_sec()), r.errors)
    } else {
        thousands(r.per_sec())
    }
}

pub(crate) fn quantiles_cell(r: &Run) -> String {
    let q = match (r.quantile_us(0.5), r.quantile_us(0.99)) {
        (Some(a), Some(b)) => format!("{a:.0} / {b:.0}"),
        _ => "-".into(),
    };
    if r.errors > 0 {
        format!("{q} ({} failed)", r.errors)
    } else {
        q
    }
}

fn added_cell(v: &[f64]) -> String {
    match median(v) {
        Some(m) => {
            let (lo, hi) = v
                .iter()
                .fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
            if m >= 100.0 {
                format!("{m:.0} ({lo:.0}-{hi:.0})")
            } else {
                format!("{m:.2} ({lo:.2}-{hi:.2})")
            }
        }
        None => "-".into(),
    }
}

pub(crate) fn met(ok: bool) -> String {
    if ok { "met" } else { "missed" }.into()
}

fn services_label(n: usize) -> String {
    if n == 1 {
        "1 service".into()
    } else {
        format!("{} services", thousands(n as f64))
    }
}

/// The one table: a row per measurement, Tern's and the anchor's figures
/// side by side, the target and whether it is met.
fn render(
    out: &mut String,
    tern: &System,
    kp: &System,
    maglev: Duration,
    nat_failed: u64,
    markdown: bool,
) {
    let dash = || "-".to_owned();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let kp_one = kp.scales.first().map_or(0.0, |s| s.loaded.per_sec());
    for (t, k) in tern.scales.iter().zip(&kp.scales) {
        let (target, result) = if t.services == 10_000 {
            let r = t.loaded.per_sec() / kp_one.max(1.0);
            (
                format!(">= iptables at 1 service ({})", thousands(kp_one)),
                format!("{} ({r:.2}x)", met(r >= 1.0)),
            )
        } else {
            (dash(), dash())
        };
        rows.push(vec![
            format!("new TCP connections/s, {}", services_label(t.services)),
            rate_cell(&t.loaded),
            rate_cell(&k.loaded),
            target,
            result,
        ]);
    }
    for (t, k) in tern.scales.iter().zip(&kp.scales) {
        rows.push(vec![
            format!(
                "latency p50 / p99 (us), {THREADS} at a time, {}",
                services_label(t.services)
            ),
            quantiles_cell(&t.loaded),
            quantiles_cell(&k.loaded),
            dash(),
            dash(),
        ]);
    }
    for (t, k) in tern.scales.iter().zip(&kp.scales) {
        rows.push(vec![
            format!(
                "latency p50 / p99 (us), one at a time, {}",
                services_label(t.services)
            ),
            quantiles_cell(&t.single),
            quantiles_cell(&k.single),
            dash(),
            dash(),
        ]);
    }
    rows.push(vec![
        "new TCP connections/s, 1 service, policy cluster (source NAT)".into(),
        match (tern.cluster.errors, nat_failed) {
            (_, 0) => rate_cell(&tern.cluster),
            (0, d) => format!(
                "{} ({d} nat-failed drops)",
                thousands(tern.cluster.per_sec())
            ),
            (e, d) => format!(
                "{} ({e} failed, {d} nat-failed drops)",
                thousands(tern.cluster.per_sec())
            ),
        },
        rate_cell(&kp.cluster),
        dash(),
        dash(),
    ]);
    for (t, k) in tern.scales.iter().zip(&kp.scales) {
        rows.push(vec![
            format!("load {} (s)", services_label(t.services)),
            format!("{:.3}", t.load.as_secs_f64()),
            format!("{:.3}", k.load.as_secs_f64()),
            dash(),
            dash(),
        ]);
    }
    rows.push(vec![
        "throughput straight to the pod (Gbit/s)".into(),
        format!("{:.2}", tern.direct_gbps),
        format!("{:.2}", kp.direct_gbps),
        dash(),
        dash(),
    ]);
    let ratio = |s: &System| {
        if s.direct_gbps > 0.0 {
            s.vip_gbps / s.direct_gbps
        } else {
            0.0
        }
    };
    rows.push(vec![
        "throughput through the VIP (Gbit/s, x direct)".into(),
        format!("{:.2} ({:.2})", tern.vip_gbps, ratio(tern)),
        format!("{:.2} ({:.2})", kp.vip_gbps, ratio(kp)),
        ">= 0.9 x direct".into(),
        met(ratio(tern) >= 0.9),
    ]);
    rows.push(vec![
        "add 1 service to 10,000: to the answer (ms, median (range))".into(),
        added_cell(&tern.added.reply_ms),
        added_cell(&kp.added.reply_ms),
        dash(),
        dash(),
    ]);
    let worst = median(&tern.added.reply_ms)
        .unwrap_or(f64::MAX)
        .max(median(&tern.added.answer_ms).unwrap_or(f64::MAX));
    rows.push(vec![
        "add 1 service to 10,000: until it answers (ms)".into(),
        added_cell(&tern.added.answer_ms),
        added_cell(&kp.added.answer_ms),
        "< 1 ms".into(),
        met(worst < 1.0),
    ]);
    rows.push(vec![
        "add 1 service, kube-proxy's partial sync: to exit / until it answers (ms)".into(),
        dash(),
        format!(
            "{} / {}",
            added_cell(&kp.synced.reply_ms),
            added_cell(&kp.synced.answer_ms)
        ),
        dash(),
        dash(),
    ]);
    rows.push(vec![
        format!(
            "Maglev tables, {} services x {} backends x {} entries, one core (s)",
            thousands(MAGLEV.0 as f64),
            MAGLEV.1,
            thousands(f64::from(MAGLEV.2))
        ),
        format!("{:.2}", maglev.as_secs_f64()),
        dash(),
        dash(),
        dash(),
    ]);
    table::write(
        out,
        &[
            "measurement",
            "Tern",
            "iptables (kube-proxy)",
            "target",
            "result",
        ],
        &rows,
        |i| i == 1 || i == 2,
        markdown,
    );
    let _ = writeln!(
        out,
        "\nTern on {TERN_NODE} (eBPF datapath, Maglev table {TABLE_SIZE}), iptables on {KP_NODE} \
         (ternd's datapath off there), each balancing its VIP to its own node's two pods \
         (policy local) unless the row says cluster. Client: {THREADS} threads, each connect / \
         request / answer / reset, from {CLIENT_SOURCES} addresses in turn, {ROUNDS} x {:.1} s \
         counted per system and scale, alternating; one at a time: {:.1} s; failed: not answered \
         within {:.0} s. Each service: one TCP frontend (VIP:port; the measured one in the \
         middle of the list), the 4 pods as backends. Throughput: iperf3, {IPERF_SECS} s, one stream.",
        WINDOW.as_secs_f64(),
        SINGLE_WINDOW.as_secs_f64(),
        load::IO_TIMEOUT.as_secs_f64(),
    );
}
