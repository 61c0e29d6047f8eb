//! The egress benchmark's namespaces and what runs on their nodes. Three
//! chains with the same addresses, each a pod, the node(s) its traffic
//! leaves through and an outside server:
//!
//! ```text
//!  tern:   PRE-tp ─ lxc0 ─ PRE-tn: Tern, the policy's gateway ─ up0 ─ eth0 ─ PRE-ts
//!  anchor: PRE-kp ─ lxc0 ─ PRE-kn: MASQUERADE + conntrack ─ up0 ─ eth0 ─ PRE-ks
//!  remote: PRE-gp ─ lxc0 ─ PRE-gn: Tern ─ ul0 ── ul0 ─ PRE-gg: Tern, the gateway ─ up0 ─ eth0 ─ PRE-gs
//!
//!  pod 10.244.1.5/32, default via 169.254.1.1 (tern-cni's wiring)
//!  gateway node up0 192.0.2.129/25 ─ server eth0 192.0.2.130/25, which
//!  routes the egress IP 203.0.113.10 to the gateway node and knows no
//!  route to the pods: only translated connections are answered
//!  underlay (remote chain) 10.250.0.1/24 ─ 10.250.0.2/24, Geneve
//! ```
//!
//! Tern's nodes get the datapath through the loader API with one egress
//! policy, filled as ternd fills it from the egress gateway plan, and a
//! thread that collects expired conntrack entries every 10 s, as ternd's
//! collector does. The anchor's node forwards with the kernel and
//! translates with `iptables -t nat -A POSTROUTING -s POD -d SERVERNET -o up0
//! -j MASQUERADE`. Dropping [`Chains`] deletes every namespace it made
//! (veths, routes and rules go with them); dropping [`Tern`] first stops the
//! collector and detaches the programs.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ipnet::IpNet;
use tern_ebpf::datapath::{EP_FLAG_VETH_PEER, EndpointInfo, Mode};
use tern_ebpf::egress::{
    EgressConfig, EgressGateway, EgressMatchEntry, EgressPolicyEntry, EgressState, EgressSteerEntry,
};
use tern_ebpf::services::{CT_DIR_FORWARD, CT_DIR_REPLY, CT_F_EGRESS, monotonic_ns};
use tern_ebpf::{Datapath, DatapathConfig, Hook};

use crate::netns;
use crate::services::lab::{in_ns, output};

/// The pod's address and the policy's source prefix.
pub const POD: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 5);
const POD_SOURCES: &str = "10.244.0.0/16";
/// The pod's node's pod CIDR (the remote gateway tunnels replies to it).
const POD_CIDR: &str = "10.244.1.0/24";
/// The outside server, its network (the policy's destination) and the
/// gateway node's address on it.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 130);
pub const SERVER_NET: &str = "192.0.2.128/25";
const GATEWAY_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 129);
/// Tern's egress IP (the anchor leaves with its node's address, GATEWAY_ADDR).
pub const EGRESS_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
/// The remote chain's underlay: the pod's node, the gateway node.
const UNDERLAY: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 250, 0, 1), Ipv4Addr::new(10, 250, 0, 2)];
/// The policy's id (the VNI of steered traffic) and the datapath's VNI.
pub const POLICY: u32 = 7;
const VNI: u32 = 4242;
const POD_MAC: [u8; 6] = [0x02, 0, 0, 0, 1, 2];
const HOST_MAC: [u8; 6] = [0x02, 0, 0, 0, 1, 1];
const UPLINK_MTU: u32 = 1500;
/// How often the collector runs: ternd's `GC_INTERVAL` (bgpd/src/services.rs).
const GC_INTERVAL: Duration = Duration::from_secs(10);

/// Which chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Tern's datapath, the pod's node being the gateway.
    Tern,
    /// Kernel forwarding, MASQUERADE and conntrack.
    Anchor,
    /// Tern's datapath, the pod's node tunnelling to a gateway node.
    Remote,
}

