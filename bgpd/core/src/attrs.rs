//! Path attributes as the RIB keeps them (RFC 4271 §5): one value per
//! distinct set, interned and shared by every prefix that carries it.
//! Built from a received UPDATE (with the RFC 6793 merge of AS_PATH and
//! AS4_PATH for 2-octet peers, and the RFC 7606 attribute-discard of
//! LOCAL_PREF / ORIGINATOR_ID / CLUSTER_LIST from external peers), and
//! turned back into wire attributes for one peer's codec (AS_TRANS and
//! AS4_PATH when the peer is not 4-octet capable).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use tern_bgp_wire::{
    AS_TRANS, Aggregator, AsPath, AsSegment, AsSegmentType, AttrFlags, Attribute, Codec, Community,
    ExtendedCommunity, LargeCommunity, Origin, PathAttribute, UpdateMessage,
};

/// LOCAL_PREF assumed when a path has none (FRR's `bgp default local-preference`).
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// Most ASes one AS_PATH segment can hold on the wire.
const MAX_SEGMENT_ASES: usize = 255;

/// Where a path's traffic goes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteNextHop {
    /// Locally originated: our own address on each session.
    Local,
    /// NEXT_HOP, or an IPv4 next hop in MP_REACH_NLRI.
    V4(Ipv4Addr),
    /// An IPv6 next hop in MP_REACH_NLRI (RFC 2545), for IPv6 routes or
    /// IPv4 routes under RFC 8950.
    V6 {
        global: Ipv6Addr,
        link_local: Option<Ipv6Addr>,
    },
}

impl RouteNextHop {
    /// The address to install in the FIB: the global address (the
    /// link-local one when there is no usable global one).
    pub fn fib_address(&self) -> Option<IpAddr> {
        match *self {
            Self::Local => None,
            Self::V4(a) => Some(IpAddr::V4(a)),
            Self::V6 { global, link_local } => match link_local {
                Some(ll) if global.is_unspecified() => Some(IpAddr::V6(ll)),
                _ => Some(IpAddr::V6(global)),
            },
        }
    }

    /// Every address this next hop names.
    pub(crate) fn addresses(&self) -> impl Iterator<Item = IpAddr> {
        let (a, b) = match *self {
            Self::Local => (None, None),
            Self::V4(a) => (Some(IpAddr::V4(a)), None),
            Self::V6 { global, link_local } => {
                (Some(IpAddr::V6(global)), link_local.map(IpAddr::V6))
            }
        };
        a.into_iter().chain(b)
    }
}

/// An optional transitive attribute Tern does not interpret, passed on as
/// received (with the Partial bit set, RFC 4271 §5).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UnknownAttr {
    pub flags: u8,
    pub type_code: u8,
    pub value: Vec<u8>,
}

/// The attributes of one path. Interned: compare `Arc`s by pointer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PathAttrs {
    pub origin: Origin,
    /// The full path with 4-octet AS numbers (AS4_PATH already merged in).
    pub as_path: AsPath,
    pub next_hop: RouteNextHop,
    pub med: Option<u32>,
    /// Only from internal peers; [`DEFAULT_LOCAL_PREF`] applies when absent.
    pub local_pref: Option<u32>,
    pub atomic_aggregate: bool,
    /// With its 4-octet AS (AS4_AGGREGATOR already merged in).
    pub aggregator: Option<Aggregator>,
    pub communities: Vec<Community>,
    pub ext_communities: Vec<ExtendedCommunity>,
    pub large_communities: Vec<LargeCommunity>,
    pub originator_id: Option<Ipv4Addr>,
    pub cluster_list: Vec<Ipv4Addr>,
    pub unknown: Vec<UnknownAttr>,
}

impl PathAttrs {
    /// A locally originated route (`network`, service VIPs): ORIGIN IGP,
    /// empty AS_PATH, next hop self, MED 0 as FRR sets for `network`.
    pub fn local() -> Self {
        Self {
            med: Some(0),
            ..Self::empty(RouteNextHop::Local)
        }
    }

    fn empty(next_hop: RouteNextHop) -> Self {
        Self {
            origin: Origin::Igp,
            as_path: AsPath::default(),
            next_hop,
            med: None,
            local_pref: None,
            atomic_aggregate: false,
            aggregator: None,
            communities: Vec::new(),
            ext_communities: Vec::new(),
            large_communities: Vec::new(),
            originator_id: None,
            cluster_list: Vec::new(),
            unknown: Vec::new(),
        }
    }

