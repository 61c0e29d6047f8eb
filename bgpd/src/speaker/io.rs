//! A BGP connection's I/O: one reader and one writer task per TCP
//! connection, the listener on port 179, and outgoing connects.
//!
//! The reader frames the byte stream, decodes each message and hands it to
//! the speaker. It derives the session's codec itself: after the peer's OPEN
//! it negotiates with our OPEN, exactly as the FSM does, so UPDATEs are
//! decoded in the reader task, off the speaker's loop.
use std::net::{IpAddr, SocketAddr};

use tern_bgp_wire::{Codec, Message, MessageError, OpenMessage};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpSocket, TcpStream},
    sync::mpsc,
};

/// BGP's TCP port.
pub const BGP_PORT: u16 = 179;

/// Identifies one TCP connection of one peer for the connection's lifetime.
pub type ConnId = u64;

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

/// Starts an outgoing connection to `peer` port 179; the result comes back as
/// Connected or ConnectFailed.
pub fn connect(
    peer: IpAddr,
    conn: ConnId,
    port: u16,
    opts: ConnectOptions,
    tx: mpsc::UnboundedSender<IoEvent>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
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
            // Before the SYN: the peer's SYN-ACK must already pass the check.
            if let Some(hops) = opts.gtsm_hops {
                super::gtsm::apply(&socket, peer, hops)?;
            }
            let stream = socket.connect(SocketAddr::new(peer, port)).await?;
            if let Some(ttl) = opts.ttl
                && opts.gtsm_hops.is_none()
            {
                stream.set_ttl(ttl)?;
            }
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
        let _ = tx.send(ev);
    })
}

/// Binds the listener on every address, IPv4 and IPv6 (dual stack).
pub fn listen(port: u16) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v6()?;
    socket.set_reuseaddr(true)?;
    super::gtsm::prepare_listener(&socket)?;
    socket.bind(SocketAddr::new(IpAddr::from([0u16; 8]), port))?;
    socket.listen(64)
}

/// Accepts connections until the listener fails.
pub fn accept_loop(
    listener: TcpListener,
    tx: mpsc::UnboundedSender<IoEvent>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, remote)) => {
                    let _ = stream.set_nodelay(true);
                    let remote = SocketAddr::new(unmap(remote.ip()), remote.port());
                    if tx.send(IoEvent::Accepted { stream, remote }).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
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

/// Runs a connection: spawns its reader and writer; returns the sender of
/// encoded messages to write and the tasks' handles (abort them to close).
pub fn run_connection(
    stream: TcpStream,
    peer: IpAddr,
    conn: ConnId,
    local_open: OpenMessage,
    tx: mpsc::UnboundedSender<IoEvent>,
) -> (
    mpsc::UnboundedSender<Vec<u8>>,
    [tokio::task::JoinHandle<()>; 2],
) {
    let (mut rd, mut wr) = stream.into_split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let wtx = tx.clone();
    let writer = tokio::spawn(async move {
        while let Some(buf) = out_rx.recv().await {
            if let Err(e) = wr.write_all(&buf).await {
                let _ = wtx.send(IoEvent::Closed {
                    peer,
                    conn,
                    error: Some(e.to_string()),
                });
                return;
            }
        }
        // The speaker dropped the sender: close our side.
        let _ = wr.shutdown().await;
    });
    let reader = tokio::spawn(async move {
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
                        if tx.send(IoEvent::Message { peer, conn, msg }).is_err() {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(IoEvent::Message {
                            peer,
                            conn,
                            msg: Err(MessageError::Header(e)),
                        });
                        return;
                    }
                }
            }
            buf.drain(..start);
            match rd.read(&mut chunk).await {
                Ok(0) => {
                    let _ = tx.send(IoEvent::Closed {
                        peer,
                        conn,
                        error: None,
                    });
                    return;
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => {
                    let _ = tx.send(IoEvent::Closed {
                        peer,
                        conn,
                        error: Some(e.to_string()),
                    });
                    return;
                }
            }
        }
    });
    (out_tx, [reader, writer])
}
