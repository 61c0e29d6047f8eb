//! The BGP speaker: one task that owns every peer's FSM, the RIBs and the
//! route changes towards the kernel, fed by the connection I/O tasks
//! (io.rs), its timers and the control socket.
//!
//! Everything that decides is pure (fsm.rs, rib/); this module carries out
//! their actions: connects, writes, timers, and FIB changes.
mod bfd;
mod dynamic;
mod graceful;
pub mod gtsm;
pub mod io;
pub mod md5;
mod peer;
mod policy;
pub mod show;
mod vpn;

use std::{
    collections::{BTreeMap, HashMap},
    net::{IpAddr, Ipv4Addr},
    time::{Duration, Instant},
};

use tern_bgp_wire::{Message, UpdateMessage};
use tern_control::{BgpPeerSummary, BgpSummary};
use tokio::sync::{mpsc, oneshot};

use io::{ConnId, IoEvent};
use peer::{Conn, Peer};
use tern_bgp::{
    Family,
    config::BgpConfig,
    fsm::{Action, Event, State, Timer},
    rib::{Changes, FibChange, PeerId, Rib},
};

/// How long the speaker runs before it lets the other tasks of its thread
/// (the FIB task, the control socket) have a turn.
const SPEAKER_SLICE: std::time::Duration = std::time::Duration::from_millis(5);

/// Requests from the daemon (control socket, config changes).
#[derive(Debug)]
pub enum Command {
    Summary(oneshot::Sender<BgpSummary>),
    /// Cease every session (Administrative Shutdown) and stop; with
    /// `graceful` (graceful restart configured, ternd exiting), close the
    /// connections without a NOTIFICATION instead, so that the peers keep
    /// our routes while ternd restarts.
    Shutdown {
        graceful: bool,
        done: oneshot::Sender<()>,
    },
    /// (internal) The graceful-restart timer of this peer ran out.
    GracefulTimer(IpAddr),
    /// (internal) We restarted and waited long enough for End-of-RIBs.
    RestartOver,
    /// (internal) The End-of-RIB wait of an established session ran out
    /// (graceful.rs). A connection slot outlives its sessions, so the
    /// session is named by the moment it came up as well.
    EndOfRibDue {
        peer: IpAddr,
        conn: ConnId,
        since: Instant,
        wait: Duration,
    },
    /// An address or a link came up: sessions waiting in Active try to
    /// connect now instead of at their next connect-retry expiry (the peer
    /// may have just become reachable).
    RetryConnects,
    /// The kernel routes that `redistribute` may originate, as they are now.
    KernelRoutes(Vec<(Family, ipnet::IpNet, tern_bgp::config::model::Redistribute)>),
    /// A changed `router bgp` block (same AS and router-id).
    Reconfigure(Box<BgpConfig>),
    /// Changed prefix-lists, community-lists or route-maps.
    SetPolicy(std::sync::Arc<tern_bgp::policy::Policy>),
    /// The SRv6 config (VRFs, their BGP instances, SIDs): what is exported.
    SetSrv6(Box<tern_srv6::Srv6Config>),
    /// An interface went down; these were its addresses. Directly connected
    /// eBGP sessions over it are reset at once (FRR's fast external
    /// failover) instead of waiting for the hold timer.
    InterfaceDown(Vec<IpAddr>),
    /// The kernel may have dropped routes (an interface came back, or the
    /// watch overran): write every best path to the FIB again.
    ResyncFib,
    /// The service VIPs announced now.
    Vips(oneshot::Sender<Vec<ipnet::IpNet>>),
    /// Announce exactly these service VIPs (host routes; the daemon
    /// computes them from the services and the static VIPs): new ones are
    /// originated, missing ones withdrawn.
    SetVips(std::collections::BTreeSet<ipnet::IpNet>),
    /// `show ip bgp`, `show bgp neighbors`, `clear bgp` (speaker/show.rs).
    Show(show::ShowCommand),
}

/// A handle to the running speaker.
#[derive(Clone, Debug)]
pub struct SpeakerHandle {
    tx: mpsc::UnboundedSender<Command>,
}

impl SpeakerHandle {
    /// Whether both handles reach the same speaker.
    pub fn same(&self, other: &SpeakerHandle) -> bool {
        self.tx.same_channel(&other.tx)
    }

    /// Sends Cease to every peer and stops the speaker; returns once the
    /// NOTIFICATIONs are queued to their connections.
    pub async fn shutdown(&self, graceful: bool) {
        let (done, rx) = oneshot::channel();
        if self.tx.send(Command::Shutdown { graceful, done }).is_ok() {
            let _ = rx.await;
        }
    }

    /// The VIPs announced now.
    pub async fn vips(&self) -> Option<Vec<ipnet::IpNet>> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Command::Vips(tx)).ok()?;
        rx.await.ok()
    }

    /// Sends a command that needs no answer.
    pub fn notify(&self, cmd: Command) {
        let _ = self.tx.send(cmd);
    }

    /// `show bgp summary`.
    pub async fn summary(&self) -> Option<BgpSummary> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Command::Summary(tx)).ok()?;
        rx.await.ok()
    }
}

/// Where best-path changes go (the kernel FIB task).
pub type FibSender = mpsc::UnboundedSender<crate::fib::FibMsg>;

/// Options of the speaker that are not BGP configuration.
#[derive(Clone, Debug)]
pub struct SpeakerOptions {
    /// TCP port to listen on and connect to (179).
    pub port: u16,
    /// The node's hostname, sent in the FQDN capability (FRR shows it).
    pub hostname: Option<String>,
    /// The kernel kept the routes of a previous ternd (graceful restart):
    /// the OPENs say so, and the FIB is reconciled once the peers have sent
    /// End-of-RIB.
    pub restarting: bool,
    /// Where the best-path changes are published for the datapath and the
    /// egress gateway.
    pub loc_rib: crate::locrib::LocRibFeed,
    /// The BFD task, whose Down takes a session with `neighbor X bfd` down.
    pub bfd: Option<crate::bfd::BfdHandle>,
    /// Where the chosen VPN routes are published for the SRv6 datapath, and
    /// where each VRF's prefixes on this node come from.
    pub vpn: crate::vpn::VpnFeed,
}

impl Default for SpeakerOptions {
    fn default() -> Self {
        Self {
            port: io::BGP_PORT,
            hostname: None,
            restarting: false,
            loc_rib: Default::default(),
            bfd: None,
            vpn: Default::default(),
        }
    }
}

/// Timer expiry, sent by the timer tasks.
#[derive(Debug)]
struct TimerEvent {
    peer: IpAddr,
    conn: ConnId,
    timer: Timer,
    /// What the timer was started with.
    after: Duration,
}

