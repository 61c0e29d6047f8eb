//! The FIB task: takes the Loc-RIB's best-path changes and installs them in
//! the kernel through tern-netlink, with Tern's route protocol id.
//!
//! Changes that arrive while a batch is being written are coalesced (the
//! last word on a prefix wins), so a burst of updates becomes one pipelined
//! netlink batch, written in the order the kernel's trie takes fastest
//! ([`tern_netlink::fib_write_order`]). On start, routes a previous ternd left behind are purged:
//! the BGP sessions will bring back what is still valid. With graceful
//! restart they are kept instead (packets keep flowing while ternd
//! restarts): new routes replace them as they are learnt, and once every
//! peer has sent End-of-RIB the speaker asks for a reconcile, which deletes
//! those of the old routes this ternd did not install again.
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;
use tern_netlink::{Link, Netlink, NextHop, Route, RouteOp, TERN_PROTO};
use tokio::sync::{mpsc, watch};

use tern_bgp::rib::{FibChange, NextHops};

/// Route priority (metric) of BGP routes: FRR uses 20 for eBGP; keeping the
/// same value lets an operator reason about both the same way.
const BGP_METRIC: u32 = 20;
/// Route requests built and written at a time.
const FIB_CHUNK: usize = 65_536;

/// What the speaker tells the FIB task.
#[derive(Debug)]
pub enum FibMsg {
    /// Best-path changes to write.
    Changes(Vec<FibChange>),
    /// Graceful restart is over: delete the routes of a previous ternd that
    /// this one has not installed again.
    Reconcile,
    /// IPv6 link-local next hops and our address on the session that taught
    /// each: the route goes out of the interface whose subnet holds that
    /// address (a link-local gateway needs its device). Sent before the
    /// changes that use them.
    LinkLocal(Vec<(Ipv6Addr, IpAddr)>),
}

/// Starts the FIB task; returns the sender the speaker writes to, and
/// whether the kernel holds routes of a previous ternd that are kept
/// (`keep`: graceful restart is configured) for a later reconcile: true
/// in the watch until that reconcile is done.
pub async fn spawn(
    netlink: Netlink,
    keep: bool,
    on_link: watch::Receiver<OnLinkSubnets>,
) -> (mpsc::UnboundedSender<FibMsg>, watch::Receiver<bool>) {
    let old = if keep {
        match netlink.kernel_routes(Some(TERN_PROTO), None).await {
            Ok(r) => r.len(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the routes of a previous ternd");
                0
            }
        }
    } else {
        match netlink.purge(TERN_PROTO).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(routes = n, "purged stale routes of a previous ternd"),
            Err(e) => tracing::warn!(error = %e, "cannot purge stale routes"),
        }
        0
    };
    let restarting = old > 0;
    if restarting {
        tracing::info!(
            routes = old,
            "graceful restart: keeping the routes of the previous ternd until the peers have sent End-of-RIB"
        );
    }
    // Routes that share next hops refer to one kernel nexthop object: the
    // kernel then builds no per-route next-hop state (about a third of its
    // work per route in a full-table install).
    netlink.set_nexthop_objects(true).await;
    let (restart_tx, restart_rx) = watch::channel(restarting);
    let (tx, mut rx) = mpsc::unbounded_channel::<FibMsg>();
    tokio::spawn(async move {
        // While restarting: the prefixes installed by this ternd.
        let mut installed: Option<HashSet<IpNet>> = restarting.then(HashSet::new);
        // Each link-local next hop's session address (the last word wins).
        let mut link_local: HashMap<Ipv6Addr, IpAddr> = HashMap::new();
        while let Some(first) = rx.recv().await {
            // Everything queued, in arrival order; sorted below, where a
            // later change of a prefix supersedes an earlier one. (A Vec,
            // not a map: at a full table a map's slots alone took twice the
            // memory of the changes.)
            let mut pending: Vec<(IpNet, NextHops)> = Vec::new();
            let mut reconcile = false;
            let mut take = |m: FibMsg, pending: &mut Vec<_>| match m {
                FibMsg::Changes(cs) => {
                    pending.extend(cs.into_iter().map(|c| (c.prefix, c.nexthops)))
                }
                FibMsg::Reconcile => reconcile = true,
                FibMsg::LinkLocal(scoped) => link_local.extend(scoped),
            };
            take(first, &mut pending);
            while let Ok(more) = rx.try_recv() {
                take(more, &mut pending);
            }
            coalesce(&mut pending);
            if let Some(set) = &mut installed {
                for (prefix, nexthops) in &pending {
                    if nexthops.is_empty() {
                        set.remove(prefix);
                    } else {
                        set.insert(*prefix);
                    }
                }
            }
            let devices = OnLink {
                subnets: on_link.borrow().clone(),
                link_local: &link_local,
            };
            // Written a chunk at a time, in the order above: the requests
            // for a whole table at once would take as much memory again as
            // the changes themselves.
            let mut rest = pending.into_iter().peekable();
            let mut ops: Vec<RouteOp> = Vec::new();
            while rest.peek().is_some() {
                ops.clear();
                ops.extend(
                    rest.by_ref()
                        .take(FIB_CHUNK)
                        .map(|(prefix, nexthops)| route_op(prefix, nexthops, &devices)),
                );
                let report = netlink.apply_batch(&ops).await;
                for f in &report.failures {
                    let op = ops.get(f.index);
                    // The kernel drops routes through a link that went down:
                    // a delete that finds nothing is already done.
                    if matches!(op, Some(RouteOp::Delete(_))) && f.error.is_not_found() {
                        continue;
                    }
                    tracing::warn!(route = ?op, error = %f.error, "FIB write failed");
                }
            }
            if reconcile && let Some(set) = installed.take() {
                reconcile_stale(&netlink, &set).await;
                restart_tx.send_replace(false);
            }
        }
    });
    (tx, restart_rx)
}

