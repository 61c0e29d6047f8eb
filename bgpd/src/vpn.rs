//! What BGP and the SRv6 L3VPN datapath tell each other, through two
//! subscriptions (as the Loc-RIB reaches the datapath through locrib.rs),
//! so that neither side imports the other:
//! - the VPN routes BGP has chosen (the best path of each route
//!   distinguisher and prefix, its SID rebuilt from the Prefix-SID and the
//!   label): the daemon turns them, with the SRv6 config, into the plan the
//!   datapath holds (`tern_srv6::plan`);
//! - the prefixes each VRF has on this node (its pods' addresses): the
//!   speaker exports them as VPN routes with the VRF's route distinguisher,
//!   route targets and SID.
use std::{collections::BTreeMap, sync::Arc};

use ipnet::IpNet;
use tern_srv6::VpnRoute;
use tokio::sync::watch;

/// Each VRF's prefixes on this node, by VRF name.
pub type VrfPrefixes = BTreeMap<String, Vec<IpNet>>;

/// Both ends of both subscriptions; clones share them.
#[derive(Clone, Debug)]
pub struct VpnFeed {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    routes: watch::Sender<Vec<VpnRoute>>,
    vrf_prefixes: watch::Sender<VrfPrefixes>,
}

impl Default for VpnFeed {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                routes: watch::channel(Vec::new()).0,
                vrf_prefixes: watch::channel(VrfPrefixes::new()).0,
            }),
        }
    }
}

impl VpnFeed {
    /// BGP's side: the VPN routes chosen now (all of them, each time).
    pub fn publish_routes(&self, routes: Vec<VpnRoute>) {
        self.inner.routes.send_if_modified(|r| {
            if *r == routes {
                return false;
            }
            *r = routes;
            true
        });
    }

    /// The daemon's side: the VPN routes, and a wake-up when they change.
    pub fn subscribe_routes(&self) -> watch::Receiver<Vec<VpnRoute>> {
        self.inner.routes.subscribe()
    }

    /// The daemon's side: the VPN routes chosen now.
    pub fn routes(&self) -> Vec<VpnRoute> {
        self.inner.routes.borrow().clone()
    }

    /// The daemon's side: each VRF's prefixes on this node now.
    pub fn set_vrf_prefixes(&self, prefixes: VrfPrefixes) {
        self.inner.vrf_prefixes.send_if_modified(|p| {
            if *p == prefixes {
                return false;
            }
            *p = prefixes;
            true
        });
    }

    /// BGP's side: each VRF's prefixes, and a wake-up when they change.
    pub fn subscribe_vrf_prefixes(&self) -> watch::Receiver<VrfPrefixes> {
        self.inner.vrf_prefixes.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribers_wake_only_on_a_change() {
        let feed = VpnFeed::default();
        let mut rx = feed.subscribe_vrf_prefixes();
        let p: VrfPrefixes = [("red".to_owned(), vec!["10.1.0.0/24".parse().unwrap()])].into();
        feed.set_vrf_prefixes(p.clone());
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), p);
        feed.set_vrf_prefixes(p);
        assert!(
            !rx.has_changed().unwrap(),
            "the same prefixes again wake no one"
        );
    }
}