    /// LOCAL_PREF for the decision process.
    pub fn effective_local_pref(&self) -> u32 {
        self.local_pref.unwrap_or(DEFAULT_LOCAL_PREF)
    }

    /// The attributes of a received UPDATE, next hop left as `Local` for
    /// the caller to fill per NLRI kind. `ibgp`: from an internal peer;
    /// `four_octet`: the session carries 4-octet AS numbers (RFC 6793).
    /// `discard`: attribute types the peer's `path-attribute discard` drops.
    pub(crate) fn from_update(
        update: &UpdateMessage,
        ibgp: bool,
        four_octet: bool,
        discard: &dyn Fn(u8) -> bool,
    ) -> Received {
        let mut a = Self::empty(RouteNextHop::Local);
        a.origin = Origin::Incomplete;
        let mut has_origin = false;
        let mut has_as_path = false;
        let mut next_hop = None;
        let mut as4_path = None;
        let mut as4_aggregator = None;
        for attr in update.attributes.iter().filter(|a| !discard(a.type_code())) {
            match &attr.value {
                Attribute::Origin(o) => {
                    a.origin = *o;
                    has_origin = true;
                }
                Attribute::AsPath(p) => {
                    a.as_path = p.clone();
                    has_as_path = true;
                }
                Attribute::NextHop(nh) => next_hop = Some(*nh),
                Attribute::MultiExitDisc(m) => a.med = Some(*m),
                // RFC 7606 §7.5, §7.9, §7.10: from an external peer these
                // are discarded.
                Attribute::LocalPref(lp) if ibgp => a.local_pref = Some(*lp),
                Attribute::OriginatorId(id) if ibgp => a.originator_id = Some(*id),
                Attribute::ClusterList(l) if ibgp => a.cluster_list = l.clone(),
                Attribute::AtomicAggregate => a.atomic_aggregate = true,
                Attribute::Aggregator(g) => a.aggregator = Some(*g),
                Attribute::Communities(c) => a.communities = c.clone(),
                Attribute::ExtendedCommunities(c) => a.ext_communities = c.clone(),
                Attribute::LargeCommunities(c) => a.large_communities = c.clone(),
                Attribute::As4Path(p) if !four_octet => as4_path = Some(p),
                Attribute::As4Aggregator(g) if !four_octet => as4_aggregator = Some(*g),
                Attribute::Raw { type_code, value } if attr.flags.transitive() => {
                    a.unknown.push(UnknownAttr {
                        flags: attr.flags.0,
                        type_code: *type_code,
                        value: value.clone(),
                    });
                }
                // MP_REACH/MP_UNREACH are read by the caller; unknown
                // non-transitive attributes are dropped (RFC 4271 §9);
                // Prefix-SID belongs to labeled and VPN families.
                _ => {}
            }
        }
        if !four_octet {
            merge_as4(&mut a, as4_path, as4_aggregator);
        }
        Received {
            attrs: a,
            complete: has_origin && has_as_path,
            next_hop,
        }
    }

