//! A BGP connection's I/O, on a thread of its own: one reader and one
//! writer task per TCP connection, the listener on port 179, and outgoing
//! connects all run on the session I/O thread ([`IoThread`]), never on the
//! thread where the speaker works through the RIB.
//!
//! Liveness comes from the wire, as RFC 4271 section 8 counts it: the
//! reader notes when bytes arrive from the socket ([`Wire`]), and the
//! speaker's hold timer, when it runs out, looks there before it gives up
//! on a peer whose messages are merely queued. The writer sends KEEPALIVEs
//! itself on the negotiated interval, so they leave on time whatever the
//! RIB is doing.
//!
//! Backpressure instead of queues: decoded messages reach the speaker over
//! a bounded channel. When the speaker lags, the readers wait, stop reading
//! their sockets, and TCP slows the peers down. Such a pause is ternd's,
//! not the peer's: while a reader waits, its peer counts as heard.
//!
//! The reader derives the session's codec itself: after the peer's OPEN it
//! negotiates with our OPEN, exactly as the FSM does, so UPDATEs are
//! decoded on the I/O thread, off the speaker's.
use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tern_bgp_wire::{Codec, Message, MessageError, OpenMessage};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpSocket, TcpStream},
    sync::mpsc,
};

/// BGP's TCP port.
pub const BGP_PORT: u16 = 179;

/// How many decoded messages may wait for the speaker, all connections
/// together; past that the readers stop reading their sockets.
pub const BACKLOG: usize = 512;

/// Identifies one TCP connection of one peer for the connection's lifetime.
pub type ConnId = u64;

/// Sends I/O events to the speaker (bounded: see [`BACKLOG`]).
pub type IoSender = mpsc::Sender<IoEvent>;

/// A KEEPALIVE on the wire: the marker, length 19, type 4.
const KEEPALIVE: [u8; 19] = {
    let mut m = [0xff; 19];
    m[16] = 0;
    m[17] = 19;
    m[18] = 4;
    m
};

/// What the I/O tasks report to the speaker.
#[derive(Debug)]
pub enum IoEvent {
    /// An outgoing connect finished.
    Connected {
        peer: IpAddr,
        conn: ConnId,
        stream: TcpStream,
    },
    ConnectFailed {
        peer: IpAddr,
        conn: ConnId,
        error: String,
    },
    /// A connection arrived on the listener.
    Accepted {
        stream: TcpStream,
        remote: SocketAddr,
    },
    /// A whole message (or the error it must be answered with).
    Message {
        peer: IpAddr,
        conn: ConnId,
        msg: Result<Message, MessageError>,
    },
    /// The connection closed or failed.
    Closed {
        peer: IpAddr,
        conn: ConnId,
        error: Option<String>,
    },
    /// The writer could not write anything for the send hold time (RFC
    /// 9687): the peer stopped reading. The writer has stopped.
    SendHoldExpired { peer: IpAddr, conn: ConnId },
}

/// What the speaker hands a connection's writer.
#[derive(Debug)]
pub enum Outgoing {
    /// One encoded message.
    Message(Vec<u8>),
    /// Send a KEEPALIVE whenever this long has passed without a message
    /// written (the FSM's KeepaliveTimer, RFC 4271 section 8); None stops.
    Keepalives(Option<Duration>),
    /// Give up when a write makes no progress for this long (RFC 9687's
    /// SendHoldTimer); None: wait for ever.
    SendHold(Option<Duration>),
}

/// What one connection's I/O tasks share with the speaker: when the peer
/// was last heard on the wire, whether ternd is holding its reader back,
/// and what the writer sent on its own.
#[derive(Debug)]
pub struct Wire {
    epoch: Instant,
    /// Milliseconds after `epoch` of the last bytes read from the socket.
    heard: AtomicU64,
    /// The reader waits for room in the speaker's backlog.
    paused: AtomicBool,
    /// KEEPALIVEs the writer sent by itself, not yet counted by the speaker.
    keepalives: AtomicU64,
    /// Milliseconds after `epoch` of the last message written.
    written: AtomicU64,
}

