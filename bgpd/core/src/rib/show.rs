//! Read-only views of the RIBs for the CLI: the paths of a prefix with
//! FRR's status flags (`*>` best, `*=` multipath, `*` valid) for
//! `show ip bgp`, and per-peer prefix counts for `show bgp summary`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ipnet::IpNet;

use super::{Dest, PathAttrs, PeerId, Rib, Source};
use crate::family::Family;

/// Where a path came from, as `show ip bgp` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSource {
    /// Originated here (FRR shows next hop 0.0.0.0 / ::, weight 32768).
    Local,
    Peer {
        id: PeerId,
        addr: IpAddr,
        /// The peer's BGP identifier.
        router_id: Ipv4Addr,
        ibgp: bool,
    },
}

/// One path of a prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathView {
    pub source: PathSource,
    /// ADD-PATH identifier as received (0 without ADD-PATH).
    pub path_id: u32,
    pub attrs: Arc<PathAttrs>,
    /// `>`: the best path.
    pub best: bool,
    /// `=` (and FRR's JSON "multipath"): in the ECMP set of more than one
    /// path; the best path included.
    pub multipath: bool,
    /// `*`: usable. Paths that fail the import checks are not kept, so
    /// every path shown is valid.
    pub valid: bool,
    /// When the path arrived or last changed (Unix seconds).
    pub last_update: Option<u64>,
}

/// A prefix and its paths, best first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteView {
    pub family: Family,
    pub prefix: IpNet,
    /// The table version of the prefix's last best-path change (FRR's
    /// per-route `version`).
    pub version: u64,
    pub paths: Vec<PathView>,
}

/// The prefixes of one family in address order, each with its index in
/// the table when listed (see [`Rib::sorted_prefixes`]).
#[derive(Debug)]
pub enum SortedPrefixes {
    V4(Vec<(ipnet::Ipv4Net, u32)>),
    V6(Vec<(ipnet::Ipv6Net, u32)>),
}

