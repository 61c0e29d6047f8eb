//! Services inside ternd: from the `service` config (tern-services' table),
//! the local pods (the endpoint registry) and the datapath, this node's
//! share of the load balancer:
//! - which VIPs BGP announces (a LoadBalancer address while the service has
//!   an active backend, on this node under policy local; static VIPs
//!   always);
//! - the datapath's service maps: frontends, backends, the Maglev (or
//!   random) table of each frontend in the table pool, source ranges,
//!   conntrack timeouts; and conntrack garbage collection.
//!
//! Reconciling is idempotent and minimal: a frontend's table is rebuilt and
//! rewritten only when its candidate backends change, into fresh room of
//! the pool, and the frontend is pointed at it before the old room is
//! freed (a packet never sees half a table). It works service by service:
//! each service's share of the maps is recorded, entries several services
//! use (backends, address markers, announced prefixes) are counted, and a
//! service whose definition and local backends have not changed is
//! skipped. A bulk request reconciles only the services it names; config
//! and endpoint changes, and a tick once a second, go over all of them.
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    net::IpAddr,
    time::Duration,
};

use anyhow::Context;
use ipnet::IpNet;
use tern_control::services::{Connection, Conntrack, FrontendStatus, ServiceStatus};
use tern_ebpf::{
    Datapath,
    datapath::ip_key,
    services::{
        BACKEND_F_PRESENT, Backend as DpBackend, CT_DIR_FORWARD, CT_F_EGRESS, CT_F_SNAT,
        CT_STATE_CLOSING, CT_STATE_ESTABLISHED, CT_STATE_SYN, LB_TABLE_ENTRIES, MAX_BACKENDS,
        SVC_F_ADDRESS, SVC_F_AFFINITY, SVC_F_LOCAL, SVC_F_RANDOM, SVC_F_SOURCE_RANGES,
        ServiceEntry, ServiceKey, ServicesConfig as DpTimeouts, monotonic_ns, service_key,
    },
};
use tern_services::{
    Algorithm, Backend, Frontend, NodeView, Service, ServiceKind, TrafficPolicy, maglev, plan,
};

use crate::config::ServicesConfig;

/// How often expired conntrack entries are collected.
pub const GC_INTERVAL: Duration = Duration::from_secs(10);

/// Collects expired conntrack entries every [`GC_INTERVAL`] from the map
/// pinned under `pins`, on a blocking thread: a full table is a walk of
/// 262,144 entries, which must hold neither the daemon's lock nor its
/// runtime thread. Nothing to do while no datapath is loaded (no pin).
pub async fn collect_conntrack(pins: std::path::PathBuf) {
    let mut tick = tokio::time::interval(GC_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !pins.join(tern_ebpf::datapath::CT_PIN).exists() {
            continue;
        }
        let dir = pins.clone();
        let r = tokio::task::spawn_blocking(move || {
            tern_ebpf::services::conntrack_gc_pinned(&dir, monotonic_ns())
        })
        .await;
        match r {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::debug!(removed = n, "conntrack entries collected"),
            Ok(Err(e)) => tracing::debug!(error = %e, "conntrack collection failed"),
            Err(e) => tracing::warn!(error = %e, "conntrack collection task failed"),
        }
    }
}

/// Free room of the table pool: first fit, neighbours merged on free.
#[derive(Debug)]
struct Pool {
    /// Free ranges: offset -> length.
    free: BTreeMap<u32, u32>,
}

impl Pool {
    fn new(size: u32) -> Self {
        Pool {
            free: BTreeMap::from([(0, size)]),
        }
    }

    fn alloc(&mut self, n: u32) -> Option<u32> {
        let (&off, &len) = self.free.iter().find(|(_, l)| **l >= n)?;
        self.free.remove(&off);
        if len > n {
            self.free.insert(off + n, len - n);
        }
        Some(off)
    }

    fn release(&mut self, off: u32, n: u32) {
        let (mut off, mut n) = (off, n);
        if let Some((&p, &pl)) = self.free.range(..off).next_back()
            && p + pl == off
        {
            self.free.remove(&p);
            off = p;
            n += pl;
        }
        if let Some(&nl) = self.free.get(&(off + n)) {
            self.free.remove(&(off + n));
            n += nl;
        }
        self.free.insert(off, n);
    }

    fn free_entries(&self) -> u64 {
        self.free.values().map(|l| u64::from(*l)).sum()
    }
}

