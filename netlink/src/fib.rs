//! Programming the kernel FIB with Tern's routes: replace, delete, batches,
//! dumps and the start-up purge. Every route Tern installs carries
//! [`TERN_PROTO`]; see `batch.rs` for how batches are pipelined and
//! `nexthop.rs` for the optional nexthop objects.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use futures::TryStreamExt;
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_REPLACE};

use crate::batch::{
    BatchReport, FibSocket, OpError, OpFailure, Owner, Pipeline, write_route_message,
};
use crate::nexthop::{NexthopTable, purge_nexthops};
use crate::route::{
    KernelRoute, Route, RouteOp, TERN_PROTO, delete_message, from_message, replace_message,
};
use crate::{Error, Netlink};

/// The FIB socket and what goes with it; one batch at a time.
#[derive(Debug)]
pub(crate) struct Fib {
    pub(crate) sock: Arc<FibSocket>,
    pub(crate) seq: u32,
    /// Whether new routes refer to nexthop objects.
    pub(crate) nexthop_objects: bool,
    /// Tern's nexthop objects (kept when the mode is switched off, until
    /// the routes using them are replaced or deleted).
    pub(crate) nexthops: NexthopTable,
}

impl Fib {
    pub(crate) fn new(sock: FibSocket) -> Self {
        Self {
            sock: Arc::new(sock),
            seq: 1,
            nexthop_objects: false,
            nexthops: NexthopTable::default(),
        }
    }
}

impl Netlink {
    /// Installs `route` with [`TERN_PROTO`], or atomically replaces the
    /// route with the same prefix, table and metric (NLM_F_CREATE |
    /// NLM_F_REPLACE): there is no moment without a route.
    pub async fn route_replace(&self, route: &Route) -> Result<(), Error> {
        self.single(RouteOp::Replace(route.clone())).await
    }

    /// Deletes Tern's route with this prefix, table and metric (the next
    /// hops are not compared). A metric of 0 on an IPv4 route matches any.
    pub async fn route_delete(&self, route: &Route) -> Result<(), Error> {
        self.single(RouteOp::Delete(route.clone())).await
    }

    async fn single(&self, op: RouteOp) -> Result<(), Error> {
        let prefix = op.route().prefix;
        let report = self.apply(std::slice::from_ref(&op), TERN_PROTO).await;
        match report.failures.into_iter().next() {
            None => Ok(()),
            Some(f) => Err(Error::Route {
                prefix,
                source: f.error,
            }),
        }
    }

    /// Applies many operations, in order, pipelined (see `batch.rs`): a
    /// failed operation is reported and the rest still apply.
    pub async fn apply_batch(&self, ops: &[RouteOp]) -> BatchReport {
        self.apply(ops, TERN_PROTO).await
    }

    /// Whether later replaces refer to kernel nexthop objects (one per
    /// distinct next hop and ECMP set; RTM_NEWNEXTHOP, Linux >= 5.3) or
    /// carry their next hops inline. Off by default, since a single
    /// `route_replace` costs one more round trip (the per-batch nexthop
    /// dump); ternd's FIB task turns it on: a full table installs about
    /// twice as fast with objects (see the `fib_install` example and
    /// docs/benchmarks.md). Objects are created,
    /// re-created and deleted as routes need them; [`Netlink::purge`]
    /// removes leftovers. Turned off by itself when the kernel has no
    /// nexthop objects. A route with a next hop that names no interface
    /// always carries it inline (a nexthop object needs a device).
    pub async fn set_nexthop_objects(&self, enabled: bool) {
        self.fib.lock().await.nexthop_objects = enabled;
    }

