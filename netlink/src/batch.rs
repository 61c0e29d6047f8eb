//! Pipelined FIB programming: many route requests per sendmsg() on a
//! dedicated rtnetlink socket, with per-request errors matched back to the
//! requests by sequence number.
//!
//! Why not one rtnetlink request (and one ACK) at a time: the kernel runs
//! every message of a sendmsg() buffer in the sender's context before the
//! call returns, so a buffer of ~1000 route messages costs one syscall. Only
//! the last message of a buffer asks for an ACK (NLM_F_ACK); the kernel
//! answers the others only when they fail, with their sequence number, so a
//! clean batch costs one recv() per buffer too. The encoder (async side)
//! and the socket (a blocking thread) run in parallel, buffer by buffer.
use std::io;
use std::sync::Arc;
use std::time::Duration;

use netlink_packet_route::RouteNetlinkMessage;
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::{TimeVal, TimeValLike};
use rtnetlink::packet_core::{NLM_F_ACK, NLM_F_REQUEST, NetlinkMessage};
use rtnetlink::sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Bytes of requests per sendmsg(): well under the default socket send
/// buffer (212992 bytes), which caps one netlink message buffer.
const CHUNK_BYTES: usize = 64 * 1024;
/// Requests per sendmsg(): bounds the error replies one buffer can produce,
/// so that they always fit in the receive buffer.
const CHUNK_MSGS: usize = 1024;
/// Buffers the encoder may have queued for the sending thread. The encoder
/// runs on the caller's async runtime, which a busy BGP speaker can hold
/// for many milliseconds; with only a buffer or two queued the kernel
/// side then sat idle (at a full table, ternd installed 34k routes in its
/// first 1.3 s). 32 buffers are up to 32k requests, about 100 ms of
/// kernel work, and 2 MiB.
const PIPELINE_DEPTH: usize = 32;
/// Receive buffer asked for (SO_RCVBUFFORCE as root, else SO_RCVBUF).
const RCVBUF: usize = 8 << 20;
/// How long to wait for the ACK that closes a buffer. The kernel has
/// answered before sendmsg() returns; this only bounds a lost ACK.
const ACK_TIMEOUT_SECS: i64 = 2;

const NLMSG_HDR: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
const ENOBUFS: i32 = nix::libc::ENOBUFS;

/// Why one route operation of a batch did not apply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OpError {
    /// Refused before it reached the kernel.
    #[error("invalid route: {reason}")]
    Invalid { reason: String },
    /// The kernel answered with an errno, and usually an extended-ACK text
    /// ("Nexthop has invalid gateway").
    #[error("{}", kernel_text(*errno, detail.as_deref()))]
    Kernel {
        errno: i32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// The request could not be sent at all.
    #[error("netlink socket: {message}")]
    Socket { message: String },
    /// No answer could be matched to the request (receive buffer overrun or
    /// lost ACK): the route may or may not be in the kernel.
    #[error("no answer from the kernel: state unknown")]
    Unconfirmed,
}

fn kernel_text(errno: i32, detail: Option<&str>) -> String {
    let os = io::Error::from_raw_os_error(errno);
    match detail {
        Some(d) => format!("kernel refused: {d} ({os})"),
        None => format!("kernel refused: {os}"),
    }
}

impl OpError {
    /// The kernel's errno (positive), when the kernel answered.
    pub fn errno(&self) -> Option<i32> {
        match self {
            OpError::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    /// ESRCH / ENOENT: what the kernel answers for a route or nexthop that
    /// is not there.
    pub fn is_not_found(&self) -> bool {
        matches!(self.errno(), Some(e) if e == nix::libc::ESRCH || e == nix::libc::ENOENT)
    }
}

/// One failed operation: its index in the batch and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpFailure {
    pub index: usize,
    pub error: OpError,
}

/// The outcome of [`crate::Netlink::apply_batch`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchReport {
    /// Operations in the batch.
    pub ops: usize,
    /// Operations the kernel accepted.
    pub applied: usize,
    /// Operations that failed, by index, in order.
    pub failures: Vec<OpFailure>,
    /// Wall time of the whole batch.
    pub elapsed: Duration,
}

/// Who a request in flight belongs to, so that its error lands right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The route request of batch operation `n`.
    Op(usize),
    /// A nexthop object created (or re-created) for operation `op`.
    Nexthop { op: usize },
    /// Housekeeping (nexthop garbage collection): errors are only logged.
    Housekeeping,
}

