//! The eBPF pod datapath inside ternd: loads tern-ebpf's [`Datapath`]
//! (maps pinned under the instance's bpffs dir), attaches the uplink
//! program, owns the collect_md VXLAN device in VXLAN mode, follows the
//! endpoint registry (a pod program on every pod's host veth, its addresses
//! in the endpoint map) and the BGP Loc-RIB (remote pod CIDRs -> the node
//! that announces them, in the tunnel map), and keeps the settings map in
//! line with the `datapath` config lines. A mode change is a write to the
//! settings map: no reload, no re-attach, no restart.
//!
//! Which learnt routes are pod CIDRs: those inside a `datapath cluster-cidr`
//! prefix. Their tunnel endpoint is the route's BGP next hop (the first of
//! an ECMP set), so the fabric must pass the announcing node's own address
//! on unchanged (FRR: `neighbor X attribute-unchanged next-hop`) and the
//! nodes must reach each other's addresses.
//!
//! A pod in a VRF (its endpoint's `vrf`) is wired apart from the main
//! table: its host routes go into the VRF's kernel table (ternd installs
//! them; tern-cni leaves them out of the main table), its host veth gets the
//! pod program and joins the datapath's VRF map, never the endpoint map.
//! The SRv6 L3VPN's state (the VRF interfaces, the SR policies, this node's
//! SIDs and locators) is written with `Datapath::sync_srv6`, which changes
//! only what differs.
//!
//! Reconciling is idempotent: desired state (config, links, endpoints,
//! Loc-RIB) against what this runtime programmed; it runs on every change
//! and once a second, so a failure is retried.
use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
    path::Path,
};

use anyhow::Context;
use ipnet::IpNet;
use tern_control::{DatapathInfo, DatapathSrv6, Endpoint, EndpointTraffic, NamedCount};
// The settings map's value is tern-ebpf's `DatapathConfig`; here that name
// is ternd's `datapath` config section, so the map's goes by `MapConfig`.
use tern_ebpf::{
    Datapath, DatapathConfig as MapConfig, Hook,
    datapath::{
        EP_FLAG_VETH_PEER, EndpointInfo, MAX_ENDPOINTS, MIN_PATH_MTU_V4, Mode, TUNNEL_OVERHEAD_V4,
        TUNNEL_OVERHEAD_V6,
    },
    srv6::Srv6State,
};
use tern_netlink::{Link, Netlink};

use crate::{
    config::{DatapathConfig, DatapathMode},
    locrib::LocRibView,
    srv6::Srv6Wanted,
};

/// Name of the collect_md VXLAN device ternd creates (in every mode).
pub const VXLAN_DEVICE: &str = "tern_vxlan";

/// The packet mark under which a pod's IPv4 packet without DF, too big for
/// its tunnel, is handed to the stack to be fragmented (the datapath's
/// `frag_mark`).
pub const FRAG_MARK: u32 = 0x7e4f;
/// The routing table of those packets: one route into the VXLAN device
/// with the tunnel's room as its MTU.
pub const FRAG_TABLE: u32 = 0x7e4f;
/// The priority of the rule "fwmark FRAG_MARK lookup FRAG_TABLE" (before
/// the main table's 32766).
pub const FRAG_RULE_PRIORITY: u32 = 0x7e4f;

/// One endpoint as programmed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Programmed {
    ifindex: u32,
    id: u32,
    addrs: BTreeSet<IpAddr>,
    info: EndpointInfo,
    /// The VRF table of a VRF pod (its addresses are routes there, not
    /// endpoint map entries).
    vrf_table: Option<u32>,
}

/// The uplink's XDP program as ternd left it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum XdpState {
    /// Not wanted (`datapath xdp off`, no uplink, no datapath).
    Off,
    /// Attached in native (driver) mode.
    Native,
    /// The driver refused native XDP: the TC program carries everything
    /// (generic XDP would only add work).
    Unsupported(String),
}

/// The running datapath of one ternd.
pub struct DatapathRuntime {
    dp: Datapath,
    netlink: Netlink,
    /// The uplink attached: name and ifindex.
    uplink: Option<(String, u32)>,
    /// The VXLAN device's ifindex, when ternd made one.
    vxlan: Option<u32>,
    /// The fragmentation route as installed: the VXLAN device's ifindex
    /// and the route's MTU.
    frag: Option<(u32, u32)>,
    /// The uplink the XDP program was last wanted on (`datapath xdp auto`),
    /// and what came of it.
    xdp_wanted: Option<(String, u32)>,
    xdp: XdpState,
    /// Pod endpoints by host veth name.
    endpoints: BTreeMap<String, Programmed>,
    settings: MapConfig,
    last_error: Option<String>,
    /// Pod prefixes left out of the tunnel map last time (past a node's
    /// share), logged when the number changes.
    tunnels_over: usize,
    /// The SRv6 state last written in full (None: never, or the last
    /// write failed and is retried).
    srv6: Option<Srv6State>,
    /// The endpoints an earlier ternd left in the adopted maps, until the
    /// first reconcile has taken over what is still wanted: their ids are
    /// kept, and what is left then is removed with the links no pod took.
    adopted: Option<BTreeMap<IpAddr, EndpointInfo>>,
    /// The tunnel map an earlier ternd left, kept in the map while BGP
    /// restarts gracefully (its routes are not all learnt again yet).
    adopted_tunnels: Option<Vec<(IpNet, IpAddr)>>,
}

