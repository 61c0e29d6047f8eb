//! tern-cni's client of ternd's control socket: one JSON line out, one back.
//! A ternd that cannot be reached, or that does not answer in time, is CNI
//! error 11 (try again later).
use std::{
    io::{BufRead, BufReader, Read, Write},
    os::unix::net::UnixStream,
    path::Path,
    time::Duration,
};

use tern_control::{Endpoint, Reply, Request};

use crate::spec::{CniError, Code};

/// How long ternd may take to answer.
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

fn endpoints_of(reply: Reply) -> Result<Vec<Endpoint>, CniError> {
    match reply {
        Reply::Endpoints { endpoints } => Ok(endpoints),
        Reply::Error { message } => Err(CniError::new(
            Code::TryAgainLater,
            format!("ternd refused: {message}"),
        )),
        other => Err(CniError::new(
            Code::TryAgainLater,
            format!("unexpected reply from ternd: {other:?}"),
        )),
    }
}

/// Registers an endpoint (ADD).
pub fn register(socket: &Path, ep: Endpoint) -> Result<(), CniError> {
    endpoints_of(ask(socket, &Request::EndpointAdd(ep))?).map(|_| ())
}

/// Forgets an endpoint (DEL); unknown is fine.
pub fn deregister(socket: &Path, container_id: &str, ifname: &str) -> Result<(), CniError> {
    let req = Request::EndpointDel {
        container_id: container_id.to_owned(),
        ifname: ifname.to_owned(),
    };
    endpoints_of(ask(socket, &req)?).map(|_| ())
}

/// The registered endpoints (CHECK).
pub fn endpoints(socket: &Path) -> Result<Vec<Endpoint>, CniError> {
    endpoints_of(ask(socket, &Request::ShowEndpoints)?)
}