    async fn apply(&self, ops: &[RouteOp], protocol: u8) -> BatchReport {
        let started = Instant::now();
        let mut guard = self.fib.lock().await;
        let Fib {
            sock,
            seq,
            nexthop_objects,
            nexthops,
        } = &mut *guard;
        let ours = protocol == TERN_PROTO;
        let mut use_nh = *nexthop_objects && ours;
        if use_nh && let Err(e) = nexthops.begin_batch(sock, seq).await {
            tracing::warn!(error = %e, "no nexthop objects in this kernel: using inline next hops");
            *nexthop_objects = false;
            use_nh = false;
        }
        let mut errors: BTreeMap<usize, OpError> = BTreeMap::new();
        let mut nh_ids: Vec<Option<u32>> = vec![None; ops.len()];
        let mut p = Pipeline::new(Arc::clone(sock), *seq);
        for (i, op) in ops.iter().enumerate() {
            let (route, is_delete) = match op {
                RouteOp::Replace(r) => (r, false),
                RouteOp::Delete(r) => (r, true),
            };
            if let Err(reason) = route.validate(is_delete) {
                errors.insert(i, OpError::Invalid { reason });
                continue;
            }
            if is_delete {
                let msg = RouteNetlinkMessage::DelRoute(delete_message(route, protocol));
                p.push(Owner::Op(i), |b, s| write_route_message(b, msg, 0, s))
                    .await;
                continue;
            }
            // A nexthop object needs a device (NHA_OIF): a next hop given
            // by gateway only stays inline, and the kernel resolves it.
            let nh = if use_nh && route.nexthops.iter().all(|n| n.ifindex.is_some()) {
                Some(nexthops.resolve(route, i, protocol, &mut p).await)
            } else {
                None
            };
            nh_ids[i] = nh;
            let msg = RouteNetlinkMessage::NewRoute(replace_message(route, protocol, nh));
            p.push(Owner::Op(i), |b, s| {
                write_route_message(b, msg, NLM_F_CREATE | NLM_F_REPLACE, s)
            })
            .await;
        }
        let (failures, next) = p.finish().await;
        *seq = next;
        for (owner, err) in failures {
            // A nexthop object's error comes before (and explains) the
            // route's own "nexthop id does not exist".
            match owner {
                // Someone else created the object meanwhile: the route can
                // still use it.
                Owner::Nexthop { .. } if err.errno() == Some(nix::libc::EEXIST) => {}
                Owner::Op(i) | Owner::Nexthop { op: i } => {
                    errors.entry(i).or_insert(err);
                }
                Owner::Housekeeping => {}
            }
        }
        if ours {
            for (i, op) in ops.iter().enumerate() {
                match (op, errors.get(&i)) {
                    (RouteOp::Replace(r), None) => nexthops.set_route(r.key(), nh_ids[i]),
                    (RouteOp::Delete(r), None) => nexthops.set_route(r.key(), None),
                    (RouteOp::Delete(r), Some(e)) if e.is_not_found() => {
                        nexthops.set_route(r.key(), None)
                    }
                    _ => {}
                }
            }
            nexthops.collect_garbage(sock, seq).await;
        }
        let failures: Vec<OpFailure> = errors
            .into_iter()
            .map(|(index, error)| OpFailure { index, error })
            .collect();
        let report = BatchReport {
            ops: ops.len(),
            applied: ops.len() - failures.len(),
            failures,
            elapsed: started.elapsed(),
        };
        tracing::debug!(
            ops = report.ops,
            failed = report.failures.len(),
            elapsed_us = report.elapsed.as_micros() as u64,
            nexthop_objects = use_nh,
            "FIB batch applied"
        );
        report
    }

    /// Unicast routes of both families, with the protocol that installed
    /// them, optionally only those of one protocol and/or one table.
    pub async fn kernel_routes(
        &self,
        protocol: Option<u8>,
        table: Option<u32>,
    ) -> Result<Vec<KernelRoute>, Error> {
        self.kernel_routes_of(
            &[AddressFamily::Inet, AddressFamily::Inet6],
            protocol,
            table,
        )
        .await
    }

    /// Like [`Netlink::kernel_routes`], of one family only (`show ip
    /// route` need not read the other family's table).
    pub async fn kernel_routes_family(
        &self,
        ipv6: bool,
        table: Option<u32>,
    ) -> Result<Vec<KernelRoute>, Error> {
        let family = if ipv6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        self.kernel_routes_of(&[family], None, table).await
    }

    /// Visits the routes of one family (of `table`, or all) as the kernel
    /// dumps them, one at a time and unsorted, so that a caller that keeps
    /// less than a [`KernelRoute`] per route (a show of a full table) never
    /// holds the whole dump. A route that names a nexthop object without
    /// listing its next hops (`nexthop_compat_mode` 0) comes with none:
    /// [`Netlink::nexthop_objects`] resolves its `nexthop_id`.
    pub async fn visit_kernel_routes(
        &self,
        ipv6: bool,
        table: Option<u32>,
        mut visit: impl FnMut(KernelRoute),
    ) -> Result<(), Error> {
        let mut m = RouteMessage::default();
        m.header.address_family = if ipv6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        let one_dump = self.dumps.lock().await;
        let mut dump = self.handle.route().get(m).execute();
        while let Some(msg) = dump.try_next().await.map_err(|source| Error::Request {
            what: "route dump",
            source,
        })? {
            if let Some(kr) = from_message(&msg)
                && table.is_none_or(|t| t == kr.route.table)
            {
                visit(kr);
            }
        }
        drop(one_dump);
        Ok(())
    }

    /// The next hops of nexthop objects `ids` that Tern knows (its own).
    pub async fn nexthop_objects(
        &self,
        ids: &[u32],
    ) -> std::collections::HashMap<u32, Vec<crate::route::NextHop>> {
        let fib = self.fib.lock().await;
        ids.iter()
            .filter_map(|id| Some((*id, fib.nexthops.nexthops_of(*id)?)))
            .collect()
    }