/// The speaker's state.
struct Speaker {
    config: BgpConfig,
    /// Prefix-lists, community-lists and route-maps in force.
    policy: std::sync::Arc<tern_bgp::policy::Policy>,
    router_id: Ipv4Addr,
    opts: SpeakerOptions,
    peers: BTreeMap<IpAddr, Peer>,
    rib: Rib,
    io_tx: io::IoSender,
    timer_tx: mpsc::UnboundedSender<TimerEvent>,
    fib: FibSender,
    /// Service VIPs announced through the control socket.
    vips: std::collections::BTreeSet<ipnet::IpNet>,
    /// A duplicate of the listening socket, to set MD5 keys of neighbors
    /// added at run time.
    listener_fd: std::os::fd::OwnedFd,
    next_peer: u32,
    /// Kernel routes that `redistribute` may take, and what it originated.
    kernel_routes: Vec<(Family, ipnet::IpNet, tern_bgp::config::model::Redistribute)>,
    redistributed: std::collections::BTreeSet<(Family, ipnet::IpNet)>,
    next_conn: ConnId,
    timers: HashMap<(IpAddr, ConnId, Timer), tokio::task::JoinHandle<()>>,
    /// Commands the speaker sends itself (graceful-restart timers).
    self_tx: mpsc::UnboundedSender<Command>,
    /// Per peer: its restart or stale-path timer (RFC 4724 §4.2).
    gr_timers: HashMap<IpAddr, tokio::task::JoinHandle<()>>,
    /// While we are the restarting speaker: the (peer, family) End-of-RIBs
    /// still awaited before the FIB is reconciled.
    eor_pending: Option<std::collections::BTreeSet<(IpAddr, Family)>>,
    /// What the kernel is given for the best paths: next hops resolved
    /// through the connected subnets the kernel watch last told.
    nexthops: tern_bgp::nexthop::Tracker,
    /// Stopping: the sessions' routes leave the RIB, but the kernel is left
    /// to the caller (one purge, or nothing under graceful restart) instead
    /// of a delete per route.
    stopping: bool,
    /// Dynamic neighbors (listen ranges) and their peer-group.
    dynamic: BTreeMap<IpAddr, String>,
    /// Dynamic neighbors whose session went down, deleted after the event.
    reap: Vec<IpAddr>,
    /// TCP MD5 keys set on the listener for listen ranges.
    range_keys: BTreeMap<ipnet::IpNet, String>,
    /// The speaker's clock for whole-second comparisons (FRR's monotime).
    epoch: Instant,
    /// The VPN RIB and the sessions' VPN families.
    vpn: vpn::VpnState,
    /// The session I/O thread; last, so that the connections above are
    /// dropped (and their writers told to flush) before it stops.
    io: io::IoThread,
}

/// Starts the speaker: binds port 179 (an error if that fails), starts every
/// configured neighbor, originates the `network` routes.
pub fn spawn(
    config: BgpConfig,
    policy: std::sync::Arc<tern_bgp::policy::Policy>,
    router_id: Ipv4Addr,
    opts: SpeakerOptions,
    fib: FibSender,
) -> std::io::Result<SpeakerHandle> {
    // Peer-group members run with their group's settings filled in.
    let config = config.resolved();
    let io_thread = io::IoThread::start()?;
    let listener = io::listen(&io_thread, opts.port)?;
    gtsm::set_listener_rules(&listener, &gtsm::rules_of(&config))
        .map_err(|e| std::io::Error::new(e.kind(), format!("GTSM filter on the listener: {e}")))?;
    for (addr, n) in &config.neighbors {
        if let Some(pw) = &n.password {
            md5::set_key(&listener, *addr, pw.as_bytes(), true).map_err(|e| {
                std::io::Error::new(e.kind(), format!("TCP MD5 key for {addr}: {e}"))
            })?;
        }
    }
    let listener_fd = std::os::fd::AsFd::as_fd(&listener).try_clone_to_owned()?;
    let (io_tx, mut io_rx) = mpsc::channel(io::BACKLOG);
    let (timer_tx, mut timer_rx) = mpsc::unbounded_channel();
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel();
    let accept = io::accept_loop(&io_thread, listener, io_tx.clone());
    // Without BFD (tests), a channel that never speaks.
    let (_no_bfd, quiet) = tokio::sync::broadcast::channel(1);
    let mut bfd_rx = opts
        .bfd
        .as_ref()
        .map_or(quiet, crate::bfd::BfdHandle::subscribe);
    let mut vrf_rx = opts.vpn.subscribe_vrf_prefixes();
    let mut rib = Rib::with_config(tern_bgp::rib::RibConfig::from_bgp(&config, router_id));
    rib.set_policy(std::sync::Arc::clone(&policy), &BTreeMap::new());
    for family in Family::ALL {
        let aggregates = config.aggregates(family).map(|(p, a)| (*p, *a)).collect();
        rib.set_aggregates(family, &aggregates);
    }
    let mut sp = Speaker {
        config,
        policy,
        router_id,
        opts,
        peers: BTreeMap::new(),
        rib,
        io_tx,
        timer_tx,
        fib,
        vips: std::collections::BTreeSet::new(),
        listener_fd,
        next_peer: 0,
        kernel_routes: Vec::new(),
        redistributed: std::collections::BTreeSet::new(),
        next_conn: 1,
        timers: HashMap::new(),
        self_tx: cmd_tx.clone(),
        gr_timers: HashMap::new(),
        eor_pending: None,
        stopping: false,
        nexthops: Default::default(),
        dynamic: BTreeMap::new(),
        reap: Vec::new(),
        range_keys: BTreeMap::new(),
        epoch: Instant::now(),
        vpn: Default::default(),
        io: io_thread,
    };
    sp.apply_range_keys();
    tokio::spawn(async move {
        sp.start();
        let prefixes = vrf_rx.borrow_and_update().clone();
        sp.vpn_set_vrf_prefixes(prefixes);
        let mut slice = std::time::Instant::now();
        loop {
            // A flood of UPDATEs keeps the channels ready, and tokio's
            // per-poll budget still lets one poll run for a hundred
            // milliseconds: the FIB task (and the control socket) share
            // this thread, so the speaker gives way every few milliseconds.
            if slice.elapsed() >= SPEAKER_SLICE {
                tokio::task::yield_now().await;
                slice = std::time::Instant::now();
            }
            tokio::select! {
                Some(ev) = io_rx.recv() => {
                    sp.tell_time();
                    sp.on_io(ev)
                }
                Some(t) = timer_rx.recv() => {
                    sp.tell_time();
                    sp.on_timer(t)
                }
                Ok(st) = bfd_rx.recv() => {
                    sp.tell_time();
                    sp.on_bfd(st)
                }
                Ok(()) = vrf_rx.changed() => {
                    let prefixes = vrf_rx.borrow_and_update().clone();
                    sp.vpn_set_vrf_prefixes(prefixes)
                }
                cmd = cmd_rx.recv() => match cmd {
                    Some(Command::Shutdown { graceful, done }) => {
                        sp.shutdown(graceful);
                        let _ = done.send(());
                        break;
                    }
                    Some(c) => {
                        sp.tell_time();
                        sp.on_command(c)
                    }
                    None => break,
                },
            }
        }
        accept.abort();
        sp.shutdown(false);
    });
    Ok(SpeakerHandle { tx: cmd_tx })
}

impl Speaker {
    /// Gives the RIB the time of the event about to be handled: it notes
    /// it as the arrival time of the paths the event brings.
    fn tell_time(&mut self) {
        self.rib.set_time(crate::clock::unix_now());
    }

    fn start(&mut self) {
        self.tell_time();
        tracing::info!(asn = self.config.asn, router_id = %self.router_id, "BGP speaker started");
        if self.opts.restarting {
            self.restart_begin();
        }
        let mut changes = Changes::default();
        for family in Family::ALL {
            let nets: Vec<_> = self.config.networks(family).copied().collect();
            for net in nets {
                changes.merge(self.rib.originate(family, net));
            }
        }
        self.apply_changes(changes);
        let neighbors: Vec<_> = self
            .config
            .neighbors
            .iter()
            .map(|(a, n)| (*a, n.clone()))
            .collect();
        for (addr, ncfg) in neighbors {
            self.add_peer(addr, ncfg, Event::ManualStart);
        }
    }

