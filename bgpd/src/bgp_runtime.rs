//! Starting and stopping the BGP side of ternd: the speaker, the FIB task
//! and the interface watch that feeds fast failover. Used at start-up and
//! when `router bgp` is added, removed or re-numbered in config mode.
use std::{collections::HashMap, net::IpAddr};

use anyhow::Context;
use tern_netlink::{LinkEvent, Netlink};
use tokio::task::JoinHandle;

use crate::{
    config::{BgpConfig, Config},
    daemon::pick_router_id,
    speaker::{self, Command, SpeakerHandle, SpeakerOptions},
};

/// A running BGP speaker with its helper tasks.
#[derive(Debug)]
pub struct BgpRuntime {
    pub speaker: SpeakerHandle,
    watcher: JoinHandle<()>,
}

impl BgpRuntime {
    /// Starts BGP for `bgp`: picks the router-id (configured, else FRR's
    /// rule), starts the FIB task (which purges stale Tern routes), binds
    /// port 179 and starts every neighbor.
    pub async fn start(
        config: &Config,
        bgp: &BgpConfig,
        netlink: &Netlink,
    ) -> anyhow::Result<Self> {
        let links = netlink.links().await?;
        let router_id = bgp.router_id.or_else(|| pick_router_id(&links)).context(
            "no BGP router-id: configure `bgp router-id A.B.C.D` (there is no IPv4 address to take one from)",
        )?;
        let fib = crate::fib::spawn(netlink.clone()).await;
        let speaker = speaker::spawn(
            bgp.clone(),
            router_id,
            SpeakerOptions {
                hostname: config.hostname.clone(),
                ..Default::default()
            },
            fib,
        )
        .context("cannot start BGP: binding TCP port 179 failed")?;
        let watcher = tokio::spawn(watch(netlink.clone(), speaker.clone()));
        Ok(Self { speaker, watcher })
    }

    /// Sends Cease to every peer, stops the speaker and takes Tern's routes
    /// out of the kernel (FRR's zebra does the same on a clean stop).
    pub async fn stop(self, netlink: &Netlink) {
        self.watcher.abort();
        self.speaker.shutdown().await;
        // Let the writers put the NOTIFICATIONs on the wire.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        match netlink.purge(tern_netlink::TERN_PROTO).await {
            Ok(n) => tracing::info!(routes = n, "removed Tern's routes from the kernel"),
            Err(e) => tracing::warn!(error = %e, "cannot remove Tern's routes"),
        }
    }
}

/// Interface events: fast failover of sessions over a link that went down,
/// and a FIB rewrite when one comes back (the kernel drops the routes
/// through a link that goes down without telling anyone).
async fn watch(nl: Netlink, sp: SpeakerHandle) {
    let mut events = match nl.watch().await {
        Ok(rx) => rx,
        Err(e) => {
            tracing::warn!(error = %e, "no interface watch: link failures wait for the hold timer");
            return;
        }
    };
    let mut addrs: HashMap<u32, Vec<IpAddr>> = nl
        .links()
        .await
        .map(|ls| {
            ls.into_iter()
                .map(|l| (l.index, l.addresses.iter().map(|a| a.addr()).collect()))
                .collect()
        })
        .unwrap_or_default();
    while let Some(ev) = events.recv().await {
        tracing::debug!(event = ?ev, "interface event");
        match ev {
            LinkEvent::AddressAdded { index, net } => {
                addrs.entry(index).or_default().push(net.addr());
                sp.notify(Command::RetryConnects);
            }
            LinkEvent::AddressRemoved { index, net } => {
                addrs.entry(index).or_default().retain(|a| *a != net.addr());
            }
            LinkEvent::LinkDown { index, .. } | LinkEvent::LinkRemoved { index, .. } => {
                // The addresses we knew on the link, and what it still holds
                // (IPv4 addresses stay on a link that goes down; IPv6 ones are
                // removed, so the cache is needed too).
                let mut a = addrs.get(&index).cloned().unwrap_or_default();
                if let Ok(links) = nl.links().await {
                    for l in links.iter().filter(|l| l.index == index) {
                        a.extend(l.addresses.iter().map(|n| n.addr()));
                    }
                }
                sp.notify(Command::InterfaceDown(a));
            }
            LinkEvent::LinkUp { .. } | LinkEvent::Overrun => {
                sp.notify(Command::ResyncFib);
                sp.notify(Command::RetryConnects);
            }
            _ => {}
        }
    }
}
