//! The benchmark's own BGP speakers, built on tern-bgp-wire: N injectors that
//! each announce M prebuilt /24 prefixes to the DUT, and one monitor that
//! counts the distinct prefixes the DUT passes on (announcements and
//! withdrawals applied) and reports the instant it holds all N*M.
//!
//! With a shared table (the scale mode) every injector announces the same M
//! prefixes instead: prefix k's best path is injector (k mod N)'s, the other
//! injectors prepend their AS once, and the monitor holds a prefix only
//! while the DUT passes on that best path (AS path length 2). So the monitor
//! is complete only after the DUT has read every injector's whole stream.
//!
//! A session that fails (a NOTIFICATION from the DUT, the connection
//! closing, hold timer) is counted as down and left out from then on; the
//! others carry on, and the main thread decides what that means for the run.
//!
//! They all run on one thread that first entered the peers' network
//! namespace; each binds its own source address. After the OPEN exchange
//! (blocking, with timeouts) the sockets are non-blocking and served by a
//! tick loop: every 2 ms each session writes what the socket takes, reads
//! what has arrived, and sends a KEEPALIVE when one is due. No readiness
//! polling, so a DUT that sends one small segment at a time costs the bench
//! one read per tick rather than one wakeup per segment (on two cores the
//! bench competes with the DUT). The monitor's clock resolution is the tick.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect, setsockopt, socket, sockopt,
};
use nix::sys::time::TimeVal;
use tern_bgp_wire::{
    AfiSafi, AsPath, Attribute, Capability, Codec, Message, MessageType, Nlri, NlriPrefix,
    NotificationMessage, OpenMessage, Origin, PathAttribute, UpdateMessage, UpdateOutcome,
    cease_subcode, code,
};

use crate::measure::Event;
use crate::prefixes;

const BGP_PORT: u16 = 179;
/// The hold time our OPENs propose by default (the DUT configs use the
/// same).
pub const HOLD_TIME: u16 = 90;
/// Prefixes per UPDATE: 1000 /24s fill 4043 of the 4096 octets.
const PREFIXES_PER_UPDATE: usize = 1000;
/// Whole messages are queued in chunks of about this size; a KEEPALIVE
/// goes between two chunks when one is due.
const CHUNK_BYTES: usize = 64 * 1024;
/// Longest wait for the DUT's OPEN and first KEEPALIVE, and for a connect.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// The tick of the session loop.
const TICK: Duration = Duration::from_millis(2);
/// AS path length of a best path at the monitor with a shared table: the
/// DUT's AS and the injector's.
const BEST_PATH_LENGTH: usize = 2;

/// One of our speakers: its address (also its BGP identifier) and AS.
#[derive(Clone, Copy, Debug)]
pub struct Speaker {
    pub addr: Ipv4Addr,
    pub asn: u32,
}

/// What the peers do in one run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub dut: Ipv4Addr,
    pub dut_asn: u32,
    pub monitor: Speaker,
    pub injectors: Vec<Speaker>,
    /// Prefixes per injector (M).
    pub prefixes: usize,
    /// How long the sessions may take to come up.
    pub establish_timeout: Duration,
    /// Every injector announces the same M prefixes (see the module text).
    pub shared: bool,
    /// The hold time our OPENs propose (seconds).
    pub hold_time: u16,
}

impl Plan {
    /// What the monitor must hold: N * M distinct prefixes, or M when the
    /// injectors share one table.
    pub fn total(&self) -> usize {
        if self.shared {
            self.prefixes
        } else {
            self.injectors.len() * self.prefixes
        }
    }
}

/// Counters the main thread reads while it waits.
#[derive(Debug, Default)]
pub struct Progress {
    /// Distinct injected prefixes the monitor holds now.
    pub monitor_routes: AtomicUsize,
    /// Announcements the monitor received of prefixes nobody injected.
    pub unexpected_routes: AtomicUsize,
    /// Sessions (monitor and injectors) that went down after coming up.
    pub sessions_down: AtomicUsize,
    /// Which, and why, in the order they went down.
    pub down_reasons: Mutex<Vec<String>>,
    /// The longest time a session that is up went without a message from
    /// the DUT, in milliseconds, since this was last set to 0.
    pub longest_silence_ms: AtomicU64,
}