impl std::fmt::Debug for DatapathRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatapathRuntime")
            .field("uplink", &self.uplink)
            .field("vxlan", &self.vxlan)
            .field("endpoints", &self.endpoints.len())
            .finish()
    }
}

fn mode_of(m: DatapathMode) -> Mode {
    match m {
        DatapathMode::Native => Mode::Native,
        DatapathMode::Vxlan => Mode::Vxlan,
        DatapathMode::Geneve => Mode::Geneve,
    }
}

pub(crate) fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// The first global (not link-local, not loopback) address of each family.
fn local_addrs(link: &Link) -> (Option<std::net::Ipv4Addr>, Option<std::net::Ipv6Addr>) {
    let v4 = link.addresses.iter().find_map(|a| match a.addr() {
        IpAddr::V4(v) if !v.is_loopback() && !v.is_link_local() => Some(v),
        _ => None,
    });
    let v6 = link.addresses.iter().find_map(|a| match a.addr() {
        IpAddr::V6(v) if !v.is_loopback() && !v.is_unicast_link_local() => Some(v),
        _ => None,
    });
    (v4, v6)
}

impl DatapathRuntime {
    /// The loaded datapath (the services program their maps through it).
    pub fn datapath_mut(&mut self) -> &mut Datapath {
        &mut self.dp
    }

    /// The loaded datapath, read only.
    pub fn datapath(&self) -> &Datapath {
        &self.dp
    }

    /// Loads the programs and pins the maps under `pins`.
    pub fn load(pins: &Path, netlink: Netlink) -> anyhow::Result<Self> {
        let dp = Datapath::load(Some(pins))
            .context("cannot load the eBPF pod datapath (root and bpffs needed)")?;
        let settings = dp.config().context("reading the datapath settings")?;
        let (adopted, adopted_tunnels) = if dp.adopted() {
            let eps = dp.endpoints().context("reading the adopted endpoints")?;
            let tunnels = dp
                .tunnel_routes()
                .context("reading the adopted tunnel map")?;
            (Some(eps.into_iter().collect()), Some(tunnels))
        } else {
            (None, None)
        };
        Ok(Self {
            dp,
            netlink,
            uplink: None,
            vxlan: None,
            frag: None,
            xdp_wanted: None,
            xdp: XdpState::Off,
            endpoints: BTreeMap::new(),
            settings,
            last_error: None,
            tunnels_over: 0,
            srv6: None,
            adopted,
            adopted_tunnels,
        })
    }