    /// Creates a neighbor and starts its session (unless shut down) with
    /// `start`: ManualStart, or DelayedStart for a neighbor whose previous
    /// session we just ended (the peer first takes its side down).
    fn add_peer(
        &mut self,
        addr: IpAddr,
        ncfg: tern_bgp::config::model::NeighborConfig,
        start: Event,
    ) {
        let id = PeerId(self.next_peer);
        self.next_peer = self.next_peer.saturating_add(1);
        let Some(peer) = Peer::new(
            id,
            addr,
            ncfg,
            &self.config,
            self.router_id,
            self.opts.hostname.as_deref(),
            self.eor_pending.is_some(),
        ) else {
            tracing::warn!(peer = %addr, "neighbor without remote-as: not started");
            return;
        };
        let shutdown = peer.cfg.shutdown;
        self.peers.insert(addr, peer);
        if !shutdown {
            let conn = self.new_conn(addr, !self.peer_passive(addr));
            self.fsm_event(addr, conn, start);
        }
    }

    /// Stops a neighbor's session (Cease) and forgets it.
    fn remove_peer(&mut self, addr: IpAddr) {
        let conns: Vec<ConnId> = self
            .peers
            .get(&addr)
            .map(|p| p.conns.iter().map(|c| c.id).collect())
            .unwrap_or_default();
        for c in conns {
            self.fsm_event(addr, c, Event::ManualStop);
        }
        self.timers.retain(|(a, _, _), h| {
            if *a == addr {
                h.abort();
                false
            } else {
                true
            }
        });
        if let Some(t) = self.gr_timers.remove(&addr) {
            t.abort();
        }
        if let Some(pending) = &mut self.eor_pending {
            pending.retain(|(a, _)| *a != addr);
        }
        if let Some(p) = self.peers.remove(&addr) {
            // Routes of a session that was up went with its Down action;
            // this also covers a peer the RIB still knows (and one kept in
            // graceful restart).
            let changes = self.rib.peer_down(p.id);
            self.apply_changes(changes);
        }
        self.vpn_down(addr);
        let _ = md5::set_key(&self.listener_fd, addr, b"", true);
    }

    /// Applies a changed `router bgp` block with the same AS and router-id:
    /// originated networks, maximum-paths and neighbors are brought in line;
    /// a neighbor whose settings changed restarts its session.
    fn reconfigure(&mut self, new: BgpConfig) {
        let new = self.effective(&new);
        let old = std::mem::replace(&mut self.config, new);
        self.apply_gtsm_filter();
        self.apply_range_keys();
        let mut changes = Changes::default();
        if old.multipath_relax != self.config.multipath_relax {
            changes.merge(self.rib.set_multipath_relax(self.config.multipath_relax));
        }
        for family in Family::ALL {
            let aggregates = self
                .config
                .aggregates(family)
                .map(|(p, a)| (*p, *a))
                .collect();
            changes.merge(self.rib.set_aggregates(family, &aggregates));
            if old.maximum_paths(family) != self.config.maximum_paths(family) {
                let n = self.config.maximum_paths(family);
                changes.merge(self.rib.set_maximum_paths(family, n));
            }
            let before: std::collections::BTreeSet<_> = old.networks(family).copied().collect();
            let after: std::collections::BTreeSet<_> =
                self.config.networks(family).copied().collect();
            for net in after.difference(&before) {
                changes.merge(self.rib.originate(family, *net));
            }
            for net in before.difference(&after) {
                if self.vips.contains(net) {
                    continue;
                }
                if self.redistributed.contains(&(family, *net)) {
                    changes.merge(self.rib.originate_redistributed(family, *net));
                } else {
                    changes.merge(self.rib.withdraw_local(family, *net));
                }
            }
        }
        self.apply_changes(changes);
        // A family activated or deactivated (unicast or VPN) restarts the
        // session, so that the capabilities are negotiated again.
        let activation = |c: &BgpConfig, a: IpAddr| -> Vec<bool> {
            Family::ALL
                .iter()
                .map(|f| c.is_active(a, *f))
                .chain(
                    tern_bgp::config::VpnFamily::ALL
                        .iter()
                        .map(|f| c.vpn_active(*f, a)),
                )
                .collect()
        };
        let addrs: std::collections::BTreeSet<IpAddr> = old
            .neighbors
            .keys()
            .chain(self.config.neighbors.keys())
            .copied()
            .collect();
        for addr in addrs {
            let before = old.neighbors.get(&addr);
            let after = self.config.neighbors.get(&addr).cloned();
            match (before, after) {
                (Some(_), None) => {
                    tracing::info!(peer = %addr, "neighbor removed");
                    self.remove_peer(addr);
                }
                (None, Some(n)) => {
                    tracing::info!(peer = %addr, "neighbor added");
                    self.set_listener_key(addr, &n);
                    self.add_peer(addr, n, Event::ManualStart);
                }
                (Some(b), Some(n)) => {
                    // `neighbor X bfd` alone leaves the session as it is
                    // (as FRR); any other change restarts it.
                    let bfd_only = tern_bgp::config::model::NeighborConfig {
                        bfd: n.bfd,
                        ..b.clone()
                    } == n;
                    if let Some(p) = self.peers.get_mut(&addr) {
                        p.cfg.bfd = n.bfd;
                    }
                    // The OPEN carries the graceful-restart settings: a
                    // change reaches the peer with a new session (as FRR).
                    if !bfd_only
                        || activation(&old, addr) != activation(&self.config, addr)
                        || old.graceful_restart != self.config.graceful_restart
                    {
                        tracing::info!(peer = %addr, "neighbor changed: restarting its session");
                        self.remove_peer(addr);
                        self.set_listener_key(addr, &n);
                        self.add_peer(addr, n, Event::DelayedStart);
                    }
                }
                (None, None) => {}
            }
        }
    }

    fn set_listener_key(&self, addr: IpAddr, n: &tern_bgp::config::model::NeighborConfig) {
        let key = n.password.as_deref().unwrap_or("");
        if let Err(e) = md5::set_key(&self.listener_fd, addr, key.as_bytes(), true) {
            tracing::warn!(peer = %addr, error = %e, "cannot set the TCP MD5 key");
        }
    }

    fn peer_passive(&self, addr: IpAddr) -> bool {
        self.peers.get(&addr).is_some_and(|p| p.cfg.passive)
    }

    /// Creates a connection slot (and its FSM) for `addr`.
    fn new_conn(&mut self, addr: IpAddr, outgoing: bool) -> ConnId {
        let id = self.next_conn;
        self.next_conn += 1;
        if let Some(p) = self.peers.get_mut(&addr) {
            let fsm = p.new_fsm(!outgoing);
            p.conns.push(Conn::new(id, fsm, outgoing));
        }
        id
    }

