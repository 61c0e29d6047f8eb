//! The FIB task: takes the Loc-RIB's best-path changes and installs them in
//! the kernel through tern-netlink, with Tern's route protocol id.
//!
//! Changes that arrive while a batch is being written are coalesced (the
//! last word on a prefix wins), so a burst of updates becomes one pipelined
//! netlink batch. On start, routes a previous ternd left behind are purged:
//! the BGP sessions will bring back what is still valid.
use std::collections::BTreeMap;

use ipnet::IpNet;
use tern_netlink::{Netlink, NextHop, Route, RouteOp, TERN_PROTO};
use tokio::sync::mpsc;

use crate::rib::FibChange;

/// The main routing table.
const MAIN_TABLE: u32 = 254;
/// Route priority (metric) of BGP routes: FRR uses 20 for eBGP; keeping the
/// same value lets an operator reason about both the same way.
const BGP_METRIC: u32 = 20;

/// Starts the FIB task; returns the sender the speaker writes changes to.
pub async fn spawn(netlink: Netlink) -> mpsc::UnboundedSender<Vec<FibChange>> {
    match netlink.purge(TERN_PROTO).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(routes = n, "purged stale routes of a previous ternd"),
        Err(e) => tracing::warn!(error = %e, "cannot purge stale routes"),
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<FibChange>>();
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut pending: BTreeMap<IpNet, Vec<std::net::IpAddr>> = BTreeMap::new();
            for c in first {
                pending.insert(c.prefix, c.nexthops);
            }
            while let Ok(more) = rx.try_recv() {
                for c in more {
                    pending.insert(c.prefix, c.nexthops);
                }
            }
            let ops: Vec<RouteOp> = pending
                .into_iter()
                .map(|(prefix, nexthops)| {
                    let route = Route {
                        prefix,
                        table: MAIN_TABLE,
                        metric: BGP_METRIC,
                        nexthops: nexthops
                            .into_iter()
                            .map(|gw| NextHop {
                                gateway: Some(gw),
                                ifindex: None,
                                weight: 1,
                            })
                            .collect(),
                    };
                    if route.nexthops.is_empty() {
                        RouteOp::Delete(route)
                    } else {
                        RouteOp::Replace(route)
                    }
                })
                .collect();
            let report = netlink.apply_batch(&ops).await;
            for f in &report.failures {
                let op = ops.get(f.index);
                // The kernel drops routes through a link that went down: a
                // delete that finds nothing is already done.
                if matches!(op, Some(RouteOp::Delete(_))) && f.error.is_not_found() {
                    continue;
                }
                tracing::warn!(route = ?op, error = %f.error, "FIB write failed");
            }
        }
    });
    tx
}
