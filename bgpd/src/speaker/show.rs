//! The speaker's side of `show ip bgp [PREFIX]`, `show bgp neighbors` and
//! `clear bgp`: read-only views of the RIB and the peers, turned into the
//! control protocol's plain types, and the session resets and refreshes
//! that `clear bgp` asks for.
//!
//! A whole table is streamed: the control server takes the table's
//! prefixes in order once ([`SpeakerHandle::table_start`]), then their
//! routes a chunk at a time ([`SpeakerHandle::table_chunk`]), so that the
//! speaker is never held for more than one chunk and no one builds the
//! whole answer.
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Instant,
};

use ipnet::IpNet;
use tern_bgp_wire::{AsSegmentType, Capability, Message, NotificationMessage, OpenMessage, Origin};
use tern_control::{
    AdjRibError, AsPathSegment, BgpNeighbor, BgpPath, BgpRoute, BgpTable, ClearMode,
    NeighborCapability, NeighborFamily, VpnTable,
};
use tokio::sync::oneshot;

use super::{Command, Speaker, SpeakerHandle, peer::Peer};
use tern_bgp::{
    Family,
    fsm::{Event, State},
    rib::{PathSource, PathView, RouteNextHop, RouteView},
};

/// What `show ip route` shows of a prefix's best BGP path: iBGP (distance
/// 200) or eBGP (20), its MED (zebra's metric) and the Unix time since
/// which it is best.
#[derive(Clone, Copy, Debug)]
pub struct BestPath {
    pub internal: bool,
    pub med: u32,
    pub since: Option<u64>,
}

/// RFC 4486 Cease subcode 4: Administrative Reset.
const ADMINISTRATIVE_RESET: u8 = 4;

/// Requests of the show and clear commands.
#[derive(Debug)]
pub enum ShowCommand {
    Routes {
        family: Family,
        prefix: Option<IpNet>,
        longest_match: bool,
        reply: oneshot::Sender<BgpTable>,
    },
    /// The header of a streamed table and its prefixes in order.
    TableStart {
        family: Family,
        reply: oneshot::Sender<(BgpTable, tern_bgp::rib::SortedPrefixes)>,
    },
    /// The routes of these prefixes (those still in the table), each
    /// with where it sat when listed.
    TableChunk {
        family: Family,
        prefixes: Vec<(IpNet, u32)>,
        reply: oneshot::Sender<Vec<BgpRoute>>,
    },
    /// For `show ip route`: of each prefix's best path, whether it is
    /// internal, its MED and since when it is best (None: no best path).
    BestPaths {
        family: Family,
        prefixes: Vec<IpNet>,
        reply: oneshot::Sender<Vec<Option<BestPath>>>,
    },
    Neighbors {
        address: Option<IpAddr>,
        reply: oneshot::Sender<Vec<BgpNeighbor>>,
    },
    Clear {
        address: Option<IpAddr>,
        mode: ClearMode,
        reply: oneshot::Sender<Result<Vec<String>, String>>,
    },
    /// `show bgp ipv4|ipv6 vpn [rd RD] [PREFIX]`.
    Vpn {
        ipv6: bool,
        rd: Option<tern_bgp_wire::RouteDistinguisher>,
        prefix: Option<IpNet>,
        reply: oneshot::Sender<VpnTable>,
    },
    /// `show ip bgp neighbors ADDR received-routes|advertised-routes`.
    AdjRib {
        family: Family,
        address: IpAddr,
        advertised: bool,
        reply: oneshot::Sender<AdjRibAnswer>,
    },
}

/// The routes of an Adj-RIB-In or Adj-RIB-Out as a table, the number of
/// received routes the import policy refuses, or why there is no list.
pub type AdjRibAnswer = (BgpTable, u64, Option<AdjRibError>);

const NOT_RUNNING: &str = "the BGP speaker is not running";