    fn shutdown(&mut self, graceful: bool) {
        self.stopping = true;
        for (_, t) in self.gr_timers.drain() {
            t.abort();
        }
        if self.peers.is_empty() && self.timers.is_empty() {
            return;
        }
        let addrs: Vec<IpAddr> = self.peers.keys().copied().collect();
        for a in addrs {
            if graceful {
                if let Some(p) = self.peers.get_mut(&a) {
                    for c in &mut p.conns {
                        c.close();
                    }
                }
                continue;
            }
            let conns: Vec<ConnId> = self.peers[&a].conns.iter().map(|c| c.id).collect();
            for c in conns {
                self.fsm_event(a, c, Event::ManualStop);
            }
        }
        for (_, t) in self.timers.drain() {
            t.abort();
        }
        self.peers.clear();
    }

    fn on_command(&mut self, cmd: Command) {
        // Shows and summaries count the KEEPALIVEs the writers sent.
        for p in self.peers.values_mut() {
            p.collect_keepalives();
        }
        match cmd {
            Command::Summary(reply) => {
                let _ = reply.send(self.summary());
            }
            Command::Shutdown { graceful, done } => {
                self.shutdown(graceful);
                let _ = done.send(());
            }
            Command::GracefulTimer(peer) => self.graceful_timer(peer),
            Command::RestartOver => self.restart_over(),
            Command::EndOfRibDue {
                peer,
                conn,
                since,
                wait,
            } => self.end_of_rib_due(peer, conn, since, wait),
            Command::InterfaceDown(addrs) => self.interface_down(&addrs),
            Command::Reconfigure(cfg) => {
                self.reconfigure(*cfg);
                self.apply_policy();
                self.redistribute();
            }
            Command::SetPolicy(policy) => {
                self.policy = policy;
                self.apply_policy();
            }
            Command::SetSrv6(srv6) => self.vpn_set_srv6(*srv6),
            Command::KernelRoutes(routes) => {
                let connected: std::collections::BTreeSet<ipnet::IpNet> = routes
                    .iter()
                    .filter(|(_, _, k)| *k == tern_bgp::config::model::Redistribute::Connected)
                    .map(|(_, p, _)| *p)
                    .collect();
                self.kernel_routes = routes;
                self.redistribute();
                if self.nexthops.set_connected(connected) {
                    self.resync_fib();
                }
                self.follow_link_locals();
            }
            Command::RetryConnects => {
                let waiting: Vec<(IpAddr, ConnId)> = self
                    .peers
                    .iter()
                    .filter(|(_, p)| !p.cfg.passive && !p.cfg.shutdown)
                    .flat_map(|(a, p)| {
                        p.conns
                            .iter()
                            .filter(|c| c.fsm.state() == State::Active && c.writer.is_none())
                            .map(move |c| (*a, c.id))
                    })
                    .collect();
                for (peer, conn) in waiting {
                    self.stop_timer(peer, conn, Timer::ConnectRetry);
                    self.fsm_event(peer, conn, Event::ConnectRetryTimerExpires);
                }
            }
            Command::Vips(reply) => {
                let _ = reply.send(self.vips.iter().copied().collect());
            }
            Command::SetVips(want) => self.set_vips(want),
            Command::ResyncFib => self.resync_fib(),
            Command::Show(c) => self.on_show(c),
        }
    }

    /// Service VIPs: host routes originated at run time. `want` holds
    /// host routes only (the daemon checks them).
    fn set_vips(&mut self, want: std::collections::BTreeSet<ipnet::IpNet>) {
        let family = |p: &ipnet::IpNet| match p {
            ipnet::IpNet::V4(_) => Family::Ipv4Unicast,
            ipnet::IpNet::V6(_) => Family::Ipv6Unicast,
        };
        let mut changes = Changes::default();
        let added: Vec<ipnet::IpNet> = want.difference(&self.vips).copied().collect();
        let removed: Vec<ipnet::IpNet> = self.vips.difference(&want).copied().collect();
        for prefix in &added {
            changes.merge(self.rib.originate(family(prefix), *prefix));
            tracing::info!(vip = %prefix, "VIP announced");
        }
        for prefix in &removed {
            let f = family(prefix);
            // A `network` line for the same prefix keeps it originated;
            // `redistribute` does too, as an INCOMPLETE route.
            if !self.config.networks(f).any(|n| n == prefix) {
                changes.merge(if self.redistributed.contains(&(f, *prefix)) {
                    self.rib.originate_redistributed(f, *prefix)
                } else {
                    self.rib.withdraw_local(f, *prefix)
                });
            }
            tracing::info!(vip = %prefix, "VIP withdrawn");
        }
        self.vips = want;
        self.apply_changes(changes);
    }

    /// Brings the routes originated by `redistribute` in line with the
    /// kernel's routes and the config. A prefix also given by a `network`
    /// line or a VIP stays originated when it leaves the kernel.
    fn redistribute(&mut self) {
        let want: std::collections::BTreeSet<(Family, ipnet::IpNet)> = self
            .kernel_routes
            .iter()
            .filter(|(f, _, r)| self.config.redistributes(*f, *r))
            .map(|(f, p, _)| (*f, *p))
            .collect();
        let mut changes = Changes::default();
        for (f, p) in want.difference(&self.redistributed) {
            // A `network` or a VIP is originated already, with ORIGIN IGP.
            if !(self.config.networks(*f).any(|n| n == p) || self.vips.contains(p)) {
                changes.merge(self.rib.originate_redistributed(*f, *p));
            }
        }
        for (f, p) in self.redistributed.difference(&want) {
            let kept = self.config.networks(*f).any(|n| n == p) || self.vips.contains(p);
            if !kept {
                changes.merge(self.rib.withdraw_local(*f, *p));
            }
        }
        self.redistributed = want;
        self.apply_changes(changes);
    }

    fn interface_down(&mut self, addrs: &[IpAddr]) {
        let hit: Vec<(IpAddr, ConnId)> = self
            .peers
            .iter()
            .filter(|(_, p)| p.ttl() == Some(1))
            .flat_map(|(a, p)| {
                p.conns
                    .iter()
                    .filter(|c| c.local_addr.is_some_and(|l| addrs.contains(&l)))
                    .map(move |c| (*a, c.id))
            })
            .collect();
        for (peer, conn) in hit {
            tracing::warn!(%peer, "interface down: resetting the session (fast external failover)");
            self.fsm_event(peer, conn, Event::TcpConnectionFails);
        }
    }

    /// The interfaces' addresses changed: an established session whose
    /// shared link now has another link-local address (or none) is sent our
    /// routes again with it (RFC 2545 next hops).
    fn follow_link_locals(&mut self) {
        let moved: Vec<(IpAddr, tern_bgp::rib::PeerId, Option<std::net::Ipv6Addr>)> = self
            .peers
            .iter()
            .filter_map(|(a, p)| {
                let info = p.info.as_ref()?;
                let now = peer::shared_link_local(info.local_addr, *a);
                (now != info.link_local).then_some((*a, info.id, now))
            })
            .collect();
        for (addr, id, link_local) in moved {
            tracing::info!(peer = %addr, ?link_local, "our link-local address on the shared link changed: routes sent again");
            if let Some(info) = self.peers.get_mut(&addr).and_then(|p| p.info.as_mut()) {
                info.link_local = link_local;
            }
            let updates = self.rib.set_link_local(id, link_local);
            self.send_updates(vec![(id, updates)]);
        }
    }