/// The blocking rtnetlink socket that carries FIB requests.
pub(crate) struct FibSocket {
    sock: Socket,
}

impl std::fmt::Debug for FibSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FibSocket")
    }
}

/// The replies that one read of the socket carried.
enum Reply<'a> {
    /// NLMSG_ERROR: errno 0 for an ACK, with the extended-ACK text if any.
    Ack {
        seq: u32,
        errno: i32,
        detail: Option<String>,
    },
    /// NLMSG_DONE of a dump.
    Done { seq: u32 },
    /// Any other message: a dump's data (header included).
    Data { seq: u32, msg: &'a [u8] },
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

pub(crate) fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

pub(crate) fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Splits one datagram into netlink messages; stops at the first
/// malformed length.
fn parse_replies(buf: &[u8]) -> Vec<Reply<'_>> {
    let mut out = Vec::new();
    let mut off = 0;
    while let Some(len) = u32_at(buf, off) {
        let len = len as usize;
        let Some(msg) = buf.get(off..off + len).filter(|_| len >= NLMSG_HDR) else {
            break;
        };
        let kind = u16_at(msg, 4).unwrap_or(0);
        let flags = u16_at(msg, 6).unwrap_or(0);
        let seq = u32_at(msg, 8).unwrap_or(0);
        match kind {
            NLMSG_ERROR => {
                let code = u32_at(msg, NLMSG_HDR).map_or(0, |c| c as i32);
                out.push(Reply::Ack {
                    seq,
                    errno: code.saturating_neg(),
                    detail: ext_ack_message(msg, flags),
                });
            }
            NLMSG_DONE => out.push(Reply::Done { seq }),
            _ => out.push(Reply::Data { seq, msg }),
        }
        off += align4(len);
    }
    out
}

/// NLMSGERR_ATTR_MSG of an NLMSG_ERROR, when the kernel added one
/// (NETLINK_EXT_ACK): after the errno, the request's header (all of the
/// request without NETLINK_CAP_ACK), then TLVs.
fn ext_ack_message(msg: &[u8], flags: u16) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let orig = NLMSG_HDR + 4;
    let orig_len = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDR
    } else {
        u32_at(msg, orig)? as usize
    };
    let mut off = orig + align4(orig_len);
    while let (Some(len), Some(kind)) = (u16_at(msg, off), u16_at(msg, off + 2)) {
        let len = len as usize;
        if len < 4 {
            break;
        }
        let value = msg.get(off + 4..off + len)?;
        if kind == NLMSGERR_ATTR_MSG {
            let text = String::from_utf8_lossy(value);
            return Some(text.trim_end_matches('\0').to_string());
        }
        off += align4(len);
    }
    None
}

/// Appends one rtnetlink message with the given flags and sequence number.
pub(crate) fn write_route_message(
    buf: &mut Vec<u8>,
    msg: RouteNetlinkMessage,
    flags: u16,
    seq: u32,
) {
    let mut m = NetlinkMessage::from(msg);
    m.header.flags = NLM_F_REQUEST | flags;
    m.header.sequence_number = seq;
    m.finalize();
    let start = buf.len();
    buf.resize(start + m.buffer_len(), 0);
    m.serialize(&mut buf[start..]);
}

