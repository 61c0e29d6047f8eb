//! Starting and stopping the BGP side of ternd: the speaker, the FIB task
//! and the interface watch that feeds fast failover. Used at start-up and
//! when `router bgp` is added, removed or re-numbered in config mode.
//!
//! Supervision: a task that ends while ternd runs (a panic) would leave a
//! daemon that answers `show` with frozen routes. Every running BGP side
//! has a supervisor that reports such an end on [`task_deaths`]; main.rs
//! watches its own tasks the same way and exits non-zero, naming the task
//! and the panic, so that systemd or the lab starts a fresh ternd.
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Mutex, OnceLock},
    time::Duration,
};

use anyhow::Context;
use tern_netlink::{Link, LinkEvent, Netlink};
use tokio::{
    sync::{Notify, mpsc},
    task::{AbortHandle, JoinError, JoinHandle},
};

use tern_bgp::config::BgpConfig;

use crate::{
    config::Config,
    fib::OnLinkSubnets,
    locrib::LocRibFeed,
    speaker::{self, Command, SpeakerHandle, SpeakerOptions},
};

/// A core task that ended while ternd runs.
#[derive(Debug)]
pub struct TaskDeath {
    /// The task's name, as the exit message gives it.
    pub task: &'static str,
    /// The panic's message and place, or how it ended.
    pub reason: String,
}

static DEATHS: OnceLock<mpsc::UnboundedSender<TaskDeath>> = OnceLock::new();
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);
static PANICKED: Notify = Notify::const_new();

/// Where the supervisors report a task that ended (main takes it once;
/// later calls get a receiver that never yields).
pub fn task_deaths() -> mpsc::UnboundedReceiver<TaskDeath> {
    let (tx, rx) = mpsc::unbounded_channel();
    let _ = DEATHS.set(tx);
    rx
}

/// Reports a task's end to main (logged only when nobody listens).
pub fn report_death(task: &'static str, reason: String) {
    tracing::error!(task, %reason, "core task ended unexpectedly");
    if let Some(tx) = DEATHS.get() {
        let _ = tx.send(TaskDeath { task, reason });
    }
}

/// Called by the panic hook: keeps the message for the report of the task
/// that died of it, and wakes the supervisors.
pub fn record_panic(message: String) {
    *LAST_PANIC.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
    PANICKED.notify_waiters();
}

/// The last panic's message, else `otherwise`.
fn last_panic_or(otherwise: &str) -> String {
    LAST_PANIC
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_else(|| otherwise.to_owned())
}

/// Why a task ended, from its JoinHandle's result; None when it was
/// cancelled (stopped on purpose).
pub fn end_reason(result: Result<(), JoinError>) -> Option<String> {
    match result {
        Ok(()) => Some("it returned".to_owned()),
        Err(e) if e.is_cancelled() => None,
        Err(e) => {
            let payload = e.into_panic();
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned());
            Some(msg.unwrap_or_else(|| last_panic_or("it panicked")))
        }
    }
}

/// A test hook of debug builds: TERND_FAILPOINT=panic:NAME makes the task
/// that passes NAME here panic, to test the supervision.
pub fn failpoint(name: &str) {
    if failpoint_armed(name) {
        panic!("failpoint {name}");
    }
}

/// Whether TERND_FAILPOINT names `name` (debug builds only).
pub fn failpoint_armed(name: &str) -> bool {
    cfg!(debug_assertions)
        && std::env::var("TERND_FAILPOINT").is_ok_and(|v| v.strip_prefix("panic:") == Some(name))
}

/// Watches the tasks of one BGP side until it is stopped (aborted): the
/// FIB task (its channel closes), the interface watch (it panics) and the
/// speaker (it no longer answers; checked every second and after any
/// panic).
async fn supervise(speaker: SpeakerHandle, fib: speaker::FibSender, mut watcher: JoinHandle<()>) {
    let mut watching = true;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = fib.closed() => {
                report_death("fib", last_panic_or("its channel closed"));
                return;
            }
            r = &mut watcher, if watching => {
                watching = false;
                // A watch that could not be opened returns (logged there):
                // failover then waits for the hold timers; only a panic is
                // a death.
                if let Err(e) = r
                    && e.is_panic()
                {
                    report_death("interface watch", end_reason(Err(e)).unwrap_or_default());
                    return;
                }
            }
            _ = tick.tick() => {}
            () = PANICKED.notified() => {}
        }
        if speaker.vips().await.is_none() {
            report_death("speaker", last_panic_or("it stopped answering"));
            return;
        }
    }
}