impl Side {
    fn letter(self) -> char {
        match self {
            Side::Tern => 't',
            Side::Anchor => 'k',
            Side::Remote => 'g',
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Side::Tern => "Tern",
            Side::Anchor => "iptables MASQUERADE",
            Side::Remote => "Tern via a remote gateway",
        }
    }
}

/// The namespaces of one chain (`node` and `gateway` are the same but in
/// the remote chain).
#[derive(Clone, Debug)]
pub struct Chain {
    pub side: Side,
    pub pod: String,
    pub node: String,
    pub gateway: String,
    pub server: String,
}

/// Every chain of the run; dropping it deletes their namespaces.
pub struct Chains {
    pub chains: Vec<Chain>,
    created: Vec<String>,
}

/// `ip -n NS WORDS...`, the words split at spaces.
fn ipn(ns: &str, words: &str) -> Result<()> {
    let mut args = vec!["-n", ns];
    args.extend(words.split_whitespace());
    netns::ip(&args)
}

fn mac(m: [u8; 6]) -> String {
    m.map(|b| format!("{b:02x}")).join(":")
}

impl Chains {
    /// Builds the chains of `sides`, namespaces named `PREFIX` + the side's
    /// letter + the role's.
    pub fn create(prefix: &str, sides: &[Side]) -> Result<Chains> {
        let mut c = Chains {
            chains: Vec::new(),
            created: Vec::new(),
        };
        for side in sides {
            let chain = c.build(prefix, *side)?;
            c.chains.push(chain);
        }
        Ok(c)
    }

    pub fn get(&self, side: Side) -> Result<&Chain> {
        self.chains
            .iter()
            .find(|c| c.side == side)
            .with_context(|| format!("no {} chain", side.name()))
    }

    fn add_ns(&mut self, name: String) -> Result<String> {
        if netns_exists(&name) {
            bail!("network namespace {name} exists already (`ip netns delete {name}`)");
        }
        netns::ip(&["netns", "add", &name])?;
        self.created.push(name.clone());
        ipn(&name, "link set lo up")?;
        Ok(name)
    }

    fn build(&mut self, prefix: &str, side: Side) -> Result<Chain> {
        let l = side.letter();
        let pod = self.add_ns(format!("{prefix}{l}p"))?;
        let node = self.add_ns(format!("{prefix}{l}n"))?;
        let gateway = if side == Side::Remote {
            self.add_ns(format!("{prefix}{l}g"))?
        } else {
            node.clone()
        };
        let server = self.add_ns(format!("{prefix}{l}s"))?;
        for n in [&node, &gateway] {
            output(
                "ip",
                &[
                    "netns",
                    "exec",
                    n,
                    "sysctl",
                    "-qw",
                    "net.ipv4.conf.all.forwarding=1",
                ],
            )?;
        }
        // The pod, as tern-cni wires it.
        let (hm, pm) = (mac(HOST_MAC), mac(POD_MAC));
        netns::ip(&[
            "link", "add", "lxc0", "netns", &node, "address", &hm, "type", "veth", "peer", "name",
            "eth0", "netns", &pod, "address", &pm,
        ])?;
        for cmd in [
            "link set eth0 up".to_owned(),
            format!("addr add {POD}/32 dev eth0"),
            "route add 169.254.1.1 dev eth0 scope link".to_owned(),
            "route add default via 169.254.1.1 dev eth0".to_owned(),
            format!("neigh add 169.254.1.1 lladdr {hm} dev eth0 nud permanent"),
        ] {
            ipn(&pod, &cmd)?;
        }
        for cmd in [
            "link set lxc0 up".to_owned(),
            format!("route add {POD} dev lxc0 scope link proto 203"),
            format!("neigh add {POD} lladdr {pm} dev lxc0 nud permanent"),
        ] {
            ipn(&node, &cmd)?;
        }
        // The underlay between the pod's node and the gateway node.
        if node != gateway {
            netns::ip(&[
                "link", "add", "ul0", "netns", &node, "type", "veth", "peer", "name", "ul0",
                "netns", &gateway,
            ])?;
            for (ns, addr) in [(&node, UNDERLAY[0]), (&gateway, UNDERLAY[1])] {
                ipn(ns, &format!("addr add {addr}/24 dev ul0"))?;
                ipn(ns, "link set ul0 up")?;
            }
        }
        // The gateway node and the outside server.
        netns::ip(&[
            "link", "add", "up0", "netns", &gateway, "type", "veth", "peer", "name", "eth0",
            "netns", &server,
        ])?;
        ipn(&gateway, &format!("addr add {GATEWAY_ADDR}/25 dev up0"))?;
        ipn(&gateway, "link set up0 up")?;
        ipn(&server, &format!("addr add {SERVER}/25 dev eth0"))?;
        ipn(&server, "link set eth0 up")?;
        ipn(
            &server,
            &format!("route add {EGRESS_IP}/32 via {GATEWAY_ADDR} dev eth0"),
        )?;
        Ok(Chain {
            side,
            pod,
            node,
            gateway,
            server,
        })
    }
}