impl FibSocket {
    /// Opens the socket in the calling thread's network namespace.
    pub(crate) fn open() -> io::Result<Self> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        // Extended ACKs give the kernel's reason in words; capped ACKs leave
        // the request out of error replies. Both exist since Linux 4.12.
        if let Err(e) = sock.set_ext_ack(true) {
            tracing::debug!(error = %e, "NETLINK_EXT_ACK not available");
        }
        if let Err(e) = sock.set_cap_ack(true) {
            tracing::debug!(error = %e, "NETLINK_CAP_ACK not available");
        }
        if setsockopt(&sock, sockopt::RcvBufForce, &RCVBUF).is_err() {
            setsockopt(&sock, sockopt::RcvBuf, &RCVBUF).map_err(io::Error::from)?;
        }
        setsockopt(
            &sock,
            sockopt::ReceiveTimeout,
            &TimeVal::seconds(ACK_TIMEOUT_SECS),
        )
        .map_err(io::Error::from)?;
        Ok(Self { sock })
    }

    fn send(&self, buf: &[u8]) -> io::Result<()> {
        self.sock
            .send_to(buf, &SocketAddr::new(0, 0), 0)
            .map(|_| ())
    }

    fn recv<'a>(&self, rbuf: &'a mut Vec<u8>) -> io::Result<&'a [u8]> {
        rbuf.clear();
        rbuf.reserve(256 * 1024);
        let n = self.sock.recv(rbuf, 0)?;
        Ok(&rbuf[..n.min(rbuf.len())])
    }

    /// Sends one buffer of requests and reads until the ACK of its last
    /// request; every error reply (for any sequence number) goes to `out`.
    fn exchange(&self, chunk: &Chunk, rbuf: &mut Vec<u8>, out: &mut Vec<(u32, OpError)>) {
        if let Err(e) = self.send(&chunk.buf) {
            tracing::warn!(error = %e, requests = chunk.count(), "netlink sendmsg failed");
            for seq in chunk.seqs() {
                out.push((
                    seq,
                    OpError::Socket {
                        message: e.to_string(),
                    },
                ));
            }
            return;
        }
        let mut lost = false;
        loop {
            match self.recv(rbuf) {
                Ok(data) => {
                    let mut closed = false;
                    for r in parse_replies(data) {
                        if let Reply::Ack { seq, errno, detail } = r {
                            if errno != 0 {
                                out.push((seq, OpError::Kernel { errno, detail }));
                            }
                            closed |= seq == chunk.last_seq;
                        }
                    }
                    if closed {
                        break;
                    }
                }
                Err(e) if e.raw_os_error() == Some(ENOBUFS) => {
                    tracing::warn!("FIB socket receive buffer overrun: some answers lost");
                    lost = true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "no ACK for a FIB request buffer");
                    lost = true;
                    break;
                }
            }
        }
        if lost {
            // Errors may have been dropped: nothing in this buffer that did
            // not report an error is known to have applied.
            let failed: std::collections::HashSet<u32> = out.iter().map(|(s, _)| *s).collect();
            for seq in chunk.seqs().filter(|s| !failed.contains(s)) {
                out.push((seq, OpError::Unconfirmed));
            }
        }
    }

    /// Runs one dump request (`request` already carries NLM_F_DUMP and
    /// `seq`) and returns every message of the answer, headers included.
    pub(crate) fn dump(&self, request: &[u8], seq: u32) -> io::Result<Vec<Vec<u8>>> {
        self.send(request)?;
        let mut rbuf = Vec::new();
        let mut msgs = Vec::new();
        loop {
            let data = self.recv(&mut rbuf)?;
            for r in parse_replies(data) {
                match r {
                    Reply::Data { seq: s, msg } if s == seq => msgs.push(msg.to_vec()),
                    Reply::Done { seq: s } if s == seq => return Ok(msgs),
                    Reply::Ack { seq: s, errno, .. } if s == seq => {
                        return if errno == 0 {
                            Ok(msgs)
                        } else {
                            Err(io::Error::from_raw_os_error(errno))
                        };
                    }
                    _ => {}
                }
            }
        }
    }
}

/// One sendmsg() worth of requests.
struct Chunk {
    buf: Vec<u8>,
    first_seq: u32,
    last_seq: u32,
    /// Offset of the last message, whose flags get NLM_F_ACK.
    last_off: usize,
}

impl Chunk {
    fn new(first_seq: u32) -> Self {
        Self {
            buf: Vec::with_capacity(CHUNK_BYTES + 4096),
            first_seq,
            last_seq: first_seq,
            last_off: 0,
        }
    }

    fn count(&self) -> usize {
        if self.buf.is_empty() {
            0
        } else {
            self.last_seq.wrapping_sub(self.first_seq) as usize + 1
        }
    }

    fn seqs(&self) -> impl Iterator<Item = u32> + use<> {
        let first = self.first_seq;
        (0..self.count() as u32).map(move |i| first.wrapping_add(i))
    }
}

/// Requests in flight for one batch: the encoder pushes messages, full
/// buffers go to a blocking thread that sends them and collects errors.
pub(crate) struct Pipeline {
    tx: Option<mpsc::Sender<Chunk>>,
    worker: tokio::task::JoinHandle<Vec<(u32, OpError)>>,
    cur: Chunk,
    first_seq: u32,
    next_seq: u32,
    owners: Vec<Owner>,
}