/// Ids handed out once and taken back: services and backends.
#[derive(Debug)]
struct Ids<K: Ord + Clone> {
    by_key: BTreeMap<K, u32>,
    free: Vec<u32>,
    next: u32,
    limit: u32,
}

impl<K: Ord + Clone> Ids<K> {
    fn new(limit: u32) -> Self {
        Ids {
            by_key: BTreeMap::new(),
            free: Vec::new(),
            next: 1,
            limit,
        }
    }

    fn get_or_alloc(&mut self, k: &K) -> Option<u32> {
        if let Some(id) = self.by_key.get(k) {
            return Some(*id);
        }
        // Fresh ids first, freed ones only when none is left: an id that
        // comes back at once could meet state of its last owner (a
        // client's affinity to the deleted service's backend).
        let id = if self.next < self.limit {
            self.next += 1;
            self.next - 1
        } else {
            self.free.pop()?
        };
        self.by_key.insert(k.clone(), id);
        Some(id)
    }

    /// Forgets `k`; returns the id freed.
    fn release(&mut self, k: &K) -> Option<u32> {
        let id = self.by_key.remove(k)?;
        self.free.push(id);
        Some(id)
    }
}

/// A frontend as programmed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Programmed {
    entry: ServiceEntry,
    /// Where its table lives (offset, length).
    table: Option<(u32, u32)>,
    /// What the table was built from: candidates and algorithm.
    built_from: (Vec<(IpAddr, u16, u16)>, Algorithm),
}

/// One service's part of the datapath, as it stands: every entry is
/// recorded once it is written, so a pass that fails half way is taken up
/// again from what is really there.
#[derive(Debug, Default)]
struct Share {
    /// What the share was made from (the service, and which of its
    /// backends were this node's); None until a pass over it succeeds.
    basis: Option<(Service, Vec<bool>)>,
    frontends: BTreeSet<ServiceKey>,
    /// Its frontends' address markers (port 0, protocol 0).
    markers: BTreeSet<ServiceKey>,
    /// Its source ranges, programmed under its id.
    ranges: BTreeSet<IpNet>,
    /// Its backends, in any state.
    backends: BTreeSet<(IpAddr, u16)>,
    /// The host prefixes its plan announces.
    announce: BTreeSet<IpNet>,
}

impl Share {
    fn is_empty(&self) -> bool {
        self.frontends.is_empty()
            && self.markers.is_empty()
            && self.ranges.is_empty()
            && self.backends.is_empty()
            && self.announce.is_empty()
    }
}

/// Adds one to `k`'s count; true when it was not counted before.
fn count_up<K: Ord>(refs: &mut BTreeMap<K, u32>, k: K) -> bool {
    let n = refs.entry(k).or_default();
    *n += 1;
    *n == 1
}

/// Takes one from `k`'s count; true when none is left.
fn count_down<K: Ord>(refs: &mut BTreeMap<K, u32>, k: &K) -> bool {
    match refs.get_mut(k) {
        Some(n) if *n > 1 => {
            *n -= 1;
            false
        }
        Some(_) => {
            refs.remove(k);
            true
        }
        None => false,
    }
}

/// The services of one ternd.
#[derive(Debug)]
pub struct ServicesRuntime {
    services: Ids<String>,
    backends: Ids<(IpAddr, u16)>,
    pool: Pool,
    frontends: BTreeMap<ServiceKey, Programmed>,
    /// What each service holds in the datapath, by name.
    shares: BTreeMap<String, Share>,
    /// The service each programmed frontend is for now (a frontend may
    /// move from one service to another in one request).
    frontend_owner: BTreeMap<ServiceKey, String>,
    /// How many services use each address marker, backend, announced
    /// prefix and served address.
    marker_refs: BTreeMap<ServiceKey, u32>,
    backend_refs: BTreeMap<(IpAddr, u16), u32>,
    announce_refs: BTreeMap<IpNet, u32>,
    serving_refs: BTreeMap<IpAddr, u32>,
    programmed_backends: BTreeMap<u32, DpBackend>,
    timeouts: Option<DpTimeouts>,
    enabled: Option<bool>,
    /// The VIPs last given to the speaker (None: give them again).
    pub announced: Option<BTreeSet<IpNet>>,
    builder: maglev::Builder,
    table: Vec<u32>,
    last_error: Option<String>,
    /// Network namespace cookies by netns path ("" is ternd's own).
    netns: BTreeMap<String, u64>,
    /// The cookies the socket programs serve.
    sock_netns: Option<BTreeSet<u64>>,
    /// Where the socket programs are attached, or why they are not.
    pub socket_lb: Option<Result<std::path::PathBuf, String>>,
    /// The datapath was adopted from an earlier ternd: after the first
    /// full pass, frontends this runtime did not write (services deleted
    /// while no ternd ran) are removed.
    sweep: bool,
}

