//! Kernel nexthop objects (RTM_NEWNEXTHOP, Linux >= 5.3) for Tern's routes:
//! routes that share a next hop (or an ECMP set) refer to one object by id
//! (RTA_NH_ID) instead of carrying the next hops inline.
//!
//! netlink-packet-route 0.34 has RTA_NH_ID but no nexthop messages, so the
//! few this needs are written and read here by hand (struct nhmsg + NHA_*
//! attributes from include/uapi/linux/nexthop.h).
//!
//! Bookkeeping: one id per distinct next hop and per distinct ECMP group,
//! reference-counted by the routes (and groups) that use it; an object no
//! route uses is deleted at the end of the batch. At the start of every
//! batch a dump of the kernel's nexthops (a handful of objects) says which
//! of ours are missing (the kernel removes nexthops whose device went down)
//! or differ (a group that lost a member), and those are re-created.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;

use crate::batch::{FibSocket, Owner, Pipeline, align4, u32_at};
use crate::route::{NextHop, Route, RouteKey};

const RTM_NEWNEXTHOP: u16 = 104;
const RTM_DELNEXTHOP: u16 = 105;
const RTM_GETNEXTHOP: u16 = 106;
const NHA_ID: u16 = 1;
const NHA_GROUP: u16 = 2;
const NHA_GROUP_TYPE: u16 = 3;
const NHA_OIF: u16 = 5;
const NHA_GATEWAY: u16 = 6;
const NEXTHOP_GRP_TYPE_MPATH: u16 = 0;
const AF_UNSPEC: u8 = 0;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;
/// struct nlmsghdr + struct nhmsg.
const NH_HDR: usize = 16 + 8;

/// What a nexthop object is; equal keys are the same object.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum NhKey {
    /// One next hop. `family` is the gateway's, or the route's when there
    /// is no gateway (an IPv6 route cannot use an AF_INET nexthop).
    Single {
        family: u8,
        gateway: Option<IpAddr>,
        ifindex: Option<u32>,
    },
    /// An ECMP group: (member id, weight 1..=256), sorted by id.
    Group(Vec<(u32, u16)>),
    /// Something Tern does not create (blackhole, FDB, resilient group).
    Other,
}

/// One of our nexthop objects.
#[derive(Debug)]
struct Entry {
    key: NhKey,
    /// Routes using it, plus groups it is a member of.
    refs: u32,
}

/// A nexthop as the kernel dumped it.
#[derive(Debug)]
pub(crate) struct KernelNexthop {
    pub(crate) id: u32,
    pub(crate) protocol: u8,
    pub(crate) key: NhKey,
}

/// Which nexthop object each route uses: one entry per installed route,
/// so at a full table it is as big as the table. Prefixes are packed into
/// integers and kept in B-trees (about 20 bytes a route; a hash map keyed
/// by (prefix, table, metric) took over 60).
#[derive(Debug, Default)]
struct RouteObjects {
    /// By (table, metric): Tern uses one pair, the map allows any.
    tables: HashMap<(u32, u32), PrefixObjects>,
}

#[derive(Debug, Default)]
struct PrefixObjects {
    /// Address << 8 | prefix length.
    v4: BTreeMap<u64, u32>,
    v6: BTreeMap<(u128, u8), u32>,
}

impl RouteObjects {
    /// Records that `key` uses object `id`; returns the one it used before.
    fn insert(&mut self, (prefix, table, metric): RouteKey, id: u32) -> Option<u32> {
        let t = self.tables.entry((table, metric)).or_default();
        match prefix {
            IpNet::V4(n) => t.v4.insert(pack_v4(n), id),
            IpNet::V6(n) => t.v6.insert(pack_v6(n), id),
        }
    }

    /// Forgets `key`; returns the object it used.
    fn remove(&mut self, (prefix, table, metric): RouteKey) -> Option<u32> {
        let t = self.tables.get_mut(&(table, metric))?;
        let old = match prefix {
            IpNet::V4(n) => t.v4.remove(&pack_v4(n)),
            IpNet::V6(n) => t.v6.remove(&pack_v6(n)),
        };
        if t.v4.is_empty() && t.v6.is_empty() {
            self.tables.remove(&(table, metric));
        }
        old
    }
}