    /// Brings everything in line with the config, the links of the
    /// namespace, the registered endpoints, the Loc-RIB and the SRv6 plan
    /// (`vrf_tables`: each VRF's table). Failures are logged, kept for
    /// `show datapath` and retried on the next call.
    pub async fn reconcile(
        &mut self,
        cfg: &DatapathConfig,
        links: &[Link],
        endpoints: &[Endpoint],
        (tunnels, over): (&[(IpNet, IpAddr)], usize),
        trusted: &BTreeSet<IpNet>,
        (vrf_tables, srv6): (&BTreeMap<String, u32>, &Srv6Wanted),
    ) {
        if over != self.tunnels_over {
            if over > 0 {
                tracing::warn!(
                    prefixes = over,
                    per_node = MAX_PREFIXES_PER_NODE,
                    "pod prefixes past a node's share of the tunnel map: left out"
                );
            }
            self.tunnels_over = over;
        }
        let mut errors = Vec::new();
        let Some(mode) = cfg.mode else {
            return;
        };
        // The uplink.
        let uplink = cfg
            .uplink
            .as_ref()
            .and_then(|n| links.iter().find(|l| &l.name == n));
        let want_uplink = uplink.map(|l| (l.name.clone(), l.index));
        if self.uplink != want_uplink {
            if let Some((name, _)) = self.uplink.take() {
                let _ = self.dp.detach(&name);
            }
            if let Some((name, _)) = &want_uplink {
                match self.dp.attach(Hook::Uplink, name) {
                    Ok(index) => self.uplink = Some((name.clone(), index)),
                    Err(e) => errors.push(format!("attaching to uplink {name}: {e}")),
                }
            }
        }
        // The XDP service fast path on the uplink, where the driver has
        // native XDP. A new uplink (or ifindex) is attached afresh.
        let want_xdp = want_uplink.clone().filter(|_| cfg.xdp);
        if self.xdp_wanted != want_xdp {
            let _ = self.dp.detach_xdp();
            self.xdp = XdpState::Off;
            if let Some((name, _)) = &want_xdp {
                self.xdp = match self.dp.attach_xdp(name) {
                    Ok(_) => XdpState::Native,
                    Err(e) => {
                        tracing::info!(uplink = %name, error = %e, "no native XDP on the uplink: services stay on TC");
                        XdpState::Unsupported(e.to_string())
                    }
                };
            }
            self.xdp_wanted = want_xdp;
        }
        if cfg.uplink.is_some() && uplink.is_none() {
            errors.push(format!(
                "uplink {} does not exist",
                cfg.uplink.as_deref().unwrap_or_default()
            ));
        }
        // The VXLAN device, in every mode: a node that leaves VXLAN mode
        // (or has not entered it yet) still takes its peers' VXLAN while
        // they switch, as the uplink takes Geneve in every mode. Only the
        // encapsulation follows the mode.
        {
            match self
                .netlink
                .vxlan_external_ensure(VXLAN_DEVICE, cfg.vxlan_port)
                .await
            {
                Ok(index) => {
                    let attached = self
                        .dp
                        .attached()
                        .any(|(n, h, i)| n == VXLAN_DEVICE && h == Hook::Vxlan && i == index);
                    if !attached {
                        let _ = self.dp.detach(VXLAN_DEVICE);
                        if let Err(e) = self.dp.attach(Hook::Vxlan, VXLAN_DEVICE) {
                            errors.push(format!("attaching to {VXLAN_DEVICE}: {e}"));
                        }
                    }
                    self.vxlan = Some(index);
                    let mtu = self.frag_mtu(uplink.map_or(1500, |l| l.mtu), tunnels);
                    if self.frag != Some((index, mtu)) {
                        match Self::frag_install(&self.netlink, index, mtu).await {
                            Ok(()) => self.frag = Some((index, mtu)),
                            Err(e) => {
                                self.frag = None;
                                errors.push(format!("fragmentation route: {e}"));
                            }
                        }
                    }
                }
                Err(e) => errors.push(format!("creating {VXLAN_DEVICE}: {e}")),
            }
        }
        // The settings map.
        let (local_v4, local_v6) = uplink.map(local_addrs).unwrap_or((None, None));
        let want = MapConfig {
            vni: cfg.vni,
            vxlan_ifindex: self.vxlan.unwrap_or(0),
            uplink_ifindex: uplink.map_or(0, |l| l.index),
            uplink_mtu: uplink.map_or(1500, |l| l.mtu),
            // In every mode: a node leaving Geneve mode still takes its
            // peers' Geneve, and egress gateway traffic is Geneve in native
            // mode.
            geneve_port: cfg.geneve_port,
            vxlan_port: cfg.vxlan_port,
            frag_mark: if self.frag.is_some() { FRAG_MARK } else { 0 },
            ..MapConfig::new(mode_of(mode))
        }
        .with_local_v4(local_v4)
        .with_local_v6(local_v6);
        if want != self.settings {
            match self.dp.set_config(&want) {
                Ok(()) => {
                    tracing::info!(
                        mode = mode.keyword(),
                        vni = want.vni,
                        "datapath settings written"
                    );
                    self.settings = want;
                }
                Err(e) => errors.push(format!("writing the settings: {e}")),
            }
        }
        self.reconcile_endpoints(links, endpoints, vrf_tables, &mut errors)
            .await;
        self.sync_srv6(srv6, &mut errors);
        // The trusted tunnel sources before the tunnel map: a node is
        // trusted by the time packets are tunnelled to it (its answers
        // come back at once).
        if let Err(e) = self.dp.set_trusted_sources(trusted) {
            errors.push(format!("writing the trusted tunnel sources: {e}"));
        }
        match self.dp.replace_tunnel_routes(tunnels) {
            Ok(d) if d != Default::default() => {
                tracing::info!(
                    added = d.added,
                    changed = d.changed,
                    removed = d.removed,
                    refused = d.refused,
                    "tunnel map updated"
                )
            }
            Ok(_) => {}
            Err(e) => errors.push(format!("writing the tunnel map: {e}")),
        }
        let vteps: BTreeMap<IpAddr, [u8; 6]> =
            cfg.vteps.values().map(|v| (v.addr, v.mac)).collect();
        if let Err(e) = self.dp.set_vteps(&vteps) {
            errors.push(format!("writing the external VTEPs: {e}"));
        }
        if errors.is_empty() {
            self.sweep_adopted();
        }
        let err = (!errors.is_empty()).then(|| errors.join("; "));
        if err != self.last_error {
            if let Some(e) = &err {
                tracing::warn!(error = %e, "datapath reconcile");
            }
            self.last_error = err;
        }
    }