impl Drop for Chains {
    fn drop(&mut self) {
        for ns in self.created.drain(..).rev() {
            if let Err(e) = netns::ip(&["netns", "delete", &ns]) {
                eprintln!("tern-bench: cleanup: {e:#}");
            }
        }
    }
}

fn netns_exists(name: &str) -> bool {
    std::path::Path::new("/run/netns").join(name).exists()
}

/// The anchor: MASQUERADE of the pod's traffic to the server's network.
pub fn add_masquerade(chain: &Chain) -> Result<()> {
    let source = format!("{POD}/32");
    output(
        "ip",
        &[
            "netns",
            "exec",
            &chain.gateway,
            "iptables",
            "-w",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-s",
            &source,
            "-d",
            SERVER_NET,
            "-o",
            "up0",
            "-j",
            "MASQUERADE",
        ],
    )?;
    Ok(())
}

/// Packets the MASQUERADE rule has seen: one per new connection (later
/// packets follow their conntrack entry without the nat table).
pub fn masquerade_packets(chain: &Chain) -> Result<u64> {
    let dump = output(
        "ip",
        &[
            "netns",
            "exec",
            &chain.gateway,
            "iptables-save",
            "-c",
            "-t",
            "nat",
        ],
    )?;
    // `[PACKETS:BYTES] -A POSTROUTING ... -j MASQUERADE`
    dump.lines()
        .find(|l| l.contains("-j MASQUERADE"))
        .and_then(|l| l.strip_prefix('['))
        .and_then(|l| l.split(':').next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no MASQUERADE rule counter in {}: {dump}", chain.gateway))
}

/// The kernel's conntrack entries in the chain's gateway node.
pub fn kernel_conntrack_count(chain: &Chain) -> Result<u64> {
    in_ns(&chain.gateway, || {
        let text = std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_count")
            .context("reading nf_conntrack_count")?;
        text.trim()
            .parse()
            .with_context(|| format!("nf_conntrack_count: {text}"))
    })
}

/// Tern's datapath on one node.
pub struct Node {
    pub side: Side,
    /// The node that translates (not only steers).
    pub gateway: bool,
    pub dp: Arc<Mutex<Datapath>>,
}

impl Node {
    pub fn lock(&self) -> MutexGuard<'_, Datapath> {
        self.dp.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The egress ports the node holds (its egress flows' reply entries)
    /// and the flows they belong to (forward entries).
    pub fn ports_held(&self) -> Result<(u64, u64)> {
        let ct = self.lock().conntrack()?;
        let count = |dir: u8| {
            ct.iter()
                .filter(|(k, e)| k.dir == dir && e.flags & CT_F_EGRESS != 0)
                .count() as u64
        };
        Ok((count(CT_DIR_REPLY), count(CT_DIR_FORWARD)))
    }
}

/// Tern's datapaths of the run and their collector; dropping it stops the
/// collector and detaches every program.
pub struct Tern {
    pub nodes: Vec<Node>,
    stop: Arc<AtomicBool>,
    collector: Option<JoinHandle<()>>,
}

/// What one node's datapath is given.
struct NodeSpec<'a> {
    ns: &'a str,
    /// (hook, interface) pairs to attach.
    hooks: &'a [(Hook, &'a str)],
    mode: Mode,
    local: Ipv4Addr,
    uplink: &'a str,
    /// The pod is on this node.
    pod: bool,
    /// Tunnel routes (prefix, node).
    tunnels: Vec<(IpNet, IpAddr)>,
    egress: EgressState,
}

