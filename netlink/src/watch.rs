//! The link/address/route watch: kernel notifications from a multicast
//! rtnetlink socket (RTNLGRP_LINK, RTNLGRP_IPV4/IPV6_IFADDR,
//! RTNLGRP_IPV4/IPV6_ROUTE) turned into typed [`LinkEvent`]s, so that ternd
//! can withdraw routes whose next-hop interface went down and learn
//! kernel, connected and static routes to redistribute.
//!
//! Link and address events are edges, computed against the state the
//! watch keeps (seeded by a dump when the watch starts): a repeated
//! RTM_NEWLINK that changes nothing Tern cares about is not reported.
//! Route events are passed through as the kernel sends them. Note that the
//! kernel does not send RTM_DELROUTE for IPv4 routes it flushes because
//! their interface went down: act on `LinkDown` instead.
use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use ipnet::IpNet;
use netlink_packet_route::RouteNetlinkMessage;
use nix::sys::socket::{setsockopt, sockopt};
use rtnetlink::MulticastGroup;
use rtnetlink::packet_core::NetlinkPayload;
use rtnetlink::sys::AsyncSocket;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::route::{KernelRoute, from_message};
use crate::sockopt::{
    ACCEPT, BPF_JMP_JEQ_K, BPF_LD_B_ABS, BPF_LD_H_ABS, BPF_RET_K, DROP, attach_filter, insn,
};
use crate::{Error, Link, Netlink, address_net, links_of};

/// Receive buffer of the watch socket: a full-table install produces one
/// notification per route, faster than any consumer reads them.
const WATCH_RCVBUF: usize = 32 << 20;

/// A change in the namespace's links, addresses or routes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum LinkEvent {
    LinkAdded {
        index: u32,
        name: String,
    },
    LinkRemoved {
        index: u32,
        name: String,
    },
    /// Administratively up with carrier (IFF_UP and IFF_LOWER_UP).
    LinkUp {
        index: u32,
        name: String,
    },
    /// Administratively down or without carrier.
    LinkDown {
        index: u32,
        name: String,
    },
    AddressAdded {
        index: u32,
        net: IpNet,
    },
    AddressRemoved {
        index: u32,
        net: IpNet,
    },
    /// A unicast route appeared or changed (any protocol, Tern's included).
    RouteAdded(KernelRoute),
    RouteRemoved(KernelRoute),
    /// The kernel dropped notifications (receive buffer overrun). The watch
    /// has re-read links and addresses (the events that follow are the
    /// differences); routes may have been missed: re-read them.
    Overrun,
}

/// What the watch knows, to report edges only.
#[derive(Debug, Default)]
struct WatchState {
    /// ifindex -> (name, up).
    links: HashMap<u32, (String, bool)>,
    addrs: HashSet<(u32, IpNet)>,
}

fn is_up(l: &Link) -> bool {
    l.admin_up && l.lower_up
}

impl WatchState {
    fn on_link(&mut self, index: u32, name: String, up: bool, out: &mut Vec<LinkEvent>) {
        match self.links.insert(index, (name.clone(), up)) {
            None => {
                out.push(LinkEvent::LinkAdded {
                    index,
                    name: name.clone(),
                });
                if up {
                    out.push(LinkEvent::LinkUp { index, name });
                }
            }
            Some((_, was)) if was != up => out.push(if up {
                LinkEvent::LinkUp { index, name }
            } else {
                LinkEvent::LinkDown { index, name }
            }),
            Some(_) => {}
        }
    }

    fn on_link_removed(&mut self, index: u32, name: String, out: &mut Vec<LinkEvent>) {
        let known = self.links.remove(&index);
        self.addrs.retain(|(i, _)| *i != index);
        let name = known
            .map(|(n, _)| n)
            .filter(|_| name.is_empty())
            .unwrap_or(name);
        out.push(LinkEvent::LinkRemoved { index, name });
    }

