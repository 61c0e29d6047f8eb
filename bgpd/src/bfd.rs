//! ternd's BFD task: owns the BFD sessions (tern-bfd's state machines) and
//! their sockets, and tells the BGP speaker when a session leaves Up.
//!
//! Sockets: one listener per family on UDP 3784 (single hop, RFC 5881) and
//! 4784 (multihop, RFC 5883), opened with the first session; one socket per
//! session to send from, bound to a source port in 49152-65535 and
//! connected to the peer, sending with TTL (hop limit) 255. Single-hop
//! packets are accepted only with TTL 255 (GTSM, RFC 5881 section 5),
//! multihop ones with TTL 254 or more (FRR bfdd's default `minimum-ttl`).
//!
//! The rest of ternd talks to it through channels: [`BfdHandle::set`]
//! gives the sessions the config wants (from `bfd` / `peer` blocks and
//! `neighbor X bfd`), [`BfdHandle::show`] answers `show bfd peers`, and
//! state changes go out on a broadcast channel ([`subscribe`]) that the
//! speaker follows.
use std::{
    collections::BTreeMap,
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    os::fd::{AsRawFd, OwnedFd},
    time::{Duration, Instant},
};

use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, SockaddrIn, SockaddrIn6,
    SockaddrLike, SockaddrStorage, bind, connect, setsockopt, socket, sockopt,
};
use tern_bfd::{ControlPacket, Output, Session, State, Timers};
use tern_control::bfd::BfdPeer;
use tokio::{
    io::Interest,
    net::UdpSocket,
    sync::{broadcast, mpsc, oneshot},
};

use crate::config::{
    Config,
    bfd::{PeerConfig, PeerKey},
};

/// TTL of received multihop packets accepted (FRR bfdd's `minimum-ttl`
/// default).
const MULTIHOP_MIN_TTL: u8 = 254;
/// DSCP CS6 (network control), as bfdd marks its packets.
const TOS_CS6: i32 = 0xc0;
/// How often a session without a socket (its interface or route missing)
/// tries to open one.
const SOCKET_RETRY: Duration = Duration::from_secs(1);

/// A session the configuration asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    pub key: PeerKey,
    pub cfg: PeerConfig,
    /// From a `peer` block (bfdd's "configured"), else from `neighbor X
    /// bfd` only ("dynamic").
    pub configured: bool,
}

/// A BFD session that went Up, or left Up (for the speaker).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BfdStatus {
    pub peer: IpAddr,
    pub up: bool,
}

/// The sessions `config` asks for: every `peer` block, and a session with
/// the default timers for each `neighbor X bfd` that no `peer` block of
/// the same address covers (multihop when the neighbor is `ebgp-multihop`,
/// from its `update-source` address when it gives one).
pub fn desired(config: &Config) -> Vec<Desired> {
    let mut out: Vec<Desired> = config
        .bfd
        .peers
        .iter()
        .map(|(k, c)| Desired {
            key: k.clone(),
            cfg: c.clone(),
            configured: true,
        })
        .collect();
    if let Some(bgp) = &config.bgp {
        for (addr, n) in &bgp.resolved().neighbors {
            if !n.bfd || out.iter().any(|d| d.key.peer == *addr) {
                continue;
            }
            let multihop = n.ebgp_multihop.is_some();
            let local = n
                .update_source
                .as_deref()
                .and_then(|s| s.parse::<IpAddr>().ok());
            out.push(Desired {
                key: PeerKey {
                    peer: *addr,
                    multihop,
                    local,
                    ifname: None,
                },
                cfg: PeerConfig::default(),
                configured: false,
            });
        }
    }
    out
}

enum Cmd {
    Set(Vec<Desired>),
    Show(Option<IpAddr>, oneshot::Sender<Vec<BfdPeer>>),
}

/// A handle to the BFD task.
#[derive(Clone, Debug)]
pub struct BfdHandle {
    tx: mpsc::UnboundedSender<Cmd>,
    /// The sessions' Up and Down, for the BGP speaker.
    status: broadcast::Sender<BfdStatus>,
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cmd::Set(d) => write!(f, "Set({} sessions)", d.len()),
            Cmd::Show(p, _) => write!(f, "Show({p:?})"),
        }
    }
}

impl BfdHandle {
    /// Follows the BFD sessions' state changes.
    pub fn subscribe(&self) -> broadcast::Receiver<BfdStatus> {
        self.status.subscribe()
    }

    /// Makes these the running sessions: new ones start, missing ones are
    /// told AdminDown and deleted, changed timers are polled (RFC 5880
    /// section 6.8.3).
    pub fn set(&self, desired: Vec<Desired>) {
        let _ = self.tx.send(Cmd::Set(desired));
    }

