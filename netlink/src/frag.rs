//! The route that fragments pods' IPv4 packets too big for their tunnel.
//!
//! A pod's IPv4 packet without DF that does not fit its tunnel is handed to
//! the node's stack under a packet mark. A rule sends that mark to a table
//! of its own, whose one route leads into the VXLAN device with the
//! tunnel's room as a locked MTU: the stack fragments the packet as a
//! router does, and the VXLAN device's egress program tunnels each
//! fragment. The device does no ARP, so the stack sends the fragments
//! without asking for a neighbour.
use netlink_packet_route::{
    AddressFamily,
    route::{RouteAttribute, RouteHeader, RouteMetric, RouteProtocol, RouteScope},
    rule::{RuleAction, RuleAttribute, RuleMessage},
};
use rtnetlink::{LinkUnspec, RouteMessageBuilder};

use crate::{Error, Netlink};

const EEXIST: i32 = 17;
const ENOENT: i32 = 2;
const ESRCH: i32 = 3;
/// RTAX_MTU, the metric's index (its bit in RTAX_LOCK locks it).
const RTAX_MTU: u32 = 2;

/// The rule: packets marked `mark` are routed by `table`, at `priority`.
fn rule_message(mark: u32, table: u32, priority: u32) -> RuleMessage {
    let mut m = RuleMessage::default();
    m.header.family = AddressFamily::Inet;
    m.header.table = RouteHeader::RT_TABLE_UNSPEC;
    m.header.action = RuleAction::ToTable;
    m.attributes.push(RuleAttribute::FwMark(mark));
    m.attributes.push(RuleAttribute::FwMask(u32::MAX));
    m.attributes.push(RuleAttribute::Table(table));
    m.attributes.push(RuleAttribute::Priority(priority));
    m
}

impl Netlink {
    /// Makes sure the rule "fwmark `mark` lookup `table` pref `priority`"
    /// (IPv4) exists.
    pub async fn frag_rule_ensure(
        &self,
        mark: u32,
        table: u32,
        priority: u32,
    ) -> Result<(), Error> {
        let mut req = self.handle.rule().add();
        *req.message_mut() = rule_message(mark, table, priority);
        match req.execute().await {
            Ok(()) => Ok(()),
            Err(e) if crate::errno(&e) == Some(EEXIST) => Ok(()),
            Err(source) => Err(Error::Request {
                what: "adding the fragmentation rule",
                source,
            }),
        }
    }

    /// Removes that rule; one that is not there is no error.
    pub async fn frag_rule_delete(
        &self,
        mark: u32,
        table: u32,
        priority: u32,
    ) -> Result<(), Error> {
        match self
            .handle
            .rule()
            .del(rule_message(mark, table, priority))
            .execute()
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if matches!(crate::errno(&e), Some(ENOENT | ESRCH)) => Ok(()),
            Err(source) => Err(Error::Request {
                what: "deleting the fragmentation rule",
                source,
            }),
        }
    }

    /// Installs (or replaces) "default dev `ifindex` table `table` mtu lock
    /// `mtu`" (IPv4), and turns ARP off on the device.
    pub async fn frag_route_replace(
        &self,
        table: u32,
        ifindex: u32,
        mtu: u32,
    ) -> Result<(), Error> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(ifindex).arp(false).build())
            .execute()
            .await
            .map_err(|source| Error::Request {
                what: "turning ARP off on the VXLAN device",
                source,
            })?;
        let mut b = RouteMessageBuilder::<std::net::Ipv4Addr>::new()
            .destination_prefix(std::net::Ipv4Addr::UNSPECIFIED, 0)
            .output_interface(ifindex)
            .table_id(table)
            .scope(RouteScope::Link)
            .protocol(RouteProtocol::Static);
        b.get_mut().attributes.push(RouteAttribute::Metrics(vec![
            RouteMetric::Lock(1 << RTAX_MTU),
            RouteMetric::Mtu(mtu),
        ]));
        self.handle
            .route()
            .add(b.build())
            .replace()
            .execute()
            .await
            .map_err(|source| Error::Request {
                what: "installing the fragmentation route",
                source,
            })
    }
}