impl Tern {
    /// Loads Tern's datapath on the nodes of the Tern and remote chains
    /// among `chains`, with the policy, and starts the collector.
    pub fn load(chains: &Chains) -> Result<Tern> {
        let mut t = Tern {
            nodes: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            collector: None,
        };
        if let Ok(c) = chains.get(Side::Tern) {
            let gw = gateway(GATEWAY_ADDR, true);
            let dp = load_node(NodeSpec {
                ns: &c.node,
                hooks: &[(Hook::Pod, "lxc0"), (Hook::Uplink, "up0")],
                mode: Mode::Native,
                local: GATEWAY_ADDR,
                uplink: "up0",
                pod: true,
                tunnels: Vec::new(),
                egress: egress_state(gw, true, true),
            })?;
            t.add(Side::Tern, true, dp);
        }
        if let Ok(c) = chains.get(Side::Remote) {
            // The pod's node steers into the tunnel; the gateway node
            // translates and tunnels the replies back.
            let steer = load_node(NodeSpec {
                ns: &c.node,
                hooks: &[(Hook::Pod, "lxc0"), (Hook::Uplink, "ul0")],
                mode: Mode::Geneve,
                local: UNDERLAY[0],
                uplink: "ul0",
                pod: true,
                tunnels: Vec::new(),
                egress: egress_state(gateway(UNDERLAY[1], false), true, false),
            })?;
            t.add(Side::Remote, false, steer);
            let snat = load_node(NodeSpec {
                ns: &c.gateway,
                hooks: &[(Hook::Uplink, "ul0"), (Hook::Uplink, "up0")],
                mode: Mode::Geneve,
                local: UNDERLAY[1],
                uplink: "ul0",
                pod: false,
                tunnels: vec![(POD_CIDR.parse()?, IpAddr::V4(UNDERLAY[0]))],
                egress: egress_state(gateway(UNDERLAY[1], true), false, true),
            })?;
            t.add(Side::Remote, true, snat);
            // Geneve's 50 bytes come out of the pod's MTU.
            let mtu = (UPLINK_MTU - 50).to_string();
            netns::ip(&["-n", &c.pod, "link", "set", "eth0", "mtu", &mtu])?;
        }
        let (stop, dps) = (
            t.stop.clone(),
            t.nodes.iter().map(|n| n.dp.clone()).collect::<Vec<_>>(),
        );
        t.collector = Some(
            std::thread::Builder::new()
                .name("egress-ct-gc".into())
                .spawn(move || collect(&stop, &dps))
                .context("starting the conntrack collector")?,
        );
        Ok(t)
    }

    fn add(&mut self, side: Side, gateway: bool, dp: Datapath) {
        self.nodes.push(Node {
            side,
            gateway,
            dp: Arc::new(Mutex::new(dp)),
        });
    }
}

impl Drop for Tern {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.collector.take() {
            let _ = h.join();
        }
        for n in &self.nodes {
            n.lock().shutdown();
        }
    }
}