/// The BGP router-id FRR would pick without `bgp router-id`: the highest
/// IPv4 address on a loopback (other than 127/8), else the highest IPv4
/// address on any interface that is up.
pub fn pick_router_id(links: &[Link]) -> Option<std::net::Ipv4Addr> {
    let v4 = |l: &Link| {
        l.addresses
            .iter()
            .filter_map(|a| match a.addr() {
                std::net::IpAddr::V4(v) if !v.is_loopback() && !v.is_unspecified() => Some(v),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let lo = links.iter().filter(|l| l.loopback).flat_map(v4).max();
    lo.or_else(|| links.iter().filter(|l| l.admin_up).flat_map(v4).max())
}

/// A running BGP speaker with its helper tasks.
#[derive(Debug)]
pub struct BgpRuntime {
    pub speaker: SpeakerHandle,
    /// Emptied when BGP stops (its best paths are gone).
    loc_rib: LocRibFeed,
    watcher: AbortHandle,
    /// Aborted first when the BGP side is stopped on purpose.
    supervisor: JoinHandle<()>,
    /// Whether the watch follows the kernel's routes (`redistribute kernel`
    /// or `static` is configured).
    routes_wanted: tokio::sync::watch::Sender<bool>,
    /// True while the routes of a previous ternd are kept (graceful
    /// restart) until the peers' End-of-RIB.
    fib_restarting: tokio::sync::watch::Receiver<bool>,
}

impl BgpRuntime {
    /// Starts BGP for `bgp`: picks the router-id (configured, else FRR's
    /// rule), starts the FIB task (which purges stale Tern routes), binds
    /// port 179 and starts every neighbor.
    pub async fn start(
        config: &Config,
        bgp: &BgpConfig,
        netlink: &Netlink,
        loc_rib: &LocRibFeed,
        bfd: &crate::bfd::BfdHandle,
        vpn: &crate::vpn::VpnFeed,
    ) -> anyhow::Result<Self> {
        let links = netlink.links().await?;
        let router_id = bgp.router_id.or_else(|| pick_router_id(&links)).context(
            "no BGP router-id: configure `bgp router-id A.B.C.D` (there is no IPv4 address to take one from)",
        )?;
        // The FIB task and the watch get their own netlink sockets: the
        // kernel runs one dump per socket at a time (EBUSY otherwise).
        // The interface watch keeps the FIB task's on-link subnets current.
        let (on_link, on_link_rx) =
            tokio::sync::watch::channel(crate::fib::on_link_subnets(&links));
        let (fib, fib_restarting) =
            crate::fib::spawn(Netlink::open()?, bgp.graceful_restart.enabled, on_link_rx).await;
        let restarting = *fib_restarting.borrow();
        // The datapath's tunnel map follows the speaker's best paths.
        loc_rib.clear();
        let fib_alive = fib.clone();
        let speaker = speaker::spawn(
            bgp.clone(),
            std::sync::Arc::new(config.policy.clone()),
            router_id,
            SpeakerOptions {
                hostname: config.hostname.clone(),
                restarting,
                loc_rib: loc_rib.clone(),
                bfd: Some(bfd.clone()),
                vpn: vpn.clone(),
                ..Default::default()
            },
            fib,
        )
        .context("cannot start BGP: binding TCP port 179 failed")?;
        // What the VRFs export (the speaker computes it with their prefixes).
        speaker.notify(Command::SetSrv6(Box::new(config.srv6.clone())));
        let (routes_wanted, wanted) = tokio::sync::watch::channel(wants_kernel_routes(bgp));
        let watcher = tokio::spawn(watch(Netlink::open()?, speaker.clone(), wanted, on_link));
        let abort = watcher.abort_handle();
        let supervisor = tokio::spawn(supervise(speaker.clone(), fib_alive, watcher));
        Ok(Self {
            speaker,
            loc_rib: loc_rib.clone(),
            watcher: abort,
            supervisor,
            routes_wanted,
            fib_restarting,
        })
    }

    /// Whether ternd is still restarting gracefully: the previous ternd's
    /// routes are kept until every peer has sent End-of-RIB.
    pub fn restarting(&self) -> bool {
        *self.fib_restarting.borrow()
    }

    /// A live change of `router bgp` (same AS and router-id): the speaker
    /// takes it, and the watch starts or stops following the kernel's
    /// routes as `redistribute kernel|static` comes or goes.
    pub fn reconfigure(&self, bgp: &BgpConfig) {
        self.speaker
            .notify(Command::Reconfigure(Box::new(bgp.clone())));
        self.routes_wanted.send_if_modified(|w| {
            let now = wants_kernel_routes(bgp);
            std::mem::replace(w, now) != now
        });
    }

    /// Sends Cease to every peer, stops the speaker and takes Tern's routes
    /// out of the kernel (FRR's zebra does the same on a clean stop).
    pub async fn stop(self, netlink: &Netlink) {
        self.supervisor.abort();
        self.watcher.abort();
        self.speaker.shutdown(false).await;
        self.loc_rib.clear();
        // Let the writers put the NOTIFICATIONs on the wire.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        match netlink.purge(tern_netlink::TERN_PROTO).await {
            Ok(n) => tracing::info!(routes = n, "removed Tern's routes from the kernel"),
            Err(e) => tracing::warn!(error = %e, "cannot remove Tern's routes"),
        }
    }

    /// ternd exits with graceful restart configured: the connections are
    /// closed without a NOTIFICATION and the routes stay in the kernel, so
    /// that peers and packets carry on while the next ternd starts.
    pub async fn stop_for_restart(self) {
        self.supervisor.abort();
        self.watcher.abort();
        self.speaker.shutdown(true).await;
        self.loc_rib.clear();
        tracing::info!("graceful restart: sessions closed, Tern's routes left in the kernel");
    }
}

impl Drop for BgpRuntime {
    fn drop(&mut self) {
        self.supervisor.abort();
        self.watcher.abort();
    }
}

/// Whether `redistribute` needs the kernel's routes (not only the
/// interfaces' subnets).
fn wants_kernel_routes(bgp: &BgpConfig) -> bool {
    use tern_bgp::{Family, config::Redistribute};
    Family::ALL.iter().any(|f| {
        bgp.redistributes(*f, Redistribute::Kernel) || bgp.redistributes(*f, Redistribute::Static)
    })
}

/// Interface events: fast failover of sessions over a link that went down,
/// and a FIB rewrite when one comes back (the kernel drops the routes
/// through a link that goes down without telling anyone). The kernel's
/// routes are followed only while `wanted` says `redistribute` needs them;
/// the watch is opened again when that changes.
async fn watch(
    nl: Netlink,
    sp: SpeakerHandle,
    mut wanted: tokio::sync::watch::Receiver<bool>,
    on_link: tokio::sync::watch::Sender<OnLinkSubnets>,
) {
    if failpoint_armed("interface-watch") {
        // Once the daemon is up and serving.
        tokio::time::sleep(Duration::from_secs(1)).await;
        failpoint("interface-watch");
    }
    loop {
        let routes = *wanted.borrow_and_update();
        // Our own routes' notifications are dropped by the kernel: nothing
        // here acts on them, and a full-table install would flood the watch.
        let events = match nl.watch_with(routes, &[tern_netlink::TERN_PROTO]).await {
            Ok(rx) => rx,
            Err(e) => {
                tracing::warn!(error = %e, "no interface watch: link failures wait for the hold timer");
                return;
            }
        };
        tokio::select! {
            () = follow(&nl, &sp, events, routes, &on_link) => return,
            changed = wanted.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// What one link dump tells: the speaker's connected and kernel routes
/// (for `redistribute`) and the FIB task's on-link subnets, from the same
/// reading. The links read, if the dump worked.
async fn read_links(
    nl: &Netlink,
    sp: &SpeakerHandle,
    routes: bool,
    on_link: &tokio::sync::watch::Sender<OnLinkSubnets>,
) -> Option<Vec<Link>> {
    let links = match nl.links().await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "link dump failed");
            return None;
        }
    };
    on_link.send_replace(crate::fib::on_link_subnets(&links));
    send_kernel_routes(nl, sp, &links, routes).await;
    Some(links)
}

/// Acts on the events of one watch until it ends.
async fn follow(
    nl: &Netlink,
    sp: &SpeakerHandle,
    mut events: tokio::sync::mpsc::UnboundedReceiver<LinkEvent>,
    routes: bool,
    on_link: &tokio::sync::watch::Sender<OnLinkSubnets>,
) {
    let mut addrs: HashMap<u32, Vec<IpAddr>> = read_links(nl, sp, routes, on_link)
        .await
        .map(|ls| {
            ls.into_iter()
                .map(|l| (l.index, l.addresses.iter().map(|a| a.addr()).collect()))
                .collect()
        })
        .unwrap_or_default();
    while let Some(ev) = events.recv().await {
        tracing::debug!(event = ?ev, "interface event");
        match ev {
            LinkEvent::RouteAdded(r) | LinkEvent::RouteRemoved(r)
                if r.protocol != tern_netlink::TERN_PROTO =>
            {
                read_links(nl, sp, routes, on_link).await;
            }
            LinkEvent::AddressAdded { index, net } => {
                addrs.entry(index).or_default().push(net.addr());
                read_links(nl, sp, routes, on_link).await;
                sp.notify(Command::RetryConnects);
            }
            LinkEvent::AddressRemoved { index, net } => {
                addrs.entry(index).or_default().retain(|a| *a != net.addr());
                read_links(nl, sp, routes, on_link).await;
            }
            LinkEvent::LinkDown { index, .. } | LinkEvent::LinkRemoved { index, .. } => {
                // The addresses we knew on the link, and what it still holds
                // (IPv4 addresses stay on a link that goes down; IPv6 ones are
                // removed, so the cache is needed too).
                let mut a = addrs.get(&index).cloned().unwrap_or_default();
                if let Some(links) = read_links(nl, sp, routes, on_link).await {
                    for l in links.iter().filter(|l| l.index == index) {
                        a.extend(l.addresses.iter().map(|n| n.addr()));
                    }
                }
                sp.notify(Command::InterfaceDown(a));
            }
            LinkEvent::LinkUp { .. } => {
                read_links(nl, sp, routes, on_link).await;
                sp.notify(Command::ResyncFib);
                sp.notify(Command::RetryConnects);
            }
            // Not a FIB rewrite here: writing the whole table would itself
            // flood the watch (our own route notifications) and overrun it
            // again.
            LinkEvent::Overrun => {
                read_links(nl, sp, routes, on_link).await;
            }
            _ => {}
        }
    }
}

/// What `redistribute` may originate, classified as FRR does: connected
/// (the subnets of the interfaces' addresses, loopback /32s included),
/// static (main-table routes with proto static), kernel (main-table routes
/// of any other protocol but the kernel's own and Tern's).
async fn send_kernel_routes(nl: &Netlink, sp: &SpeakerHandle, links: &[Link], routes: bool) {
    use tern_bgp::{Family, config::Redistribute};
    const RTPROT_KERNEL: u8 = 2;
    const RTPROT_STATIC: u8 = 4;
    // Only `redistribute kernel|static` needs the main table: with a full
    // table installed, a dump is a million routes.
    let routes = if routes {
        let Ok(r) = nl
            .kernel_routes(None, Some(tern_netlink::RT_TABLE_MAIN))
            .await
        else {
            tracing::warn!("cannot read the kernel's routes for redistribute");
            return;
        };
        r
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    for l in links.iter().filter(|l| l.admin_up) {
        for a in &l.addresses {
            let net = a.trunc();
            let family = match net {
                ipnet::IpNet::V4(v4) if !v4.addr().is_loopback() => Family::Ipv4Unicast,
                ipnet::IpNet::V6(v6)
                    if !v6.addr().is_loopback() && !v6.addr().is_unicast_link_local() =>
                {
                    Family::Ipv6Unicast
                }
                _ => continue,
            };
            out.push((family, net, Redistribute::Connected));
        }
    }
    for r in routes {
        let prefix = r.route.prefix;
        let family = match prefix {
            ipnet::IpNet::V4(_) => Family::Ipv4Unicast,
            ipnet::IpNet::V6(v6) => {
                if v6.addr().is_unicast_link_local() || v6.addr().is_multicast() {
                    continue;
                }
                Family::Ipv6Unicast
            }
        };
        let kind = match r.protocol {
            p if p == tern_netlink::TERN_PROTO => continue,
            RTPROT_KERNEL => continue,
            RTPROT_STATIC => Redistribute::Static,
            _ => Redistribute::Kernel,
        };
        out.push((family, prefix, kind));
    }
    sp.notify(Command::KernelRoutes(out));
}