    /// Writes the SRv6 state: the VRF pods programmed, and the plan's
    /// policies, SIDs and locators; skipped when nothing changed since the
    /// last full write.
    fn sync_srv6(&mut self, srv6: &Srv6Wanted, errors: &mut Vec<String>) {
        let state = Srv6State {
            vrf_ifaces: self
                .endpoints
                .values()
                .filter_map(|p| p.vrf_table.map(|t| (p.ifindex, t)))
                .collect(),
            encaps: srv6.encaps.clone(),
            sids: srv6.sids.clone(),
            locators: srv6.locators.clone(),
        };
        if self.srv6.as_ref() == Some(&state) {
            return;
        }
        match self.dp.sync_srv6(&state) {
            Ok(st) => {
                if st.written + st.removed > 0 {
                    tracing::info!(
                        written = st.written,
                        removed = st.removed,
                        vrf_pods = state.vrf_ifaces.len(),
                        policies = state.encaps.len(),
                        sids = state.sids.len(),
                        "SRv6 datapath updated"
                    );
                }
                self.srv6 = Some(state);
            }
            Err(e) => {
                errors.push(format!("writing the SRv6 maps: {e}"));
                self.srv6 = None;
            }
        }
    }

    /// Takes a programmed pod out: its endpoint map entries or its VRF
    /// host routes, and its program.
    async fn unprogram(&mut self, name: &str, p: &Programmed, errors: &mut Vec<String>) {
        self.unprogram_addrs(p, &p.addrs, errors).await;
        let _ = self.dp.detach(name);
    }

    /// Removes `addrs` of `p`: from the endpoint map, or its host routes
    /// from its VRF's table (a veth that is gone took them with it).
    async fn unprogram_addrs(
        &mut self,
        p: &Programmed,
        addrs: &BTreeSet<IpAddr>,
        errors: &mut Vec<String>,
    ) {
        for a in addrs {
            match p.vrf_table {
                None => {
                    if let Err(e) = self.dp.remove_endpoint(*a) {
                        errors.push(format!("removing endpoint {a}: {e}"));
                    }
                }
                Some(table) => {
                    let _ = self
                        .netlink
                        .vrf_pod_route_delete(IpNet::from(*a), p.ifindex, table)
                        .await;
                }
            }
        }
    }

    async fn reconcile_endpoints(
        &mut self,
        links: &[Link],
        endpoints: &[Endpoint],
        vrf_tables: &BTreeMap<String, u32>,
        errors: &mut Vec<String>,
    ) {
        // Endpoints whose host veth exists under its name and ifindex, with
        // their VRF's table; a pod whose VRF has no table is not wired.
        let mut alive: BTreeMap<&str, (&Endpoint, Option<u32>)> = BTreeMap::new();
        for e in endpoints {
            if !links
                .iter()
                .any(|l| l.name == e.host_ifname && l.index == e.host_ifindex)
            {
                continue;
            }
            let table = match &e.vrf {
                None => None,
                Some(v) => match vrf_tables.get(v) {
                    Some(t) => Some(*t),
                    None => {
                        errors.push(format!(
                            "endpoint {}: VRF {v} is not configured or has no table",
                            e.host_ifname
                        ));
                        continue;
                    }
                },
            };
            alive.insert(e.host_ifname.as_str(), (e, table));
        }
        let stale: Vec<String> = self
            .endpoints
            .iter()
            .filter(|(name, p)| {
                alive
                    .get(name.as_str())
                    .is_none_or(|(e, t)| e.host_ifindex != p.ifindex || *t != p.vrf_table)
            })
            .map(|(n, _)| n.clone())
            .collect();
        for name in stale {
            if let Some(p) = self.endpoints.remove(&name) {
                self.unprogram(&name, &p, errors).await;
                tracing::info!(host = %name, "datapath endpoint removed");
            }
        }
        for (name, (ep, vrf_table)) in alive {
            let (Some(pod_mac), Some(host_mac)) = (parse_mac(&ep.pod_mac), parse_mac(&ep.host_mac))
            else {
                errors.push(format!("endpoint {name}: unreadable MAC address"));
                continue;
            };
            let id = match self.endpoints.get(name) {
                Some(p) => p.id,
                None => {
                    let used: BTreeSet<u32> = self.endpoints.values().map(|p| p.id).collect();
                    // A pod an earlier ternd programmed keeps its id (and
                    // so its counters).
                    let kept = self.adopted.as_ref().and_then(|a| {
                        ep.addresses
                            .iter()
                            .filter_map(|addr| a.get(&addr.addr()))
                            .find(|i| i.ifindex == ep.host_ifindex && !used.contains(&i.id))
                            .map(|i| i.id)
                    });
                    match kept.or_else(|| (1..MAX_ENDPOINTS).find(|i| !used.contains(i))) {
                        Some(i) => i,
                        None => {
                            errors.push(format!("endpoint {name}: no free endpoint id"));
                            continue;
                        }
                    }
                }
            };
            let info = EndpointInfo {
                ifindex: ep.host_ifindex,
                id,
                pod_mac,
                host_mac,
                flags: EP_FLAG_VETH_PEER,
            };
            let addrs: BTreeSet<IpAddr> = ep.addresses.iter().map(|a| a.addr()).collect();
            let want = Programmed {
                ifindex: ep.host_ifindex,
                id,
                addrs: addrs.clone(),
                info,
                vrf_table,
            };
            let attached = self
                .dp
                .attached()
                .any(|(n, h, i)| n == name && h == Hook::Pod && i == ep.host_ifindex);
            if self.endpoints.get(name) == Some(&want) && attached {
                continue;
            }
            if !attached {
                let _ = self.dp.detach(name);
                if let Err(e) = self.dp.attach(Hook::Pod, name) {
                    errors.push(format!("attaching to {name}: {e}"));
                    continue;
                }
            }
            if let Some(old) = self.endpoints.get(name).cloned() {
                let gone: BTreeSet<IpAddr> = old.addrs.difference(&addrs).copied().collect();
                self.unprogram_addrs(&old, &gone, errors).await;
            }
            let mut ok = true;
            for a in &addrs {
                let r = match vrf_table {
                    None => self.dp.upsert_endpoint(*a, info).map_err(|e| e.to_string()),
                    Some(table) => self
                        .netlink
                        .vrf_pod_route_replace(IpNet::from(*a), ep.host_ifindex, table)
                        .await
                        .map_err(|e| format!("{e} (table {table})")),
                };
                if let Err(e) = r {
                    errors.push(format!("endpoint {a}: {e}"));
                    ok = false;
                }
            }
            if ok {
                match vrf_table {
                    None => tracing::info!(host = %name, id, "datapath endpoint programmed"),
                    Some(table) => {
                        tracing::info!(host = %name, id, table, "VRF pod programmed")
                    }
                }
                self.endpoints.insert(name.to_owned(), want);
            }
        }
    }