fn pack_v4(n: ipnet::Ipv4Net) -> u64 {
    u64::from(u32::from(n.addr())) << 8 | u64::from(n.prefix_len())
}

fn pack_v6(n: ipnet::Ipv6Net) -> (u128, u8) {
    (u128::from(n.addr()), n.prefix_len())
}

/// Tern's nexthop objects in one namespace.
#[derive(Debug, Default)]
pub(crate) struct NexthopTable {
    by_key: HashMap<NhKey, u32>,
    entries: HashMap<u32, Entry>,
    /// Which object each installed route uses.
    route_nh: RouteObjects,
    next_id: u32,
    /// The kernel's objects at the start of this batch, by id.
    kernel: HashMap<u32, NhKey>,
    /// Ids already checked (and created if needed) in this batch.
    checked: HashSet<u32>,
}

fn put_attr(buf: &mut Vec<u8>, kind: u16, value: &[u8]) {
    buf.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(value);
    buf.resize(align4(buf.len()), 0);
}

/// Appends nlmsghdr + nhmsg, then `attrs`, and fixes up the length.
fn write_nh_message(
    buf: &mut Vec<u8>,
    kind: u16,
    flags: u16,
    seq: u32,
    family: u8,
    protocol: u8,
    attrs: impl FnOnce(&mut Vec<u8>),
) {
    let start = buf.len();
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    // struct nhmsg: family, scope (must be 0), protocol, reserved, flags.
    buf.extend_from_slice(&[family, 0, protocol, 0]);
    buf.extend_from_slice(&0u32.to_ne_bytes());
    attrs(buf);
    let len = (buf.len() - start) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
}

fn write_new(buf: &mut Vec<u8>, seq: u32, id: u32, key: &NhKey, protocol: u8, replace: bool) {
    let flags = NLM_F_CREATE | if replace { NLM_F_REPLACE } else { 0 };
    let family = match key {
        NhKey::Single { family, .. } => *family,
        _ => AF_UNSPEC,
    };
    write_nh_message(buf, RTM_NEWNEXTHOP, flags, seq, family, protocol, |b| {
        put_attr(b, NHA_ID, &id.to_ne_bytes());
        match key {
            NhKey::Single {
                gateway, ifindex, ..
            } => {
                if let Some(i) = ifindex {
                    put_attr(b, NHA_OIF, &i.to_ne_bytes());
                }
                match gateway {
                    Some(IpAddr::V4(a)) => put_attr(b, NHA_GATEWAY, &a.octets()),
                    Some(IpAddr::V6(a)) => put_attr(b, NHA_GATEWAY, &a.octets()),
                    None => {}
                }
            }
            NhKey::Group(members) => {
                // struct nexthop_grp: id, weight - 1 (low 8 bits), weight
                // high bits (Linux >= 6.12, else reserved), reserved.
                let mut v = Vec::with_capacity(members.len() * 8);
                for (member, weight) in members {
                    let w = weight.saturating_sub(1);
                    v.extend_from_slice(&member.to_ne_bytes());
                    v.push((w & 0xff) as u8);
                    v.push((w >> 8) as u8);
                    v.extend_from_slice(&0u16.to_ne_bytes());
                }
                put_attr(b, NHA_GROUP, &v);
                put_attr(b, NHA_GROUP_TYPE, &NEXTHOP_GRP_TYPE_MPATH.to_ne_bytes());
            }
            NhKey::Other => {}
        }
    });
}

fn write_del(buf: &mut Vec<u8>, seq: u32, id: u32) {
    write_nh_message(buf, RTM_DELNEXTHOP, 0, seq, AF_UNSPEC, 0, |b| {
        put_attr(b, NHA_ID, &id.to_ne_bytes())
    });
}

