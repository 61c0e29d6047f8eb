//! The speaker's side of the `rib_import` target: a RIB and a VPN RIB with
//! four established peers, set up from a fixed ternd config the way the
//! speaker sets them up (RibConfig::from_bgp, the policy, RouteMaps::of,
//! aggregates), and an UPDATE's way into them (as Speaker::on_update).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, OnceLock};

use tern_bgp::Family;
use tern_bgp::config::{BgpConfig, VpnFamily};
use tern_bgp::policy::Policy;
use tern_bgp::rib::{PathSender, PeerId, PeerInfo, Rib, RibConfig, RouteMaps};
use tern_bgp::vpn::{VpnRib, VpnSource, changes_of_update};
use tern_bgp_wire::{AfiSafi, Codec, UpdateMessage, UpdateOutcome};

/// The node's config: an import route-map with prefix-list, community and
/// set actions, path-attribute policies, allowas-in, soft-reconfiguration,
/// a route-reflector client, ECMP and aggregates; VPN families on two peers.
const CONFIG: &str = "\
router bgp 65000
 bgp router-id 10.0.0.1
 no bgp ebgp-requires-policy
 neighbor 192.0.2.1 remote-as 65001
 neighbor 192.0.2.1 path-attribute discard 30 32
 neighbor 192.0.2.2 remote-as 65002
 neighbor 192.0.2.2 path-attribute treat-as-withdraw 22
 neighbor 192.0.2.3 remote-as 65000
 neighbor 2001:db8::4 remote-as 65004
 address-family ipv4 unicast
  maximum-paths 4
  aggregate-address 10.0.0.0/8 summary-only
  aggregate-address 172.16.0.0/12
  neighbor 192.0.2.1 route-map IMPORT in
  neighbor 192.0.2.1 route-map TRANSIT out
  neighbor 192.0.2.1 soft-reconfiguration inbound
  neighbor 192.0.2.2 allowas-in 2
  neighbor 192.0.2.2 route-map TRANSIT out
  neighbor 192.0.2.3 route-reflector-client
  neighbor 192.0.2.3 next-hop-self
  neighbor 2001:db8::4 activate
 exit-address-family
 address-family ipv6 unicast
  maximum-paths 2
  aggregate-address 2001:db8:100::/40 summary-only
  neighbor 192.0.2.1 activate
  neighbor 192.0.2.1 route-map IMPORT in
  neighbor 192.0.2.3 activate
  neighbor 2001:db8::4 activate
  neighbor 2001:db8::4 soft-reconfiguration inbound
 exit-address-family
 address-family ipv4 vpn
  neighbor 192.0.2.3 activate
 exit-address-family
 address-family ipv6 vpn
  neighbor 192.0.2.3 activate
  neighbor 2001:db8::4 activate
 exit-address-family
exit
ip prefix-list SMALL seq 5 deny 0.0.0.0/0 ge 29
ip prefix-list SMALL seq 10 permit any
ipv6 prefix-list SMALL6 seq 5 permit 2001:db8::/32 le 64
bgp community-list standard GOLD permit 65001:100
bgp community-list standard LOW permit 65001:200 no-export
route-map IMPORT deny 5
 match community GOLD exact-match
exit
route-map IMPORT permit 10
 match ip address prefix-list SMALL
 set local-preference 200
 set community 65000:1 additive
 set as-path prepend 65000 65000
exit
route-map IMPORT permit 20
 match ipv6 address prefix-list SMALL6
 set metric 50
exit
route-map IMPORT permit 30
 match community LOW
 set community none
exit
route-map TRANSIT permit 10
exit
";

/// What every input starts from, read once.
struct Setup {
    config: BgpConfig,
    policy: Arc<Policy>,
    peers: Vec<Peer>,
}

