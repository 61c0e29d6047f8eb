//! One configured neighbor: its connection slots (two during a collision),
//! counters for `show bgp summary`, and the OPEN we send it.
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    sync::Arc,
    time::Instant,
};

use tern_bgp_wire::{
    AfiSafi, Capability, Codec, ExtendedNextHopEntry, Fqdn, GracefulRestart, GracefulRestartFamily,
    OpenMessage,
};
use tokio::{sync::mpsc, task::JoinHandle};

use super::io::{ConnId, Outgoing, Wire};
use tern_bgp::{
    Family,
    config::{BgpConfig, NeighborConfig, RemoteAsConfig},
    fsm::{DownReason, Fsm, FsmConfig, RemoteAs, Session, State},
    rib::{PeerId, PeerInfo},
};

/// Counters kept across connections.
#[derive(Debug, Default)]
pub struct PeerStats {
    pub msg_rcvd: u64,
    pub msg_sent: u64,
    /// When the session last came up or went down.
    pub since: Option<Instant>,
    pub established_before: u32,
    pub dropped_before: u32,
    pub hostname: Option<String>,
    pub last_reset: Option<String>,
    /// The session was stopped for exceeding maximum-prefix.
    pub prefix_limit_hit: bool,
    /// Messages by type (`show bgp neighbors`).
    pub counts: tern_control::MessageCounters,
    /// When a message was last read / written, an UPDATE last received,
    /// and the session last went down.
    pub last_read: Option<Instant>,
    pub last_write: Option<Instant>,
    pub last_update: Option<Instant>,
    pub last_reset_at: Option<Instant>,
    /// The peer's OPEN and the negotiated timers, while Established.
    pub remote_open: Option<OpenMessage>,
    pub hold_time: Option<u16>,
    pub keepalive: Option<u16>,
    /// Families whose End-of-RIB the peer sent on this session.
    pub eor_received: Vec<Family>,
    /// This session's End-of-RIB and last UPDATE sent, per family, in whole
    /// seconds of the speaker's clock (FRR compares them at that
    /// resolution for "End-of-RIB sent after update").
    pub eor_sent_at: Vec<(Family, u64)>,
    pub update_sent_at: Vec<(Family, u64)>,
    /// The TCP endpoints of the established connection.
    pub local_sock: Option<std::net::SocketAddr>,
    pub remote_sock: Option<std::net::SocketAddr>,
}

impl PeerStats {
    /// Notes an UPDATE sent at `secs`: an End-of-RIB, or routes of its
    /// families.
    pub fn note_update_sent(&mut self, u: &tern_bgp_wire::UpdateMessage, secs: u64) {
        use tern_bgp_wire::Attribute;
        let mark = |v: &mut Vec<(Family, u64)>, f: Family| match v.iter_mut().find(|(g, _)| *g == f)
        {
            Some(slot) => slot.1 = secs,
            None => v.push((f, secs)),
        };
        if let Some(f) = u.end_of_rib().and_then(tern_bgp::family::family_of) {
            mark(&mut self.eor_sent_at, f);
            return;
        }
        if !u.nlri.is_empty() || !u.withdrawn.is_empty() {
            mark(&mut self.update_sent_at, Family::Ipv4Unicast);
        }
        for a in &u.attributes {
            let af = match &a.value {
                Attribute::MpReachNlri(m) => m.family,
                Attribute::MpUnreachNlri(m) => m.family,
                _ => continue,
            };
            if let Some(f) = tern_bgp::family::family_of(af) {
                mark(&mut self.update_sent_at, f);
            }
        }
    }

