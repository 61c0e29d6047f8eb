//! The Loc-RIB's one subscription: the speaker publishes its best-path
//! changes here and every consumer (the datapath's tunnel map, the egress
//! gateway's health) subscribes, instead of asking the speaker or keeping
//! a copy of its own.
//!
//! Only the best paths inside the tapped prefixes (the `cluster-cidr`s and
//! the egress IPs) are kept: a full BGP table is not copied for the few
//! pod CIDRs the tunnels need. The view is taken before next hops are
//! resolved for the kernel, so a tunnel goes to the BGP next hop, the node
//! that announces the pod CIDR.
use std::{
    collections::BTreeMap,
    net::IpAddr,
    sync::{Arc, PoisonError, RwLock},
};

use ipnet::IpNet;
use tern_bgp::rib::FibChange;
use tokio::sync::watch;

/// The Loc-RIB's best paths as the FIB sees them: prefix -> ECMP next hops.
pub type LocRibView = BTreeMap<IpNet, Vec<IpAddr>>;

/// The publishing end and the subscription point of the Loc-RIB view;
/// clones share one view.
#[derive(Clone, Debug)]
pub struct LocRibFeed {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    view: watch::Sender<LocRibView>,
    tapped: RwLock<Vec<IpNet>>,
}

impl Default for LocRibFeed {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                view: watch::channel(LocRibView::new()).0,
                tapped: RwLock::new(Vec::new()),
            }),
        }
    }
}

impl LocRibFeed {
    /// Keeps the best paths inside `cidrs` from now on; true when that
    /// changed (the caller then has the speaker send every best path again).
    pub fn set_tapped(&self, cidrs: &[IpNet]) -> bool {
        let mut t = self
            .inner
            .tapped
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if t.as_slice() == cidrs {
            return false;
        }
        *t = cidrs.to_vec();
        drop(t);
        self.inner
            .view
            .send_modify(|rib| rib.retain(|p, _| cidrs.iter().any(|c| c.contains(p))));
        true
    }

    /// Publishes best-path changes as the speaker decides them (those
    /// inside the tapped prefixes).
    pub fn record(&self, cs: &[FibChange]) {
        let tapped = self
            .inner
            .tapped
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if tapped.is_empty() {
            return;
        }
        self.inner.view.send_if_modified(|rib| {
            let mut modified = false;
            for c in cs
                .iter()
                .filter(|c| tapped.iter().any(|t| t.contains(&c.prefix)))
            {
                modified = true;
                if c.nexthops.is_empty() {
                    rib.remove(&c.prefix);
                } else {
                    rib.insert(c.prefix, c.nexthops.to_vec());
                }
            }
            modified
        });
    }

    /// Forgets every best path (BGP stopped or restarted).
    pub fn clear(&self) {
        self.inner.view.send_if_modified(|rib| {
            let had = !rib.is_empty();
            rib.clear();
            had
        });
    }

    /// `f` of the view as it is now. The speaker waits to publish while
    /// `f` runs: keep it short (copy what is needed out).
    pub fn read<R>(&self, f: impl FnOnce(&LocRibView) -> R) -> R {
        f(&self.inner.view.borrow())
    }

    /// A receiver that sees every change from now on.
    pub fn subscribe(&self) -> watch::Receiver<LocRibView> {
        self.inner.view.subscribe()
    }
}