impl SpeakerHandle {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> ShowCommand) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Command::Show(make(tx))).ok()?;
        rx.await.ok()
    }

    /// `show ip bgp [PREFIX]`.
    pub async fn routes(
        &self,
        family: Family,
        prefix: Option<IpNet>,
        longest_match: bool,
    ) -> Result<BgpTable, String> {
        self.ask(|reply| ShowCommand::Routes {
            family,
            prefix,
            longest_match,
            reply,
        })
        .await
        .ok_or_else(|| NOT_RUNNING.to_owned())
    }

    /// The header of `show ip bgp` (no routes) and the table's prefixes
    /// in order, to be asked for a chunk at a time.
    pub async fn table_start(
        &self,
        family: Family,
    ) -> Result<(BgpTable, tern_bgp::rib::SortedPrefixes), String> {
        self.ask(|reply| ShowCommand::TableStart { family, reply })
            .await
            .ok_or_else(|| NOT_RUNNING.to_owned())
    }

    /// The routes of `prefixes` (those still in the table), in their order.
    pub async fn table_chunk(
        &self,
        family: Family,
        prefixes: Vec<(IpNet, u32)>,
    ) -> Result<Vec<BgpRoute>, String> {
        self.ask(|reply| ShowCommand::TableChunk {
            family,
            prefixes,
            reply,
        })
        .await
        .ok_or_else(|| NOT_RUNNING.to_owned())
    }

    /// The best paths of `prefixes`, in their order (`show ip route`).
    pub async fn best_paths(
        &self,
        family: Family,
        prefixes: Vec<IpNet>,
    ) -> Result<Vec<Option<BestPath>>, String> {
        self.ask(|reply| ShowCommand::BestPaths {
            family,
            prefixes,
            reply,
        })
        .await
        .ok_or_else(|| NOT_RUNNING.to_owned())
    }

    /// `show bgp ipv4|ipv6 vpn [rd RD] [PREFIX]`.
    pub async fn vpn_table(
        &self,
        ipv6: bool,
        rd: Option<tern_bgp_wire::RouteDistinguisher>,
        prefix: Option<IpNet>,
    ) -> Result<VpnTable, String> {
        self.ask(|reply| ShowCommand::Vpn {
            ipv6,
            rd,
            prefix,
            reply,
        })
        .await
        .ok_or_else(|| NOT_RUNNING.to_owned())
    }

    /// `show bgp neighbors [ADDR]`.
    pub async fn neighbors(&self, address: Option<IpAddr>) -> Result<Vec<BgpNeighbor>, String> {
        self.ask(|reply| ShowCommand::Neighbors { address, reply })
            .await
            .ok_or_else(|| NOT_RUNNING.to_owned())
    }

    /// `show ip bgp neighbors ADDR received-routes|advertised-routes`.
    pub async fn adj_rib(
        &self,
        family: Family,
        address: IpAddr,
        advertised: bool,
    ) -> Result<AdjRibAnswer, String> {
        self.ask(|reply| ShowCommand::AdjRib {
            family,
            address,
            advertised,
            reply,
        })
        .await
        .ok_or_else(|| NOT_RUNNING.to_owned())
    }

    /// `clear bgp *|ADDR [soft [in|out]]`: the neighbors it acted on.
    pub async fn clear(
        &self,
        address: Option<IpAddr>,
        mode: ClearMode,
    ) -> Result<Vec<String>, String> {
        self.ask(|reply| ShowCommand::Clear {
            address,
            mode,
            reply,
        })
        .await
        .ok_or_else(|| NOT_RUNNING.to_owned())?
    }
}

fn millis(t: Option<Instant>) -> Option<u64> {
    t.map(|t| u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX))
}

fn unmapped(a: std::net::SocketAddr) -> (String, u16) {
    (super::io::unmap(a.ip()).to_string(), a.port())
}

/// FRR's JSON key of a capability code, for the capabilities
/// `show bgp neighbors` lists one by one.
const CAPABILITIES: [(u8, &str); 9] = [
    (65, "4byteAs"),
    (6, "extendedMessage"),
    (69, "addPath"),
    (71, "longLivedGracefulRestart"),
    (2, "routeRefresh"),
    (70, "enhancedRouteRefresh"),
    (5, "extendedNexthop"),
    (73, "hostName"),
    (64, "gracefulRestart"),
];