    /// Whether no UPDATE of `family` went out after its End-of-RIB (in
    /// a later second), FRR's "End-of-RIB sent after update".
    pub fn eor_sent_after_update(&self, family: Family) -> bool {
        let at = |v: &Vec<(Family, u64)>| v.iter().find(|(f, _)| *f == family).map(|(_, s)| *s);
        match (at(&self.eor_sent_at), at(&self.update_sent_at)) {
            (Some(eor), Some(update)) => eor >= update,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// Counts one message read (`sent` false) or written.
    pub fn count(&mut self, msg: &tern_bgp_wire::Message, sent: bool) {
        use tern_bgp_wire::Message as M;
        let c = &mut self.counts;
        let slot = match (msg, sent) {
            (M::Open(_), true) => &mut c.opens_sent,
            (M::Open(_), false) => &mut c.opens_rcvd,
            (M::Notification(_), true) => &mut c.notifications_sent,
            (M::Notification(_), false) => &mut c.notifications_rcvd,
            (M::Update(_), true) => &mut c.updates_sent,
            (M::Update(_), false) => &mut c.updates_rcvd,
            (M::Keepalive, true) => &mut c.keepalives_sent,
            (M::Keepalive, false) => &mut c.keepalives_rcvd,
            (M::RouteRefresh(_), true) => &mut c.route_refresh_sent,
            (M::RouteRefresh(_), false) => &mut c.route_refresh_rcvd,
        };
        *slot += 1;
        if sent {
            self.last_write = Some(Instant::now());
        } else {
            self.last_read = Some(Instant::now());
        }
    }
}

/// One TCP connection slot with its FSM.
#[derive(Debug)]
pub struct Conn {
    pub id: ConnId,
    pub fsm: Fsm,
    /// We opened it (else the peer did).
    pub outgoing: bool,
    pub writer: Option<mpsc::UnboundedSender<Outgoing>>,
    /// The reader task (the writer task stops when `writer` is dropped).
    pub tasks: Vec<JoinHandle<()>>,
    /// The connection's liveness as the I/O thread sees it.
    pub wire: Option<Arc<Wire>>,
    pub connect_task: Option<JoinHandle<()>>,
    pub codec: Codec,
    pub local_addr: Option<IpAddr>,
    /// The TCP endpoints, once connected.
    pub sockets: Option<(std::net::SocketAddr, std::net::SocketAddr)>,
}

impl Conn {
    pub fn new(id: ConnId, fsm: Fsm, outgoing: bool) -> Self {
        Self {
            id,
            fsm,
            outgoing,
            writer: None,
            tasks: Vec::new(),
            wire: None,
            connect_task: None,
            codec: Codec::default(),
            local_addr: None,
            sockets: None,
        }
    }

    /// Closes the TCP connection: the writer flushes what it has queued
    /// (a NOTIFICATION, typically) and shuts the socket; the reader stops.
    pub fn close(&mut self) {
        self.writer = None;
        for t in self.tasks.drain(..) {
            // The reader is stopped now so nothing more is delivered.
            t.abort();
        }
        if let Some(t) = self.connect_task.take() {
            t.abort();
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.close();
    }
}

/// A configured neighbor.
#[derive(Debug)]
pub struct Peer {
    pub id: PeerId,
    pub addr: IpAddr,
    pub cfg: NeighborConfig,
    pub remote_as: RemoteAs,
    pub local_as: u32,
    pub local_id: Ipv4Addr,
    pub local_open: OpenMessage,
    pub conns: Vec<Conn>,
    pub stats: PeerStats,
    /// Set while Established.
    pub info: Option<PeerInfo>,
    /// The peer advertised the route refresh capability (RFC 2918) on the
    /// established session.
    pub route_refresh: bool,
    /// The peer's Graceful Restart capability (RFC 4724) on the last
    /// established session.
    pub remote_gr: Option<GracefulRestart>,
    /// The End-of-RIB watch of the established session (graceful.rs).
    pub eor_watch: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(w) = self.eor_watch.take() {
            w.abort();
        }
    }
}

impl Peer {
    /// Counts the KEEPALIVEs that the connections' writers sent on their
    /// own (the I/O thread keeps the keepalive timer).
    pub fn collect_keepalives(&mut self) {
        for c in &self.conns {
            let Some(w) = &c.wire else {
                continue;
            };
            let (n, at) = w.take_keepalives();
            if n == 0 {
                continue;
            }
            self.stats.msg_sent += n;
            self.stats.counts.keepalives_sent += n;
            if at > self.stats.last_write {
                self.stats.last_write = at;
            }
        }
    }

    /// None when the neighbor has no remote-as.
    pub fn new(
        id: PeerId,
        addr: IpAddr,
        cfg: NeighborConfig,
        bgp: &BgpConfig,
        local_id: Ipv4Addr,
        hostname: Option<&str>,
        restarting: bool,
    ) -> Option<Peer> {
        let remote_as = match cfg.remote_as? {
            RemoteAsConfig::Asn(a) => RemoteAs::Asn(a),
            RemoteAsConfig::Internal => RemoteAs::Internal,
            RemoteAsConfig::External => RemoteAs::External,
        };
        let (_, hold) = cfg.timers();
        let local_open = local_open(bgp, addr, hold, local_id, hostname, restarting);
        Some(Peer {
            id,
            addr,
            cfg,
            remote_as,
            local_as: bgp.asn,
            local_id,
            local_open,
            conns: Vec::new(),
            stats: PeerStats::default(),
            info: None,
            route_refresh: false,
            remote_gr: None,
            eor_watch: None,
        })
    }

    pub fn new_fsm(&self, passive: bool) -> Fsm {
        let (keepalive, hold) = self.cfg.timers();
        Fsm::new(FsmConfig {
            local_as: self.local_as,
            local_id: self.local_id,
            remote_as: self.remote_as,
            hold_time: hold,
            keepalive,
            connect_retry: self
                .cfg
                .connect_retry
                .unwrap_or(tern_bgp::config::model::DEFAULT_CONNECT_RETRY),
            passive: passive || self.cfg.passive,
            open: self.local_open.clone(),
        })
    }

    /// The connection in Established, if any.
    pub fn established_conn(&self) -> Option<ConnId> {
        self.conns
            .iter()
            .find(|c| c.fsm.state() == State::Established)
            .map(|c| c.id)
    }

    /// TTL of outgoing packets: 1 on eBGP (directly connected), the default
    /// on iBGP.
    pub fn ttl(&self) -> Option<u32> {
        match self.remote_as {
            RemoteAs::Asn(a) if a == self.local_as => None,
            RemoteAs::Internal => None,
            _ => Some(self.cfg.ebgp_multihop.map_or(1, u32::from)),
        }
    }

    /// The local address to connect from (`update-source`): the address
    /// itself, or the first address of the peer's family on the interface.
    pub fn source_address(&self) -> Option<IpAddr> {
        let src = self.cfg.update_source.as_deref()?;
        if let Ok(a) = src.parse::<IpAddr>() {
            return Some(a);
        }
        let addrs = nix::ifaddrs::getifaddrs().ok()?;
        for ifa in addrs {
            if ifa.interface_name != src {
                continue;
            }
            let Some(sa) = ifa.address else { continue };
            let ip = if let Some(v4) = sa.as_sockaddr_in() {
                IpAddr::V4(v4.ip())
            } else if let Some(v6) = sa.as_sockaddr_in6() {
                IpAddr::V6(v6.ip())
            } else {
                continue;
            };
            let link_local = matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local());
            if ip.is_ipv4() == self.addr.is_ipv4() && !link_local {
                return Some(ip);
            }
        }
        tracing::warn!(peer = %self.addr, source = src, "update-source has no usable address");
        None
    }

    /// The remote AS for display: the configured one, or the one learned.
    pub fn remote_as_number(&self, local_as: u32) -> u32 {
        match (&self.info, self.remote_as) {
            (Some(i), _) => i.remote_as,
            (None, RemoteAs::Asn(a)) => a,
            (None, RemoteAs::Internal) => local_as,
            (None, RemoteAs::External) => 0,
        }
    }

    pub fn peer_info(
        &self,
        session: &Session,
        local_addr: Option<IpAddr>,
        families: Vec<Family>,
    ) -> PeerInfo {
        PeerInfo {
            id: self.id,
            addr: self.addr,
            local_as: self.local_as,
            remote_as: session.remote_open.asn(),
            remote_id: session.remote_open.bgp_id,
            local_id: self.local_id,
            // A connected socket always has a local address; should the
            // kernel not say, no address of ours is claimed (never the peer's).
            local_addr: local_addr.unwrap_or(match self.addr {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            }),
            local_addr_v6: match local_addr {
                Some(IpAddr::V6(v6)) => Some(v6),
                _ => None,
            },
            link_local: local_addr.and_then(|l| shared_link_local(l, self.addr)),
            ibgp: session.ibgp,
            rr_client: false,
            families,
            codec: session.codec.clone(),
            route_maps: tern_bgp::rib::RouteMaps::default(),
        }
    }
}

/// The OPEN we send to `addr`: 4-octet AS, route refresh, multiprotocol for
/// the families we speak, extended next hop for IPv4 over an IPv6 session,
/// graceful restart, and our hostname (FQDN), as FRR sends them.
///
/// Graceful restart (RFC 4724): as a helper only (FRR's default), the
/// capability lists no family; with `bgp graceful-restart` it lists the
/// active families, with the F bit (and the R bit) set while `restarting`
/// (the kernel kept our routes across the restart). The N bit (RFC 8538)
/// is not set: our NOTIFICATIONs always end the peer's copy of our routes.
fn local_open(
    bgp: &BgpConfig,
    addr: IpAddr,
    hold: u16,
    id: Ipv4Addr,
    hostname: Option<&str>,
    restarting: bool,
) -> OpenMessage {
    let mut caps = Vec::new();
    for f in Family::ALL {
        if bgp.is_active(addr, f) {
            caps.push(Capability::Multiprotocol(afi_safi(f)));
        }
    }
    // VPN-IPv4 / VPN-IPv6 (SAFI 128) where `address-family ipv4|ipv6 vpn`
    // activates the neighbor.
    for f in tern_bgp::config::VpnFamily::ALL {
        if bgp.vpn_active(f, addr) {
            caps.push(Capability::Multiprotocol(f.afi_safi()));
        }
    }
    caps.push(Capability::RouteRefresh);
    let gr = &bgp.graceful_restart;
    caps.push(Capability::GracefulRestart(GracefulRestart {
        restart_state: restarting && gr.enabled,
        notification: false,
        restart_time: gr.restart_time(),
        families: Family::ALL
            .into_iter()
            .filter(|f| gr.enabled && bgp.is_active(addr, *f))
            .map(|f| GracefulRestartFamily {
                family: afi_safi(f),
                forwarding_state: restarting,
            })
            .collect(),
    }));
    caps.push(Capability::FourOctetAs(bgp.asn));
    if addr.is_ipv6() && bgp.is_active(addr, Family::Ipv4Unicast) {
        caps.push(Capability::ExtendedNextHop(vec![ExtendedNextHopEntry {
            nlri: AfiSafi::IPV4_UNICAST,
            next_hop_afi: tern_bgp_wire::Afi::IPV6,
        }]));
    }
    let host = hostname.map(str::to_owned).or_else(|| {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
    });
    if let Some(host) = host {
        caps.push(Capability::Fqdn(Fqdn::new(&host, "")));
    }
    OpenMessage::new(bgp.asn, hold, id, caps)
}

pub fn afi_safi(f: Family) -> AfiSafi {
    match f {
        Family::Ipv4Unicast => AfiSafi::IPV4_UNICAST,
        Family::Ipv6Unicast => AfiSafi::IPV6_UNICAST,
    }
}

/// The hostname a peer announced in its FQDN capability.
pub fn fqdn_hostname(open: &OpenMessage) -> Option<String> {
    open.capabilities().find_map(|c| match c {
        Capability::Fqdn(f) => Some(f.hostname_lossy()),
        _ => None,
    })
}

/// A down reason as FRR words it in `show bgp neighbors`.
pub fn describe(reason: &DownReason) -> String {
    match reason {
        DownReason::Sent(n) => {
            format!("NOTIFICATION sent ({}/{})", n.code_name(), n.subcode_name())
        }
        DownReason::Received(n) => format!(
            "NOTIFICATION received ({}/{})",
            n.code_name(),
            n.subcode_name()
        ),
        DownReason::ConnectionClosed => "Peer closed the session".to_owned(),
        DownReason::Stopped => "Admin. shutdown".to_owned(),
    }
}

/// Our IPv6 link-local address on the interface that holds `local`, when
/// `peer` is on one of that interface's subnets: the link the session
/// shares with the peer, whose link-local next hop RFC 2545 §3 sends.
pub(super) fn shared_link_local(local: IpAddr, peer: IpAddr) -> Option<Ipv6Addr> {
    let addrs: Vec<_> = nix::ifaddrs::getifaddrs().ok()?.collect();
    let addr_of = |sa: &nix::sys::socket::SockaddrStorage| -> Option<IpAddr> {
        if let Some(v4) = sa.as_sockaddr_in() {
            Some(IpAddr::V4(v4.ip()))
        } else {
            sa.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
        }
    };
    let shared = addrs.iter().find(|ifa| {
        let (Some(a), Some(mask)) = (
            ifa.address.as_ref().and_then(addr_of),
            ifa.netmask.as_ref().and_then(addr_of),
        ) else {
            return false;
        };
        a == local && on_subnet(a, mask, peer)
    })?;
    addrs
        .iter()
        .filter(|ifa| ifa.interface_name == shared.interface_name)
        .filter_map(|ifa| match ifa.address.as_ref().and_then(addr_of) {
            Some(IpAddr::V6(v6)) if v6.is_unicast_link_local() => Some(v6),
            _ => None,
        })
        .min()
}

/// Whether `peer` is on the subnet of address `a` with netmask `mask`.
fn on_subnet(a: IpAddr, mask: IpAddr, peer: IpAddr) -> bool {
    match (a, mask, peer) {
        (IpAddr::V4(a), IpAddr::V4(m), IpAddr::V4(p)) => {
            let m = u32::from(m);
            u32::from(a) & m == u32::from(p) & m
        }
        (IpAddr::V6(a), IpAddr::V6(m), IpAddr::V6(p)) => {
            let m = u128::from(m);
            u128::from(a) & m == u128::from(p) & m
        }
        _ => false,
    }
}

#[cfg(test)]
mod open_tests {
    use super::*;

    #[test]
    fn vpn_families_are_offered_only_where_activated() {
        let c = crate::config::Config::parse(
            "t",
            "router bgp 65001\n neighbor 10.0.0.2 remote-as 65002\n \
             neighbor 10.0.0.3 remote-as 65002\n address-family ipv6 vpn\n  \
             neighbor 10.0.0.2 activate\n",
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        let Some(bgp) = c.bgp else {
            panic!("no router bgp")
        };
        let multiprotocol = |addr: &str| -> Vec<AfiSafi> {
            let id = Ipv4Addr::new(192, 0, 2, 1);
            let open = local_open(&bgp, addr.parse().unwrap(), 9, id, Some("n1"), false);
            open.capabilities()
                .filter_map(|c| match c {
                    Capability::Multiprotocol(f) => Some(*f),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(
            multiprotocol("10.0.0.2"),
            vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_VPN]
        );
        assert_eq!(multiprotocol("10.0.0.3"), vec![AfiSafi::IPV4_UNICAST]);
    }
}