impl Default for ServicesRuntime {
    fn default() -> Self {
        ServicesRuntime {
            services: Ids::new(u32::MAX),
            backends: Ids::new(MAX_BACKENDS),
            pool: Pool::new(LB_TABLE_ENTRIES),
            frontends: BTreeMap::new(),
            shares: BTreeMap::new(),
            frontend_owner: BTreeMap::new(),
            marker_refs: BTreeMap::new(),
            backend_refs: BTreeMap::new(),
            announce_refs: BTreeMap::new(),
            serving_refs: BTreeMap::new(),
            programmed_backends: BTreeMap::new(),
            timeouts: None,
            enabled: None,
            announced: None,
            builder: maglev::Builder::new(),
            table: Vec::new(),
            last_error: None,
            netns: BTreeMap::new(),
            sock_netns: None,
            socket_lb: None,
            sweep: false,
        }
    }
}

fn proto_number(f: &Frontend) -> u8 {
    f.proto.number()
}

/// The VIPs this node announces: LoadBalancer addresses the plan says to
/// announce, and the static VIPs.
pub fn announcements(cfg: &ServicesConfig, node: &NodeView) -> BTreeSet<IpNet> {
    let mut out = tern_services::announced_prefixes(&cfg.table, node);
    out.extend(cfg.vips.iter().copied());
    out
}

impl ServicesRuntime {
    /// Forgets what was programmed (a datapath was loaded: with empty maps,
    /// or `adopted` from an earlier ternd, whose entries the next full pass
    /// writes again and sweeps).
    pub fn datapath_reset(&mut self, adopted: bool) {
        let announced = self.announced.take();
        *self = ServicesRuntime::default();
        self.announced = announced;
        self.sweep = adopted;
    }