/// Reads one RTM_NEWNEXTHOP message of a dump (header included).
fn parse_nexthop(msg: &[u8]) -> Option<KernelNexthop> {
    if msg.len() < NH_HDR || u16::from_ne_bytes([msg[4], msg[5]]) != RTM_NEWNEXTHOP {
        return None;
    }
    let family = msg[16];
    let protocol = msg[18];
    let mut id = None;
    let mut gateway = None;
    let mut ifindex = None;
    let mut group = None;
    let mut other = false;
    let mut off = NH_HDR;
    while off + 4 <= msg.len() {
        let len = u16::from_ne_bytes([msg[off], msg[off + 1]]) as usize;
        let kind = u16::from_ne_bytes([msg[off + 2], msg[off + 3]]) & 0x3fff;
        let value = msg.get(off + 4..off + len.max(4))?;
        match kind {
            NHA_ID => id = u32_at(value, 0),
            NHA_OIF => ifindex = u32_at(value, 0),
            NHA_GATEWAY => {
                gateway = match value.len() {
                    4 => <[u8; 4]>::try_from(value)
                        .ok()
                        .map(|o| IpAddr::V4(Ipv4Addr::from(o))),
                    16 => <[u8; 16]>::try_from(value)
                        .ok()
                        .map(|o| IpAddr::V6(Ipv6Addr::from(o))),
                    _ => None,
                }
            }
            NHA_GROUP => {
                let mut members: Vec<(u32, u16)> = value
                    .chunks_exact(8)
                    .filter_map(|e| {
                        let w = u16::from(e[4]) | (u16::from(e[5]) << 8);
                        Some((u32_at(e, 0)?, w.saturating_add(1)))
                    })
                    .collect();
                members.sort_unstable();
                group = Some(members);
            }
            NHA_GROUP_TYPE => {
                other |= value
                    .get(..2)
                    .is_none_or(|t| t != NEXTHOP_GRP_TYPE_MPATH.to_ne_bytes())
            }
            // Blackhole, encap, FDB, resilient-group parameters.
            4 | 7 | 8 | 11 | 13 => other = true,
            _ => {}
        }
        off += align4(len.max(4));
    }
    let key = match (other, group) {
        (true, _) => NhKey::Other,
        (false, Some(members)) => NhKey::Group(members),
        (false, None) => NhKey::Single {
            family,
            gateway,
            ifindex,
        },
    };
    Some(KernelNexthop {
        id: id?,
        protocol,
        key,
    })
}

/// Every nexthop object of the namespace (blocking: run off the runtime).
pub(crate) fn dump_nexthops(sock: &FibSocket, seq: u32) -> io::Result<Vec<KernelNexthop>> {
    let mut req = Vec::new();
    write_nh_message(
        &mut req,
        RTM_GETNEXTHOP,
        NLM_F_DUMP,
        seq,
        AF_UNSPEC,
        0,
        |_| {},
    );
    Ok(sock
        .dump(&req, seq)?
        .iter()
        .filter_map(|m| parse_nexthop(m))
        .collect())
}

async fn dump_async(sock: &Arc<FibSocket>, seq: &mut u32) -> io::Result<Vec<KernelNexthop>> {
    let s = *seq;
    *seq = seq.wrapping_add(1);
    let sock = Arc::clone(sock);
    tokio::task::spawn_blocking(move || dump_nexthops(&sock, s))
        .await
        .map_err(io::Error::other)?
}

/// Deletes every nexthop object of `protocol` (groups first) but those
/// `keep` names; returns how many went.
pub(crate) async fn purge_nexthops(
    sock: &Arc<FibSocket>,
    seq: &mut u32,
    protocol: u8,
    keep: impl Fn(u32) -> bool,
) -> io::Result<usize> {
    let mut mine: Vec<(bool, u32)> = dump_async(sock, seq)
        .await?
        .into_iter()
        .filter(|n| n.protocol == protocol && !keep(n.id))
        .map(|n| (!matches!(n.key, NhKey::Group(_)), n.id))
        .collect();
    mine.sort_unstable();
    let mut p = Pipeline::new(Arc::clone(sock), *seq);
    for (_, id) in &mine {
        p.push(Owner::Housekeeping, |b, s| write_del(b, s, *id))
            .await;
    }
    let (errors, next) = p.finish().await;
    *seq = next;
    let failed = errors.iter().filter(|(_, e)| !e.is_not_found()).count();
    for (_, e) in errors.iter().filter(|(_, e)| !e.is_not_found()) {
        tracing::warn!(error = %e, "deleting a nexthop object");
    }
    Ok(mine.len() - failed)
}

