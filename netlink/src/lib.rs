//! Tern's kernel interface over rtnetlink: the only crate that speaks it.
//!
//! A [`Netlink`] owns one rtnetlink connection (its task runs on the caller's
//! tokio runtime) for questions about the namespace it was opened in, and a
//! second socket for programming the FIB (see `fib.rs`, `batch.rs`). Both
//! stay bound to the network namespace of the thread that called
//! [`Netlink::open`]. The link/address/route watch is in `watch.rs`.
//!
//! It also owns the socket options and socket filters nix has no wrapper
//! for (TCP MD5, TTL and minimum TTL, SO_ATTACH_FILTER): see [`sockopt`].
mod batch;
mod fib;
mod frag;
pub mod link;
mod nexthop;
pub mod pod;
pub mod route;
pub mod sockopt;
pub mod statics;
mod tunnel_dev;
mod watch;

/// The kernel's errno in an rtnetlink error, if it carries one.
pub(crate) fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

pub use batch::{BatchReport, OpError, OpFailure};
pub use link::{Link, LinkStats, OperState};
pub use route::{
    IPV6_DEFAULT_METRIC, KernelRoute, NextHop, RT_TABLE_MAIN, Route, RouteOp, TERN_PROTO,
    fib_write_order,
};
pub use statics::{STATIC_METRIC, STATIC_PROTO, StaticHops};
pub use watch::LinkEvent;

use std::sync::Arc;

use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};

/// Errors talking to the kernel.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("opening a netlink socket: {0}")]
    Open(#[source] std::io::Error),
    #[error("netlink {what}: {source}")]
    Request {
        what: &'static str,
        #[source]
        source: rtnetlink::Error,
    },
    /// One route operation failed (see [`OpError`]).
    #[error("route {prefix}: {source}")]
    Route {
        prefix: IpNet,
        #[source]
        source: OpError,
    },
    #[error("nexthop objects: {0}")]
    Nexthops(#[source] std::io::Error),
    #[error("purging protocol {protocol}: {failed} routes not deleted, the first because {first}")]
    Purge {
        protocol: u8,
        failed: usize,
        first: OpError,
    },
}

/// Tern's link to the kernel of one network namespace: an rtnetlink
/// connection for dumps and a FIB socket for route batches. Clones share both.
#[derive(Clone)]
pub struct Netlink {
    handle: rtnetlink::Handle,
    fib: Arc<tokio::sync::Mutex<fib::Fib>>,
    /// One dump at a time on `handle`'s socket: the kernel answers a dump
    /// request that arrives while another is running on the same socket
    /// with EBUSY (tasks sharing the handle used to see "link dump failed:
    /// Device or resource busy").
    dumps: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Netlink")
    }
}

impl Netlink {
    /// Opens a connection in the current network namespace. Must be called
    /// inside a tokio runtime: the connection's task is spawned on it and ends
    /// when every clone of the handle is dropped.
    pub fn open() -> Result<Self, Error> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(Error::Open)?;
        let fib = batch::FibSocket::open().map_err(Error::Open)?;
        tokio::spawn(conn);
        Ok(Self {
            handle,
            fib: Arc::new(tokio::sync::Mutex::new(fib::Fib::new(fib))),
            dumps: Arc::default(),
        })
    }

    /// Every link of the namespace with its addresses, by ifindex.
    pub async fn links(&self) -> Result<Vec<Link>, Error> {
        let _one_dump = self.dumps.lock().await;
        links_of(&self.handle).await
    }
}

/// The link and address dumps behind [`Netlink::links`], on any handle.
pub(crate) async fn links_of(handle: &rtnetlink::Handle) -> Result<Vec<Link>, Error> {
    let mut links: Vec<Link> = handle
        .link()
        .get()
        .execute()
        .map_ok(|m| Link::from_message(&m))
        .try_collect()
        .await
        .map_err(|source| Error::Request {
            what: "link dump",
            source,
        })?;
    let addrs: Vec<_> = handle
        .address()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|source| Error::Request {
            what: "address dump",
            source,
        })?;
    for m in addrs {
        let Some(net) = address_net(&m) else {
            continue;
        };
        if let Some(l) = links.iter_mut().find(|l| l.index == m.header.index) {
            l.addresses.push(net);
        }
    }
    links.sort_by_key(|l| l.index);
    for l in &mut links {
        l.addresses.sort_by_key(|a| (a.addr().is_ipv6(), *a));
    }
    Ok(links)
}

/// The interface address an address message carries: IFA_LOCAL (the
/// interface's own address on point-to-point links), else IFA_ADDRESS.
pub(crate) fn address_net(m: &AddressMessage) -> Option<IpNet> {
    let mut local = None;
    let mut address = None;
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            _ => {}
        }
    }
    IpNet::new(local.or(address)?, m.header.prefix_len).ok()
}