fn mp_families(open: &OpenMessage) -> Vec<Family> {
    open.capabilities()
        .filter_map(|c| match c {
            Capability::Multiprotocol(af) => tern_bgp::family::family_of(*af),
            _ => None,
        })
        .collect()
}

fn fqdn(open: &OpenMessage) -> Option<(String, String)> {
    open.capabilities().find_map(|c| match c {
        Capability::Fqdn(f) => Some((f.hostname_lossy(), f.domain_lossy())),
        _ => None,
    })
}

/// Whether `addr` is on a network of one of our interfaces.
fn on_shared_network(addr: IpAddr) -> bool {
    let Ok(ifaddrs) = nix::ifaddrs::getifaddrs() else {
        return false;
    };
    for ifa in ifaddrs {
        let (Some(a), Some(m)) = (ifa.address, ifa.netmask) else {
            continue;
        };
        let net = if let (Some(a), Some(m)) = (a.as_sockaddr_in(), m.as_sockaddr_in()) {
            let len = u32::from(m.ip()).count_ones();
            IpNet::new(IpAddr::V4(a.ip()), len as u8).ok()
        } else if let (Some(a), Some(m)) = (a.as_sockaddr_in6(), m.as_sockaddr_in6()) {
            let len = u128::from(m.ip()).count_ones();
            IpNet::new(IpAddr::V6(a.ip()), len as u8).ok()
        } else {
            None
        };
        if net.is_some_and(|n| n.prefix_len() > 0 && n.contains(&addr)) {
            return true;
        }
    }
    false
}

impl Speaker {
    pub(super) fn on_show(&mut self, cmd: ShowCommand) {
        match cmd {
            ShowCommand::Routes {
                family,
                prefix,
                longest_match,
                reply,
            } => {
                let _ = reply.send(self.bgp_table(family, prefix, longest_match));
            }
            ShowCommand::TableStart { family, reply } => {
                let header = BgpTable {
                    configured: true,
                    router_id: self.router_id.to_string(),
                    local_as: self.config.asn,
                    local_hostname: self.local_hostname(),
                    table_version: self.rib.table_version(family),
                    hide_hostnames: self.hide_hostnames(),
                    routes: Vec::new(),
                };
                let _ = reply.send((header, self.rib.sorted_prefixes(family)));
            }
            ShowCommand::TableChunk {
                family,
                prefixes,
                reply,
            } => {
                let routes = prefixes
                    .into_iter()
                    .filter_map(|(p, hint)| self.rib.route_hinted(family, p, hint))
                    .map(|v| self.bgp_route(&v, false))
                    .collect();
                let _ = reply.send(routes);
            }
            ShowCommand::BestPaths {
                family,
                prefixes,
                reply,
            } => {
                let best = prefixes
                    .into_iter()
                    .map(|prefix| {
                        let view = self.rib.route(family, prefix)?;
                        let p = view.paths.into_iter().next().filter(|p| p.best)?;
                        let internal = matches!(p.source, PathSource::Peer { ibgp: true, .. });
                        Some(BestPath {
                            internal,
                            med: p.attrs.med.unwrap_or(0),
                            since: p.last_update,
                        })
                    })
                    .collect();
                let _ = reply.send(best);
            }
            ShowCommand::Neighbors { address, reply } => {
                let list = self
                    .peers
                    .iter()
                    .filter(|(a, _)| address.is_none_or(|x| x == **a))
                    .map(|(_, p)| self.neighbor(p))
                    .collect();
                let _ = reply.send(list);
            }
            ShowCommand::Clear {
                address,
                mode,
                reply,
            } => {
                let _ = reply.send(self.clear(address, mode));
            }
            ShowCommand::Vpn {
                ipv6,
                rd,
                prefix,
                reply,
            } => {
                let _ = reply.send(self.vpn_table(ipv6, rd, prefix));
            }
            ShowCommand::AdjRib {
                family,
                address,
                advertised,
                reply,
            } => {
                let _ = reply.send(self.adj_rib(family, address, advertised));
            }
        }
    }