impl NexthopTable {
    /// Reads the kernel's nexthops before a batch; the first time, also
    /// picks our ids above every existing one, so that objects left by an
    /// earlier run are never overwritten.
    pub(crate) async fn begin_batch(
        &mut self,
        sock: &Arc<FibSocket>,
        seq: &mut u32,
    ) -> io::Result<()> {
        let dumped = dump_async(sock, seq).await?;
        if self.next_id == 0 {
            self.next_id = dumped
                .iter()
                .map(|n| n.id)
                .max()
                .unwrap_or(0)
                .saturating_add(1);
        }
        self.kernel = dumped.into_iter().map(|n| (n.id, n.key)).collect();
        self.checked.clear();
        Ok(())
    }

    fn id_for(&mut self, key: NhKey) -> u32 {
        if let Some(id) = self.by_key.get(&key) {
            return *id;
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        if let NhKey::Group(members) = &key {
            for (m, _) in members {
                if let Some(e) = self.entries.get_mut(m) {
                    e.refs += 1;
                }
            }
        }
        self.by_key.insert(key.clone(), id);
        self.entries.insert(id, Entry { key, refs: 0 });
        id
    }

    /// Makes sure the kernel has object `id` as we mean it, once a batch.
    async fn ensure(&mut self, id: u32, op: usize, protocol: u8, p: &mut Pipeline) {
        if !self.checked.insert(id) {
            return;
        }
        let Some(entry) = self.entries.get(&id) else {
            return;
        };
        let replace = match self.kernel.get(&id) {
            Some(k) if *k == entry.key => return,
            Some(_) => true,
            None => false,
        };
        let key = entry.key.clone();
        p.push(Owner::Nexthop { op }, |b, s| {
            write_new(b, s, id, &key, protocol, replace)
        })
        .await;
        self.kernel.insert(id, key);
    }

    /// The nexthop id for `route` (validated), queueing the RTM_NEWNEXTHOP
    /// requests it needs ahead of the route's own request.
    pub(crate) async fn resolve(
        &mut self,
        route: &Route,
        op: usize,
        protocol: u8,
        p: &mut Pipeline,
    ) -> u32 {
        let route_family = match route.prefix {
            IpNet::V4(_) => AF_INET,
            IpNet::V6(_) => AF_INET6,
        };
        let mut members = Vec::with_capacity(route.nexthops.len());
        for nh in &route.nexthops {
            let family = match nh.gateway {
                Some(IpAddr::V4(_)) => AF_INET,
                Some(IpAddr::V6(_)) => AF_INET6,
                None => route_family,
            };
            let id = self.id_for(NhKey::Single {
                family,
                gateway: nh.gateway,
                ifindex: nh.ifindex,
            });
            self.ensure(id, op, protocol, p).await;
            members.push((id, u16::from(nh.weight)));
        }
        if let [(single, _)] = members.as_slice() {
            return *single;
        }
        members.sort_unstable();
        let id = self.id_for(NhKey::Group(members));
        self.ensure(id, op, protocol, p).await;
        id
    }

    fn release(&mut self, id: u32) {
        if let Some(e) = self.entries.get_mut(&id) {
            e.refs = e.refs.saturating_sub(1);
        }
    }

    /// Records that route `key` now uses `id` (None: inline next hops).
    pub(crate) fn set_route(&mut self, key: RouteKey, id: Option<u32>) {
        let old = match id {
            Some(id) => {
                if let Some(e) = self.entries.get_mut(&id) {
                    e.refs += 1;
                }
                self.route_nh.insert(key, id)
            }
            None => self.route_nh.remove(key),
        };
        if let Some(old) = old {
            self.release(old);
        }
    }

    /// Forgets every object (after a purge deleted them in the kernel).
    pub(crate) fn clear(&mut self) {
        let next_id = self.next_id;
        *self = Self::default();
        self.next_id = next_id;
    }

    /// Deletes the objects no route uses any more: unused groups first,
    /// then the members nothing else uses.
    pub(crate) async fn collect_garbage(&mut self, sock: &Arc<FibSocket>, seq: &mut u32) {
        let mut dead = Vec::new();
        let mut pass_groups = true;
        loop {
            let ids: Vec<u32> = self
                .entries
                .iter()
                .filter(|(_, e)| e.refs == 0 && matches!(e.key, NhKey::Group(_)) == pass_groups)
                .map(|(id, _)| *id)
                .collect();
            for id in ids {
                if let Some(e) = self.entries.remove(&id) {
                    self.by_key.remove(&e.key);
                    if let NhKey::Group(members) = &e.key {
                        for (m, _) in members {
                            self.release(*m);
                        }
                    }
                    dead.push(id);
                }
            }
            if !pass_groups {
                break;
            }
            pass_groups = false;
        }
        if dead.is_empty() {
            return;
        }
        let mut p = Pipeline::new(Arc::clone(sock), *seq);
        for id in &dead {
            p.push(Owner::Housekeeping, |b, s| write_del(b, s, *id))
                .await;
        }
        let (errors, next) = p.finish().await;
        *seq = next;
        for (_, e) in errors.iter().filter(|(_, e)| !e.is_not_found()) {
            tracing::warn!(error = %e, "deleting an unused nexthop object");
        }
        tracing::debug!(deleted = dead.len(), "unused nexthop objects deleted");
    }

    /// The next hops behind one of our objects, for routes dumped without
    /// them (`net.ipv4.nexthop_compat_mode = 0`).
    pub(crate) fn nexthops_of(&self, id: u32) -> Option<Vec<NextHop>> {
        let single = |id: &u32, weight: u16| match &self.entries.get(id)?.key {
            NhKey::Single {
                gateway, ifindex, ..
            } => Some(NextHop {
                gateway: *gateway,
                ifindex: *ifindex,
                weight: u8::try_from(weight).unwrap_or(u8::MAX),
            }),
            _ => None,
        };
        match &self.entries.get(&id)?.key {
            NhKey::Single { .. } => Some(vec![single(&id, 1)?]),
            NhKey::Group(members) => members.iter().map(|(m, w)| single(m, *w)).collect(),
            NhKey::Other => None,
        }
    }

    /// Whether `id` is one of the objects this table tracks.
    pub(crate) fn tracks(&self, id: u32) -> bool {
        self.entries.contains_key(&id)
    }

    /// Objects Tern tracks (for tests and `show` output).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_nexthops_parse_back_to_their_key() {
        let keys = [
            NhKey::Single {
                family: AF_INET,
                gateway: Some("192.0.2.2".parse().expect("ip")),
                ifindex: Some(3),
            },
            NhKey::Single {
                family: AF_INET6,
                gateway: Some("fe80::1".parse().expect("ip")),
                ifindex: Some(3),
            },
            NhKey::Single {
                family: AF_INET6,
                gateway: None,
                ifindex: Some(4),
            },
            NhKey::Group(vec![(1, 1), (2, 3), (9, 256)]),
        ];
        for (i, key) in keys.iter().enumerate() {
            let mut buf = Vec::new();
            write_new(&mut buf, 5, i as u32 + 10, key, 196, false);
            assert_eq!(u32_at(&buf, 0), Some(buf.len() as u32));
            let n = parse_nexthop(&buf).expect("parses");
            assert_eq!((n.id, n.protocol), (i as u32 + 10, 196));
            assert_eq!(&n.key, key);
        }
    }