/// Puts queued changes in the kernel's fastest order
/// ([`tern_netlink::fib_write_order`]) and keeps the last change of each
/// prefix.
fn coalesce(pending: &mut Vec<(IpNet, NextHops)>) {
    // Stable: the changes of one prefix stay in arrival order.
    pending.sort_by_key(|(prefix, _)| tern_netlink::fib_write_order(prefix));
    pending.dedup_by(|later, kept| {
        if later.0 == kept.0 {
            std::mem::swap(&mut later.1, &mut kept.1);
            true
        } else {
            false
        }
    });
}

/// What the kernel is asked for one prefix: Tern's route through
/// `nexthops`, or its removal when there are none. A link-local next hop
/// whose device is not known is left out: the kernel refuses it ("Egress
/// device not specified").
fn route_op(prefix: IpNet, nexthops: NextHops, devices: &OnLink) -> RouteOp {
    let route = Route {
        prefix,
        table: tern_netlink::RT_TABLE_MAIN,
        metric: BGP_METRIC,
        nexthops: nexthops
            .iter()
            .filter_map(|&gw| {
                let ifindex = devices.device_of(gw);
                if ifindex.is_none() && is_link_local(gw) {
                    tracing::debug!(%prefix, next_hop = %gw, "link-local next hop on no known interface: not installed");
                    return None;
                }
                Some(NextHop {
                    gateway: Some(gw),
                    ifindex,
                    weight: 1,
                })
            })
            .collect(),
    };
    if route.nexthops.is_empty() {
        RouteOp::Delete(route)
    } else {
        RouteOp::Replace(route)
    }
}

fn is_link_local(gw: IpAddr) -> bool {
    matches!(gw, IpAddr::V6(v6) if v6.is_unicast_link_local())
}

/// The subnets of the addresses on the interfaces that are up, with their
/// device, most specific first: what the interface watch last saw
/// ([`on_link_subnets`]), kept current by it, never read by a link dump of
/// the FIB task's own.
pub type OnLinkSubnets = Arc<[(IpNet, u32)]>;

/// The on-link subnets of `links`: those of the addresses (host routes
/// excepted) of the interfaces that are up, most specific first, equal
/// subnets on two links by ifindex.
pub fn on_link_subnets(links: &[Link]) -> OnLinkSubnets {
    let mut subnets: Vec<(IpNet, u32)> = links
        .iter()
        .filter(|l| l.admin_up && l.lower_up)
        .flat_map(|l| {
            l.addresses
                .iter()
                .filter(|a| a.prefix_len() < a.max_prefix_len())
                .map(|a| (a.trunc(), l.index))
        })
        .collect();
    subnets.sort_by_key(|(n, i)| (std::cmp::Reverse(n.prefix_len()), *i));
    subnets.into()
}

/// Where the gateways of one batch go out: a gateway on a connected subnet
/// gets that subnet's device, so that its routes can share a nexthop object
/// (an object needs a device). An IPv6 link-local gateway gets the device
/// of its session's local address. Any other gateway (one the connected
/// subnets do not hold) stays without a device, inline, and the kernel
/// resolves it as before.
struct OnLink<'a> {
    subnets: OnLinkSubnets,
    link_local: &'a HashMap<Ipv6Addr, IpAddr>,
}