    /// After the first complete reconcile of an adopted datapath: the
    /// endpoints and links the earlier ternd left that no pod took over
    /// (pods deleted while no ternd ran) are removed.
    fn sweep_adopted(&mut self) {
        let Some(adopted) = self.adopted.take() else {
            return;
        };
        let wanted: BTreeSet<IpAddr> = self
            .endpoints
            .values()
            .filter(|p| p.vrf_table.is_none())
            .flat_map(|p| p.addrs.iter().copied())
            .collect();
        let mut removed = 0;
        for ip in adopted.keys().filter(|ip| !wanted.contains(ip)) {
            match self.dp.remove_endpoint(*ip) {
                Ok(true) => removed += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(%ip, error = %e, "cannot remove a stale endpoint"),
            }
        }
        let links = self.dp.sweep_stale_links();
        tracing::info!(
            endpoints = adopted.len() - removed,
            removed,
            stale_links = links,
            "took over the datapath of the earlier ternd"
        );
    }

    /// The MTU of the fragmentation route: the smallest path towards the
    /// nodes (the uplink's MTU, or less where a router said so) less the
    /// tunnel's overhead (an IPv6 underlay's when a node is reached over
    /// IPv6).
    fn frag_mtu(&self, uplink_mtu: u32, tunnels: &[(IpNet, IpAddr)]) -> u32 {
        let now = tern_ebpf::services::monotonic_ns();
        let learnt = self
            .dp
            .path_mtus(now)
            .unwrap_or_default()
            .into_iter()
            .map(|(_, p)| p.mtu)
            .min();
        let path = learnt.map_or(uplink_mtu, |m| m.min(uplink_mtu));
        let overhead = if tunnels.iter().any(|(_, node)| node.is_ipv6()) {
            TUNNEL_OVERHEAD_V6
        } else {
            TUNNEL_OVERHEAD_V4
        };
        path.saturating_sub(overhead)
            .max(MIN_PATH_MTU_V4 - overhead)
    }

    /// Installs the fragmentation rule and route (see [`FRAG_MARK`]).
    async fn frag_install(
        netlink: &Netlink,
        vxlan: u32,
        mtu: u32,
    ) -> Result<(), tern_netlink::Error> {
        netlink
            .frag_rule_ensure(FRAG_MARK, FRAG_TABLE, FRAG_RULE_PRIORITY)
            .await?;
        netlink.frag_route_replace(FRAG_TABLE, vxlan, mtu).await?;
        tracing::info!(
            mtu,
            table = FRAG_TABLE,
            "fragmentation route for the tunnels"
        );
        Ok(())
    }