/// ternd's collector: every [`GC_INTERVAL`], the expired conntrack entries
/// of each datapath go.
fn collect(stop: &AtomicBool, dps: &[Arc<Mutex<Datapath>>]) {
    let mut next = Instant::now() + GC_INTERVAL;
    while !stop.load(Ordering::SeqCst) {
        if Instant::now() >= next {
            for dp in dps {
                let mut dp = dp.lock().unwrap_or_else(|e| e.into_inner());
                if let Err(e) = dp.conntrack_gc(monotonic_ns()) {
                    eprintln!("tern-bench: conntrack collection: {e}");
                }
            }
            next += GC_INTERVAL;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn gateway(node: Ipv4Addr, local: bool) -> EgressGateway {
    EgressGateway {
        node: IpAddr::V4(node),
        egress_ip: IpAddr::V4(EGRESS_IP),
        local,
    }
}

/// The policy as ternd programs a node: the gateway; the pod's steering
/// to the server's network where the pod lives (`steer`); the sources and
/// destinations the gateway accepts where it translates (`translate`).
fn egress_state(gw: EgressGateway, steer: bool, translate: bool) -> EgressState {
    let net = |s: &str| s.parse::<IpNet>();
    let mut state = EgressState {
        policies: vec![EgressPolicyEntry {
            policy_id: POLICY,
            v6: false,
            gateways: vec![gw],
        }],
        config: EgressConfig::default(),
        ..EgressState::default()
    };
    if let (true, Ok(destination)) = (steer, net(SERVER_NET)) {
        state.steer.push(EgressSteerEntry {
            source: IpAddr::V4(POD),
            destination,
            policy_id: POLICY,
            excluded: false,
        });
    }
    if translate {
        for (destination, prefix) in [(false, POD_SOURCES), (true, SERVER_NET)] {
            if let Ok(prefix) = net(prefix) {
                state.matches.push(EgressMatchEntry {
                    policy_id: POLICY,
                    destination,
                    prefix,
                    allow: true,
                });
            }
        }
    }
    state
}

/// Loads, attaches and programs one node's datapath.
fn load_node(spec: NodeSpec) -> Result<Datapath> {
    let dp = Datapath::load(None)
        .context("loading Tern's datapath (root and a kernel with BPF, TCX and BTF are needed)")?;
    let hooks: Vec<(Hook, String)> = spec
        .hooks
        .iter()
        .map(|(h, i)| (*h, (*i).to_owned()))
        .collect();
    let (mut dp, ifindexes) = in_ns(spec.ns, move || {
        let mut dp = dp;
        let mut ifindexes = Vec::new();
        for (hook, ifname) in &hooks {
            let i = dp
                .attach(*hook, ifname)
                .with_context(|| format!("attaching to {ifname}"))?;
            ifindexes.push((ifname.clone(), i));
        }
        Ok((dp, ifindexes))
    })
    .with_context(|| format!("Tern's datapath in {}", spec.ns))?;
    let ifindex = |name: &str| {
        ifindexes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, i)| *i)
            .with_context(|| format!("{name} is not attached in {}", spec.ns))
    };
    dp.set_config(
        &DatapathConfig {
            vni: VNI,
            uplink_ifindex: ifindex(spec.uplink)?,
            uplink_mtu: UPLINK_MTU,
            ..DatapathConfig::new(spec.mode)
        }
        .with_local_v4(Some(spec.local)),
    )?;
    if spec.pod {
        dp.upsert_endpoint(
            IpAddr::V4(POD),
            EndpointInfo {
                ifindex: ifindex("lxc0")?,
                id: 1,
                pod_mac: POD_MAC,
                host_mac: HOST_MAC,
                flags: EP_FLAG_VETH_PEER,
            },
        )?;
    }
    if !spec.tunnels.is_empty() {
        dp.replace_tunnel_routes(&spec.tunnels)?;
    }
    // The remote chain's nodes tunnel to each other (steered traffic, its
    // replies): each takes the other's Geneve.
    dp.set_trusted_sources(&UNDERLAY.map(|a| IpNet::from(IpAddr::V4(a))).into())?;
    dp.sync_egress(&spec.egress)
        .with_context(|| format!("the egress policy in {}", spec.ns))?;
    Ok(dp)
}