    /// The sessions (to `peer` only, if given).
    pub async fn show(&self, peer: Option<IpAddr>) -> Option<Vec<BfdPeer>> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Cmd::Show(peer, tx)).ok()?;
        rx.await.ok()
    }
}

/// Starts the BFD task (inside the tokio runtime). It opens no socket
/// until a session exists.
pub fn spawn() -> BfdHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let (status, _) = broadcast::channel(256);
    tokio::spawn(run(rx, status.clone()));
    BfdHandle { tx, status }
}

/// One session with its socket.
struct Entry {
    key: PeerKey,
    cfg: PeerConfig,
    configured: bool,
    session: Session,
    sock: Option<std::net::UdpSocket>,
    /// When opening the socket failed last (retried after SOCKET_RETRY).
    sock_failed: Option<Instant>,
}

impl Entry {
    fn send(&mut self, p: &ControlPacket, now: Instant) {
        if self.sock.is_none() && self.sock_failed.is_none_or(|t| now >= t + SOCKET_RETRY) {
            match session_socket(&self.key) {
                Ok(s) => {
                    self.sock = Some(s);
                    self.sock_failed = None;
                }
                Err(e) => {
                    if self.sock_failed.is_none() {
                        tracing::warn!(peer = %self.key, error = %e, "BFD: cannot open the session's socket");
                    }
                    self.sock_failed = Some(now);
                }
            }
        }
        if let Some(s) = &self.sock
            && let Err(e) = s.send(&p.encode())
        {
            // The route or the interface may be gone: a new socket next
            // time picks up what changed.
            tracing::debug!(peer = %self.key, error = %e, "BFD: send failed");
            if matches!(e.raw_os_error(), Some(libc::ENODEV | libc::EADDRNOTAVAIL)) {
                self.sock = None;
            }
        }
    }

    fn local(&self) -> Option<IpAddr> {
        self.key.local.or_else(|| {
            self.sock
                .as_ref()
                .and_then(|s| s.local_addr().ok())
                .map(|a| a.ip())
        })
    }
}

fn timers(c: &PeerConfig) -> Timers {
    Timers {
        desired_min_tx: Duration::from_millis(u64::from(c.transmit_interval_ms)),
        required_min_rx: Duration::from_millis(u64::from(c.receive_interval_ms)),
        detect_mult: c.detect_multiplier,
    }
}

/// The listening sockets: single hop and multihop, IPv4 and IPv6.
#[derive(Default)]
struct Listeners {
    opened: bool,
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
    mh4: Option<UdpSocket>,
    mh6: Option<UdpSocket>,
}

impl Listeners {
    fn open(&mut self) {
        if self.opened {
            return;
        }
        self.opened = true;
        let try_open = |v6: bool, port: u16| match listener(v6, port) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(port, v6, error = %e, "BFD: cannot listen");
                None
            }
        };
        self.v4 = try_open(false, tern_bfd::PORT_SINGLE_HOP);
        self.v6 = try_open(true, tern_bfd::PORT_SINGLE_HOP);
        self.mh4 = try_open(false, tern_bfd::PORT_MULTIHOP);
        self.mh6 = try_open(true, tern_bfd::PORT_MULTIHOP);
    }
}

/// What woke the task.
enum Wake {
    Cmd(Option<Cmd>),
    Packet {
        multihop: bool,
        got: io::Result<(Vec<u8>, SocketAddr, Option<u8>)>,
    },
    Timer,
}

struct Task {
    sessions: BTreeMap<u32, Entry>,
    next_discr: u32,
    /// Where sessions going Up and Down are told (the speaker listens).
    status: broadcast::Sender<BfdStatus>,
}