    #[test]
    fn truncated_nexthop_messages_do_not_panic() {
        let mut buf = Vec::new();
        write_new(
            &mut buf,
            1,
            1,
            &NhKey::Group(vec![(1, 1), (2, 1)]),
            196,
            true,
        );
        for n in 0..buf.len() {
            let _ = parse_nexthop(&buf[..n]);
        }
    }

    #[test]
    fn route_objects_keep_prefixes_tables_and_metrics_apart() {
        let net = |s: &str| s.parse::<IpNet>().expect("net");
        let mut m = RouteObjects::default();
        let keys = [
            (net("10.0.0.0/24"), 254, 20),
            (net("10.0.0.0/25"), 254, 20),
            (net("10.0.0.0/24"), 254, 30),
            (net("10.0.0.0/24"), 100, 20),
            (net("0.0.0.0/0"), 254, 20),
            (net("2001:db8::/64"), 254, 20),
            (net("2001:db8::/65"), 254, 20),
            (net("::/0"), 254, 20),
        ];
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(m.insert(*k, i as u32), None, "{k:?}");
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(m.insert(*k, 100 + i as u32), Some(i as u32), "{k:?}");
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(m.remove(*k), Some(100 + i as u32), "{k:?}");
            assert_eq!(m.remove(*k), None, "{k:?}");
        }
        assert!(m.tables.is_empty());
    }
}