impl Wire {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            heard: AtomicU64::new(0),
            paused: AtomicBool::new(false),
            keepalives: AtomicU64::new(0),
            written: AtomicU64::new(0),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn heard_now(&self) {
        self.heard.store(self.now(), Ordering::Relaxed);
    }

    /// How long the peer has been silent on the wire: zero while ternd
    /// holds the reader back (the peer may well be talking: its bytes wait
    /// in the socket because we do not read them).
    pub fn silent_for(&self) -> Duration {
        if self.paused.load(Ordering::Relaxed) {
            return Duration::ZERO;
        }
        let heard = self.heard.load(Ordering::Relaxed);
        Duration::from_millis(self.now().saturating_sub(heard))
    }

    /// KEEPALIVEs the writer sent since the last call, and when it last
    /// wrote anything.
    pub fn take_keepalives(&self) -> (u64, Option<Instant>) {
        let n = self.keepalives.swap(0, Ordering::Relaxed);
        let written = self.written.load(Ordering::Relaxed);
        let at = (n > 0).then(|| self.epoch + Duration::from_millis(written));
        (n, at)
    }
}

/// The session I/O thread: a runtime of its own for every connection's
/// reader and writer, the listener and the connects. Dropping it lets the
/// writers flush what they hold (a last NOTIFICATION, typically) for up to
/// a second, then stops the thread.
#[derive(Debug)]
pub struct IoThread {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// One clone per writer task: the thread waits for them on stop.
    writers: Arc<()>,
}

impl IoThread {
    pub fn start() -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let writers = Arc::new(());
        let waiting = Arc::clone(&writers);
        std::thread::Builder::new()
            .name("bgp-io".to_owned())
            .spawn(move || {
                rt.block_on(async move {
                    let _ = stopped.await;
                    let deadline = Instant::now() + Duration::from_secs(1);
                    while Arc::strong_count(&waiting) > 1 && Instant::now() < deadline {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                });
            })?;
        Ok(Self {
            handle,
            stop: Some(stop),
            writers,
        })
    }

    /// The runtime the connections run on.
    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }
}

impl Drop for IoThread {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Hands an event to the speaker; when its backlog is full, waits with the
/// connection marked paused, so that the wait does not count as the peer's
/// silence. False once the speaker is gone.
async fn deliver(tx: &IoSender, wire: &Wire, ev: IoEvent) -> bool {
    match tx.try_send(ev) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Closed(_)) => false,
        Err(mpsc::error::TrySendError::Full(ev)) => {
            wire.paused.store(true, Ordering::Relaxed);
            let ok = tx.send(ev).await.is_ok();
            // The peer's hold time starts again from the moment we listen.
            wire.heard_now();
            wire.paused.store(false, Ordering::Relaxed);
            ok
        }
    }
}

/// How an outgoing connection is set up.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// TTL of the session's packets (eBGP: 1 unless multihop).
    pub ttl: Option<u32>,
    /// `ttl-security hops N` (GTSM): TTL 255 and a minimum TTL on receipt.
    pub gtsm_hops: Option<u8>,
    /// TCP MD5 key.
    pub md5_key: Option<String>,
    /// Local address to connect from (`update-source`).
    pub source: Option<IpAddr>,
}