    async fn remove_vxlan(&mut self) {
        if let Err(e) = self
            .netlink
            .frag_rule_delete(FRAG_MARK, FRAG_TABLE, FRAG_RULE_PRIORITY)
            .await
        {
            tracing::warn!(error = %e, "cannot delete the fragmentation rule");
        }
        self.frag = None;
        let _ = self.dp.detach(VXLAN_DEVICE);
        match self.netlink.link_delete(VXLAN_DEVICE).await {
            Ok(_) => tracing::info!(ifname = VXLAN_DEVICE, "VXLAN device removed"),
            Err(e) => tracing::warn!(error = %e, "cannot delete the VXLAN device"),
        }
        self.vxlan = None;
    }

    /// While BGP restarts gracefully (`restarting`), the earlier ternd's
    /// tunnel routes that BGP has not learnt again stay in `tunnels`, as
    /// its kernel routes stay in the FIB: a node's pods keep reaching the
    /// others until the peers' End-of-RIB. After that, BGP alone decides.
    pub fn keep_adopted_tunnels(&mut self, restarting: bool, tunnels: &mut Vec<(IpNet, IpAddr)>) {
        if !restarting {
            self.adopted_tunnels = None;
        }
        let Some(old) = &self.adopted_tunnels else {
            return;
        };
        let have: BTreeSet<IpNet> = tunnels.iter().map(|(p, _)| *p).collect();
        tunnels.extend(old.iter().filter(|(p, _)| !have.contains(p)).copied());
    }

    /// A stop for a restart (graceful restart configured): the programs,
    /// their pinned maps and links, the VXLAN device and the fragmentation
    /// route stay, so that pods keep forwarding until the next ternd
    /// adopts them.
    pub fn release(self) {
        self.dp.release();
        tracing::info!("eBPF datapath left running for the next ternd");
    }

    /// Detaches every program, deletes the VXLAN device, removes the pins.
    pub async fn shutdown(mut self) {
        if self.vxlan.is_some() {
            self.remove_vxlan().await;
        }
        self.dp.shutdown();
        tracing::info!("eBPF datapath detached and unpinned");
    }

    /// The datapath's id for `endpoint`, whether its program is attached,
    /// and its traffic counters (`show datapath endpoints`).
    pub fn endpoint_state(&self, endpoint: &Endpoint) -> (Option<u32>, bool, EndpointTraffic) {
        let programmed = self.endpoints.get(&endpoint.host_ifname);
        let id = programmed.map(|p| p.id);
        // A VRF pod counts as attached once its interface is in the VRF.
        let in_vrf = programmed.is_none_or(|p| {
            p.vrf_table.is_none() || self.dp.vrf_of_iface(p.ifindex).ok().flatten() == p.vrf_table
        });
        let attached = in_vrf
            && self.dp.attached().any(|(n, h, i)| {
                n == endpoint.host_ifname && h == Hook::Pod && i == endpoint.host_ifindex
            });
        let counters = id
            .and_then(|i| self.dp.endpoint_counters(i).ok())
            .map(|c| EndpointTraffic {
                from_pod_packets: c.from_pod_packets,
                from_pod_bytes: c.from_pod_bytes,
                to_pod_packets: c.to_pod_packets,
                to_pod_bytes: c.to_pod_bytes,
            })
            .unwrap_or_default();
        (id, attached, counters)
    }

    /// The SRv6 state written last (None: none yet, or the write failed).
    pub fn srv6_state(&self) -> Option<&Srv6State> {
        self.srv6.as_ref()
    }

    /// Every drop reason with its count (`show datapath drops`).
    pub fn drops(&self) -> Result<Vec<NamedCount>, String> {
        self.dp
            .drop_counters()
            .map(|v| {
                v.into_iter()
                    .map(|(r, n)| NamedCount {
                        name: r.name().to_owned(),
                        count: n,
                    })
                    .collect()
            })
            .map_err(|e| format!("cannot read the drop counters: {e}"))
    }

    /// The pod MTU the settings allow (the IPv6 underlay's overhead when
    /// the node has an IPv6 address: it may carry either). In native mode
    /// with egress gateway policies the steered traffic is tunnelled, so
    /// the tunnel's overhead counts there too.
    pub fn pod_mtu(&self) -> u32 {
        let outer_v6 = self.settings.local_v6().is_some();
        if self.settings.mode() == Mode::Native && self.dp.egress_enabled() {
            return self.settings.with_mode(Mode::Geneve).pod_mtu(outer_v6);
        }
        self.settings.pod_mtu(outer_v6)
    }