    /// The kernel's view of best-path changes, with the FIB task told
    /// first on which session's link each link-local next hop lies.
    fn kernel_fib(&mut self, fib: Vec<FibChange>) -> Vec<FibChange> {
        let view = self.nexthops.kernel_view(&self.rib, fib);
        if !view.link_local.is_empty() {
            let _ = self
                .fib
                .send(crate::fib::FibMsg::LinkLocal(view.link_local));
        }
        view.changes
    }

    fn resync_fib(&mut self) {
        let mut fib = Vec::new();
        for family in Family::ALL {
            for view in self.rib.routes(family) {
                let nexthops = self.rib.fib_nexthops(family, view.prefix);
                if !nexthops.is_empty() {
                    fib.push(FibChange {
                        family,
                        prefix: view.prefix,
                        nexthops: nexthops.into(),
                    });
                }
            }
        }
        if !fib.is_empty() {
            tracing::info!(routes = fib.len(), "rewriting the FIB");
            self.opts.loc_rib.record(&fib);
            let fib = self.kernel_fib(fib);
            let _ = self.fib.send(crate::fib::FibMsg::Changes(fib));
        }
    }

    fn on_timer(&mut self, t: TimerEvent) {
        self.timers.remove(&(t.peer, t.conn, t.timer));
        if t.timer == Timer::Hold && !self.hold_expired(t.peer, t.conn, t.after) {
            return;
        }
        if t.timer == Timer::ConnectRetry
            && let Some(p) = self.peers.get(&t.peer)
            && p.conns.iter().any(|c| c.id == t.conn && c.writer.is_none())
        {
            if p.cfg.password.is_some() {
                tracing::warn!(
                    peer = %t.peer,
                    "no BGP connection with the peer yet; a TCP MD5 password is configured: \
                     a password mismatch looks exactly like this (the kernel drops segments \
                     without the right signature)"
                );
            } else if let Some(hops) = p.cfg.ttl_security {
                tracing::warn!(
                    peer = %t.peer,
                    "no BGP connection with the peer yet; ttl-security hops {hops} is configured: \
                     a peer more than {hops} hops away, or one that sends with TTL < 255, looks \
                     exactly like this (the kernel drops its packets)"
                );
            } else {
                tracing::info!(peer = %t.peer, "no BGP connection with the peer yet");
            }
        }
        let event = match t.timer {
            Timer::ConnectRetry => Event::ConnectRetryTimerExpires,
            Timer::Hold => Event::HoldTimerExpires,
            Timer::Keepalive => Event::KeepaliveTimerExpires,
            Timer::IdleHold => Event::IdleHoldTimerExpires,
        };
        self.fsm_event(t.peer, t.conn, event);
    }

    fn on_io(&mut self, ev: IoEvent) {
        match ev {
            IoEvent::Connected { peer, conn, stream } => {
                let Some(c) = self.conn_mut(peer, conn) else {
                    return; // the slot is gone: the stream just closes
                };
                c.connect_task = None;
                if c.fsm.state() != State::Connect && c.fsm.state() != State::Active {
                    return;
                }
                self.attach(peer, conn, stream);
                self.fsm_event(peer, conn, Event::TcpConnected);
            }
            IoEvent::ConnectFailed { peer, conn, error } => {
                tracing::debug!(%peer, %error, "connect failed");
                if let Some(c) = self.conn_mut(peer, conn) {
                    c.connect_task = None;
                    self.fsm_event(peer, conn, Event::TcpConnectionFails);
                }
            }
            IoEvent::Accepted { stream, remote } => self.on_accept(stream, remote),
            IoEvent::SendHoldExpired { peer, conn } => {
                tracing::warn!(%peer, "send hold timer expired: the peer has read nothing for twice the hold time (RFC 9687)");
                self.fsm_event(peer, conn, Event::SendHoldTimerExpires);
            }
            IoEvent::Message { peer, conn, msg } => self.on_message(peer, conn, msg),
            IoEvent::Closed { peer, conn, error } => {
                if let Some(e) = error {
                    tracing::info!(%peer, error = %e, "connection closed");
                }
                if self
                    .conn_mut(peer, conn)
                    .is_some_and(|c| c.writer.is_some())
                {
                    self.fsm_event(peer, conn, Event::TcpConnectionFails);
                }
            }
        }
    }

    fn conn_mut(&mut self, peer: IpAddr, conn: ConnId) -> Option<&mut Conn> {
        self.peers
            .get_mut(&peer)?
            .conns
            .iter_mut()
            .find(|c| c.id == conn)
    }

    /// Starts the I/O tasks of an established TCP connection.
    fn attach(&mut self, peer: IpAddr, conn: ConnId, stream: tokio::net::TcpStream) {
        let local = stream.local_addr().ok().map(|a| io::unmap(a.ip()));
        let sockets = stream.local_addr().ok().zip(stream.peer_addr().ok());
        let tx = self.io_tx.clone();
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let open = p.local_open.clone();
        let Some(c) = p.conns.iter_mut().find(|c| c.id == conn) else {
            return;
        };
        let running = io::run_connection(&self.io, stream, peer, conn, open, tx);
        // The writer task ends by itself once `writer` is dropped and its
        // queue is written out (so a last NOTIFICATION still leaves).
        c.writer = Some(running.writer);
        c.tasks.push(running.reader);
        c.wire = Some(running.wire);
        c.local_addr = local;
        c.sockets = sockets;
    }

    /// RFC 4271 section 6.8: a connection from a peer we may already be
    /// talking to.
    fn on_accept(&mut self, stream: tokio::net::TcpStream, remote: std::net::SocketAddr) {
        let addr = remote.ip();
        if !self.peers.contains_key(&addr) && !self.accept_dynamic(addr) {
            tracing::info!(peer = %addr, "connection from an unconfigured address refused");
            return;
        }
        let Some(p) = self.peers.get(&addr) else {
            return;
        };
        if p.cfg.shutdown {
            return;
        }
        if !gtsm::prepare_accepted(&stream, p.addr, p.cfg.ttl_security, p.ttl()) {
            return;
        }
        // (slot, state, our own TCP connect in flight)
        let existing: Vec<(ConnId, State, bool)> = p
            .conns
            .iter()
            .map(|c| (c.id, c.fsm.state(), c.connect_task.is_some()))
            .collect();
        if existing.iter().any(|(_, s, _)| *s == State::Established) {
            tracing::info!(peer = %addr, "connection refused: session already established");
            return;
        }
        // A slot waiting for TCP takes the connection, unless our own SYN
        // is out: the peer may accept that one too, and then both
        // connections must run so that collision detection (RFC 4271
        // §6.8) keeps the same one on both sides. Aborting ours here made
        // both sides lose both connections whenever they connected at the
        // same moment (FRR then closes its own with Cease/Connection
        // Collision Resolution, and ours is gone).
        if let Some((id, state, _)) = existing
            .iter()
            .find(|(_, s, in_flight)| {
                matches!(s, State::Idle | State::Active) || (*s == State::Connect && !in_flight)
            })
            .copied()
        {
            if let Some(c) = self.conn_mut(addr, id) {
                if let Some(t) = c.connect_task.take() {
                    t.abort();
                }
                c.outgoing = false;
            }
            if state == State::Idle {
                self.fsm_event(addr, id, Event::IdleHoldTimerExpires);
            }
            self.attach(addr, id, stream);
            self.fsm_event(addr, id, Event::TcpConnected);
            return;
        }
        if existing.len() >= 2 {
            return;
        }
        // Both sides connected at once: run a second FSM on this
        // connection; the OPENs will tell which one stays.
        let id = self.new_conn(addr, false);
        self.fsm_event(addr, id, Event::ManualStart);
        self.attach(addr, id, stream);
        self.fsm_event(addr, id, Event::TcpConnected);
    }