/// Starts an outgoing connection to `peer` port 179 on the I/O thread; the
/// result comes back as Connected or ConnectFailed.
pub fn connect(
    io: &IoThread,
    peer: IpAddr,
    conn: ConnId,
    port: u16,
    opts: ConnectOptions,
    tx: IoSender,
) -> tokio::task::JoinHandle<()> {
    io.handle.spawn(async move {
        let result = async {
            let socket = match peer {
                IpAddr::V4(_) => TcpSocket::new_v4()?,
                IpAddr::V6(_) => TcpSocket::new_v6()?,
            };
            socket.set_nodelay(true)?;
            if let Some(src) = opts.source {
                socket.bind(SocketAddr::new(src, 0))?;
            }
            if let Some(key) = &opts.md5_key {
                super::md5::set_key(&socket, peer, key.as_bytes(), false)?;
            }
            // Before the SYN: the peer's SYN-ACK must already pass the check,
            // and the SYN itself goes out with the session's TTL (the hop
            // limit on IPv6), as FRR sets it.
            match (opts.gtsm_hops, opts.ttl) {
                (Some(hops), _) => super::gtsm::apply(&socket, peer, hops)?,
                (None, Some(ttl)) => tern_netlink::sockopt::set_ttl(
                    &socket,
                    tern_netlink::sockopt::IpVersion::of(peer),
                    u8::try_from(ttl).unwrap_or(u8::MAX),
                )?,
                (None, None) => {}
            }
            let stream = socket.connect(SocketAddr::new(peer, port)).await?;
            Ok::<_, std::io::Error>(stream)
        }
        .await;
        let ev = match result {
            Ok(stream) => IoEvent::Connected { peer, conn, stream },
            Err(e) => IoEvent::ConnectFailed {
                peer,
                conn,
                error: e.to_string(),
            },
        };
        let _ = tx.send(ev).await;
    })
}

/// Binds the listener on every address, IPv4 and IPv6 (dual stack), in the
/// I/O thread's runtime.
pub fn listen(io: &IoThread, port: u16) -> std::io::Result<TcpListener> {
    let _in_io = io.handle.enter();
    let socket = TcpSocket::new_v6()?;
    socket.set_reuseaddr(true)?;
    super::gtsm::prepare_listener(&socket)?;
    socket.bind(SocketAddr::new(IpAddr::from([0u16; 8]), port))?;
    socket.listen(64)
}

/// Accepts connections until the listener fails.
pub fn accept_loop(
    io: &IoThread,
    listener: TcpListener,
    tx: IoSender,
) -> tokio::task::JoinHandle<()> {
    io.handle.spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, remote)) => {
                    let _ = stream.set_nodelay(true);
                    let remote = SocketAddr::new(unmap(remote.ip()), remote.port());
                    if tx.send(IoEvent::Accepted { stream, remote }).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
}

/// An IPv4 peer seen on the dual-stack socket arrives as ::ffff:a.b.c.d.
pub fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A running connection, as the speaker holds it.
#[derive(Debug)]
pub struct Connection {
    /// Messages to write; dropping it makes the writer flush and close.
    pub writer: mpsc::UnboundedSender<Outgoing>,
    /// The reader (abort it to stop delivering).
    pub reader: tokio::task::JoinHandle<()>,
    pub wire: Arc<Wire>,
}

/// Runs a connection on the I/O thread: spawns its reader and writer.
pub fn run_connection(
    io: &IoThread,
    stream: TcpStream,
    peer: IpAddr,
    conn: ConnId,
    local_open: OpenMessage,
    tx: IoSender,
) -> Connection {
    let wire = Wire::new();
    wire.heard_now();
    let (rd, wr) = stream.into_split();
    let (out_tx, out_rx) = mpsc::unbounded_channel::<Outgoing>();
    io.handle.spawn(write_loop(
        wr,
        out_rx,
        Arc::clone(&wire),
        Arc::clone(&io.writers),
        (peer, conn, tx.clone()),
    ));
    let reader = io.handle.spawn(read_loop(
        rd,
        Arc::clone(&wire),
        local_open,
        (peer, conn, tx),
    ));
    Connection {
        writer: out_tx,
        reader,
        wire,
    }
}