    /// The attributes to send, in type-code order, for a peer with `codec`;
    /// without NEXT_HOP / MP_REACH_NLRI, which go with the NLRI.
    pub(crate) fn to_wire(&self, codec: &Codec) -> Vec<PathAttribute> {
        let mut out = Vec::with_capacity(8 + self.unknown.len());
        let push = |out: &mut Vec<PathAttribute>, v| out.push(PathAttribute::new(v));
        push(&mut out, Attribute::Origin(self.origin));
        let as4 = !codec.four_octet_as && self.as_path.segments.iter().any(|s| has_as4(&s.asns));
        if as4 {
            push(&mut out, Attribute::AsPath(as_trans_path(&self.as_path)));
        } else {
            push(&mut out, Attribute::AsPath(self.as_path.clone()));
        }
        if let Some(m) = self.med {
            push(&mut out, Attribute::MultiExitDisc(m));
        }
        if let Some(lp) = self.local_pref {
            push(&mut out, Attribute::LocalPref(lp));
        }
        if self.atomic_aggregate {
            push(&mut out, Attribute::AtomicAggregate);
        }
        let mut as4_aggregator = None;
        if let Some(g) = self.aggregator {
            if !codec.four_octet_as && g.asn > u32::from(u16::MAX) {
                as4_aggregator = Some(g);
                push(
                    &mut out,
                    Attribute::Aggregator(Aggregator {
                        asn: u32::from(AS_TRANS),
                        address: g.address,
                    }),
                );
            } else {
                push(&mut out, Attribute::Aggregator(g));
            }
        }
        if !self.communities.is_empty() {
            push(&mut out, Attribute::Communities(self.communities.clone()));
        }
        if let Some(id) = self.originator_id {
            push(&mut out, Attribute::OriginatorId(id));
        }
        if !self.cluster_list.is_empty() {
            push(&mut out, Attribute::ClusterList(self.cluster_list.clone()));
        }
        if !self.ext_communities.is_empty() {
            let v = self.ext_communities.clone();
            push(&mut out, Attribute::ExtendedCommunities(v));
        }
        if as4 {
            push(&mut out, Attribute::As4Path(as4_path(&self.as_path)));
        }
        if let Some(g) = as4_aggregator {
            push(&mut out, Attribute::As4Aggregator(g));
        }
        if !self.large_communities.is_empty() {
            let v = self.large_communities.clone();
            push(&mut out, Attribute::LargeCommunities(v));
        }
        for u in &self.unknown {
            out.push(PathAttribute::with_flags(
                AttrFlags(u.flags | AttrFlags::PARTIAL),
                Attribute::Raw {
                    type_code: u.type_code,
                    value: u.value.clone(),
                },
            ));
        }
        out.sort_by_key(PathAttribute::type_code);
        out
    }
}

/// What [`PathAttrs::from_update`] found.
pub(crate) struct Received {
    pub(crate) attrs: PathAttrs,
    /// ORIGIN and AS_PATH were both present.
    pub(crate) complete: bool,
    /// The NEXT_HOP attribute, for the NLRI field.
    pub(crate) next_hop: Option<Ipv4Addr>,
}

fn has_as4(asns: &[u32]) -> bool {
    asns.iter().any(|&a| a > u32::from(u16::MAX))
}

/// AS_PATH for a 2-octet peer: AS numbers above 65535 become AS_TRANS.
fn as_trans_path(path: &AsPath) -> AsPath {
    let trans = u32::from(AS_TRANS);
    AsPath {
        segments: path
            .segments
            .iter()
            .map(|s| AsSegment {
                kind: s.kind,
                asns: s
                    .asns
                    .iter()
                    .map(|&a| if a > u32::from(u16::MAX) { trans } else { a })
                    .collect(),
            })
            .collect(),
    }
}

/// AS4_PATH: the real path without confederation segments (RFC 6793 §3).
fn as4_path(path: &AsPath) -> AsPath {
    AsPath {
        segments: path
            .segments
            .iter()
            .filter(|s| !s.kind.is_confed())
            .cloned()
            .collect(),
    }
}

/// RFC 6793 §4.2.3: rebuilds the real AS path (and aggregator) from what a
/// 2-octet speaker sent.
fn merge_as4(a: &mut PathAttrs, as4_path: Option<&AsPath>, as4_aggregator: Option<Aggregator>) {
    if let Some(g4) = as4_aggregator {
        match a.aggregator {
            Some(g) if g.asn == u32::from(AS_TRANS) => a.aggregator = Some(g4),
            // AGGREGATOR names a real 2-octet AS: AS4_AGGREGATOR and
            // AS4_PATH are both ignored.
            Some(_) => return,
            None => {}
        }
    }
    let Some(as4) = as4_path else { return };
    let n = a.as_path.path_length();
    let m = as4.path_length();
    if n < m {
        return;
    }
    let mut keep = n - m;
    let mut merged = Vec::with_capacity(a.as_path.segments.len() + as4.segments.len());
    for seg in &a.as_path.segments {
        if keep == 0 && !seg.kind.is_confed() {
            break;
        }
        match seg.kind {
            AsSegmentType::Sequence => {
                let take = seg.asns.len().min(keep);
                keep -= take;
                let asns: Vec<u32> = seg.asns.iter().copied().take(take).collect();
                merged.push(AsSegment {
                    kind: seg.kind,
                    asns,
                });
            }
            AsSegmentType::Set => {
                keep -= 1;
                merged.push(seg.clone());
            }
            AsSegmentType::ConfedSequence | AsSegmentType::ConfedSet => merged.push(seg.clone()),
        }
    }
    for seg in &as4.segments {
        match merged.last_mut() {
            Some(last)
                if last.kind == AsSegmentType::Sequence
                    && seg.kind == AsSegmentType::Sequence
                    && last.asns.len() + seg.asns.len() <= MAX_SEGMENT_ASES =>
            {
                last.asns.extend_from_slice(&seg.asns);
            }
            _ => merged.push(seg.clone()),
        }
    }
    a.as_path = AsPath { segments: merged };
}