    /// `show ip bgp neighbors ADDR received-routes|advertised-routes` as
    /// FRR 8.4 lists them: each route once, marked valid and best; an
    /// advertised route with our own address as next hop shows 0.0.0.0
    /// (::) and its AS_PATH without the AS we prepend.
    fn adj_rib(&mut self, family: Family, address: IpAddr, advertised: bool) -> AdjRibAnswer {
        let mut table = BgpTable {
            configured: true,
            router_id: self.router_id.to_string(),
            local_as: self.config.asn,
            local_hostname: self.local_hostname(),
            table_version: self.rib.table_version(family),
            hide_hostnames: self.hide_hostnames(),
            routes: Vec::new(),
        };
        let Some(p) = self.peers.get(&address) else {
            return (table, 0, Some(AdjRibError::NoSuchNeighbor));
        };
        let id = p.id;
        if !self.config.is_active(address, family) {
            return (table, 0, Some(AdjRibError::NotActive));
        }
        let soft = self.config.af_neighbor(address, family).soft_reconfig_in;
        if !advertised && !soft {
            return (table, 0, Some(AdjRibError::SoftReconfigurationOff));
        }
        let (routes, filtered) = if advertised {
            (self.rib.advertised_routes(id, family), 0)
        } else {
            self.rib.received_routes(id, family).unwrap_or_default()
        };
        let source = if advertised {
            PathSource::Local
        } else {
            PathSource::Peer {
                id,
                addr: address,
                router_id: Ipv4Addr::UNSPECIFIED,
                ibgp: false,
            }
        };
        table.routes = routes
            .into_iter()
            .map(|r| {
                let view = PathView {
                    source: source.clone(),
                    path_id: r.path_id,
                    attrs: r.attrs,
                    best: true,
                    multipath: false,
                    valid: true,
                    last_update: None,
                };
                let mut path = self.bgp_path(family, &view, false);
                path.weight = r.weight;
                path.peer_hostname = None;
                path.local = false;
                path.internal = false;
                BgpRoute {
                    prefix: r.prefix,
                    version: 0,
                    paths: vec![path],
                    advertised_to: Vec::new(),
                }
            })
            .collect();
        (table, filtered as u64, None)
    }

    fn bgp_table(&self, family: Family, prefix: Option<IpNet>, longest: bool) -> BgpTable {
        let views = match prefix {
            None => self.rib.routes(family),
            Some(p) if longest => self
                .rib
                .longest_match(family, p.addr())
                .into_iter()
                .collect(),
            Some(p) => self.rib.route(family, p).into_iter().collect(),
        };
        let detail = prefix.is_some();
        BgpTable {
            configured: true,
            router_id: self.router_id.to_string(),
            local_as: self.config.asn,
            local_hostname: self.local_hostname(),
            table_version: self.rib.table_version(family),
            hide_hostnames: self.hide_hostnames(),
            routes: views.iter().map(|v| self.bgp_route(v, detail)).collect(),
        }
    }

    /// FRR's `traditional` profile shows neighbors and next hops without
    /// their hostnames (no `bgp default show-hostname` /
    /// `show-nexthop-hostname`).
    pub(super) fn hide_hostnames(&self) -> bool {
        self.config.profile == tern_bgp::config::FrrProfile::Traditional
    }