/// Writes the speaker's messages in order, and a KEEPALIVE whenever the
/// keepalive interval passes without one; on a write error tells the
/// speaker; when the speaker lets go, shuts the socket.
async fn write_loop(
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    mut out_rx: mpsc::UnboundedReceiver<Outgoing>,
    wire: Arc<Wire>,
    _alive: Arc<()>,
    (peer, conn, tx): (IpAddr, ConnId, IoSender),
) {
    let mut interval: Option<Duration> = None;
    let mut next_keepalive: Option<tokio::time::Instant> = None;
    let mut send_hold: Option<Duration> = None;
    loop {
        let due = async {
            match next_keepalive {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        let bytes = tokio::select! {
            biased;
            out = out_rx.recv() => match out {
                Some(Outgoing::Message(buf)) => buf,
                Some(Outgoing::Keepalives(i)) => {
                    interval = i;
                    next_keepalive = i.map(|i| tokio::time::Instant::now() + i);
                    continue;
                }
                Some(Outgoing::SendHold(d)) => {
                    send_hold = d;
                    continue;
                }
                None => break,
            },
            () = due => {
                wire.keepalives.fetch_add(1, Ordering::Relaxed);
                KEEPALIVE.to_vec()
            }
        };
        match write_message(&mut wr, &bytes, send_hold).await {
            Ok(()) => {}
            Err(WriteFailure::Stalled) => {
                let _ = tx.send(IoEvent::SendHoldExpired { peer, conn }).await;
                return;
            }
            Err(WriteFailure::Io(e)) => {
                let _ = tx
                    .send(IoEvent::Closed {
                        peer,
                        conn,
                        error: Some(e.to_string()),
                    })
                    .await;
                return;
            }
        }
        wire.written.store(wire.now(), Ordering::Relaxed);
        // Any message restarts the peer's hold timer: the next KEEPALIVE
        // is due one interval after it.
        next_keepalive = interval.map(|i| tokio::time::Instant::now() + i);
    }
    let _ = wr.shutdown().await;
}

/// Why a message could not be written.
enum WriteFailure {
    /// No byte went out for the send hold time.
    Stalled,
    Io(std::io::Error),
}

/// Writes `bytes` whole; with a send hold time, fails when one write makes
/// no progress for that long (each byte written restarts the wait, so a
/// slow peer that reads is never cut off, only one that stopped).
async fn write_message(
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    bytes: &[u8],
    send_hold: Option<Duration>,
) -> Result<(), WriteFailure> {
    let mut off = 0;
    while off < bytes.len() {
        let write = wr.write(&bytes[off..]);
        let n = match send_hold {
            Some(d) => match tokio::time::timeout(d, write).await {
                Ok(r) => r.map_err(WriteFailure::Io)?,
                Err(_) => return Err(WriteFailure::Stalled),
            },
            None => write.await.map_err(WriteFailure::Io)?,
        };
        if n == 0 {
            return Err(WriteFailure::Io(std::io::ErrorKind::WriteZero.into()));
        }
        off += n;
    }
    Ok(())
}

/// Frames and decodes the byte stream and hands each message to the
/// speaker, noting on the [`Wire`] when bytes arrive.
async fn read_loop(
    mut rd: tokio::net::tcp::OwnedReadHalf,
    wire: Arc<Wire>,
    local_open: OpenMessage,
    (peer, conn, tx): (IpAddr, ConnId, IoSender),
) {
    let mut codec = Codec::default();
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        // Hand out every whole message already buffered.
        let mut start = 0;
        loop {
            match codec.frame(&buf[start..]) {
                Ok(Some(len)) => {
                    let end = start + len;
                    let msg = Message::decode(&buf[start..end], &codec);
                    if let Ok(Message::Open(open)) = &msg {
                        codec = Codec::negotiate(&local_open, open);
                    }
                    start = end;
                    if !deliver(&tx, &wire, IoEvent::Message { peer, conn, msg }).await {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let msg = Err(MessageError::Header(e));
                    let _ = deliver(&tx, &wire, IoEvent::Message { peer, conn, msg }).await;
                    return;
                }
            }
        }
        buf.drain(..start);
        let closed = match rd.read(&mut chunk).await {
            Ok(0) => Some(None),
            Ok(n) => {
                wire.heard_now();
                buf.extend_from_slice(&chunk[..n]);
                None
            }
            Err(e) => Some(Some(e.to_string())),
        };
        if let Some(error) = closed {
            let _ = deliver(&tx, &wire, IoEvent::Closed { peer, conn, error }).await;
            return;
        }
    }
}