    fn handle(&mut self, msg: RouteNetlinkMessage, out: &mut Vec<LinkEvent>) {
        match msg {
            RouteNetlinkMessage::NewLink(m) => {
                let l = Link::from_message(&m);
                let up = is_up(&l);
                self.on_link(l.index, l.name, up, out);
            }
            RouteNetlinkMessage::DelLink(m) => {
                let l = Link::from_message(&m);
                self.on_link_removed(l.index, l.name, out);
            }
            RouteNetlinkMessage::NewAddress(m) => {
                if let Some(net) = address_net(&m) {
                    let index = m.header.index;
                    if self.addrs.insert((index, net)) {
                        out.push(LinkEvent::AddressAdded { index, net });
                    }
                }
            }
            RouteNetlinkMessage::DelAddress(m) => {
                if let Some(net) = address_net(&m) {
                    let index = m.header.index;
                    self.addrs.remove(&(index, net));
                    out.push(LinkEvent::AddressRemoved { index, net });
                }
            }
            RouteNetlinkMessage::NewRoute(m) => {
                if let Some(r) = from_message(&m) {
                    out.push(LinkEvent::RouteAdded(r));
                }
            }
            RouteNetlinkMessage::DelRoute(m) => {
                if let Some(r) = from_message(&m) {
                    out.push(LinkEvent::RouteRemoved(r));
                }
            }
            _ => {}
        }
    }

    /// Re-reads links and addresses and reports what changed.
    async fn resync(
        &mut self,
        handle: &rtnetlink::Handle,
        out: &mut Vec<LinkEvent>,
    ) -> Result<(), Error> {
        let links = links_of(handle).await?;
        let present: HashSet<u32> = links.iter().map(|l| l.index).collect();
        let gone: Vec<(u32, String)> = self
            .links
            .iter()
            .filter(|(i, _)| !present.contains(i))
            .map(|(i, (n, _))| (*i, n.clone()))
            .collect();
        for (index, name) in gone {
            self.on_link_removed(index, name, out);
        }
        let mut addrs = HashSet::new();
        for l in links {
            let up = is_up(&l);
            addrs.extend(l.addresses.iter().map(|a| (l.index, *a)));
            self.on_link(l.index, l.name, up, out);
        }
        for (index, net) in self.addrs.difference(&addrs) {
            out.push(LinkEvent::AddressRemoved {
                index: *index,
                net: *net,
            });
        }
        for (index, net) in addrs.difference(&self.addrs) {
            out.push(LinkEvent::AddressAdded {
                index: *index,
                net: *net,
            });
        }
        self.addrs = addrs;
        Ok(())
    }
}

/// Classic BPF for the watch socket: RTM_NEWROUTE and RTM_DELROUTE whose
/// rtm_protocol is one of `protocols` are dropped in the kernel, before
/// they are queued; everything else passes whole.
///
/// A multicast notification is one netlink message per skb, so the filter
/// sees the nlmsghdr at offset 0 and the rtmsg right after it.
fn route_protocol_filter(protocols: &[u8]) -> Vec<nix::libc::sock_filter> {
    /// nlmsghdr.nlmsg_type.
    const TYPE_OFF: u32 = 4;
    /// nlmsghdr (16 bytes), then rtm_family, rtm_dst_len, rtm_src_len,
    /// rtm_tos, rtm_table, rtm_protocol.
    const PROTOCOL_OFF: u32 = 16 + 5;
    const RTM_NEWROUTE: u16 = 24;
    const RTM_DELROUTE: u16 = 25;
    // nlmsg_type is in host order; a BPF half-word load reads big-endian.
    let loaded = |t: u16| u32::from(u16::from_be_bytes(t.to_ne_bytes()));
    let n = u8::try_from(protocols.len()).unwrap_or(u8::MAX);
    let protocols = &protocols[..usize::from(n)];
    let mut prog = vec![
        insn(BPF_LD_H_ABS, 0, 0, TYPE_OFF),
        insn(BPF_JMP_JEQ_K, 1, 0, loaded(RTM_NEWROUTE)),
        // Neither route message: to the accept at 4 + n.
        insn(BPF_JMP_JEQ_K, 0, n.saturating_add(1), loaded(RTM_DELROUTE)),
        insn(BPF_LD_B_ABS, 0, 0, PROTOCOL_OFF),
    ];
    for (i, p) in (0u8..).zip(protocols) {
        // The drop sits at 5 + n; this is instruction 4 + i.
        prog.push(insn(BPF_JMP_JEQ_K, n - i, 0, u32::from(*p)));
    }
    prog.push(insn(BPF_RET_K, 0, 0, ACCEPT));
    prog.push(insn(BPF_RET_K, 0, 0, DROP));
    prog
}

impl Netlink {
    /// Starts watching the namespace of the calling thread. Events come in
    /// kernel order on the returned channel; the watch stops when the
    /// receiver is dropped. Nothing is reported for what exists when the
    /// watch starts: read that with [`Netlink::links`] and
    /// [`Netlink::kernel_routes`] after this returns.
    pub async fn watch(&self) -> Result<mpsc::UnboundedReceiver<LinkEvent>, Error> {
        self.watch_except(&[]).await
    }

