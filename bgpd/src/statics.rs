//! The static routes of the `ip route` lines in the kernel: installed
//! with protocol static as zebra installs them (so `redistribute static`
//! and `show ip route`'s `S` see them), brought in line with the
//! configuration and the interfaces on every change and every second,
//! and removed when their line goes or ternd stops.
use std::collections::BTreeMap;

use ipnet::IpNet;
use tern_netlink::{Link, Netlink, StaticHops};

use crate::config::statics::{StaticRoutes, plan};

/// What ternd has put in the kernel, by prefix.
#[derive(Debug, Default)]
pub struct StaticsRuntime {
    installed: BTreeMap<IpNet, StaticHops>,
    /// Routes the kernel refused, with the reason logged once per plan.
    refused: BTreeMap<IpNet, StaticHops>,
}

impl StaticsRuntime {
    /// Installs, replaces and removes routes so that the kernel holds what
    /// `config` asks for with the interfaces of `links`.
    pub async fn reconcile(&mut self, config: &StaticRoutes, links: &[Link], nl: &Netlink) {
        let want = plan(config, |name| {
            links.iter().find(|l| l.name == name).map(|l| l.index)
        });
        let gone: Vec<IpNet> = self
            .installed
            .keys()
            .filter(|p| !want.contains_key(p))
            .copied()
            .collect();
        for prefix in gone {
            match nl.static_route_delete(prefix).await {
                Ok(()) => {
                    tracing::info!(%prefix, "static route removed");
                    self.installed.remove(&prefix);
                }
                Err(e) => tracing::warn!(%prefix, error = %e, "cannot remove a static route"),
            }
        }
        self.refused.retain(|p, h| want.get(p) == Some(h));
        for (prefix, hops) in want {
            if self.installed.get(&prefix) == Some(&hops) {
                continue;
            }
            match nl.static_route_replace(prefix, &hops).await {
                Ok(()) => {
                    tracing::info!(%prefix, ?hops, "static route installed");
                    self.refused.remove(&prefix);
                    self.installed.insert(prefix, hops);
                }
                Err(e) => {
                    // Tried again every second; said once.
                    if self.refused.get(&prefix) != Some(&hops) {
                        tracing::warn!(%prefix, error = %e, "the kernel refused a static route (a gateway must be on a connected subnet)");
                        self.refused.insert(prefix, hops);
                    }
                    if self.installed.remove(&prefix).is_some() {
                        let _ = nl.static_route_delete(prefix).await;
                    }
                }
            }
        }
    }

    /// Removes every route ternd installed (a clean stop, as zebra's).
    pub async fn remove_all(&mut self, nl: &Netlink) {
        for prefix in std::mem::take(&mut self.installed).into_keys() {
            if let Err(e) = nl.static_route_delete(prefix).await {
                tracing::warn!(%prefix, error = %e, "cannot remove a static route");
            }
        }
    }
}