impl Progress {
    /// Counts one session as down.
    fn session_down(&self, why: String) {
        self.sessions_down.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut r) = self.down_reasons.lock() {
            r.push(why);
        }
    }

    /// The reasons recorded so far.
    pub fn reasons(&self) -> Vec<String> {
        self.down_reasons
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

/// The peers' thread; dropping the handle closes the sessions and joins it.
pub struct Peers {
    thread: Option<JoinHandle<()>>,
    go: Option<mpsc::Sender<()>>,
    stop: Arc<AtomicBool>,
}

impl Peers {
    /// Starts the thread: it enters `netns`, brings every session up, builds
    /// the UPDATEs and sends [`Event::Established`], then waits for
    /// [`Peers::go`].
    pub fn spawn(
        plan: Plan,
        netns: PathBuf,
        events: mpsc::Sender<Event>,
        progress: Arc<Progress>,
    ) -> Result<Peers> {
        let (go_tx, go_rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("bench-peers".into())
            .spawn(move || {
                let r = run(&plan, &netns, &go_rx, &stopped, &events, &progress);
                if let Err(e) = r
                    && !stopped.load(Ordering::SeqCst)
                {
                    let _ = events.send(Event::Failed(format!("{e:#}")));
                }
            })
            .context("starting the peers' thread")?;
        Ok(Peers {
            thread: Some(thread),
            go: Some(go_tx),
            stop,
        })
    }

    /// Tells the injectors to start announcing.
    pub fn go(&mut self) -> Result<()> {
        self.go
            .take()
            .ok_or_else(|| anyhow!("injectors already started"))?
            .send(())
            .map_err(|_| anyhow!("the peers' thread has ended"))
    }

    /// Closes every session and joins the thread.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.go = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Peers {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(
    plan: &Plan,
    netns: &std::path::Path,
    go: &mpsc::Receiver<()>,
    stop: &AtomicBool,
    events: &mpsc::Sender<Event>,
    progress: &Progress,
) -> Result<()> {
    crate::netns::enter(netns)?;
    let deadline = Instant::now() + plan.establish_timeout;
    let mut monitor = establish("monitor", plan.monitor, plan, deadline, stop)?;
    // The monitor has nothing to announce: End-of-RIB at once.
    let eor = UpdateMessage::end_of_rib_marker(AfiSafi::IPV4_UNICAST);
    let eor = Message::Update(eor).to_bytes(&monitor.codec)?;
    monitor.out.push_back((eor, false));
    let mut sessions = vec![monitor];
    // Each injector's UPDATEs, queued at go.
    let mut loads = Vec::new();
    for (i, s) in plan.injectors.iter().enumerate() {
        let name = format!("injector {}", i + 1);
        let session = establish(&name, *s, plan, deadline, stop)?;
        loads.push(VecDeque::from(build_updates(i, *s, plan, &session.codec)?));
        sessions.push(session);
    }
    let _ = events.send(Event::Established);
    let total = plan.total();
    let mut table = prefixes::Table::new(total);
    let mut started = false;
    let mut converged = false;
    let mut all_written = false;
    // Until go the sessions only keep alive; then the injectors announce.
    while !stop.load(Ordering::SeqCst) {
        if !started {
            match go.try_recv() {
                Ok(()) => {
                    started = true;
                    for (s, load) in sessions.iter_mut().skip(1).zip(loads.drain(..)) {
                        s.load = load;
                    }
                }
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => break,
            }
        }
        let now = Instant::now();
        for (i, s) in sessions.iter_mut().enumerate() {
            if s.down {
                continue;
            }
            let monitor = (i == 0).then_some(&mut table);
            let result = s.tick(now, monitor, plan.shared);
            let silence = now.duration_since(s.last_rx).as_millis();
            progress.longest_silence_ms.fetch_max(
                u64::try_from(silence).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            if let Err(e) = result {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                // Ours to close too: the DUT sees the connection end.
                s.down = true;
                let _ = s.stream.shutdown(std::net::Shutdown::Both);
                let why = format!("{}: {e:#}", s.name);
                progress.session_down(why.clone());
                let _ = events.send(Event::SessionDown(why));
            }
        }
        progress
            .monitor_routes
            .store(table.held(), Ordering::Relaxed);
        progress
            .unexpected_routes
            .store(table.unexpected(), Ordering::Relaxed);
        if started && !converged && table.held() == total {
            converged = true;
            let _ = events.send(Event::Converged(Instant::now()));
        }
        if started && !all_written && sessions.iter().skip(1).all(|s| s.written() && !s.down) {
            all_written = true;
            let _ = events.send(Event::InjectorsDone(Instant::now()));
        }
        std::thread::sleep(TICK);
    }
    for s in sessions.iter_mut().filter(|s| !s.down) {
        s.close();
    }
    Ok(())
}

/// An established session.
struct Session {
    name: String,
    stream: TcpStream,
    rx: RxBuf,
    codec: Codec,
    /// Negotiated hold time; `None` when it is 0 (no keepalives).
    hold: Option<Duration>,
    keepalive_every: Duration,
    keepalive: Vec<u8>,
    last_rx: Instant,
    last_tx: Instant,
    /// Whole-message buffers being written, and how far the first one is;
    /// the flag marks a KEEPALIVE.
    out: VecDeque<(Vec<u8>, bool)>,
    written: usize,
    /// An injector's UPDATE chunks not yet queued.
    load: VecDeque<Vec<u8>>,
    /// The session failed; it is no longer served.
    down: bool,
}

impl Session {
    /// Everything queued has been written.
    fn written(&self) -> bool {
        self.load.is_empty() && self.out.is_empty()
    }

    /// Sends Cease/Administrative Shutdown (best effort, 1 s at most; not
    /// in the middle of a message).
    fn close(&mut self) {
        if self.written != 0 {
            return;
        }
        let cease = NotificationMessage::new(
            code::CEASE,
            cease_subcode::ADMINISTRATIVE_SHUTDOWN,
            Vec::new(),
        );
        if let Ok(bytes) = Message::Notification(cease).to_bytes(&self.codec) {
            let _ = self.stream.set_nonblocking(false);
            let _ = self.stream.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = self.stream.write_all(&bytes);
        }
    }

    /// One round: write, read, timers. `monitor` is the monitor's table
    /// (UPDATEs are decoded into it; `shared`: only best paths count); an
    /// injector only frames what it gets.
    fn tick(
        &mut self,
        now: Instant,
        mut monitor: Option<&mut prefixes::Table>,
        shared: bool,
    ) -> Result<()> {
        let keepalive_queued = self.out.iter().any(|(_, ka)| *ka);
        if now.duration_since(self.last_tx) >= self.keepalive_every && !keepalive_queued {
            self.out.push_back((self.keepalive.clone(), true));
        }
        loop {
            if self.out.is_empty() {
                match self.load.pop_front() {
                    Some(chunk) => self.out.push_back((chunk, false)),
                    None => break,
                }
            }
            let Some((buf, _)) = self.out.front() else {
                break;
            };
            match self
                .stream
                .write(buf.get(self.written..).unwrap_or_default())
            {
                Ok(n) => {
                    self.last_tx = now;
                    self.written += n;
                    if self.written >= buf.len() {
                        self.out.pop_front();
                        self.written = 0;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e).context("writing to the DUT"),
            }
        }
        while self.rx.fill(&mut self.stream)? {
            self.last_rx = now;
            while let Some(m) = self.rx.pop(&self.codec)? {
                match monitor.as_deref_mut() {
                    Some(table) => count(m, &self.codec, table, shared)?,
                    // What the DUT sends an injector (the other injectors'
                    // routes) is dropped unread; only a NOTIFICATION matters.
                    None if m.get(18) == Some(&MessageType::Notification.as_u8()) => {
                        decode(m, &self.codec)?;
                    }
                    None => {}
                }
            }
        }
        if let Some(h) = self.hold
            && now.duration_since(self.last_rx) > h
        {
            bail!(
                "hold timer expired: nothing from the DUT for {} s",
                h.as_secs()
            );
        }
        Ok(())
    }
}

/// Applies one message the monitor received. With `shared` tables a prefix
/// counts only with its best path: the DUT's AS and the one injector that
/// did not prepend (AS path length 2); another path replaces it, so it is
/// taken as a withdrawal of the best one.
fn count(m: &[u8], codec: &Codec, table: &mut prefixes::Table, shared: bool) -> Result<()> {
    let Message::Update(u) = decode(m, codec)? else {
        return Ok(());
    };
    if let UpdateOutcome::SessionReset(e) = &u.outcome {
        bail!("the DUT sent a malformed UPDATE: {}", e.notification());
    }
    for (_, n) in u.withdrawals() {
        if let NlriPrefix::Ipv4(p) = n.prefix {
            table.withdraw(p);
        }
    }
    let best = !shared
        || u.attributes.iter().any(|a| match &a.value {
            Attribute::AsPath(path) => path.path_length() == BEST_PATH_LENGTH,
            _ => false,
        });
    for (family, n) in u.announced() {
        match n.prefix {
            NlriPrefix::Ipv4(p) if family == AfiSafi::IPV4_UNICAST && best => table.announce(p),
            NlriPrefix::Ipv4(p) if family == AfiSafi::IPV4_UNICAST => table.withdraw(p),
            _ => table.announce_other(),
        }
    }
    Ok(())
}

/// Connects from `me.addr` to the DUT and exchanges OPEN and KEEPALIVE,
/// retrying (the DUT may still be starting) until `deadline`.
fn establish(
    name: &str,
    me: Speaker,
    plan: &Plan,
    deadline: Instant,
    stop: &AtomicBool,
) -> Result<Session> {
    loop {
        if stop.load(Ordering::SeqCst) {
            bail!("stopped");
        }
        let err = match handshake(name, me, plan) {
            Ok(s) => return Ok(s),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(err.context(format!(
                "{name} ({}, AS {}): no session with the DUT at {} within {} s",
                me.addr,
                me.asn,
                plan.dut,
                plan.establish_timeout.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn handshake(name: &str, me: Speaker, plan: &Plan) -> Result<Session> {
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    bind(
        fd.as_raw_fd(),
        &SockaddrIn::from(SocketAddrV4::new(me.addr, 0)),
    )
    .with_context(|| format!("binding {}", me.addr))?;
    // SO_SNDTIMEO bounds connect() too.
    let timeout = TimeVal::new(HANDSHAKE_TIMEOUT.as_secs() as i64, 0);
    setsockopt(&fd, sockopt::SendTimeout, &timeout)?;
    let dut = SocketAddrV4::new(plan.dut, BGP_PORT);
    connect(fd.as_raw_fd(), &SockaddrIn::from(dut))
        .with_context(|| format!("connecting to {dut}"))?;
    let mut stream = TcpStream::from(fd);
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let open = OpenMessage::new(
        me.asn,
        plan.hold_time,
        me.addr,
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::RouteRefresh,
            Capability::FourOctetAs(me.asn),
        ],
    );
    let plain = Codec::default();
    stream.write_all(&Message::Open(open.clone()).to_bytes(&plain)?)?;
    let mut rx = RxBuf::new();
    let remote = match decode(rx.next_blocking(&mut stream, &plain)?, &plain)? {
        Message::Open(o) => o,
        other => bail!("expected an OPEN, got {}", other.message_type()),
    };
    if remote.asn() != plan.dut_asn {
        bail!(
            "the DUT's OPEN says AS {}, expected {}",
            remote.asn(),
            plan.dut_asn
        );
    }
    let codec = Codec::negotiate(&open, &remote);
    let hold = plan.hold_time.min(remote.hold_time);
    let hold = (hold > 0).then(|| Duration::from_secs(u64::from(hold)));
    let keepalive = Message::Keepalive.to_bytes(&codec)?;
    stream.write_all(&keepalive)?;
    match decode(rx.next_blocking(&mut stream, &codec)?, &codec)? {
        Message::Keepalive => {}
        other => bail!("expected a KEEPALIVE, got {}", other.message_type()),
    }
    stream.set_nonblocking(true)?;
    let now = Instant::now();
    Ok(Session {
        name: format!("{name} ({}, AS {})", me.addr, me.asn),
        stream,
        rx,
        codec,
        hold,
        keepalive_every: hold.map_or(Duration::from_secs(30), |h| {
            (h / 3).min(Duration::from_secs(5))
        }),
        keepalive,
        last_rx: now,
        last_tx: now,
        out: VecDeque::new(),
        written: 0,
        load: VecDeque::new(),
        down: false,
    })
}

/// Decodes a message; a NOTIFICATION becomes an error that names it.
fn decode(bytes: &[u8], codec: &Codec) -> Result<Message> {
    match Message::decode(bytes, codec) {
        Ok(Message::Notification(n)) => bail!("the DUT sent a NOTIFICATION: {n}"),
        Ok(m) => Ok(m),
        Err(e) => bail!("the DUT sent a message we cannot decode: {e}"),
    }
}

/// The UPDATEs of injector `i`, encoded once, in chunks of whole messages;
/// the End-of-RIB marker comes last. Its own M prefixes, or with a shared
/// table prefixes 0..M: those with k mod N = i with AS path [its AS], the
/// others prepended ([its AS, its AS]), each block of up to 1000 prefixes as
/// one UPDATE per path.
fn build_updates(i: usize, me: Speaker, plan: &Plan, codec: &Codec) -> Result<Vec<Vec<u8>>> {
    let attrs = |prepend: bool| {
        let path = if prepend {
            vec![me.asn, me.asn]
        } else {
            vec![me.asn]
        };
        vec![
            PathAttribute::new(Attribute::Origin(Origin::Igp)),
            PathAttribute::new(Attribute::AsPath(AsPath::from_sequence(path))),
            PathAttribute::new(Attribute::NextHop(me.addr)),
        ]
    };
    let count = plan.prefixes;
    let injectors = plan.injectors.len().max(1);
    let first = if plan.shared { 0 } else { i * count };
    let mut chunks = Vec::new();
    let mut chunk = Vec::with_capacity(CHUNK_BYTES + 4096);
    let mut index = first;
    while index < first + count {
        let end = (index + PREFIXES_PER_UPDATE).min(first + count);
        let paths: &[bool] = if plan.shared {
            &[false, true]
        } else {
            &[false]
        };
        for &prepend in paths {
            let nlri = (index..end)
                .filter(|k| !plan.shared || (k % injectors != i) == prepend)
                .map(|k| prefixes::nth(k).map(Nlri::ipv4))
                .collect::<Result<Vec<_>>>()?;
            if nlri.is_empty() {
                continue;
            }
            let update = UpdateMessage::new(Vec::new(), attrs(prepend), nlri);
            Message::Update(update)
                .encode(codec, &mut chunk)
                .context("encoding an UPDATE")?;
        }
        if chunk.len() >= CHUNK_BYTES {
            chunks.push(std::mem::replace(
                &mut chunk,
                Vec::with_capacity(CHUNK_BYTES + 4096),
            ));
        }
        index = end;
    }
    Message::Update(UpdateMessage::end_of_rib_marker(AfiSafi::IPV4_UNICAST))
        .encode(codec, &mut chunk)?;
    chunks.push(chunk);
    Ok(chunks)
}

/// Receive buffer: holds what was read and hands out whole messages.
struct RxBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl RxBuf {
    fn new() -> RxBuf {
        RxBuf {
            buf: vec![0; 1024 * 1024],
            start: 0,
            end: 0,
        }
    }

    /// The next whole message already read, if any.
    fn pop(&mut self, codec: &Codec) -> Result<Option<&[u8]>> {
        let pending = self.buf.get(self.start..self.end).unwrap_or_default();
        match codec.frame(pending) {
            Ok(Some(n)) => {
                let at = self.start;
                self.start += n;
                Ok(self.buf.get(at..at + n))
            }
            Ok(None) => Ok(None),
            Err(e) => bail!("the DUT sent a bad message header: {e}"),
        }
    }

    /// Moves the unread bytes to the front and makes room for more.
    fn make_room(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
    }

    /// One read from a non-blocking socket: whether anything arrived. Fails
    /// on EOF.
    fn fill(&mut self, stream: &mut TcpStream) -> Result<bool> {
        self.make_room();
        let free = self.buf.get_mut(self.end..).unwrap_or_default();
        match stream.read(free) {
            Ok(0) => bail!("the DUT closed the connection"),
            Ok(n) => {
                self.end += n;
                Ok(true)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                Ok(false)
            }
            Err(e) => Err(e).context("reading from the DUT"),
        }
    }

    /// The next message from a blocking socket (with a read timeout).
    fn next_blocking(&mut self, stream: &mut TcpStream, codec: &Codec) -> Result<&[u8]> {
        loop {
            let pending = self.buf.get(self.start..self.end).unwrap_or_default();
            match codec.frame(pending) {
                Ok(Some(_)) => break,
                Ok(None) => {}
                Err(e) => bail!("the DUT sent a bad message header: {e}"),
            }
            self.make_room();
            let free = self.buf.get_mut(self.end..).unwrap_or_default();
            match stream.read(free) {
                Ok(0) => bail!("the DUT closed the connection"),
                Ok(n) => self.end += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    bail!(
                        "no answer from the DUT within {} s",
                        HANDSHAKE_TIMEOUT.as_secs()
                    )
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e).context("reading from the DUT"),
            }
        }
        self.pop(codec)?
            .ok_or_else(|| anyhow!("no whole message after framing one"))
    }
}
