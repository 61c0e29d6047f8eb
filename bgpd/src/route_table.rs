//! The table of `show ip route` / `show ipv6 route` as zebra shows it:
//! the kernel's main table read a route at a time into small rows, and
//! the rows turned into routes with the BGP facts (distance, MED, age)
//! asked of the speaker. The control socket streams it a chunk at a time;
//! the daemon answers it in one reply.
use std::collections::HashMap;

/// zebra's administrative distance of BGP routes: eBGP 20, iBGP 200.
const DISTANCE_EBGP: u8 = 20;
const DISTANCE_IBGP: u8 = 200;

/// One route of `show ip route` before the BGP facts are added: a
/// connected route from an interface's address, or a route of the kernel
/// kept small (a full table is a million of them): its next hops are an
/// index into the table's list of distinct next-hop sets.
pub enum Row {
    Connected(tern_control::FibRoute),
    Kernel {
        prefix: ipnet::IpNet,
        protocol: u8,
        table: u32,
        metric: u32,
        hops: u32,
        blackhole: bool,
    },
}

impl Row {
    pub fn prefix(&self) -> ipnet::IpNet {
        match self {
            Row::Connected(r) => r.prefix,
            Row::Kernel { prefix, .. } => *prefix,
        }
    }
}

/// The rows of a table and what they share.
pub struct Rows {
    pub rows: Vec<Row>,
    /// Distinct next-hop sets; a row's `hops` indexes this.
    pub hops: Vec<Vec<tern_netlink::NextHop>>,
    pub names: HashMap<u32, String>,
}

/// The kernel's main table as zebra shows it, in prefix order: connected
/// routes from the addresses of the interfaces that are up (not the
/// kernel's own `proto kernel` routes, which zebra ignores), then every
/// other route of the family; with the interfaces' names by index. The
/// kernel's dump is read a route at a time into [`Row`]s (about 40 bytes
/// each), never held whole.
pub async fn route_rows(netlink: &tern_netlink::Netlink, ipv6: bool) -> Result<Rows, String> {
    use tern_control::{FibNextHop, FibRoute};
    let links = netlink
        .links()
        .await
        .map_err(|e| format!("cannot read interfaces: {e}"))?;
    let names: HashMap<u32, String> = links.iter().map(|l| (l.index, l.name.clone())).collect();
    let mut connected: Vec<FibRoute> = Vec::new();
    for l in links
        .iter()
        .filter(|l| l.admin_up && (l.lower_up || l.loopback))
    {
        for a in &l.addresses {
            if a.addr().is_ipv6() != ipv6 || a.addr().is_loopback() {
                continue;
            }
            let hop = FibNextHop {
                gateway: None,
                ifindex: Some(l.index),
                ifname: Some(l.name.clone()),
                weight: 1,
                seg6: Vec::new(),
            };
            let prefix = a.trunc();
            match connected.iter_mut().find(|r| r.prefix == prefix) {
                Some(r) => r.nexthops.push(hop),
                None => connected.push(FibRoute {
                    prefix,
                    protocol: "connected".into(),
                    distance: 0,
                    metric: 0,
                    table: tern_netlink::RT_TABLE_MAIN,
                    nexthops: vec![hop],
                    uptime_secs: None,
                    blackhole: false,
                }),
            }
        }
    }
    let mut rows: Vec<Row> = connected.into_iter().map(Row::Connected).collect();
    let mut hops: Vec<Vec<tern_netlink::NextHop>> = Vec::new();
    let mut interned: HashMap<Vec<tern_netlink::NextHop>, u32> = HashMap::new();
    // Routes that name a nexthop object without listing it: resolved after.
    let mut by_object: Vec<(usize, u32)> = Vec::new();
    netlink
        .visit_kernel_routes(ipv6, Some(tern_netlink::RT_TABLE_MAIN), |k| {
            if k.route.prefix.addr().is_ipv6() != ipv6 || k.protocol == 2 {
                return;
            }
            if k.route.nexthops.is_empty()
                && let Some(id) = k.nexthop_id
            {
                by_object.push((rows.len(), id));
            }
            let next = hops.len() as u32;
            let index = *interned.entry(k.route.nexthops.clone()).or_insert_with(|| {
                hops.push(k.route.nexthops);
                next
            });
            rows.push(Row::Kernel {
                prefix: k.route.prefix,
                protocol: k.protocol,
                table: k.route.table,
                metric: k.route.metric,
                hops: index,
                blackhole: k.blackhole,
            });
        })
        .await
        .map_err(|e| format!("cannot read routes: {e}"))?;
    drop(interned);
    if !by_object.is_empty() {
        let ids: Vec<u32> = by_object.iter().map(|(_, id)| *id).collect();
        let objects = netlink.nexthop_objects(&ids).await;
        let mut index: HashMap<u32, u32> = HashMap::new();
        for (at, id) in by_object {
            let Some(nhs) = objects.get(&id) else {
                continue;
            };
            let i = *index.entry(id).or_insert_with(|| {
                hops.push(nhs.clone());
                hops.len() as u32 - 1
            });
            if let Some(Row::Kernel { hops: h, .. }) = rows.get_mut(at) {
                *h = i;
            }
        }
    }
    // Stable: a connected route comes before the kernel's of its prefix;
    // a prefix's routes by metric.
    rows.sort_by_key(|r| {
        let metric = match r {
            Row::Connected(_) => 0,
            Row::Kernel { metric, .. } => u64::from(*metric) + 1,
        };
        (r.prefix(), metric)
    });
    Ok(Rows { rows, hops, names })
}