impl OnLink<'_> {
    /// The device whose most specific connected subnet holds `gw`; for a
    /// link-local `gw`, the one that holds its session's local address.
    fn device_of(&self, gw: IpAddr) -> Option<u32> {
        let on = match gw {
            IpAddr::V6(v6) if v6.is_unicast_link_local() => *self.link_local.get(&v6)?,
            _ => gw,
        };
        self.subnets
            .iter()
            .find(|(n, _)| n.contains(&on))
            .map(|(_, i)| *i)
    }
}

/// Deletes Tern's kernel routes whose prefix is not in `installed`.
async fn reconcile_stale(netlink: &Netlink, installed: &HashSet<IpNet>) {
    let mut stale: Vec<RouteOp> = match netlink.kernel_routes(Some(TERN_PROTO), None).await {
        Ok(routes) => routes
            .into_iter()
            .filter(|r| !installed.contains(&r.route.prefix))
            .map(|r| RouteOp::Delete(r.route))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "graceful restart: cannot list Tern's routes to reconcile");
            return;
        }
    };
    stale.sort_by_key(|op| tern_netlink::fib_write_order(&op.route().prefix));
    let report = netlink.apply_batch(&stale).await;
    let failed = report
        .failures
        .iter()
        .filter(|f| !f.error.is_not_found())
        .count();
    tracing::info!(
        deleted = stale.len() - report.failures.len(),
        failed,
        "graceful restart over: removed the previous ternd's routes that were not learnt again"
    );
    // Its routes are all replaced or deleted now: its nexthop objects go.
    match netlink.prune_untracked_nexthops().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(objects = n, "removed the previous ternd's nexthop objects"),
        Err(e) => tracing::warn!(error = %e, "cannot remove the previous ternd's nexthop objects"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_gateways_take_their_sessions_device_or_are_left_out() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let prefix: IpNet = "2001:db8:1::/48".parse().expect("net");
        let subnets: Vec<(IpNet, u32)> = vec![
            ("192.0.2.0/24".parse().expect("net"), 7),
            ("198.51.100.0/24".parse().expect("net"), 9),
        ];
        let mut link_local = HashMap::new();
        link_local.insert(
            "fe80::cafe".parse::<Ipv6Addr>().expect("ip"),
            ip("192.0.2.1"),
        );
        let devices = OnLink {
            subnets: subnets.into(),
            link_local: &link_local,
        };
        // Known session: out of the interface holding its local address.
        let op = route_op(prefix, NextHops::from([ip("fe80::cafe")]), &devices);
        let RouteOp::Replace(r) = op else {
            panic!("not installed: {op:?}");
        };
        assert_eq!(r.nexthops.len(), 1);
        assert_eq!(r.nexthops[0].ifindex, Some(7));
        // Unknown: left out; alone, the route is not installed (a delete,
        // which finds nothing), never written without a device.
        let op = route_op(prefix, NextHops::from([ip("fe80::beef")]), &devices);
        assert!(
            matches!(&op, RouteOp::Delete(r) if r.nexthops.is_empty()),
            "{op:?}"
        );
        let op = route_op(
            prefix,
            NextHops::from([ip("fe80::beef"), ip("fe80::cafe")]),
            &devices,
        );
        assert!(
            matches!(&op, RouteOp::Replace(r) if r.nexthops.len() == 1),
            "{op:?}"
        );
    }

    #[test]
    fn coalesce_keeps_the_last_change_of_each_prefix_in_write_order() {
        let net = |s: &str| s.parse::<IpNet>().expect("net");
        let gw = |s: &str| NextHops::from([s.parse::<std::net::IpAddr>().expect("ip")]);
        let mut pending = vec![
            (net("10.0.1.0/24"), gw("192.0.2.1")),
            (net("10.0.0.0/24"), gw("192.0.2.1")),
            (net("10.0.1.0/24"), NextHops::from([])),
            (net("10.0.2.0/24"), gw("192.0.2.1")),
            (net("10.0.1.0/24"), gw("192.0.2.9")),
            (net("10.0.0.0/24"), NextHops::from([])),
        ];
        coalesce(&mut pending);
        assert_eq!(
            pending,
            [
                (net("10.0.0.0/24"), NextHops::from([])),
                (net("10.0.2.0/24"), gw("192.0.2.1")),
                (net("10.0.1.0/24"), gw("192.0.2.9")),
            ]
        );
    }
}