    /// Programs the datapath for `cfg` as seen by `node`: every service,
    /// or with `only` just those (the names a request changed; the node's
    /// pods are as at the last full pass). A service whose definition and
    /// local backends are as at its last successful pass is left alone.
    /// Errors are kept for `show service` and retried on the next call.
    pub fn reconcile(
        &mut self,
        dp: &mut Datapath,
        cfg: &ServicesConfig,
        node: &NodeView,
        pod_netns: &BTreeSet<String>,
        only: Option<&BTreeSet<String>>,
    ) {
        if self.socket_lb.is_none() {
            let r = dp.attach_socket_lb().map_err(|e| e.to_string());
            match &r {
                Ok(root) => {
                    tracing::info!(cgroup = %root.display(), "socket load balancing attached")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "socket load balancing not attached: pods reach services through the TC programs")
                }
            }
            self.socket_lb = Some(r);
        }
        if matches!(self.socket_lb, Some(Ok(_))) {
            self.sync_netns(dp, pod_netns);
        }
        match self.program(dp, cfg, node, only) {
            Ok(()) => {
                self.last_error = None;
                if only.is_none() && std::mem::take(&mut self.sweep) {
                    self.sweep_frontends(dp);
                }
            }
            Err(e) => {
                let msg = format!("{e:#}");
                if self.last_error.as_ref() != Some(&msg) {
                    tracing::warn!(error = %msg, "cannot program the services");
                }
                self.last_error = Some(msg);
            }
        }
    }

    /// Removes the frontends (and address markers) in the map that this
    /// runtime did not write: an earlier ternd's, for services gone since.
    fn sweep_frontends(&mut self, dp: &mut Datapath) {
        let stale: Vec<ServiceKey> = match dp.frontends() {
            Ok(f) => f
                .into_iter()
                .map(|(k, _)| k)
                .filter(|k| !self.frontends.contains_key(k) && !self.marker_refs.contains_key(k))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the adopted frontends");
                return;
            }
        };
        for k in &stale {
            if let Err(e) = dp.remove_frontend(k) {
                tracing::warn!(error = %e, "cannot remove a stale frontend");
            }
        }
        tracing::info!(
            kept = self.frontends.len(),
            removed = stale.len(),
            "took over the services of the earlier ternd"
        );
    }

    /// The socket programs serve the pods' namespaces and the node's own.
    fn sync_netns(&mut self, dp: &mut Datapath, pod_netns: &BTreeSet<String>) {
        self.netns
            .retain(|path, _| path.is_empty() || pod_netns.contains(path));
        for path in std::iter::once("").chain(pod_netns.iter().map(String::as_str)) {
            if self.netns.contains_key(path) {
                continue;
            }
            let p = (!path.is_empty()).then(|| std::path::Path::new(path));
            match tern_ebpf::services::netns_cookie(p) {
                Ok(c) => {
                    self.netns.insert(path.to_owned(), c);
                }
                Err(e) => tracing::debug!(netns = path, error = %e, "no netns cookie"),
            }
        }
        let want: BTreeSet<u64> = self.netns.values().copied().collect();
        if self.sock_netns.as_ref() != Some(&want) {
            match dp.set_socket_lb_netns(&want) {
                Ok(()) => self.sock_netns = Some(want),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot update the socket programs' namespaces")
                }
            }
        }
    }

    fn program(
        &mut self,
        dp: &mut Datapath,
        cfg: &ServicesConfig,
        node: &NodeView,
        only: Option<&BTreeSet<String>>,
    ) -> anyhow::Result<()> {
        let t = cfg.timeouts;
        let timeouts = DpTimeouts {
            tcp_syn: t.tcp_syn,
            tcp_established: t.tcp_established,
            tcp_closing: t.tcp_closing,
            other: t.other,
        };
        if self.timeouts != Some(timeouts) {
            dp.set_conntrack_timeouts(timeouts)?;
            self.timeouts = Some(timeouts);
        }
        let names: BTreeSet<String> = match only {
            Some(names) => names.clone(),
            None => cfg
                .table
                .iter()
                .map(|s| s.name.clone())
                .chain(self.shares.keys().cloned())
                .collect(),
        };
        for name in &names {
            self.program_service(dp, name, cfg.table.get(name), node)?;
        }
        let on = !cfg.table.is_empty();
        if self.enabled != Some(on) {
            dp.set_services_enabled(on)?;
            self.enabled = Some(on);
        }
        Ok(())
    }

    /// Brings one service's share of the datapath in line with `svc`
    /// (None: the service is gone). New entries are written before stale
    /// ones go, so nothing points at a removed backend or table; entries
    /// other services share (backends, address markers) go with the last
    /// service that uses them.
    fn program_service(
        &mut self,
        dp: &mut Datapath,
        name: &str,
        svc: Option<&Service>,
        node: &NodeView,
    ) -> anyhow::Result<()> {
        let local: Vec<bool> = svc
            .map(|s| s.backends.iter().map(|b| (node.is_local)(b.addr)).collect())
            .unwrap_or_default();
        if let (Some(s), Some(share)) = (svc, self.shares.get(name))
            && share
                .basis
                .as_ref()
                .is_some_and(|(bs, bl)| bs == s && *bl == local)
        {
            // Unchanged: compared in place, nothing cloned (a full pass
            // over 10,000 services runs every second).
            return Ok(());
        }
        let basis = svc.map(|s| (s.clone(), local));
        let mut share = self.shares.remove(name).unwrap_or_default();
        share.basis = None;
        let r = self.program_share(dp, name, svc, node, &mut share);
        if r.is_ok() {
            share.basis = basis;
        }
        if svc.is_some() || !share.is_empty() {
            self.shares.insert(name.to_owned(), share);
        }
        r
    }

    fn program_share(
        &mut self,
        dp: &mut Datapath,
        name: &str,
        svc: Option<&Service>,
        node: &NodeView,
        share: &mut Share,
    ) -> anyhow::Result<()> {
        let mut want = Share::default();
        if let Some(svc) = svc {
            let id = self
                .services
                .get_or_alloc(&name.to_owned())
                .context("no service id left")?;
            // Backends in any state: a connection keeps its backend while
            // the backend exists.
            want.backends = svc.backends.iter().map(|b| (b.addr, b.port)).collect();
            for b in &want.backends {
                if share.backends.contains(b) {
                    continue;
                }
                self.add_backend(dp, *b)?;
                count_up(&mut self.backend_refs, *b);
                share.backends.insert(*b);
            }
            for fp in plan(svc, node) {
                let f = fp.frontend;
                let key = service_key(f.addr, f.port, proto_number(&f));
                self.program_frontend(dp, svc, id, key, &fp.backends)?;
                self.frontend_owner.insert(key, name.to_owned());
                share.frontends.insert(key);
                want.frontends.insert(key);
                want.markers.insert(service_key(f.addr, 0, 0));
                if fp.announce {
                    want.announce.insert(IpNet::from(f.addr));
                }
            }
            for m in &want.markers {
                if share.markers.contains(m) {
                    continue;
                }
                if !self.marker_refs.contains_key(m) {
                    let marker = ServiceEntry {
                        flags: SVC_F_ADDRESS,
                        ..ServiceEntry::default()
                    };
                    dp.upsert_frontend(*m, marker)?;
                }
                count_up(&mut self.marker_refs, *m);
                share.markers.insert(*m);
            }
            want.ranges = svc.source_ranges.iter().copied().collect();
            for r in &want.ranges {
                if share.ranges.contains(r) {
                    continue;
                }
                dp.set_source_range(id, r, true)?;
                share.ranges.insert(*r);
            }
            for p in &want.announce {
                if share.announce.insert(*p) {
                    count_up(&mut self.announce_refs, *p);
                }
            }
        }
        // Stale state goes last, once nothing points at it.
        for key in share
            .frontends
            .difference(&want.frontends)
            .copied()
            .collect::<Vec<_>>()
        {
            if self.frontend_owner.get(&key).is_some_and(|o| o != name) {
                // Another service has taken it over.
                share.frontends.remove(&key);
                continue;
            }
            dp.remove_frontend(&key)?;
            self.frontend_owner.remove(&key);
            if let Some(p) = self.frontends.remove(&key) {
                if p.entry.table_size > 0 {
                    count_down(&mut self.serving_refs, &key_ip(&key.addr));
                }
                if let Some((off, len)) = p.table {
                    self.pool.release(off, len);
                }
            }
            share.frontends.remove(&key);
        }
        for m in share
            .markers
            .difference(&want.markers)
            .copied()
            .collect::<Vec<_>>()
        {
            if self.marker_refs.get(&m) == Some(&1) {
                dp.remove_frontend(&m)?;
            }
            count_down(&mut self.marker_refs, &m);
            share.markers.remove(&m);
        }
        let stale_ranges: Vec<IpNet> = share.ranges.difference(&want.ranges).copied().collect();
        if !stale_ranges.is_empty() {
            let id = *self
                .services
                .by_key
                .get(name)
                .context("a service with source ranges has no id")?;
            for r in stale_ranges {
                dp.set_source_range(id, &r, false)?;
                share.ranges.remove(&r);
            }
        }
        for b in share
            .backends
            .difference(&want.backends)
            .copied()
            .collect::<Vec<_>>()
        {
            if self.backend_refs.get(&b) == Some(&1)
                && let Some(&id) = self.backends.by_key.get(&b)
            {
                dp.set_backend(id, DpBackend::default())?;
                self.programmed_backends.remove(&id);
                self.backends.release(&b);
            }
            count_down(&mut self.backend_refs, &b);
            share.backends.remove(&b);
        }
        for p in share
            .announce
            .difference(&want.announce)
            .copied()
            .collect::<Vec<_>>()
        {
            count_down(&mut self.announce_refs, &p);
            share.announce.remove(&p);
        }
        if svc.is_none() {
            self.services.release(&name.to_owned());
        }
        Ok(())
    }

    /// Writes backend `b` into the datapath under its id (allocated on
    /// first use) unless it is there already.
    fn add_backend(
        &mut self,
        dp: &mut Datapath,
        (addr, port): (IpAddr, u16),
    ) -> anyhow::Result<()> {
        let id = self
            .backends
            .get_or_alloc(&(addr, port))
            .context("no backend id left")?;
        let b = DpBackend {
            addr: ip_key(addr).addr,
            port,
            pad: 0,
            flags: BACKEND_F_PRESENT,
        };
        if self.programmed_backends.get(&id) != Some(&b) {
            dp.set_backend(id, b)?;
            self.programmed_backends.insert(id, b);
        }
        Ok(())
    }

    fn program_frontend(
        &mut self,
        dp: &mut Datapath,
        svc: &Service,
        id: u32,
        key: ServiceKey,
        candidates: &[Backend],
    ) -> anyhow::Result<()> {
        let built_from = (
            candidates
                .iter()
                .map(|b| (b.addr, b.port, b.weight))
                .collect::<Vec<_>>(),
            svc.algorithm,
        );
        let mut flags = 0;
        if svc.traffic_policy == TrafficPolicy::Local {
            flags |= SVC_F_LOCAL;
        }
        if svc.affinity_timeout.is_some() {
            flags |= SVC_F_AFFINITY;
        }
        if !svc.source_ranges.is_empty() {
            flags |= SVC_F_SOURCE_RANGES;
        }
        if svc.algorithm == Algorithm::Random {
            flags |= SVC_F_RANDOM;
        }
        let old = self.frontends.get(&key).cloned();
        let mut entry = ServiceEntry {
            id,
            table_off: 0,
            table_size: 0,
            flags,
            affinity_timeout: svc.affinity_timeout.unwrap_or(0),
            pad: 0,
        };
        let mut table = old.as_ref().and_then(|p| p.table);
        let rebuild = old.as_ref().is_none_or(|p| p.built_from != built_from);
        if rebuild {
            let ids: Vec<u32> = candidates
                .iter()
                .map(|b| {
                    self.backends
                        .get_or_alloc(&(b.addr, b.port))
                        .context("no backend id left")
                })
                .collect::<anyhow::Result<_>>()?;
            self.table.clear();
            match svc.algorithm {
                _ if ids.is_empty() => {}
                Algorithm::Maglev { table_size } => {
                    let mut idx = Vec::new();
                    self.builder
                        .build_backends_into(candidates, table_size, &mut idx);
                    self.table.extend(idx.iter().map(|i| ids[*i as usize]));
                }
                Algorithm::Random => self.table.extend(&ids),
            }
            table = if self.table.is_empty() {
                None
            } else {
                let n = self.table.len() as u32;
                let off = self.pool.alloc(n).with_context(|| {
                    format!(
                        "the table pool is full ({} of {LB_TABLE_ENTRIES} entries free, {n} needed)",
                        self.pool.free_entries()
                    )
                })?;
                if let Err(e) = dp.write_table(off, &self.table) {
                    self.pool.release(off, n);
                    return Err(e.into());
                }
                Some((off, n))
            };
        }
        if let Some((off, n)) = table {
            entry.table_off = off;
            entry.table_size = n;
        }
        if old.as_ref().map(|p| p.entry) != Some(entry) {
            dp.upsert_frontend(key, entry)?;
        }
        let was_serving = old.as_ref().is_some_and(|p| p.entry.table_size > 0);
        let serving = entry.table_size > 0;
        if serving && !was_serving {
            count_up(&mut self.serving_refs, key_ip(&key.addr));
        } else if was_serving && !serving {
            count_down(&mut self.serving_refs, &key_ip(&key.addr));
        }
        if rebuild && let Some((off, n)) = old.and_then(|p| p.table) {
            self.pool.release(off, n);
        }
        self.frontends.insert(
            key,
            Programmed {
                entry,
                table,
                built_from,
            },
        );
        Ok(())
    }

    /// `show service [NAME]`.
    pub fn status(
        &self,
        cfg: &ServicesConfig,
        node: &NodeView,
        name: Option<&str>,
    ) -> Result<Vec<ServiceStatus>, String> {
        if let Some(n) = name
            && cfg.table.get(n).is_none()
        {
            return Err(format!("no service named {n}"));
        }
        let announced = announcements(cfg, node);
        Ok(cfg
            .table
            .iter()
            .filter(|s| name.is_none_or(|n| n == s.name))
            .map(|svc| ServiceStatus {
                service: svc.clone(),
                id: self.services.by_key.get(&svc.name).copied().unwrap_or(0),
                frontends: plan(svc, node)
                    .into_iter()
                    .map(|fp| {
                        let key = service_key(
                            fp.frontend.addr,
                            fp.frontend.port,
                            proto_number(&fp.frontend),
                        );
                        FrontendStatus {
                            frontend: fp.frontend.to_string(),
                            announced: svc.kind == ServiceKind::LoadBalancer
                                && announced.contains(&IpNet::from(fp.frontend.addr)),
                            backends: fp.backends.iter().map(|b| socket(b.addr, b.port)).collect(),
                            programmed: self.frontends.contains_key(&key),
                        }
                    })
                    .collect(),
            })
            .collect())
    }

    /// The host prefixes to announce with a datapath: those the services'
    /// plans announce whose address the datapath serves now (a frontend
    /// with a table), never before the node can serve them.
    pub fn announced_and_served(&self) -> BTreeSet<IpNet> {
        self.announce_refs
            .keys()
            .filter(|p| self.serving_refs.contains_key(&p.addr()))
            .copied()
            .collect()
    }

    /// The last programming error, if the last pass failed.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// `show service conntrack [SERVICE]`: the connections (forward entries).
    pub fn conntrack(
        &self,
        dp: &Datapath,
        cfg: &ServicesConfig,
        service: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Conntrack, String> {
        let only = match service {
            None => None,
            Some(n) => match self.services.by_key.get(n) {
                Some(id) => Some(*id),
                None if cfg.table.get(n).is_some() => Some(0),
                None => return Err(format!("no service named {n}")),
            },
        };
        let names: HashMap<u32, &str> = self
            .services
            .by_key
            .iter()
            .map(|(n, id)| (*id, n.as_str()))
            .collect();
        let entries = dp.conntrack().map_err(|e| e.to_string())?;
        let now = monotonic_ns();
        let mut out = Conntrack {
            entries_total: entries.len() as u64,
            ..Conntrack::default()
        };
        for (k, e) in &entries {
            // The egress gateway's flows are `show egress-gateway nat`'s.
            if k.dir != CT_DIR_FORWARD || e.flags & CT_F_EGRESS != 0 {
                continue;
            }
            out.count += 1;
            if only.is_some_and(|id| id != e.service_id)
                || limit.is_some_and(|l| out.connections.len() as u64 >= l)
            {
                continue;
            }
            out.connections.push(Connection {
                service: names.get(&e.service_id).copied().unwrap_or("?").to_owned(),
                protocol: match k.proto {
                    6 => "tcp".into(),
                    17 => "udp".into(),
                    p => p.to_string(),
                },
                client: socket(key_ip(&k.src), k.sport),
                frontend: socket(key_ip(&k.dst), k.dport),
                backend: socket(key_ip(&e.addr_a), e.port_a),
                snat: (e.flags & CT_F_SNAT != 0).then(|| socket(key_ip(&e.addr_b), e.port_b)),
                state: match e.state {
                    CT_STATE_SYN => "syn",
                    CT_STATE_ESTABLISHED => "established",
                    CT_STATE_CLOSING => "closing",
                    _ => "other",
                }
                .into(),
                expires_in: e.expires.saturating_sub(now) / 1_000_000_000,
            });
        }
        Ok(out)
    }
}