    /// [`Netlink::watch`] without the route notifications of `protocols`,
    /// which the kernel drops before queueing them (a socket filter). A
    /// daemon that installs a full table need not read back one
    /// notification per route it wrote: with them, a million-route install
    /// overran the watch, and each overrun cost a re-read of the table.
    pub async fn watch_except(
        &self,
        protocols: &[u8],
    ) -> Result<mpsc::UnboundedReceiver<LinkEvent>, Error> {
        self.watch_with(true, protocols).await
    }

    /// [`Netlink::watch_except`], or without any route notifications when
    /// `routes` is false: links and addresses only. The kernel builds a
    /// notification for every route written whether anyone listens or not,
    /// but each listening socket costs it a copy and a filter run per route,
    /// a few percent of a full-table install.
    pub async fn watch_with(
        &self,
        routes: bool,
        protocols: &[u8],
    ) -> Result<mpsc::UnboundedReceiver<LinkEvent>, Error> {
        let mut groups = vec![
            MulticastGroup::Link,
            MulticastGroup::Ipv4Ifaddr,
            MulticastGroup::Ipv6Ifaddr,
        ];
        if routes {
            groups.extend([MulticastGroup::Ipv4Route, MulticastGroup::Ipv6Route]);
        }
        let (mut conn, handle, mut messages) =
            rtnetlink::new_multicast_connection(&groups).map_err(Error::Open)?;
        let sock = conn.socket_mut().socket_mut();
        if setsockopt(&*sock, sockopt::RcvBufForce, &WATCH_RCVBUF).is_err()
            && let Err(e) = sock.set_rx_buf_sz(WATCH_RCVBUF)
        {
            tracing::debug!(error = %e, "watch socket keeps its default receive buffer");
        }
        if routes && !protocols.is_empty() {
            attach_filter(&*sock, &route_protocol_filter(protocols)).map_err(Error::Open)?;
        }
        tokio::spawn(conn);
        let mut state = WatchState::default();
        state.resync(&handle, &mut Vec::new()).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    _ = tx.closed() => break,
                    next = messages.next() => next,
                };
                let Some((msg, _)) = next else {
                    tracing::warn!("netlink watch socket closed");
                    break;
                };
                let mut events = Vec::new();
                match msg.payload {
                    NetlinkPayload::InnerMessage(m) => state.handle(m, &mut events),
                    NetlinkPayload::Overrun(_) => {
                        tracing::warn!(
                            "netlink watch overrun: notifications lost, resynchronising"
                        );
                        events.push(LinkEvent::Overrun);
                        if let Err(e) = state.resync(&handle, &mut events).await {
                            tracing::warn!(error = %e, "netlink watch resync failed");
                        }
                    }
                    _ => {}
                }
                for e in events {
                    tracing::trace!(event = ?e, "netlink watch");
                    if tx.send(e).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_as_json_lines() {
        for line in [
            r#"{"event":"link-down","index":3,"name":"eth0"}"#,
            r#"{"event":"address-added","index":3,"net":"192.0.2.1/24"}"#,
            r#"{"event":"route-added","protocol":4,"route":{"prefix":"10.0.0.0/8","nexthops":[{"gateway":"192.0.2.2","ifindex":3}]}}"#,
            r#"{"event":"overrun"}"#,
        ] {
            let e: LinkEvent = serde_json::from_str(line).expect(line);
            let back: LinkEvent =
                serde_json::from_str(&serde_json::to_string(&e).expect("to json")).expect("back");
            assert_eq!(back, e);
        }
    }

    #[test]
    fn link_state_changes_are_reported_once() {
        let mut st = WatchState::default();
        let mut out = Vec::new();
        st.on_link(3, "eth0".into(), false, &mut out);
        st.on_link(3, "eth0".into(), false, &mut out);
        st.on_link(3, "eth0".into(), true, &mut out);
        st.on_link(3, "eth0".into(), true, &mut out);
        st.on_link(3, "eth0".into(), false, &mut out);
        st.on_link_removed(3, String::new(), &mut out);
        let name = || "eth0".to_string();
        assert_eq!(
            out,
            [
                LinkEvent::LinkAdded {
                    index: 3,
                    name: name()
                },
                LinkEvent::LinkUp {
                    index: 3,
                    name: name()
                },
                LinkEvent::LinkDown {
                    index: 3,
                    name: name()
                },
                LinkEvent::LinkRemoved {
                    index: 3,
                    name: name()
                },
            ]
        );
    }
}
