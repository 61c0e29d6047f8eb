//! tern-cni's client of ternd's control socket: one JSON line out, one back.
//! ternd holds the pods' addresses (its endpoint registry): ADD asks it to
//! allocate them, then registers the wired endpoint; DEL frees them. A
//! ternd that cannot be reached, or that does not answer in time, is CNI
//! error 11 (try again later); a refusal is the CNI error of its reason.
use std::{
    io::{BufRead, BufReader, Read, Write},
    os::unix::net::UnixStream,
    path::Path,
    time::Duration,
};

use tern_control::{Endpoint, EndpointClaim, IpamFile, Refusal, Reply, Request, Reservation};

use crate::spec::{CniError, Code};

/// How long ternd may take to answer (an EndpointAdd waits for the eBPF
/// datapath to program the endpoint).
const TIMEOUT: Duration = Duration::from_secs(10);

fn ask(socket: &Path, req: &Request) -> Result<Reply, CniError> {
    let unreachable = |what: &str, e: std::io::Error| {
        CniError::new(
            Code::TryAgainLater,
            format!("ternd is not reachable on {}", socket.display()),
        )
        .details(format!("{what}: {e}"))
    };
    let mut s = UnixStream::connect(socket).map_err(|e| unreachable("connect", e))?;
    s.set_read_timeout(Some(TIMEOUT))
        .and_then(|()| s.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| unreachable("socket options", e))?;
    let mut line = serde_json::to_vec(req).map_err(|e| CniError::new(Code::Io, e.to_string()))?;
    line.push(b'\n');
    s.write_all(&line).map_err(|e| unreachable("send", e))?;
    let mut answer = String::new();
    BufReader::new((&s).take(tern_control::MAX_LINE as u64))
        .read_line(&mut answer)
        .map_err(|e| unreachable("receive", e))?;
    if answer.is_empty() {
        return Err(unreachable(
            "receive",
            std::io::Error::other("ternd closed the connection"),
        ));
    }
    serde_json::from_str(&answer).map_err(|e| {
        CniError::new(Code::TryAgainLater, "ternd answered something unreadable")
            .details(e.to_string())
    })
}

/// The CNI error for a refusal of ternd's.
fn refused(reason: Refusal, message: String) -> CniError {
    let code = match reason {
        Refusal::NoAddress | Refusal::Full => Code::NoAddress,
        Refusal::Conflict => Code::Netlink,
        Refusal::Invalid => Code::InvalidConfig,
        Refusal::Unknown => Code::TryAgainLater,
        Refusal::Datapath => Code::Datapath,
        Refusal::Io => Code::Io,
    };
    CniError::new(code, format!("ternd refused: {message}"))
}

fn unexpected(reply: Reply) -> CniError {
    match reply {
        Reply::EndpointRefused { reason, message } => refused(reason, message),
        Reply::Error { message } => {
            CniError::new(Code::TryAgainLater, format!("ternd refused: {message}"))
        }
        other => CniError::new(
            Code::TryAgainLater,
            format!("unexpected reply from ternd: {other:?}"),
        ),
    }
}

fn endpoints_of(reply: Reply) -> Result<(Vec<Endpoint>, Vec<Reservation>), CniError> {
    match reply {
        Reply::Endpoints {
            endpoints,
            reserved,
        } => Ok((endpoints, reserved)),
        other => Err(unexpected(other)),
    }
}

/// Allocates the pod's addresses (ADD, before the veth is made); the same
/// key gets the same addresses again.
pub fn allocate(socket: &Path, claim: EndpointClaim) -> Result<Reservation, CniError> {
    match ask(socket, &Request::EndpointAllocate(claim))? {
        Reply::EndpointReserved(r) => Ok(r),
        other => Err(unexpected(other)),
    }
}

/// Registers the wired endpoint (ADD); with the eBPF datapath running,
/// ternd answers once the endpoint is programmed.
pub fn register(socket: &Path, ep: Endpoint) -> Result<(), CniError> {
    endpoints_of(ask(socket, &Request::EndpointAdd(ep))?).map(|_| ())
}

/// Forgets an endpoint and frees its addresses (DEL); unknown is fine.
pub fn deregister(socket: &Path, container_id: &str, ifname: &str) -> Result<(), CniError> {
    let req = Request::EndpointDel {
        container_id: container_id.to_owned(),
        ifname: ifname.to_owned(),
    };
    endpoints_of(ask(socket, &req)?).map(|_| ())
}

/// Hands an older tern-cni's IPAM file to ternd (see `migrate`).
pub fn import(socket: &Path, file: IpamFile) -> Result<(), CniError> {
    endpoints_of(ask(socket, &Request::EndpointImport(file))?).map(|_| ())
}

/// ternd's eBPF datapath as `show datapath` reports it (STATUS).
pub fn datapath(socket: &Path) -> Result<tern_control::DatapathInfo, CniError> {
    match ask(socket, &Request::ShowDatapath)? {
        Reply::Datapath(info) => Ok(*info),
        other => Err(unexpected(other)),
    }
}

/// The registered endpoints and the reservations of unfinished ADDs
/// (CHECK, and the tests).
pub fn endpoints(socket: &Path) -> Result<(Vec<Endpoint>, Vec<Reservation>), CniError> {
    endpoints_of(ask(socket, &Request::ShowEndpoints)?)
}