/// One established session.
#[derive(Clone)]
pub struct Peer {
    pub info: PeerInfo,
    /// The VPN families negotiated, and what the VPN RIB knows of the peer.
    vpn: Vec<VpnFamily>,
    sender: PathSender,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let parsed = match tern_bgpd::config::Config::parse("rib_import", CONFIG) {
            Ok(c) => c,
            Err(e) => panic!("the fixed config does not parse: {e:?}"),
        };
        let Some(bgp) = parsed.bgp else {
            panic!("the fixed config has no router bgp");
        };
        let config = bgp.resolved();
        let all = vec![
            AfiSafi::IPV4_UNICAST,
            AfiSafi::IPV6_UNICAST,
            AfiSafi::IPV4_VPN,
            AfiSafi::IPV6_VPN,
        ];
        // Four sessions, each with its own codec: 4-octet AS or not,
        // ADD-PATH, extended messages, RFC 8950 next hops.
        let sessions = [
            (
                "192.0.2.1",
                65001,
                Codec {
                    four_octet_as: true,
                    ..Codec::default()
                },
            ),
            (
                "192.0.2.2",
                65002,
                Codec {
                    add_path_receive: all.clone(),
                    ..Codec::default()
                },
            ),
            (
                "192.0.2.3",
                65000,
                Codec {
                    four_octet_as: true,
                    extended_message: true,
                    add_path_receive: all.clone(),
                    add_path_send: all.clone(),
                    extended_next_hop: vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV4_VPN],
                    families: None,
                },
            ),
            (
                "2001:db8::4",
                65004,
                Codec {
                    four_octet_as: true,
                    extended_next_hop: vec![AfiSafi::IPV4_UNICAST],
                    ..Codec::default()
                },
            ),
        ];
        let peers = sessions
            .into_iter()
            .enumerate()
            .map(|(i, (addr, remote_as, codec))| {
                let addr: IpAddr = addr.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
                let n = u8::try_from(i + 1).unwrap_or(0);
                let ibgp = remote_as == config.asn;
                let families = Family::ALL
                    .into_iter()
                    .filter(|f| config.is_active(addr, *f))
                    .collect();
                let local_addr = match addr {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254)),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xfe)),
                };
                let remote_id = Ipv4Addr::new(10, 0, 1, n);
                let info = PeerInfo {
                    id: PeerId(u32::from(n)),
                    addr,
                    local_as: config.asn,
                    remote_as,
                    remote_id,
                    local_id: Ipv4Addr::new(10, 0, 0, 1),
                    local_addr,
                    local_addr_v6: Some(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xfe)),
                    link_local: Some(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, u16::from(n))),
                    ibgp,
                    rr_client: config.is_rr_client(addr),
                    families,
                    codec,
                    route_maps: RouteMaps::of(&config, addr),
                };
                let vpn = VpnFamily::ALL
                    .into_iter()
                    .filter(|f| config.vpn_active(*f, addr))
                    .collect();
                let sender = PathSender {
                    local: false,
                    ebgp: !ibgp,
                    peer_as: remote_as,
                    router_id: remote_id,
                    addr,
                    seq: 0,
                };
                Peer { info, vpn, sender }
            })
            .collect();
        Setup {
            config,
            policy: Arc::new(parsed.policy),
            peers,
        }
    })
}

/// The RIBs of one input.
pub struct Lab {
    pub rib: Rib,
    pub vpn: VpnRib,
    vpn_seq: u64,
}

impl Default for Lab {
    fn default() -> Self {
        Self::new()
    }
}

impl Lab {
    /// The RIBs with every peer up.
    pub fn new() -> Lab {
        let s = setup();
        let mut rib = Rib::with_config(RibConfig::from_bgp(&s.config, Ipv4Addr::new(10, 0, 0, 1)));
        rib.set_policy(Arc::clone(&s.policy), &BTreeMap::new());
        for family in Family::ALL {
            let aggregates = s.config.aggregates(family).map(|(p, a)| (*p, *a)).collect();
            rib.set_aggregates(family, &aggregates);
        }
        let mut lab = Lab {
            rib,
            vpn: VpnRib::new(),
            vpn_seq: 0,
        };
        for p in &s.peers {
            lab.rib.peer_up(&p.info);
        }
        lab
    }

    /// The peer `selector` picks.
    pub fn peer(&self, selector: u8) -> &'static Peer {
        let peers = &setup().peers;
        &peers[usize::from(selector) % peers.len()]
    }

    /// An UPDATE from `peer`, as the speaker takes it: a session reset
    /// takes the peer down (and up again, as a new session would), an
    /// End-of-RIB marker stops there, the rest goes to both RIBs.
    pub fn receive(&mut self, peer: &Peer, update: &UpdateMessage) {
        if matches!(update.outcome, UpdateOutcome::SessionReset(_)) {
            self.down(peer);
            self.rib.peer_up(&peer.info);
            return;
        }
        if update.end_of_rib().is_some() {
            return;
        }
        self.vpn_seq += 1;
        let mut sender = peer.sender;
        sender.seq = self.vpn_seq;
        let asn = setup().config.asn;
        let source = VpnSource::Peer(peer.info.addr);
        for (key, path) in
            changes_of_update(update, sender, &peer.vpn, peer.info.codec.four_octet_as)
        {
            match path.filter(|p| !p.attrs.as_path.contains(asn)) {
                Some(p) => self.vpn.update(key, p),
                None => self.vpn.withdraw(&key, source),
            };
        }
        let _ = self.rib.update_from_peer(peer.info.id, update);
    }

    fn down(&mut self, peer: &Peer) {
        let _ = self.rib.peer_down(peer.info.id);
        self.vpn.remove_source(VpnSource::Peer(peer.info.addr));
    }

    /// Every session goes down.
    pub fn all_down(&mut self) {
        for p in &setup().peers {
            self.down(p);
        }
    }
}