impl SortedPrefixes {
    pub fn len(&self) -> usize {
        match self {
            SortedPrefixes::V4(v) => v.len(),
            SortedPrefixes::V6(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The prefixes from `start`, at most `n` of them, with their hints.
    pub fn chunk(&self, start: usize, n: usize) -> Vec<(IpNet, u32)> {
        match self {
            SortedPrefixes::V4(v) => v
                .get(start..)
                .unwrap_or_default()
                .iter()
                .take(n)
                .map(|(p, i)| (IpNet::V4(*p), *i))
                .collect(),
            SortedPrefixes::V6(v) => v
                .get(start..)
                .unwrap_or_default()
                .iter()
                .take(n)
                .map(|(p, i)| (IpNet::V6(*p), *i))
                .collect(),
        }
    }
}

/// Prefix counters of one peer in one family (`show bgp summary`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerCounts {
    /// Routes the peer announced and has not withdrawn.
    pub received: usize,
    /// Of those, the ones that passed the import checks (FRR's PfxRcd).
    pub accepted: usize,
    /// Routes we advertise to the peer (FRR's PfxSnt).
    pub advertised: usize,
}

impl Rib {
    fn view(&self, family: Family, prefix: IpNet, dest: &Dest) -> RouteView {
        let ecmp = dest.multipath > 1;
        let paths = dest
            .paths
            .iter()
            .enumerate()
            .map(|(i, p)| PathView {
                source: match p.source {
                    Source::Local => PathSource::Local,
                    Source::Peer(id) => match self.peers.get(&id) {
                        Some(s) => PathSource::Peer {
                            id,
                            addr: s.info.addr,
                            router_id: s.info.remote_id,
                            ibgp: s.info.ibgp,
                        },
                        None => PathSource::Peer {
                            id,
                            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                            router_id: Ipv4Addr::UNSPECIFIED,
                            ibgp: false,
                        },
                    },
                },
                path_id: p.path_id,
                attrs: Arc::clone(&p.attrs),
                best: i == 0,
                multipath: ecmp && i < usize::from(dest.multipath),
                valid: true,
                last_update: self.arrival_time(p.seq),
            })
            .collect();
        let version = match family {
            Family::Ipv4Unicast => &self.v4_version,
            Family::Ipv6Unicast => &self.v6_version,
        };
        RouteView {
            family,
            prefix,
            version: version.of(dest.version),
            paths,
        }
    }

    /// The paths of `prefix` (`show ip bgp PREFIX`).
    pub fn route(&self, family: Family, prefix: IpNet) -> Option<RouteView> {
        let prefix = prefix.trunc();
        let dest = self.table(family).get(&prefix)?;
        Some(self.view(family, prefix, dest))
    }

    /// Every prefix of `family` in address order (`show ip bgp`).
    pub fn routes(&self, family: Family) -> Vec<RouteView> {
        let mut out: Vec<RouteView> = self
            .table(family)
            .iter()
            .map(|(prefix, dest)| self.view(family, prefix, dest))
            .collect();
        out.sort_by_key(|r| r.prefix);
        out
    }

    /// Every prefix of `family` in address order, with where it sits in
    /// the table now: the cursor of a streamed `show ip bgp`, which then
    /// asks for the routes a chunk at a time ([`Rib::route_hinted`]).
    /// Packed (12 octets an IPv4 prefix), so that a full table's list costs
    /// a few MB beside the table itself.
    pub fn sorted_prefixes(&self, family: Family) -> SortedPrefixes {
        let table = self.table(family);
        match family {
            Family::Ipv4Unicast => {
                let mut v: Vec<(ipnet::Ipv4Net, u32)> = table
                    .prefixes_indexed()
                    .filter_map(|(p, i)| match p {
                        IpNet::V4(p) => Some((p, i)),
                        IpNet::V6(_) => None,
                    })
                    .collect();
                v.sort_unstable();
                SortedPrefixes::V4(v)
            }
            Family::Ipv6Unicast => {
                let mut v: Vec<(ipnet::Ipv6Net, u32)> = table
                    .prefixes_indexed()
                    .filter_map(|(p, i)| match p {
                        IpNet::V6(p) => Some((p, i)),
                        IpNet::V4(_) => None,
                    })
                    .collect();
                v.sort_unstable();
                SortedPrefixes::V6(v)
            }
        }
    }

    /// The paths of `prefix`, looked for first where it sat when
    /// [`Rib::sorted_prefixes`] listed it (`hint`).
    pub fn route_hinted(&self, family: Family, prefix: IpNet, hint: u32) -> Option<RouteView> {
        let dest = self.table(family).get_hinted(&prefix, hint)?;
        Some(self.view(family, prefix, dest))
    }

    /// The ECMP next hops installed for `prefix` (empty when none).
    pub fn fib_nexthops(&self, family: Family, prefix: IpNet) -> Vec<IpAddr> {
        let mut out = Vec::new();
        if let Some(dest) = self.table(family).get(&prefix.trunc()) {
            super::decision::fib_nexthops(dest, &mut out);
        }
        out
    }

    /// Our address on the session of the installed path of `prefix` whose
    /// FIB next hop is `nh` (an IPv6 link-local next hop is only usable on
    /// that session's link); None when no such path is installed.
    pub fn session_local_addr(&self, family: Family, prefix: IpNet, nh: IpAddr) -> Option<IpAddr> {
        let dest = self.table(family).get(&prefix.trunc())?;
        dest.paths
            .iter()
            .take(usize::from(dest.multipath))
            .filter(|p| p.attrs.next_hop.fib_address() == Some(nh))
            .find_map(|p| match p.source {
                super::Source::Peer(id) => self.peers.get(&id).map(|s| s.info.local_addr),
                super::Source::Local => None,
            })
    }

    /// Routes not advertised to `peer` because their attributes leave no
    /// room for a prefix in an UPDATE of its session (0 for an unknown peer).
    pub fn unsent_no_room(&self, peer: PeerId) -> u64 {
        self.peers.get(&peer).map_or(0, |s| s.unsent_no_room)
    }

    /// Prefix counters of `peer` in `family`; None for an unknown peer.
    pub fn peer_counts(&self, peer: PeerId, family: Family) -> Option<PeerCounts> {
        let s = self.peers.get(&peer)?;
        let accepted = s.accepted.get(family);
        let denied = s.denied.count(family);
        Some(PeerCounts {
            received: accepted + denied,
            accepted,
            advertised: s.advertised.get(family),
        })
    }

    /// Routes `peer` announced in `family` (accepted or not); 0 for an
    /// unknown peer.
    pub fn received_count(&self, peer: PeerId, family: Family) -> usize {
        self.peer_counts(peer, family).map_or(0, |c| c.received)
    }

    /// Routes we advertise to `peer` in `family`; 0 for an unknown peer.
    pub fn advertised_count(&self, peer: PeerId, family: Family) -> usize {
        self.peer_counts(peer, family).map_or(0, |c| c.advertised)
    }

    /// The established peers the RIB knows.
    pub fn peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.peers.keys().copied()
    }
}

impl Rib {
    /// The most specific prefix of `family` that holds `addr`
    /// (`show ip bgp A.B.C.D`).
    pub fn longest_match(&self, family: Family, addr: IpAddr) -> Option<RouteView> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (0..=max).rev().find_map(|len| {
            let p = IpNet::new(addr, len).ok()?.trunc();
            self.route(family, p)
        })
    }