    fn on_message(
        &mut self,
        peer: IpAddr,
        conn: ConnId,
        msg: Result<Message, tern_bgp_wire::MessageError>,
    ) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.stats.msg_rcvd += 1;
        let msg = match msg {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "malformed message");
                self.fsm_event(peer, conn, Event::MessageError(e.notification()));
                return;
            }
        };
        p.stats.count(&msg, false);
        match msg {
            Message::Open(open) => {
                if self.resolve_collision(peer, conn, open.bgp_id) {
                    self.fsm_event(peer, conn, Event::OpenReceived(open));
                }
            }
            Message::Keepalive => self.fsm_event(peer, conn, Event::KeepaliveReceived),
            Message::Notification(n) => {
                tracing::warn!(%peer, "received NOTIFICATION {}/{}", n.code_name(), n.subcode_name());
                self.fsm_event(peer, conn, Event::NotificationReceived(n));
            }
            Message::RouteRefresh(_) => {
                self.fsm_event(peer, conn, Event::UpdateReceived);
                self.refresh_out(peer, conn);
            }
            Message::Update(update) => self.on_update(peer, conn, update),
        }
    }

    /// With two connections to one peer, keeps the one opened by the side
    /// with the higher BGP Identifier (RFC 4271 section 6.8). Returns false
    /// when `conn` itself was closed. Only a connection whose OPEN came
    /// (OpenConfirm, Established) collides: one still in OpenSent may be
    /// dead without our knowing (a GTSM peer's FIN below the minimum TTL
    /// never arrives) and must not keep a live one out.
    fn resolve_collision(&mut self, peer: IpAddr, conn: ConnId, remote_id: Ipv4Addr) -> bool {
        let Some(p) = self.peers.get(&peer) else {
            return false;
        };
        let Some(other) = p.conns.iter().find(|c| {
            c.id != conn && matches!(c.fsm.state(), State::OpenConfirm | State::Established)
        }) else {
            return true;
        };
        let other_id = other.id;
        let loser = if other.fsm.state() == State::Established {
            conn
        } else {
            // The connection the lower identifier opened is closed.
            let ours_wins = u32::from(self.router_id) > u32::from(remote_id);
            let this_outgoing = p
                .conns
                .iter()
                .find(|c| c.id == conn)
                .is_some_and(|c| c.outgoing);
            let close_this = if ours_wins {
                !this_outgoing
            } else {
                this_outgoing
            };
            if close_this { conn } else { other_id }
        };
        tracing::info!(%peer, "connection collision: closing one connection");
        self.close_collision_loser(peer, loser);
        loser != conn
    }

    fn close_collision_loser(&mut self, peer: IpAddr, loser: ConnId) {
        let n = tern_bgp_wire::NotificationMessage::cease(
            tern_bgp::fsm::cease::CONNECTION_COLLISION_RESOLUTION,
        );
        self.send(peer, loser, &Message::Notification(n));
        for t in [
            Timer::ConnectRetry,
            Timer::Hold,
            Timer::Keepalive,
            Timer::IdleHold,
        ] {
            self.stop_timer(peer, loser, t);
        }
        let passive = self.peer_passive(peer);
        if let Some(p) = self.peers.get_mut(&peer) {
            p.conns.retain(|c| c.id != loser);
            // The survivor restarts per the neighbor's own config if it fails.
            for c in &mut p.conns {
                c.fsm.set_passive(passive);
            }
        }
    }

    fn on_update(&mut self, peer: IpAddr, conn: ConnId, update: UpdateMessage) {
        let established = self.peers.get(&peer).and_then(|p| p.established_conn()) == Some(conn);
        if !established {
            // An UPDATE outside Established is an FSM error.
            self.fsm_event(peer, conn, Event::UpdateReceived);
            return;
        }
        self.fsm_event(peer, conn, Event::UpdateReceived);
        if let tern_bgp_wire::UpdateOutcome::SessionReset(e) = &update.outcome {
            tracing::warn!(%peer, error = %e, "UPDATE error: resetting the session (RFC 7606)");
            self.fsm_event(peer, conn, Event::MessageError(e.notification()));
            return;
        }
        if !matches!(update.outcome, tern_bgp_wire::UpdateOutcome::Accept) {
            tracing::warn!(%peer, outcome = ?update.outcome, "UPDATE handled per RFC 7606");
        }
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let id = p.id;
        p.stats.last_update = Some(Instant::now());
        if let Some(family) = update.end_of_rib().and_then(tern_bgp::family::family_of) {
            if !p.stats.eor_received.contains(&family) {
                p.stats.eor_received.push(family);
            }
            self.end_of_rib(peer, id, family);
            return;
        }
        self.vpn_update(peer, &update);
        let changes = self.rib.update_from_peer(id, &update);
        self.apply_changes(changes);
        self.check_prefix_limit(peer, conn, id);
    }

    /// `neighbor X maximum-prefix N`: past N accepted prefixes the session
    /// ends with Cease / Maximum Number of Prefixes Reached (RFC 4486: the
    /// data is AFI, SAFI and the limit) and stays down until reconfigured.
    fn check_prefix_limit(&mut self, peer: IpAddr, conn: ConnId, id: PeerId) {
        for family in Family::ALL {
            let Some(max) = self.config.maximum_prefix(peer, family) else {
                continue;
            };
            // Every prefix the peer makes us hold counts, refused ones too
            // (as FRR's `maximum-prefix N force`): a peer cannot fill our
            // memory with routes the import checks turn down.
            let received = self.rib.peer_counts(id, family).map_or(0, |c| c.received);
            if received as u64 > u64::from(max) {
                tracing::warn!(%peer, received, max, family = family.keyword(), "maximum-prefix exceeded: session stopped");
                let af = peer::afi_safi(family);
                let mut data = af.afi.0.to_be_bytes().to_vec();
                data.push(af.safi.0);
                data.extend_from_slice(&max.to_be_bytes());
                let n =
                    tern_bgp_wire::NotificationMessage::new(tern_bgp_wire::code::CEASE, 1, data);
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.stats.prefix_limit_hit = true;
                }
                self.fsm_event(peer, conn, Event::StopWith(n));
                return;
            }
        }
    }

    /// Re-advertises everything to a peer that asked (ROUTE-REFRESH).
    fn refresh_out(&mut self, peer: IpAddr, conn: ConnId) {
        let Some(info) = self.peers.get(&peer).and_then(|p| p.info.clone()) else {
            return;
        };
        for u in self.rib.peer_up(&info) {
            self.send(peer, conn, &Message::Update(u));
        }
    }

    /// Feeds an event to one connection's FSM and carries out its actions.
    fn fsm_event(&mut self, peer: IpAddr, conn: ConnId, event: Event) {
        let Some(c) = self.conn_mut(peer, conn) else {
            return;
        };
        let actions = c.fsm.process(event);
        for a in actions {
            self.act(peer, conn, a);
        }
        self.reap_dynamic();
    }

    fn act(&mut self, peer: IpAddr, conn: ConnId, action: Action) {
        match action {
            Action::Connect => {
                let opts = self
                    .peers
                    .get(&peer)
                    .map(|p| io::ConnectOptions {
                        ttl: p.ttl(),
                        gtsm_hops: p.cfg.ttl_security,
                        md5_key: p.cfg.password.clone(),
                        source: p.source_address(),
                    })
                    .unwrap_or_default();
                let port = self.opts.port;
                let tx = self.io_tx.clone();
                let idle = self
                    .conn_mut(peer, conn)
                    .is_some_and(|c| c.writer.is_none() && c.connect_task.is_none());
                if idle {
                    let task = io::connect(&self.io, peer, conn, port, opts, tx);
                    if let Some(c) = self.conn_mut(peer, conn) {
                        c.outgoing = true;
                        c.connect_task = Some(task);
                    }
                }
            }
            Action::Disconnect => {
                if let Some(c) = self.conn_mut(peer, conn) {
                    c.close();
                }
            }
            Action::SendOpen(open) => self.send(peer, conn, &Message::Open(open)),
            Action::SendKeepalive => self.send(peer, conn, &Message::Keepalive),
            Action::SendNotification(n) => {
                tracing::warn!(%peer, "sending NOTIFICATION {}/{}", n.code_name(), n.subcode_name());
                self.send(peer, conn, &Message::Notification(n));
            }
            Action::StartTimer(t, d) => self.start_timer(peer, conn, t, d),
            Action::StopTimer(t) => self.stop_timer(peer, conn, t),
            Action::Established(session) => self.on_established(peer, conn, *session),
            Action::Down(reason) => {
                self.on_down(peer, conn, reason);
                self.dynamic_down(peer);
            }
        }
    }

    fn send(&mut self, peer: IpAddr, conn: ConnId, msg: &Message) {
        let secs = self.epoch.elapsed().as_secs();
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let Some(c) = p.conns.iter_mut().find(|c| c.id == conn) else {
            return;
        };
        let Some(w) = &c.writer else {
            return;
        };
        match msg.to_bytes(&c.codec) {
            Ok(bytes) => {
                if w.send(io::Outgoing::Message(bytes)).is_ok() {
                    p.stats.msg_sent += 1;
                    p.stats.count(msg, true);
                    if let Message::Update(u) = msg {
                        p.stats.note_update_sent(u, secs);
                    }
                }
            }
            Err(e) => tracing::error!(%peer, error = %e, "cannot encode a message"),
        }
    }

    fn start_timer(&mut self, peer: IpAddr, conn: ConnId, timer: Timer, after: Duration) {
        if timer == Timer::Keepalive {
            // The writer on the I/O thread keeps this one, so that
            // KEEPALIVEs leave on time however busy the speaker is.
            if let Some(w) = self.conn_mut(peer, conn).and_then(|c| c.writer.as_ref()) {
                let _ = w.send(io::Outgoing::Keepalives(Some(after)));
            }
            return;
        }
        self.arm_timer(peer, conn, timer, after, after);
    }

    /// Starts `timer` to fire after `sleep`; `after` is the duration the
    /// FSM asked for (a hold timer started again for what is left of the
    /// hold time still measures silence against the whole of it).
    fn arm_timer(
        &mut self,
        peer: IpAddr,
        conn: ConnId,
        timer: Timer,
        sleep: Duration,
        after: Duration,
    ) {
        self.stop_timer(peer, conn, timer);
        let tx = self.timer_tx.clone();
        let h = tokio::spawn(async move {
            tokio::time::sleep(sleep).await;
            let _ = tx.send(TimerEvent {
                peer,
                conn,
                timer,
                after,
            });
        });
        self.timers.insert((peer, conn, timer), h);
    }

    fn stop_timer(&mut self, peer: IpAddr, conn: ConnId, timer: Timer) {
        if timer == Timer::Keepalive {
            if let Some(w) = self.conn_mut(peer, conn).and_then(|c| c.writer.as_ref()) {
                let _ = w.send(io::Outgoing::Keepalives(None));
            }
            return;
        }
        if let Some(h) = self.timers.remove(&(peer, conn, timer)) {
            h.abort();
        }
    }

    /// The hold timer ran out: true if the peer was really silent that
    /// long on the wire. Its messages may only be waiting in our backlog
    /// (the FSM hears of them when the speaker gets to them), or ternd
    /// may be holding the reader back; then the timer starts again for
    /// what is left of the hold time, counted from the last bytes read.
    fn hold_expired(&mut self, peer: IpAddr, conn: ConnId, hold: Duration) -> bool {
        let Some(wire) = self.conn_mut(peer, conn).and_then(|c| c.wire.clone()) else {
            return true;
        };
        let silent = wire.silent_for();
        if silent >= hold {
            return true;
        }
        tracing::debug!(%peer, silent_ms = silent.as_millis() as u64, "hold timer: the peer was heard on the wire since");
        self.arm_timer(peer, conn, Timer::Hold, hold - silent, hold);
        false
    }

    fn on_established(&mut self, peer: IpAddr, conn: ConnId, session: tern_bgp::fsm::Session) {
        self.vpn_established(peer, &session);
        let families: Vec<Family> = Family::ALL
            .into_iter()
            .filter(|f| self.config.is_active(peer, *f))
            .collect();
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let Some(c) = p.conns.iter_mut().find(|c| c.id == conn) else {
            return;
        };
        c.codec = session.codec.clone();
        // RFC 9687: a peer that reads nothing for twice the hold time is
        // cut off (FRR's choice of SendHoldTime), so that what we queue
        // for it cannot grow for ever.
        if session.hold_time > 0
            && let Some(w) = &c.writer
        {
            let send_hold = Duration::from_secs(2 * u64::from(session.hold_time));
            let _ = w.send(io::Outgoing::SendHold(Some(send_hold)));
        }
        let local_addr = c.local_addr;
        let sockets = c.sockets;
        // The other connection of a collision, if any, is no longer needed.
        p.conns.retain(|c| c.id == conn);
        p.stats.since = Some(Instant::now());
        p.stats.hostname = peer::fqdn_hostname(&session.remote_open);
        p.stats.remote_open = Some(session.remote_open.clone());
        p.stats.hold_time = Some(session.hold_time);
        p.stats.keepalive = Some(session.keepalive);
        p.stats.eor_received.clear();
        p.stats.eor_sent_at.clear();
        p.stats.update_sent_at.clear();
        (p.stats.local_sock, p.stats.remote_sock) = sockets.unzip();
        let mut info = p.peer_info(&session, local_addr, families);
        info.rr_client = self.config.is_rr_client(peer);
        info.route_maps = tern_bgp::rib::RouteMaps::of(&self.config, peer);
        p.route_refresh = policy::can_refresh(&session.remote_open);
        p.remote_gr = graceful::capability(&session.remote_open);
        p.info = Some(info.clone());
        // `bgp log-neighbor-changes`: at info level, else at debug (FRR
        // logs neighbor changes only with it).
        if self.config.log_neighbor_changes() {
            tracing::info!(%peer, remote_as = info.remote_as, "session Established");
        } else {
            tracing::debug!(%peer, remote_as = info.remote_as, "session Established");
        }
        self.vpn_sync_peer(peer);
        let updates = self.rib.peer_up(&info);
        for u in updates {
            self.send(peer, conn, &Message::Update(u));
        }
        self.graceful_established(peer);
        self.watch_end_of_rib(peer, conn);
    }

    fn on_down(&mut self, peer: IpAddr, conn: ConnId, reason: tern_bgp::fsm::DownReason) {
        let log_changes = self.config.log_neighbor_changes();
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.collect_keepalives();
        let was_established = p.info.is_some() && p.conns.len() == 1;
        let last_conn = p.conns.len() == 1;
        if let Some(c) = p.conns.iter_mut().find(|c| c.id == conn) {
            c.close();
            c.codec = tern_bgp_wire::Codec::default();
        }
        if !last_conn {
            // A second connection failed before winning (a collision):
            // drop its slot; the session itself was not reset.
            p.conns.retain(|c| c.id != conn);
            return;
        }
        if was_established {
            let keep = graceful::families_kept(p, &reason);
            // As FRR's "Last reset": why the session went down, not why a
            // connection attempt failed.
            p.stats.last_reset = Some(peer::describe(&reason));
            p.stats.last_reset_at = Some(Instant::now());
            p.info = None;
            p.stats.remote_open = None;
            p.stats.hold_time = None;
            p.stats.keepalive = None;
            p.stats.local_sock = None;
            p.stats.remote_sock = None;
            p.stats.since = Some(Instant::now());
            if let Some(w) = p.eor_watch.take() {
                w.abort();
            }
            if log_changes {
                tracing::warn!(%peer, reason = %peer::describe(&reason), "session down");
            } else {
                tracing::debug!(%peer, reason = %peer::describe(&reason), "session down");
            }
            let id = p.id;
            self.vpn_down(peer);
            let changes = if keep.is_empty() {
                self.rib.peer_down(id)
            } else {
                self.graceful_down(peer, id, &keep)
            };
            self.apply_changes(changes);
        }
    }

    /// Sends the RIB's outcome: FIB changes to the kernel task, UPDATEs to
    /// the established peers.
    fn apply_changes(&mut self, changes: Changes) {
        let (fib, updates) = changes.into_parts();
        if !fib.is_empty() && !self.stopping {
            self.opts.loc_rib.record(&fib);
            let fib = self.kernel_fib(fib);
            let _ = self.fib.send(crate::fib::FibMsg::Changes(fib));
        }
        self.send_updates(updates);
    }

    /// Sends UPDATEs to the established peers they are for.
    fn send_updates(&mut self, updates: tern_bgp::rib::PeerUpdates) {
        for (id, msgs) in updates {
            let Some((addr, conn)) = self
                .peers
                .iter()
                .find(|(_, p)| p.id == id)
                .and_then(|(a, p)| Some((*a, p.established_conn()?)))
            else {
                continue;
            };
            for m in msgs {
                self.send(addr, conn, &Message::Update(m));
            }
        }
    }

    fn summary(&self) -> BgpSummary {
        let mut rib_count = BTreeMap::new();
        for f in Family::ALL {
            rib_count.insert(family_key(f).to_owned(), self.rib.prefix_count(f) as u64);
        }
        let peers = self
            .peers
            .iter()
            .map(|(addr, p)| {
                let state = match p.conns.first() {
                    _ if p.cfg.shutdown => "Idle (Admin)".to_owned(),
                    _ if p.stats.prefix_limit_hit => "Idle (PfxCt)".to_owned(),
                    Some(c) => p
                        .conns
                        .iter()
                        .map(|c| c.fsm.state())
                        .max_by_key(|s| *s as u8)
                        .unwrap_or(c.fsm.state())
                        .name()
                        .to_owned(),
                    None => "Idle".to_owned(),
                };
                let families: Vec<Family> = Family::ALL
                    .into_iter()
                    .filter(|f| self.config.is_active(*addr, *f))
                    .collect();
                let mut pfx_rcvd = BTreeMap::new();
                let mut pfx_sent = BTreeMap::new();
                let (mut policy_missing_in, mut policy_missing_out) = (Vec::new(), Vec::new());
                for f in &families {
                    if let Some(i) = &p.info {
                        if i.route_maps.missing_policy(*f, true, i.ibgp) {
                            policy_missing_in.push(family_key(*f).to_owned());
                        }
                        if i.route_maps.missing_policy(*f, false, i.ibgp) {
                            policy_missing_out.push(family_key(*f).to_owned());
                        }
                    }
                    // FRR's PfxRcd counts the prefixes accepted (after the
                    // loop and next-hop checks), not every one received.
                    let accepted = self.rib.peer_counts(p.id, *f).map_or(0, |c| c.accepted);
                    pfx_rcvd.insert(family_key(*f).to_owned(), accepted as u64);
                    pfx_sent.insert(
                        family_key(*f).to_owned(),
                        self.rib.advertised_count(p.id, *f) as u64,
                    );
                }
                let mut families: Vec<String> =
                    families.iter().map(|f| family_key(*f).to_owned()).collect();
                for (f, rcvd, sent) in self.vpn_peer_counts(*addr) {
                    families.push(f.key().to_owned());
                    pfx_rcvd.insert(f.key().to_owned(), rcvd);
                    pfx_sent.insert(f.key().to_owned(), sent);
                }
                let established_count: u32 = p.stats.established_before
                    + p.conns.iter().map(|c| c.fsm.established_count).sum::<u32>();
                BgpPeerSummary {
                    address: addr.to_string(),
                    remote_as: p.remote_as_number(self.config.asn),
                    local_as: self.config.asn,
                    state,
                    msg_rcvd: p.stats.msg_rcvd,
                    msg_sent: p.stats.msg_sent,
                    uptime_secs: p.stats.since.map(|t| t.elapsed().as_secs()),
                    families,
                    pfx_rcvd,
                    pfx_sent,
                    established: established_count,
                    dropped: p.stats.dropped_before
                        + p.conns.iter().map(|c| c.fsm.dropped_count).sum::<u32>(),
                    description: p.cfg.description.clone(),
                    hostname: p.stats.hostname.clone(),
                    last_reset: p.stats.last_reset.clone(),
                    dynamic: self.is_dynamic(*addr),
                    policy_missing_in,
                    policy_missing_out,
                }
            })
            .collect();
        let mut rib_memory: BTreeMap<String, u64> = Family::ALL
            .iter()
            .map(|f| (family_key(*f).to_owned(), self.rib.memory(*f) as u64))
            .collect();
        let mut table_version: BTreeMap<String, u64> = Family::ALL
            .iter()
            .map(|f| (family_key(*f).to_owned(), self.rib.table_version(*f)))
            .collect();
        for f in tern_bgp::config::VpnFamily::ALL {
            let (count, bytes, version) = self.vpn_table_counts(f);
            rib_count.insert(f.key().to_owned(), count);
            rib_memory.insert(f.key().to_owned(), bytes);
            table_version.insert(f.key().to_owned(), version);
        }
        BgpSummary {
            configured: true,
            router_id: self.router_id.to_string(),
            local_as: self.config.asn,
            rib_memory,
            table_version,
            rib_count,
            peers,
            hide_hostnames: self.hide_hostnames(),
        }
    }
}

/// FRR's JSON key of a family.
pub fn family_key(f: Family) -> &'static str {
    match f {
        Family::Ipv4Unicast => "ipv4Unicast",
        Family::Ipv6Unicast => "ipv6Unicast",
    }
}