    pub fn info(&self, cfg: &DatapathConfig) -> DatapathInfo {
        let s = &self.settings;
        let attached = self
            .dp
            .attached()
            .map(|(n, h, _)| {
                let hook = match h {
                    Hook::Pod => "pod",
                    Hook::Uplink => "uplink",
                    Hook::Vxlan => "vxlan",
                    Hook::Noop => "noop",
                };
                (n.to_owned(), hook.to_owned())
            })
            .collect();
        DatapathInfo {
            mode: cfg.mode.map(|m| m.keyword().to_owned()),
            loaded: true,
            uplink: cfg.uplink.clone(),
            uplink_ifindex: self.uplink.as_ref().map(|(_, i)| *i),
            uplink_mtu: s.uplink_mtu,
            vni: cfg.vni,
            vxlan_port: cfg.vxlan_port,
            geneve_port: cfg.geneve_port,
            vxlan_device: self.vxlan.map(|_| VXLAN_DEVICE.to_owned()),
            local_v4: s.local_v4().map(IpAddr::V4),
            local_v6: s.local_v6().map(IpAddr::V6),
            pod_mtu: self.pod_mtu(),
            cluster_cidrs: cfg.cluster_cidrs.iter().copied().collect(),
            attached,
            xdp: if cfg.xdp { "auto" } else { "off" }.to_owned(),
            xdp_mode: match &self.xdp {
                XdpState::Native => Some("native".to_owned()),
                _ => None,
            },
            xdp_note: match &self.xdp {
                XdpState::Unsupported(e) => Some(e.clone()),
                _ => None,
            },
            tunnels: self.dp.tunnel_routes().unwrap_or_default(),
            trusted_sources: self.dp.trusted_sources().unwrap_or_default(),
            path_mtus: {
                let now = tern_ebpf::services::monotonic_ns();
                self.dp
                    .path_mtus(now)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(node, p)| (node, p.mtu, p.expires.saturating_sub(now) / 1_000_000_000))
                    .collect()
            },
            paths: self
                .dp
                .path_counters()
                .unwrap_or_default()
                .into_iter()
                .map(|(p, n)| NamedCount {
                    name: p.name().to_owned(),
                    count: n,
                })
                .collect(),
            last_error: self.last_error.clone(),
            srv6: self.srv6_info(),
        }
    }

    /// The SRv6 maps as the kernel holds them (`show datapath`).
    fn srv6_info(&self) -> DatapathSrv6 {
        let name = |ifindex: u32| {
            self.endpoints
                .iter()
                .find(|(_, p)| p.ifindex == ifindex)
                .map_or_else(|| format!("ifindex {ifindex}"), |(n, _)| n.clone())
        };
        DatapathSrv6 {
            locators: self
                .dp
                .srv6_locators()
                .unwrap_or_default()
                .into_iter()
                .map(IpNet::V6)
                .collect(),
            sids: self
                .dp
                .srv6_sids()
                .unwrap_or_default()
                .into_iter()
                .map(|(sid, b, table)| (sid, b.name().to_owned(), table))
                .collect(),
            policies: self
                .dp
                .srv6_encaps()
                .unwrap_or_default()
                .into_iter()
                .map(|(table, prefix, e)| (table, prefix, e.segments))
                .collect(),
            vrf_ifaces: self
                .dp
                .vrf_ifaces()
                .unwrap_or_default()
                .into_iter()
                .map(|(i, t)| (name(i), t))
                .collect(),
        }
    }
}

/// Pod prefixes one node may have in the tunnel map: a node announces a
/// pod CIDR or two per family; a peer that announces thousands of prefixes
/// inside the cluster CIDRs through one next hop does not get to fill the
/// map that every node's traffic needs.
pub const MAX_PREFIXES_PER_NODE: usize = 64;

/// The tunnel map wanted: every best path inside a `cluster-cidr`, to its
/// BGP next hop (the lowest address of an ECMP set, so that the choice is
/// stable), at most [`MAX_PREFIXES_PER_NODE`] per next hop (in address
/// order; the rest are counted in the second value). Link-local next hops
/// are skipped: they cannot be tunnel endpoints.
pub fn tunnel_routes(cfg: &DatapathConfig, rib: &LocRibView) -> (Vec<(IpNet, IpAddr)>, usize) {
    let mut per_node: BTreeMap<IpAddr, usize> = BTreeMap::new();
    let mut over = 0;
    let routes = rib
        .iter()
        .filter(|(p, _)| cfg.is_pod_cidr(p))
        .filter_map(|(p, nhs)| {
            nhs.iter()
                .filter(|nh| match nh {
                    IpAddr::V6(v) => !v.is_unicast_link_local(),
                    IpAddr::V4(v) => !v.is_link_local(),
                })
                .min()
                .map(|nh| (*p, *nh))
        })
        .filter(|(_, nh)| {
            let n = per_node.entry(*nh).or_default();
            *n += 1;
            let kept = *n <= MAX_PREFIXES_PER_NODE;
            over += usize::from(!kept);
            kept
        })
        .collect();
    (routes, over)
}

/// The outer sources Geneve and VXLAN are taken from: the nodes of the
/// tunnel map (`tunnels`' next hops, the external VTEPs' prefixes among
/// them), the external VTEPs, the egress gateway nodes of the policies
/// (`gateway_nodes`: their replies come back tunnelled) and the
/// `datapath node-prefix` ranges.
pub fn trusted_sources(
    cfg: &DatapathConfig,
    tunnels: &[(IpNet, IpAddr)],
    gateway_nodes: impl IntoIterator<Item = IpAddr>,
) -> BTreeSet<IpNet> {
    tunnels
        .iter()
        .map(|(_, nh)| *nh)
        .chain(cfg.vteps.values().map(|v| v.addr))
        .chain(gateway_nodes)
        .map(IpNet::from)
        .chain(cfg.node_prefixes.iter().copied())
        .collect()
}

