//! The collect_md ("external") VXLAN device of the pod datapath: one device
//! that carries every VNI and remote, the eBPF program setting the tunnel
//! key per packet (`ip link add NAME type vxlan external dstport PORT`).
//! ternd creates it when VXLAN mode is configured and deletes it when the
//! mode goes or ternd stops.
use futures::TryStreamExt;
use netlink_packet_route::link::{InfoData, InfoVxlan, LinkAttribute, LinkInfo, LinkMessage};
use rtnetlink::{LinkMessageBuilder, LinkUnspec, LinkVxlan};

use crate::{Error, Netlink};

const ENODEV: i32 = 19;

/// Whether a link message describes a collect_md VXLAN device on `port`.
fn is_external_vxlan(m: &LinkMessage, port: u16) -> bool {
    m.attributes.iter().any(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().any(|i| match i {
            LinkInfo::Data(InfoData::Vxlan(v)) => {
                v.contains(&InfoVxlan::CollectMetadata(true)) && v.contains(&InfoVxlan::Port(port))
            }
            _ => false,
        }),
        _ => false,
    })
}

impl Netlink {
    async fn link_message(&self, name: &str) -> Result<Option<LinkMessage>, Error> {
        match self
            .handle
            .link()
            .get()
            .match_name(name.to_owned())
            .execute()
            .try_next()
            .await
        {
            Ok(m) => Ok(m),
            Err(e) if crate::errno(&e) == Some(ENODEV) => Ok(None),
            Err(source) => Err(Error::Request {
                what: "link lookup",
                source,
            }),
        }
    }

    /// Makes sure `name` is an up, collect_md VXLAN device with UDP port
    /// `port`, without learning; returns its ifindex. A link of that name
    /// that is anything else (another kind, another port) is replaced.
    pub async fn vxlan_external_ensure(&self, name: &str, port: u16) -> Result<u32, Error> {
        if let Some(m) = self.link_message(name).await? {
            if is_external_vxlan(&m, port) {
                self.link_up(m.header.index).await?;
                return Ok(m.header.index);
            }
            tracing::info!(
                ifname = name,
                "replacing a link that is not the VXLAN device wanted"
            );
            self.link_delete(name).await?;
        }
        let msg = LinkMessageBuilder::<LinkVxlan>::new(name)
            .append_info_data(InfoVxlan::CollectMetadata(true))
            .port(port)
            .learning(false)
            .up()
            .build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|source| Error::Request {
                what: "creating the VXLAN device",
                source,
            })?;
        let m = self.link_message(name).await?.ok_or(Error::Request {
            what: "finding the new VXLAN device",
            source: rtnetlink::Error::RequestFailed,
        })?;
        self.link_up(m.header.index).await?;
        Ok(m.header.index)
    }

    /// Sets a link up.
    pub async fn link_up(&self, index: u32) -> Result<(), Error> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|source| Error::Request {
                what: "setting a link up",
                source,
            })
    }

    /// Deletes the link called `name`; Ok(false) when there is none.
    pub async fn link_delete(&self, name: &str) -> Result<bool, Error> {
        let Some(m) = self.link_message(name).await? else {
            return Ok(false);
        };
        match self.handle.link().del(m.header.index).execute().await {
            Ok(()) => Ok(true),
            Err(e) if crate::errno(&e) == Some(ENODEV) => Ok(false),
            Err(source) => Err(Error::Request {
                what: "deleting a link",
                source,
            }),
        }
    }
}