fn key_ip(a: &[u8; 16]) -> IpAddr {
    tern_ebpf::datapath::key_ip(&tern_ebpf::datapath::IpKey { addr: *a })
}

fn socket(a: IpAddr, port: u16) -> String {
    match a {
        IpAddr::V4(v) => format!("{v}:{port}"),
        IpAddr::V6(v) => format!("[{v}]:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_reuses_and_merges_free_room() {
        let mut p = Pool::new(100);
        let a = p.alloc(30).unwrap();
        let b = p.alloc(30).unwrap();
        let c = p.alloc(30).unwrap();
        assert_eq!((a, b, c), (0, 30, 60));
        assert_eq!(p.alloc(20), None);
        p.release(b, 30);
        assert_eq!(p.alloc(31), None);
        p.release(a, 30);
        assert_eq!(p.alloc(60), Some(0), "merged with its neighbour");
        p.release(0, 60);
        p.release(c, 30);
        assert_eq!(p.free.len(), 1);
        assert_eq!(p.free_entries(), 100);
    }

    #[test]
    fn ids_are_reused_after_their_key_goes() {
        let mut ids: Ids<String> = Ids::new(3);
        assert_eq!(ids.get_or_alloc(&"a".into()), Some(1));
        assert_eq!(ids.get_or_alloc(&"b".into()), Some(2));
        assert_eq!(ids.get_or_alloc(&"c".into()), None, "limit");
        assert_eq!(ids.get_or_alloc(&"a".into()), Some(1));
        assert_eq!(ids.release(&"a".into()), Some(1));
        assert_eq!(ids.release(&"a".into()), None, "released once");
        assert_eq!(ids.get_or_alloc(&"c".into()), Some(1));
    }
}