    async fn kernel_routes_of(
        &self,
        families: &[AddressFamily],
        protocol: Option<u8>,
        table: Option<u32>,
    ) -> Result<Vec<KernelRoute>, Error> {
        let mut out = Vec::new();
        let one_dump = self.dumps.lock().await;
        for family in families.iter().copied() {
            let mut m = RouteMessage::default();
            m.header.address_family = family;
            let mut dump = self.handle.route().get(m).execute();
            while let Some(msg) = dump.try_next().await.map_err(|source| Error::Request {
                what: "route dump",
                source,
            })? {
                let Some(kr) = from_message(&msg) else {
                    continue;
                };
                if protocol.is_some_and(|p| p != kr.protocol)
                    || table.is_some_and(|t| t != kr.route.table)
                {
                    continue;
                }
                out.push(kr);
            }
        }
        drop(one_dump);
        if out
            .iter()
            .any(|k| k.route.nexthops.is_empty() && k.nexthop_id.is_some())
        {
            let fib = self.fib.lock().await;
            for k in &mut out {
                if let (true, Some(id)) = (k.route.nexthops.is_empty(), k.nexthop_id)
                    && let Some(nhs) = fib.nexthops.nexthops_of(id)
                {
                    k.route.nexthops = nhs;
                    k.route.normalize();
                }
            }
        }
        out.sort_by(|a, b| {
            (
                a.route.table,
                a.route.prefix.addr().is_ipv6(),
                a.route.prefix,
                a.route.metric,
            )
                .cmp(&(
                    b.route.table,
                    b.route.prefix.addr().is_ipv6(),
                    b.route.prefix,
                    b.route.metric,
                ))
        });
        Ok(out)
    }

    /// Like [`Netlink::kernel_routes`], without the protocols:
    /// `routes(Some(TERN_PROTO), None)` is what Tern left in the kernel.
    pub async fn routes(
        &self,
        protocol: Option<u8>,
        table: Option<u32>,
    ) -> Result<Vec<Route>, Error> {
        Ok(self
            .kernel_routes(protocol, table)
            .await?
            .into_iter()
            .map(|kr| kr.route)
            .collect())
    }

    /// Deletes every route (all tables, both families) and every nexthop
    /// object of `protocol`, leaving everything else alone: the start-up
    /// clean-up of routes a previous run left. Returns the routes deleted.
    pub async fn purge(&self, protocol: u8) -> Result<usize, Error> {
        let mut ops: Vec<RouteOp> = self
            .kernel_routes(Some(protocol), None)
            .await?
            .into_iter()
            .map(|kr| RouteOp::Delete(kr.route))
            .collect();
        ops.sort_by_key(|op| crate::route::fib_write_order(&op.route().prefix));
        let report = self.apply(&ops, protocol).await;
        // Gone already (an IPv6 ECMP sibling, a concurrent delete) is fine.
        let failed: Vec<&OpFailure> = report
            .failures
            .iter()
            .filter(|f| !f.error.is_not_found())
            .collect();
        match self.delete_nexthops(protocol, false).await {
            Ok(n) => tracing::debug!(protocol, deleted = n, "nexthop objects purged"),
            Err(e) => tracing::warn!(protocol, error = %e, "nexthop objects not purged"),
        }
        if let Some(first) = failed.first() {
            return Err(Error::Purge {
                protocol,
                failed: failed.len(),
                first: first.error.clone(),
            });
        }
        let deleted = ops.len() - report.failures.len();
        tracing::info!(protocol, deleted, "purged routes");
        Ok(deleted)
    }

    /// Deletes Tern's nexthop objects that this process does not track:
    /// those a previous ternd left for routes kept across a graceful
    /// restart, once those routes have been replaced or deleted (a nexthop
    /// object's deletion takes the routes still using it along). Returns
    /// how many went.
    pub async fn prune_untracked_nexthops(&self) -> Result<usize, Error> {
        self.delete_nexthops(TERN_PROTO, true)
            .await
            .map_err(Error::Nexthops)
    }

    /// Deletes the nexthop objects of `protocol`: all of them (and Tern's
    /// table forgets its own), or only those the table does not track.
    async fn delete_nexthops(&self, protocol: u8, keep_tracked: bool) -> std::io::Result<usize> {
        let mut guard = self.fib.lock().await;
        let Fib {
            sock,
            seq,
            nexthops,
            ..
        } = &mut *guard;
        let deleted = purge_nexthops(sock, seq, protocol, |id| {
            keep_tracked && nexthops.tracks(id)
        })
        .await;
        if !keep_tracked && protocol == TERN_PROTO {
            nexthops.clear();
        }
        deleted
    }

    /// How many nexthop objects Tern currently tracks.
    pub async fn nexthop_object_count(&self) -> usize {
        self.fib.lock().await.nexthops.len()
    }
}