impl Pipeline {
    pub(crate) fn new(sock: Arc<FibSocket>, first_seq: u32) -> Self {
        let (tx, mut rx) = mpsc::channel::<Chunk>(PIPELINE_DEPTH);
        let worker = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut rbuf = Vec::new();
            while let Some(chunk) = rx.blocking_recv() {
                sock.exchange(&chunk, &mut rbuf, &mut out);
            }
            out
        });
        Self {
            tx: Some(tx),
            worker,
            cur: Chunk::new(first_seq),
            first_seq,
            next_seq: first_seq,
            owners: Vec::new(),
        }
    }

    /// Adds one request; `write` appends it to the buffer with the given
    /// sequence number.
    pub(crate) async fn push(&mut self, owner: Owner, write: impl FnOnce(&mut Vec<u8>, u32)) {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.owners.push(owner);
        self.cur.last_off = self.cur.buf.len();
        self.cur.last_seq = seq;
        write(&mut self.cur.buf, seq);
        if self.cur.buf.len() >= CHUNK_BYTES || self.cur.count() >= CHUNK_MSGS {
            self.flush().await;
        }
    }

    async fn flush(&mut self) {
        if self.cur.buf.is_empty() {
            return;
        }
        let mut chunk = std::mem::replace(&mut self.cur, Chunk::new(self.next_seq));
        let flags_at = chunk.last_off + 6;
        if let Some(flags) = chunk.buf.get_mut(flags_at..flags_at + 2) {
            let f = u16::from_ne_bytes([flags[0], flags[1]]) | NLM_F_ACK;
            flags.copy_from_slice(&f.to_ne_bytes());
        }
        if let Some(tx) = &self.tx
            && tx.send(chunk).await.is_err()
        {
            // The worker is gone; finish() reports what was lost.
            self.tx = None;
        }
    }

    /// Sends what is left, waits for every answer, and returns the errors
    /// by owner, with the next free sequence number.
    pub(crate) async fn finish(mut self) -> (Vec<(Owner, OpError)>, u32) {
        self.flush().await;
        drop(self.tx.take());
        let errors = match self.worker.await {
            Ok(errors) => errors,
            Err(e) => {
                tracing::error!(error = %e, "FIB socket thread failed");
                let first = self.first_seq;
                (0..self.owners.len() as u32)
                    .map(|i| (first.wrapping_add(i), OpError::Unconfirmed))
                    .collect()
            }
        };
        let mut out = Vec::with_capacity(errors.len());
        for (seq, err) in errors {
            let i = seq.wrapping_sub(self.first_seq) as usize;
            match self.owners.get(i) {
                Some(owner) => out.push((*owner, err)),
                None => tracing::debug!(seq, error = %err, "answer to an earlier request"),
            }
        }
        (out, self.next_seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nlmsg(kind: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDR + payload.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(payload);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    #[test]
    fn error_replies_carry_seq_errno_and_ext_ack_text() {
        // A capped NACK (-EINVAL) with an NLMSGERR_ATTR_MSG TLV, then an ACK.
        let mut payload = (-22i32).to_ne_bytes().to_vec();
        payload.extend_from_slice(&nlmsg(24, 0, 7, &[])[..NLMSG_HDR]);
        let text = b"Nexthop has invalid gateway\0";
        payload.extend_from_slice(&((4 + text.len()) as u16).to_ne_bytes());
        payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        payload.extend_from_slice(text);
        let mut buf = nlmsg(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, 7, &payload);
        let mut ack = 0i32.to_ne_bytes().to_vec();
        ack.extend_from_slice(&[0; NLMSG_HDR]);
        buf.extend(nlmsg(NLMSG_ERROR, NLM_F_CAPPED, 8, &ack));
        let replies = parse_replies(&buf);
        assert_eq!(replies.len(), 2);
        match &replies[0] {
            Reply::Ack { seq, errno, detail } => {
                assert_eq!((*seq, *errno), (7, 22));
                assert_eq!(detail.as_deref(), Some("Nexthop has invalid gateway"));
            }
            _ => panic!("not an ack"),
        }
        assert!(matches!(
            replies[1],
            Reply::Ack {
                seq: 8,
                errno: 0,
                detail: None
            }
        ));
    }

    #[test]
    fn truncated_input_does_not_panic() {
        let buf = nlmsg(NLMSG_ERROR, NLM_F_ACK_TLVS, 1, &[1, 2, 3]);
        for n in 0..buf.len() {
            let _ = parse_replies(&buf[..n]);
        }
        let _ = parse_replies(&[0xff; 40]);
    }
}