/// The routes of `rows` as `show ip route` shows them: Tern's (202) as
/// bgp with the best path's distance (iBGP or eBGP), MED and age, `proto
/// static` as static, the rest as kernel.
pub async fn fib_routes(
    table: &Rows,
    rows: &[Row],
    ipv6: bool,
    speaker: Option<&crate::speaker::SpeakerHandle>,
    statics: &crate::config::statics::StaticRoutes,
) -> Vec<tern_control::FibRoute> {
    use tern_control::{FibNextHop, FibRoute};
    let names = &table.names;
    let bgp: Vec<ipnet::IpNet> = rows
        .iter()
        .filter_map(|r| match r {
            Row::Kernel {
                prefix, protocol, ..
            } if *protocol == tern_netlink::TERN_PROTO => Some(*prefix),
            _ => None,
        })
        .collect();
    let family = if ipv6 {
        tern_bgp::Family::Ipv6Unicast
    } else {
        tern_bgp::Family::Ipv4Unicast
    };
    let mut best = HashMap::new();
    if let Some(sp) = speaker
        && !bgp.is_empty()
        && let Ok(found) = sp.best_paths(family, bgp.clone()).await
    {
        best.extend(bgp.into_iter().zip(found));
    }
    let now = crate::clock::unix_now();
    rows.iter()
        .map(|row| {
            let (prefix, kind, table_id, route_metric, hops, blackhole) = match row {
                Row::Connected(r) => return r.clone(),
                Row::Kernel {
                    prefix,
                    protocol,
                    table: t,
                    metric,
                    hops,
                    blackhole,
                } => (*prefix, *protocol, *t, *metric, *hops, *blackhole),
            };
            let (protocol, distance, metric, since) = match kind {
                tern_netlink::TERN_PROTO => match best.get(&prefix).copied().flatten() {
                    Some(b) if b.internal => ("bgp", DISTANCE_IBGP, b.med, b.since),
                    Some(b) => ("bgp", DISTANCE_EBGP, b.med, b.since),
                    None => ("bgp", DISTANCE_EBGP, 0, None),
                },
                // An `ip route` line's: its distance and, as staticd's,
                // metric 0 (the kernel priority is zebra's 20).
                tern_netlink::STATIC_PROTO => match statics.distance(&prefix) {
                    Some(d) => ("static", d, 0, None),
                    None => ("static", 1, route_metric, None),
                },
                _ => ("kernel", 0, route_metric, None),
            };
            FibRoute {
                prefix,
                protocol: protocol.into(),
                distance,
                metric,
                table: table_id,
                nexthops: table
                    .hops
                    .get(hops as usize)
                    .into_iter()
                    .flatten()
                    .map(|h| FibNextHop {
                        gateway: h.gateway.map(|g| g.to_string()),
                        ifindex: h.ifindex,
                        ifname: h.ifindex.and_then(|i| names.get(&i).cloned()),
                        weight: h.weight,
                        seg6: Vec::new(),
                    })
                    .collect(),
                uptime_secs: since.map(|t| now.saturating_sub(t)),
                blackhole,
            }
        })
        .collect()
}