pub fn unconfigured(cfg: &DatapathConfig) -> DatapathInfo {
    DatapathInfo {
        mode: cfg.mode.map(|m| m.keyword().to_owned()),
        uplink: cfg.uplink.clone(),
        uplink_mtu: 0,
        vni: cfg.vni,
        vxlan_port: cfg.vxlan_port,
        geneve_port: cfg.geneve_port,
        cluster_cidrs: cfg.cluster_cidrs.iter().copied().collect(),
        xdp: if cfg.xdp { "auto" } else { "off" }.to_owned(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_routes_are_the_pod_cidrs_to_their_next_hop() {
        let cfg = crate::config::Config::parse(
            "t",
            "datapath cluster-cidr 10.244.0.0/16\ndatapath cluster-cidr 2001:db8:244::/48\n",
        )
        .expect("valid")
        .datapath;
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let net = |s: &str| s.parse::<IpNet>().unwrap();
        let rib: LocRibView = [
            (net("10.244.2.0/24"), vec![ip("192.0.2.5"), ip("192.0.2.3")]),
            (net("198.51.100.12/32"), vec![ip("192.0.2.3")]),
            (
                net("2001:db8:244:2::/64"),
                vec![ip("fe80::1"), ip("2001:db8:0:2::2")],
            ),
            (net("2001:db8:244:3::/64"), vec![ip("fe80::1")]),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            tunnel_routes(&cfg, &rib),
            (
                vec![
                    (net("10.244.2.0/24"), ip("192.0.2.3")),
                    (net("2001:db8:244:2::/64"), ip("2001:db8:0:2::2")),
                ],
                0
            )
        );
        assert!(tunnel_routes(&DatapathConfig::default(), &rib).0.is_empty());
    }

    #[test]
    fn one_node_fills_no_more_than_its_share_of_the_tunnel_map() {
        let cfg = crate::config::Config::parse("t", "datapath cluster-cidr 10.244.0.0/16\n")
            .expect("valid")
            .datapath;
        let flood: IpAddr = "192.0.2.66".parse().unwrap();
        let honest: IpAddr = "192.0.2.3".parse().unwrap();
        let mut rib: LocRibView = (0..=255u8)
            .map(|i| {
                (
                    IpNet::new([10, 244, 100, i].into(), 32).unwrap(),
                    vec![flood],
                )
            })
            .collect();
        rib.insert("10.244.200.0/24".parse().unwrap(), vec![honest]);
        let (routes, over) = tunnel_routes(&cfg, &rib);
        assert_eq!(over, 256 - MAX_PREFIXES_PER_NODE);
        assert_eq!(
            routes.iter().filter(|(_, nh)| *nh == flood).count(),
            MAX_PREFIXES_PER_NODE
        );
        assert!(routes.contains(&("10.244.200.0/24".parse().unwrap(), honest)));
    }

    #[test]
    fn trusted_sources_are_the_tunnel_nodes_vteps_gateways_and_node_prefixes() {
        let cfg = crate::config::Config::parse(
            "t",
            "datapath vtep 10.99.0.0/24 192.0.2.99 02:00:00:00:99:01\n\
             datapath node-prefix 198.51.100.0/24\ndatapath node-prefix 2001:db8:ff::/48\n",
        )
        .expect("valid")
        .datapath;
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let net = |s: &str| s.parse::<IpNet>().unwrap();
        let tunnels = [
            (net("10.244.2.0/24"), ip("192.0.2.3")),
            (net("2001:db8:244:2::/64"), ip("192.0.2.3")),
            (net("10.244.3.0/24"), ip("2001:db8::4")),
        ];
        let got = trusted_sources(&cfg, &tunnels, [ip("192.0.2.7")]);
        let want: BTreeSet<IpNet> = [
            "192.0.2.3/32",
            "2001:db8::4/128",
            "192.0.2.99/32",
            "192.0.2.7/32",
            "198.51.100.0/24",
            "2001:db8:ff::/48",
        ]
        .iter()
        .map(|s| net(s))
        .collect();
        assert_eq!(got, want);
        assert!(trusted_sources(&DatapathConfig::default(), &[], []).is_empty());
    }

    #[test]
    fn macs_parse_or_refuse() {
        assert_eq!(
            parse_mac("02:00:0a:ff:00:01"),
            Some([2, 0, 0x0a, 0xff, 0, 1])
        );
        for bad in ["", "02:00", "02:00:0a:ff:00:01:02", "zz:00:00:00:00:00"] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }
}