    /// The hostname we send in the FQDN capability.
    pub(super) fn local_hostname(&self) -> Option<String> {
        self.opts.hostname.clone().or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
        })
    }

    fn peer_by_id(&self, id: tern_bgp::rib::PeerId) -> Option<&Peer> {
        self.peers.values().find(|p| p.id == id)
    }

    fn bgp_route(&self, view: &RouteView, detail: bool) -> BgpRoute {
        let advertised_to = if detail {
            self.rib
                .advertised_to(view)
                .into_iter()
                .filter_map(|id| self.peer_by_id(id))
                .map(|p| (p.addr.to_string(), p.stats.hostname.clone()))
                .collect()
        } else {
            Vec::new()
        };
        BgpRoute {
            prefix: view.prefix,
            version: view.version,
            paths: view
                .paths
                .iter()
                .map(|p| self.bgp_path(view.family, p, detail))
                .collect(),
            advertised_to,
        }
    }

    /// One path; `detail` for `show ip bgp PREFIX`, whose "Last update"
    /// needs the time as text (the table only reads the epoch).
    pub(super) fn bgp_path(&self, family: Family, p: &PathView, detail: bool) -> BgpPath {
        let a = &p.attrs;
        let unspecified = match family {
            Family::Ipv4Unicast => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::Ipv6Unicast => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let (next_hop, next_hop_link_local) = match a.next_hop {
            RouteNextHop::Local => (unspecified.to_string(), None),
            RouteNextHop::V4(v4) => (v4.to_string(), None),
            RouteNextHop::V6 { global, link_local } => {
                (global.to_string(), link_local.map(|l| l.to_string()))
            }
        };
        let (local, internal, peer, peer_router_id, peer_hostname) = match &p.source {
            PathSource::Local => (true, false, None, self.router_id.to_string(), None),
            PathSource::Peer {
                id,
                addr,
                router_id,
                ibgp,
            } => (
                false,
                *ibgp,
                Some(addr.to_string()),
                router_id.to_string(),
                self.peer_by_id(*id).and_then(|p| p.stats.hostname.clone()),
            ),
        };
        let segments = a
            .as_path
            .segments
            .iter()
            .map(|s| AsPathSegment {
                kind: match s.kind {
                    AsSegmentType::Sequence => "as-sequence",
                    AsSegmentType::Set => "as-set",
                    AsSegmentType::ConfedSequence => "as-confed-sequence",
                    AsSegmentType::ConfedSet => "as-confed-set",
                }
                .to_owned(),
                asns: s.asns.clone(),
            })
            .collect();
        BgpPath {
            last_update: p.last_update.map(|epoch| tern_control::LastUpdate {
                epoch,
                string: if detail { ctime(epoch) } else { String::new() },
            }),
            best: p.best,
            multipath: p.multipath,
            valid: p.valid,
            local,
            internal,
            peer,
            peer_router_id,
            peer_hostname,
            next_hop,
            next_hop_link_local,
            med: a.med,
            local_pref: a.local_pref,
            weight: if local { 32768 } else { 0 },
            as_path: a.as_path.to_string(),
            as_path_segments: segments,
            as_path_length: a.as_path.path_length(),
            from_as: a.as_path.first_as().unwrap_or(0),
            origin: match a.origin {
                Origin::Igp => "IGP",
                Origin::Egp => "EGP",
                Origin::Incomplete => "incomplete",
            }
            .to_owned(),
            atomic_aggregate: a.atomic_aggregate,
            communities: a.communities.iter().map(ToString::to_string).collect(),
            community_list: a.communities.iter().map(|c| c.json_name()).collect(),
            extended_communities: a.ext_communities.iter().map(ToString::to_string).collect(),
            aggregator: a.aggregator.map(|g| (g.asn, g.address.to_string())),
            large_communities: a
                .large_communities
                .iter()
                .map(ToString::to_string)
                .collect(),
            originator_id: a.originator_id.map(|o| o.to_string()),
            cluster_list: a.cluster_list.iter().map(ToString::to_string).collect(),
            path_id: p.path_id,
            vpn: None,
        }
    }

    /// FRR's state name of a neighbor (as in `show bgp summary`).
    fn state_name(p: &Peer) -> String {
        if p.cfg.shutdown {
            return "Idle (Admin)".to_owned();
        }
        if p.stats.prefix_limit_hit {
            return "Idle (PfxCt)".to_owned();
        }
        p.conns
            .iter()
            .map(|c| c.fsm.state())
            .max_by_key(|s| *s as u8)
            .unwrap_or(State::Idle)
            .name()
            .to_owned()
    }

    fn graceful_restart_view(&self, p: &Peer) -> tern_control::GracefulRestartView {
        let gr = &self.config.graceful_restart;
        tern_control::GracefulRestartView {
            local_mode: if gr.enabled { "Restart*" } else { "Helper*" }.to_owned(),
            restart_time: gr.restart_time(),
            stale_path_time: gr.stalepath_time(),
            remote: p
                .remote_gr
                .as_ref()
                .map(|r| tern_control::RemoteGracefulRestart {
                    r_bit: r.restart_state,
                    n_bit: r.notification,
                    restart_time: r.restart_time,
                    families: r
                        .families
                        .iter()
                        .filter_map(|f| {
                            tern_bgp::family::family_of(f.family)
                                .map(|fam| (fam, f.forwarding_state))
                        })
                        .collect(),
                }),
        }
    }

    fn neighbor(&self, p: &Peer) -> BgpNeighbor {
        let asn = self.config.asn;
        let remote_as = p.remote_as_number(asn);
        let s = &p.stats;
        let rcvd = s.remote_open.as_ref();
        let local_open = &p.local_open;
        let mut capabilities = Vec::new();
        for (code, name) in CAPABILITIES {
            let advertised = local_open.has_capability(code);
            let received = rcvd.is_some_and(|o| o.has_capability(code));
            if advertised || received {
                capabilities.push(NeighborCapability {
                    name: name.to_owned(),
                    advertised,
                    received,
                });
            }
        }
        // The pre-standard route refresh code (128), which FRR shows as
        // "old" next to RFC 2918's "new".
        if rcvd.is_some_and(|o| o.has_capability(128)) {
            capabilities.push(NeighborCapability {
                name: "routeRefreshOld".to_owned(),
                advertised: local_open.has_capability(128),
                received: true,
            });
        }
        let ours = mp_families(local_open);
        let theirs = rcvd.map(mp_families).unwrap_or_default();
        let mp = Family::ALL
            .into_iter()
            .filter(|f| ours.contains(f) || theirs.contains(f))
            .map(|f| NeighborCapability {
                name: f.key().to_owned(),
                advertised: ours.contains(&f),
                received: theirs.contains(&f),
            })
            .collect();
        let add_path_received = rcvd
            .map(|o| {
                o.capabilities()
                    .filter_map(|c| match c {
                        Capability::AddPath(entries) => Some(entries),
                        _ => None,
                    })
                    .flatten()
                    .filter_map(|e| {
                        let f = tern_bgp::family::family_of(e.family)?;
                        let mut keys = Vec::new();
                        if e.mode.can_receive() {
                            keys.push("rxReceived".to_owned());
                        }
                        if e.mode.can_send() {
                            keys.push("txReceived".to_owned());
                        }
                        Some((f, keys))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let active: Vec<Family> = Family::ALL
            .into_iter()
            .filter(|f| self.config.is_active(p.addr, *f))
            .collect();
        let established = p.info.is_some();
        let families = active
            .iter()
            .map(|f| {
                let c = self.rib.peer_counts(p.id, *f).unwrap_or_default();
                let af = self.config.af_neighbor(p.addr, *f);
                NeighborFamily {
                    family: *f,
                    accepted: c.accepted as u64,
                    sent: c.advertised as u64,
                    soft_reconfig_in: af.soft_reconfig_in,
                    next_hop_self: af.next_hop_self || af.next_hop_self_force,
                }
            })
            .collect();
        let (keepalive, hold) = p.cfg.timers();
        let (local_host, local_port) = s.local_sock.map(unmapped).unzip();
        let (foreign_host, foreign_port) = s.remote_sock.map(unmapped).unzip();
        let (nexthop_global, nexthop_local) = match &p.info {
            Some(i) => {
                let global = i
                    .local_addr_v6
                    .filter(|a| !a.is_unicast_link_local())
                    .map_or("::".to_owned(), |a| a.to_string());
                let ll = match i.local_addr {
                    IpAddr::V6(a) if a.is_unicast_link_local() => a.to_string(),
                    _ => "::".to_owned(),
                };
                (global, ll)
            }
            None => ("::".to_owned(), "::".to_owned()),
        };
        BgpNeighbor {
            address: p.addr.to_string(),
            remote_as,
            local_as: asn,
            internal: remote_as == asn,
            description: p.cfg.description.clone(),
            hostname: s.hostname.clone(),
            domain: rcvd.and_then(fqdn).map(|(_, d)| d),
            local_hostname: fqdn(local_open).map(|(h, _)| h),
            remote_router_id: rcvd.map_or(Ipv4Addr::UNSPECIFIED, |o| o.bgp_id).to_string(),
            local_router_id: self.router_id.to_string(),
            state: Self::state_name(p),
            uptime_secs: if established {
                s.since.map(|t| t.elapsed().as_secs())
            } else {
                None
            },
            last_read_msecs: millis(s.last_read),
            last_write_msecs: millis(s.last_write),
            last_update_msecs: millis(s.last_update),
            hold_time: s.hold_time,
            keepalive: s.keepalive,
            configured_hold_time: hold,
            configured_keepalive: keepalive,
            connect_retry: p
                .cfg
                .connect_retry
                .unwrap_or(tern_bgp::config::model::DEFAULT_CONNECT_RETRY),
            authentication: p.cfg.password.is_some(),
            capabilities,
            mp_families: mp,
            add_path_received,
            // Tern sends End-of-RIB for every family when the session
            // comes up (rib::peer_up).
            eor_sent: if established {
                p.info
                    .as_ref()
                    .map(|i| i.families.clone())
                    .unwrap_or_default()
            } else {
                Vec::new()
            },
            eor_sent_after_update: if established {
                p.info
                    .as_ref()
                    .map(|i| {
                        i.families
                            .iter()
                            .filter(|f| p.stats.eor_sent_after_update(**f))
                            .copied()
                            .collect()
                    })
                    .unwrap_or_default()
            } else {
                Vec::new()
            },
            eor_received: if established {
                s.eor_received.to_vec()
            } else {
                Vec::new()
            },
            messages: s.counts,
            families,
            established: s.established_before
                + p.conns.iter().map(|c| c.fsm.established_count).sum::<u32>(),
            dropped: s.dropped_before + p.conns.iter().map(|c| c.fsm.dropped_count).sum::<u32>(),
            last_reset: s.last_reset.clone(),
            last_reset_msecs: millis(s.last_reset_at),
            ebgp_max_hops: p.ttl(),
            local_host,
            local_port,
            foreign_host,
            foreign_port,
            nexthop: p
                .info
                .as_ref()
                .map(|i| i.local_addr.to_string())
                .or_else(|| s.local_sock.map(|a| unmapped(a).0)),
            nexthop_global,
            nexthop_local,
            shared_network: on_shared_network(p.addr),
            graceful_restart: self.graceful_restart_view(p),
        }
    }

    /// `clear bgp`: hard resets end the session with Cease/Administrative
    /// Reset and start it again; `soft out` sends the Adj-RIB-Out again;
    /// `soft in` asks the peer for its routes with ROUTE-REFRESH.
    fn clear(&mut self, address: Option<IpAddr>, mode: ClearMode) -> Result<Vec<String>, String> {
        let targets: Vec<IpAddr> = match address {
            Some(a) if !self.peers.contains_key(&a) => {
                return Err(format!("BGP: Unknown neighbor - \"{a}\""));
            }
            Some(a) => vec![a],
            None => self.peers.keys().copied().collect(),
        };
        let mut done = Vec::new();
        for addr in targets {
            let acted = match mode {
                ClearMode::Hard => self.reset_peer(addr),
                ClearMode::SoftOut => self.soft_out(addr),
                ClearMode::SoftIn => self.soft_in(addr, address.is_some())?,
                ClearMode::Soft => {
                    let sent = self.soft_out(addr);
                    self.soft_in(addr, address.is_some())? || sent
                }
            };
            if acted {
                done.push(addr.to_string());
            }
        }
        Ok(done)
    }

    fn reset_peer(&mut self, addr: IpAddr) -> bool {
        let Some(p) = self.peers.get_mut(&addr) else {
            return false;
        };
        if p.cfg.shutdown {
            return false;
        }
        p.stats.prefix_limit_hit = false;
        let conns: Vec<_> = p.conns.iter().map(|c| c.id).collect();
        tracing::info!(peer = %addr, "clear bgp: resetting the session (Cease/Administrative Reset)");
        // The session starts again after the idle hold time, not at once:
        // a peer that accepted a new connection before it had taken the
        // old one down (FRR with a dynamic neighbor) could keep the new
        // one without a peer behind it.
        for c in &conns {
            let n = NotificationMessage::cease(ADMINISTRATIVE_RESET);
            self.fsm_event(addr, *c, Event::AutomaticStop(n));
        }
        let keep = conns.first().copied();
        if let Some(p) = self.peers.get_mut(&addr) {
            // Counters of the slots dropped here stay in the totals.
            for c in p.conns.iter().filter(|c| Some(c.id) != keep) {
                p.stats.established_before += c.fsm.established_count;
                p.stats.dropped_before += c.fsm.dropped_count;
            }
            p.conns.retain(|c| Some(c.id) == keep);
            // FRR's words for a reset asked by the operator.
            p.stats.last_reset = Some("User reset".to_owned());
            p.stats.last_reset_at = Some(Instant::now());
        }
        // A slot that was stopped (maximum-prefix) starts again too.
        let c = match keep {
            Some(c) => c,
            None => {
                let outgoing = !self.peer_passive(addr);
                self.new_conn(addr, outgoing)
            }
        };
        self.fsm_event(addr, c, Event::DelayedStart);
        true
    }

    fn soft_out(&mut self, addr: IpAddr) -> bool {
        let Some((id, conn, families)) = self.peers.get(&addr).and_then(|p| {
            let info = p.info.as_ref()?;
            Some((p.id, p.established_conn()?, info.families.clone()))
        }) else {
            return false;
        };
        for f in families {
            for u in self.rib.resend(id, f) {
                self.send(addr, conn, &Message::Update(u));
            }
        }
        tracing::info!(peer = %addr, "clear bgp soft out: Adj-RIB-Out sent again");
        true
    }

    /// Sends ROUTE-REFRESH for each family of the session. A peer that did
    /// not announce the capability is an error when it was named.
    fn soft_in(&mut self, addr: IpAddr, named: bool) -> Result<bool, String> {
        let Some((id, conn, mut families, rr)) = self.peers.get(&addr).and_then(|p| {
            let info = p.info.as_ref()?;
            Some((
                p.id,
                p.established_conn()?,
                info.families.clone(),
                p.route_refresh,
            ))
        }) else {
            return Ok(false);
        };
        // Families whose Adj-RIB-In is kept (soft-reconfiguration inbound)
        // take the policy again from it, without asking the peer.
        let kept: Vec<Family> = families
            .iter()
            .copied()
            .filter(|f| self.rib.keeps_received(id, *f))
            .collect();
        for f in &kept {
            let changes = self.rib.reapply_import(id, *f);
            self.apply_changes(changes);
        }
        if !kept.is_empty() {
            tracing::info!(peer = %addr, "clear bgp soft in: import policy applied to the kept Adj-RIB-In");
        }
        families.retain(|f| !kept.contains(f));
        if families.is_empty() {
            return Ok(true);
        }
        if !rr {
            if named {
                return Err(format!(
                    "Peer {addr} does not support route refresh: cannot clear soft in"
                ));
            }
            return Ok(false);
        }
        for f in families {
            self.request_refresh(addr, conn, f);
        }
        tracing::info!(peer = %addr, "clear bgp soft in: ROUTE-REFRESH sent");
        Ok(true)
    }
}

/// ctime(3)'s text of `epoch` in local time, as FRR prints "Last update":
/// "Mon Nov 23 18:11:25 2026\n" (the day padded to two places).
#[allow(unsafe_code)]
pub(crate) fn ctime(epoch: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = libc::time_t::try_from(epoch).unwrap_or(libc::time_t::MAX);
    // SAFETY: `tm` is plain old data, written by localtime_r, which reads
    // `t` and the process's time zone only.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return format!("{epoch}\n");
        }
        tm
    };
    let day = usize::try_from(tm.tm_wday).ok().and_then(|i| DAYS.get(i));
    let month = usize::try_from(tm.tm_mon).ok().and_then(|i| MONTHS.get(i));
    let (Some(day), Some(month)) = (day, month) else {
        return format!("{epoch}\n");
    };
    format!(
        "{day} {month} {:2} {:02}:{:02}:{:02} {}\n",
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        i64::from(tm.tm_year) + 1900
    )
}
