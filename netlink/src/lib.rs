//! Tern's kernel interface over rtnetlink: the only crate that speaks it.
//!
//! A [`Netlink`] owns one rtnetlink connection (its task runs on the caller's
//! tokio runtime) and answers typed questions about the namespace it was
//! opened in. Routes, neighbours and the link/address watch come with the BGP
//! and datapath work; this first cut reads links and addresses.
pub mod link;

pub use link::{Link, LinkStats, OperState};

use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::address::AddressAttribute;

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
}

/// One rtnetlink connection.
#[derive(Clone)]
pub struct Netlink {
    handle: rtnetlink::Handle,
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
        tokio::spawn(conn);
        Ok(Self { handle })
    }

    /// Every link of the namespace with its addresses, by ifindex.
    pub async fn links(&self) -> Result<Vec<Link>, Error> {
        let mut links: Vec<Link> = self
            .handle
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
        let addrs: Vec<_> = self
            .handle
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
            // IFA_LOCAL is the interface's own address on point-to-point
            // links; IFA_ADDRESS otherwise.
            let mut local = None;
            let mut address = None;
            for a in &m.attributes {
                match a {
                    AddressAttribute::Local(ip) => local = Some(*ip),
                    AddressAttribute::Address(ip) => address = Some(*ip),
                    _ => {}
                }
            }
            let Some(ip) = local.or(address) else {
                continue;
            };
            let Ok(net) = IpNet::new(ip, m.header.prefix_len) else {
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
}