async fn run(mut rx: mpsc::UnboundedReceiver<Cmd>, status_tx: broadcast::Sender<BfdStatus>) {
    let mut listeners = Listeners::default();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.subsec_nanos());
    let mut task = Task {
        sessions: BTreeMap::new(),
        next_discr: seed ^ (std::process::id() << 16),
        status: status_tx,
    };
    loop {
        let deadline = task
            .sessions
            .values()
            .filter_map(|e| e.session.next_deadline())
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let wake = tokio::select! {
            c = rx.recv() => Wake::Cmd(c),
            got = recv(listeners.v4.as_ref()) => Wake::Packet { multihop: false, got },
            got = recv(listeners.v6.as_ref()) => Wake::Packet { multihop: false, got },
            got = recv(listeners.mh4.as_ref()) => Wake::Packet { multihop: true, got },
            got = recv(listeners.mh6.as_ref()) => Wake::Packet { multihop: true, got },
            () = tokio::time::sleep_until(deadline.into()) => Wake::Timer,
        };
        let now = Instant::now();
        match wake {
            Wake::Cmd(None) => break,
            Wake::Cmd(Some(Cmd::Set(d))) => {
                if !d.is_empty() {
                    listeners.open();
                }
                task.set(d, now);
            }
            Wake::Cmd(Some(Cmd::Show(peer, reply))) => {
                let _ = reply.send(task.show(peer, now));
            }
            Wake::Packet { multihop, got } => match got {
                Ok((bytes, from, ttl)) => task.on_packet(&bytes, from, ttl, multihop, now),
                Err(e) => {
                    tracing::debug!(error = %e, "BFD: receive failed");
                }
            },
            Wake::Timer => task.on_timers(now),
        }
    }
}

impl Task {
    fn alloc_discr(&mut self) -> u32 {
        loop {
            self.next_discr = self.next_discr.wrapping_add(0x9e37_79b9);
            let d = self.next_discr;
            if d != 0 && !self.sessions.contains_key(&d) {
                return d;
            }
        }
    }

    fn set(&mut self, desired: Vec<Desired>, now: Instant) {
        let gone: Vec<u32> = self
            .sessions
            .iter()
            .filter(|(_, e)| !desired.iter().any(|d| d.key == e.key))
            .map(|(d, _)| *d)
            .collect();
        for discr in gone {
            if let Some(mut e) = self.sessions.remove(&discr) {
                // Tell the peer the session is going away on purpose
                // (AdminDown), so that its clients keep their sessions.
                let outs = e.session.set_admin_down(true, now);
                for o in outs {
                    if let Output::Send(p) = o {
                        e.send(&p, now);
                    }
                }
                tracing::info!(peer = %e.key, "BFD session deleted");
            }
        }
        for d in desired {
            let found = self
                .sessions
                .iter()
                .find(|(_, e)| e.key == d.key)
                .map(|(k, _)| *k);
            let discr = match found {
                Some(k) => k,
                None => {
                    let discr = self.alloc_discr();
                    let session = Session::new(discr, timers(&d.cfg), u64::from(discr), now);
                    tracing::info!(peer = %d.key, discr, "BFD session created");
                    self.sessions.insert(
                        discr,
                        Entry {
                            key: d.key.clone(),
                            cfg: d.cfg.clone(),
                            configured: d.configured,
                            session,
                            sock: None,
                            sock_failed: None,
                        },
                    );
                    discr
                }
            };
            let Some(e) = self.sessions.get_mut(&discr) else {
                continue;
            };
            e.configured = d.configured;
            let mut outs = e.session.set_timers(timers(&d.cfg), now);
            outs.extend(e.session.set_admin_down(d.cfg.shutdown, now));
            e.cfg = d.cfg;
            self.handle(discr, outs, now);
        }
    }