/// `asn` in front of `path`, as an eBGP speaker sends it (RFC 4271
/// §5.1.2): confederation segments removed, a new segment when the first
/// one is no sequence or is full.
pub(crate) fn prepend(path: &AsPath, asn: u32) -> AsPath {
    let mut segments: Vec<AsSegment> = path
        .segments
        .iter()
        .filter(|s| !s.kind.is_confed())
        .cloned()
        .collect();
    match segments.first_mut() {
        Some(first)
            if first.kind == AsSegmentType::Sequence && first.asns.len() < MAX_SEGMENT_ASES =>
        {
            first.asns.insert(0, asn);
        }
        _ => segments.insert(
            0,
            AsSegment {
                kind: AsSegmentType::Sequence,
                asns: vec![asn],
            },
        ),
    }
    AsPath { segments }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(asns: &[u32]) -> AsSegment {
        AsSegment {
            kind: AsSegmentType::Sequence,
            asns: asns.to_vec(),
        }
    }

    fn update(attrs: Vec<Attribute>) -> UpdateMessage {
        UpdateMessage::new(
            Vec::new(),
            attrs.into_iter().map(PathAttribute::new).collect(),
            Vec::new(),
        )
    }

    #[test]
    fn as4_path_merges_for_two_octet_peers() {
        let trans = u32::from(AS_TRANS);
        let u = update(vec![
            Attribute::Origin(Origin::Igp),
            Attribute::AsPath(AsPath {
                segments: vec![seq(&[65001, trans, 65002, trans])],
            }),
            Attribute::As4Path(AsPath {
                segments: vec![seq(&[4_200_000_001, 65002, 4_200_000_002])],
            }),
        ]);
        let r = PathAttrs::from_update(&u, false, false, &|_| false);
        assert!(r.complete);
        assert_eq!(
            r.attrs.as_path,
            AsPath {
                segments: vec![seq(&[65001, 4_200_000_001, 65002, 4_200_000_002])]
            }
        );
        // From a 4-octet peer the codec already dropped AS4_PATH; a longer
        // AS4_PATH than AS_PATH is ignored.
        let u = update(vec![
            Attribute::AsPath(AsPath::from_sequence(vec![trans])),
            Attribute::As4Path(AsPath::from_sequence(vec![1, 2])),
        ]);
        let r = PathAttrs::from_update(&u, false, false, &|_| false);
        assert!(!r.complete);
        assert_eq!(r.attrs.as_path, AsPath::from_sequence(vec![trans]));
    }

    #[test]
    fn as_trans_on_export_to_two_octet_peers() {
        let mut a = PathAttrs::local();
        a.as_path = AsPath::from_sequence(vec![65001, 4_200_000_001]);
        let wire = a.to_wire(&Codec::default());
        let codes: Vec<u8> = wire.iter().map(PathAttribute::type_code).collect();
        assert_eq!(codes, vec![1, 2, 4, 17]);
        assert_eq!(
            wire.get(1).map(|p| &p.value),
            Some(&Attribute::AsPath(AsPath::from_sequence(vec![
                65001,
                u32::from(AS_TRANS)
            ])))
        );
        let four = Codec {
            four_octet_as: true,
            ..Codec::default()
        };
        assert_eq!(a.to_wire(&four).len(), 3);
    }

    #[test]
    fn prepend_fills_or_opens_a_sequence() {
        let p = prepend(&AsPath::from_sequence(vec![2, 3]), 1);
        assert_eq!(p, AsPath::from_sequence(vec![1, 2, 3]));
        let full = AsPath::from_sequence(vec![7; 255]);
        assert_eq!(prepend(&full, 1).segments.len(), 2);
        assert_eq!(
            prepend(&AsPath::default(), 9),
            AsPath::from_sequence(vec![9])
        );
    }
}