    /// The established peers the best path of `route` is advertised to,
    /// by the export rules: never back to its source, the well-known
    /// communities, iBGP split horizon unless reflecting (RFC 4456).
    pub fn advertised_to(&self, route: &RouteView) -> Vec<PeerId> {
        use tern_bgp_wire::Community;
        let Some(best) = route.paths.iter().find(|p| p.best) else {
            return Vec::new();
        };
        let from = match &best.source {
            PathSource::Local => None,
            PathSource::Peer { id, .. } => self.peers.get(id).map(|s| &s.info),
        };
        let has = |c| best.attrs.communities.contains(&c);
        self.peers
            .iter()
            .filter(|(_, s)| !s.down && s.info.has(route.family))
            .filter(|(id, s)| {
                if from.is_some_and(|f| f.id == **id) || has(Community::NO_ADVERTISE) {
                    return false;
                }
                let ebgp = !s.info.ibgp;
                if ebgp && (has(Community::NO_EXPORT) || has(Community::NO_EXPORT_SUBCONFED)) {
                    return false;
                }
                match from {
                    Some(f) if f.ibgp && s.info.ibgp => f.rr_client || s.info.rr_client,
                    _ => true,
                }
            })
            .map(|(id, _)| *id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{V4, announce, attrs, ip, net, peer, rib, up};

    #[test]
    fn longest_match_finds_the_most_specific_prefix() {
        let mut r = rib();
        let _ = r.originate(V4, net("10.0.0.0/8"));
        let _ = r.originate(V4, net("10.1.0.0/16"));
        let hit = r.longest_match(V4, ip("10.1.2.3")).unwrap();
        assert_eq!(hit.prefix, net("10.1.0.0/16"));
        let hit = r.longest_match(V4, ip("10.2.0.1")).unwrap();
        assert_eq!(hit.prefix, net("10.0.0.0/8"));
        assert!(r.longest_match(V4, ip("192.0.2.1")).is_none());
    }

    #[test]
    fn advertised_to_follows_the_export_rules() {
        let mut r = rib();
        let (ebgp_a, ebgp_b, ibgp) = (peer(1, 65001), peer(2, 65002), peer(3, 65000));
        for p in [&ebgp_a, &ebgp_b, &ibgp] {
            up(&mut r, p);
        }
        let _ = r.update_from_peer(
            ebgp_a.id,
            &announce(&["203.0.113.0/24"], attrs(&[65001], "192.0.2.1")),
        );
        let view = r.route(V4, net("203.0.113.0/24")).unwrap();
        // Never back to the sender; eBGP-learned goes to everyone else.
        assert_eq!(r.advertised_to(&view), vec![ebgp_b.id, ibgp.id]);
        let mut learned = attrs(&[], "192.0.2.3");
        learned.push(tern_bgp_wire::Attribute::LocalPref(100));
        let _ = r.update_from_peer(ibgp.id, &announce(&["198.51.100.0/24"], learned));
        let view = r.route(V4, net("198.51.100.0/24")).unwrap();
        // iBGP-learned: not to other iBGP peers (no reflection here).
        assert_eq!(r.advertised_to(&view), vec![ebgp_a.id, ebgp_b.id]);
        let _ = r.originate(V4, net("10.9.0.0/16"));
        let view = r.route(V4, net("10.9.0.0/16")).unwrap();
        assert_eq!(r.advertised_to(&view).len(), 3);
    }
}