    fn on_packet(
        &mut self,
        bytes: &[u8],
        from: SocketAddr,
        ttl: Option<u8>,
        multihop: bool,
        now: Instant,
    ) {
        let p = match ControlPacket::decode(bytes) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(%from, error = %e, "BFD: packet discarded");
                return;
            }
        };
        let min_ttl = if multihop {
            MULTIHOP_MIN_TTL
        } else {
            tern_bfd::SINGLE_HOP_TTL
        };
        if ttl.is_none_or(|t| t < min_ttl) {
            tracing::debug!(%from, ?ttl, min_ttl, "BFD: packet discarded (TTL)");
            return;
        }
        let src = canonical(from.ip());
        let discr = if p.your_discriminator != 0 {
            Some(p.your_discriminator).filter(|d| {
                self.sessions
                    .get(d)
                    .is_some_and(|e| e.key.peer == src && e.key.multihop == multihop)
            })
        } else {
            self.sessions
                .iter()
                .find(|(_, e)| e.key.peer == src && e.key.multihop == multihop)
                .map(|(d, _)| *d)
        };
        let Some(discr) = discr else {
            tracing::debug!(%from, your = p.your_discriminator, "BFD: packet for no session");
            return;
        };
        let Some(e) = self.sessions.get_mut(&discr) else {
            return;
        };
        match e.session.on_packet(&p, now) {
            Ok(outs) => self.handle(discr, outs, now),
            Err(err) => tracing::debug!(%from, error = %err, "BFD: packet not taken"),
        }
    }

    fn on_timers(&mut self, now: Instant) {
        let due: Vec<u32> = self
            .sessions
            .iter()
            .filter(|(_, e)| e.session.next_deadline().is_some_and(|t| t <= now))
            .map(|(d, _)| *d)
            .collect();
        for discr in due {
            if let Some(e) = self.sessions.get_mut(&discr) {
                let outs = e.session.on_timer(now);
                self.handle(discr, outs, now);
            }
        }
    }

    fn handle(&mut self, discr: u32, outs: Vec<Output>, now: Instant) {
        let Some(e) = self.sessions.get_mut(&discr) else {
            return;
        };
        for o in outs {
            match o {
                Output::Send(p) => e.send(&p, now),
                Output::StateChanged { from, to, diag } => {
                    tracing::info!(
                        peer = %e.key,
                        from = from.frr_name(),
                        to = to.frr_name(),
                        diag = diag.frr_name(),
                        "BFD session state changed"
                    );
                    // RFC 5882 section 3.2: a peer that signals AdminDown
                    // is not a failure, and neither is our own shutdown.
                    let failure = to == State::Down
                        && e.session.remote_state() != State::AdminDown
                        && diag != tern_bfd::Diag::AdministrativelyDown;
                    let status = if to == State::Up {
                        Some(true)
                    } else if from == State::Up && failure {
                        Some(false)
                    } else {
                        None
                    };
                    if let Some(up) = status {
                        let _ = self.status.send(BfdStatus {
                            peer: e.key.peer,
                            up,
                        });
                    }
                }
            }
        }
    }

    fn show(&self, peer: Option<IpAddr>, now: Instant) -> Vec<BfdPeer> {
        let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
        let mut out: Vec<BfdPeer> = self
            .sessions
            .values()
            .filter(|e| peer.is_none_or(|p| p == e.key.peer))
            .map(|e| {
                let s = &e.session;
                let remote = s.remote_timers();
                let stats = s.stats();
                BfdPeer {
                    peer: e.key.peer,
                    local: e.local(),
                    interface: e.key.ifname.clone(),
                    multihop: e.key.multihop,
                    id: s.local_discriminator(),
                    remote_id: s.remote_discriminator(),
                    status: s.state().frr_name().to_owned(),
                    since_secs: now.duration_since(s.changed_at()).as_secs(),
                    diagnostic: s.local_diag().frr_name().to_owned(),
                    remote_diagnostic: s.remote_diag().frr_name().to_owned(),
                    configured: e.configured,
                    receive_interval_ms: e.cfg.receive_interval_ms,
                    transmit_interval_ms: e.cfg.transmit_interval_ms,
                    detect_multiplier: e.cfg.detect_multiplier,
                    remote_receive_interval_ms: ms(remote.required_min_rx),
                    remote_transmit_interval_ms: ms(remote.desired_min_tx),
                    remote_echo_receive_interval_ms: ms(s.remote_echo_rx()),
                    remote_detect_multiplier: remote.detect_mult,
                    minimum_ttl: e.key.multihop.then_some(MULTIHOP_MIN_TTL),
                    rx_packets: stats.rx_packets,
                    tx_packets: stats.tx_packets,
                    up_events: stats.up_count,
                    down_events: stats.down_count,
                }
            })
            .collect();
        out.sort_by_key(|p| (p.peer, p.multihop));
        out
    }
}

/// An IPv4-mapped IPv6 address as IPv4 (a dual-stack socket reports them).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One datagram with its TTL (hop limit); pending for ever without a
/// socket.
async fn recv(sock: Option<&UdpSocket>) -> io::Result<(Vec<u8>, SocketAddr, Option<u8>)> {
    let Some(sock) = sock else {
        return std::future::pending().await;
    };
    sock.async_io(Interest::READABLE, || recv_with_ttl(sock))
        .await
}

fn recv_with_ttl(sock: &UdpSocket) -> io::Result<(Vec<u8>, SocketAddr, Option<u8>)> {
    let mut buf = [0u8; 512];
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!(libc::c_int);
    let msg = nix::sys::socket::recvmsg::<SockaddrStorage>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)?;
    let mut ttl = None;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        match c {
            ControlMessageOwned::Ipv4Ttl(t) | ControlMessageOwned::Ipv6HopLimit(t) => {
                ttl = u8::try_from(t).ok();
            }
            _ => {}
        }
    }
    let from = msg.address.and_then(|a| {
        a.as_sockaddr_in()
            .map(|s| SocketAddr::V4((*s).into()))
            .or_else(|| a.as_sockaddr_in6().map(|s| SocketAddr::V6((*s).into())))
    });
    let n = msg.bytes;
    let from = from.ok_or_else(|| io::Error::other("datagram without a source address"))?;
    Ok((buf[..n].to_vec(), from, ttl))
}

fn nix_io(what: &str) -> impl Fn(nix::Error) -> io::Error + '_ {
    move |e| io::Error::new(io::Error::from(e).kind(), format!("{what}: {e}"))
}

/// A listening socket on `port` that reports each datagram's TTL.
fn listener(v6: bool, port: u16) -> io::Result<UdpSocket> {
    let family = if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    let fd = socket(
        family,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .map_err(nix_io("socket"))?;
    setsockopt(&fd, sockopt::ReuseAddr, &true).map_err(nix_io("SO_REUSEADDR"))?;
    if v6 {
        setsockopt(&fd, sockopt::Ipv6V6Only, &true).map_err(nix_io("IPV6_V6ONLY"))?;
        setsockopt(&fd, sockopt::Ipv6RecvHopLimit, &true).map_err(nix_io("IPV6_RECVHOPLIMIT"))?;
        let a = SockaddrIn6::from(std::net::SocketAddrV6::new(
            Ipv6Addr::UNSPECIFIED,
            port,
            0,
            0,
        ));
        bind(fd.as_raw_fd(), &a).map_err(nix_io("bind"))?;
    } else {
        setsockopt(&fd, sockopt::Ipv4RecvTtl, &true).map_err(nix_io("IP_RECVTTL"))?;
        let a = SockaddrIn::from(std::net::SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
        bind(fd.as_raw_fd(), &a).map_err(nix_io("bind"))?;
    }
    UdpSocket::from_std(std::net::UdpSocket::from(fd))
}

/// The socket a session sends from: bound to the interface and the local
/// address when given, to a source port in 49152-65535 (RFC 5881 section
/// 4), TTL 255, DSCP CS6, connected to the peer's BFD port.
fn session_socket(key: &PeerKey) -> io::Result<std::net::UdpSocket> {
    let v6 = key.peer.is_ipv6();
    let fd: OwnedFd = socket(
        if v6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        },
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .map_err(nix_io("socket"))?;
    if let Some(ifname) = &key.ifname {
        setsockopt(
            &fd,
            sockopt::BindToDevice,
            &std::ffi::OsString::from(ifname),
        )
        .map_err(nix_io("SO_BINDTODEVICE"))?;
    }
    if v6 {
        setsockopt(&fd, sockopt::Ipv6Ttl, &255).map_err(nix_io("IPV6_UNICAST_HOPS"))?;
        setsockopt(&fd, sockopt::Ipv6TClass, &TOS_CS6).map_err(nix_io("IPV6_TCLASS"))?;
    } else {
        setsockopt(&fd, sockopt::Ipv4Ttl, &255).map_err(nix_io("IP_TTL"))?;
        setsockopt(&fd, sockopt::Ipv4Tos, &TOS_CS6).map_err(nix_io("IP_TOS"))?;
    }
    let port = if key.multihop {
        tern_bfd::PORT_MULTIHOP
    } else {
        tern_bfd::PORT_SINGLE_HOP
    };
    let local = key.local.unwrap_or(if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    });
    let (lo, hi) = (
        *tern_bfd::SOURCE_PORTS.start(),
        *tern_bfd::SOURCE_PORTS.end(),
    );
    let span = u32::from(hi - lo) + 1;
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        % span;
    let mut bound = Err(io::Error::other("no free source port in 49152-65535"));
    for i in 0..span.min(256) {
        let p = lo + u16::try_from((start + i) % span).unwrap_or(0);
        let r = bind_to(&fd, SocketAddr::new(local, p));
        match r {
            Ok(()) => {
                bound = Ok(());
                break;
            }
            Err(nix::Error::EADDRINUSE) => continue,
            Err(e) => {
                bound = Err(nix_io("bind")(e));
                break;
            }
        }
    }
    bound?;
    connect_to(&fd, SocketAddr::new(key.peer, port)).map_err(nix_io("connect"))?;
    Ok(std::net::UdpSocket::from(fd))
}

fn sockaddr(a: SocketAddr) -> Box<dyn SockaddrLike> {
    match a {
        SocketAddr::V4(v4) => Box::new(SockaddrIn::from(v4)),
        SocketAddr::V6(v6) => Box::new(SockaddrIn6::from(v6)),
    }
}

fn bind_to(fd: &OwnedFd, a: SocketAddr) -> nix::Result<()> {
    bind(fd.as_raw_fd(), sockaddr(a).as_ref())
}

fn connect_to(fd: &OwnedFd, a: SocketAddr) -> nix::Result<()> {
    connect(fd.as_raw_fd(), sockaddr(a).as_ref())
}
