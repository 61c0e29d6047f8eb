//! What the kernel is given for each best path (zebra's job in FRR): a BGP
//! route for one of the node's connected subnets is not installed (the
//! connected route stays in charge), and a next hop that is not on a
//! connected subnet is resolved recursively (RFC 4271 §5.1.3: an iBGP
//! route keeps the originator's next hop) through the Loc-RIB route that
//! covers it, as zebra's nexthop tracking does. A route whose next hops
//! cannot be resolved is not installed. When a covering route changes, the
//! routes resolved through it are written again.
//!
//! An IPv6 link-local next hop (RFC 2545: alone, or with a global address
//! of `::`) names a neighbor on one link only: the link of the session that
//! taught it, the one whose connected subnet holds the session's local
//! address. The FIB task is told that address and installs the route out
//! of that interface; when the session's link is not known (a multihop
//! session, a local address on no connected subnet) the route is left
//! unresolved and not installed, as zebra does with a link-local next hop
//! it has no interface for.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;

use super::Speaker;
use tern_bgp::Family;
use tern_bgp::rib::FibChange;

/// The routes resolved through each recursive next hop.
pub(super) type Dependents = BTreeMap<IpAddr, BTreeSet<(Family, IpNet)>>;

fn family_of_addr(a: IpAddr) -> Family {
    match a {
        IpAddr::V4(_) => Family::Ipv4Unicast,
        IpAddr::V6(_) => Family::Ipv6Unicast,
    }
}

impl Speaker {
    /// Whether `nh` can be a gateway as it is: on a connected subnet, or an
    /// IPv6 link-local address (scoped to the session's link).
    fn on_link(&self, nh: IpAddr) -> bool {
        match nh {
            IpAddr::V6(v6) if v6.is_unicast_link_local() => true,
            _ => self.connected.iter().any(|c| c.contains(&nh)),
        }
    }

    /// The on-link next hops that reach `nh` through the most specific
    /// Loc-RIB route holding it (never `prefix` itself); empty when none.
    fn resolve(&self, nh: IpAddr, prefix: &IpNet) -> Vec<IpAddr> {
        let family = family_of_addr(nh);
        let Some(view) = self.rib.longest_match(family, nh) else {
            return Vec::new();
        };
        if view.prefix == *prefix {
            return Vec::new();
        }
        let via = self.rib.fib_nexthops(family, view.prefix);
        if via.iter().all(|v| self.on_link(*v)) {
            via
        } else {
            Vec::new()
        }
    }

    /// The changes as the kernel must see them (see the module's text).
    pub(super) fn fib_view(&mut self, fib: Vec<FibChange>) -> Vec<FibChange> {
        let mut scoped: Vec<(Ipv6Addr, IpAddr)> = Vec::new();
        // Until the watch has told the connected subnets, next hops are
        // taken as they are.
        if !self.kernel_known {
            let mut fib = fib;
            for c in &mut fib {
                self.scope_link_local(c, &mut scoped);
            }
            self.tell_link_local(scoped);
            return fib;
        }
        let mut out = Vec::with_capacity(fib.len());
        let mut cache: HashMap<IpAddr, Vec<IpAddr>> = HashMap::new();
        let mut touched: BTreeSet<IpAddr> = BTreeSet::new();
        for mut c in fib {
            self.forget(c.family, c.prefix);
            // A change of a route that covers a tracked next hop may
            // change how that next hop resolves.
            touched.extend(self.recursive.keys().filter(|nh| c.prefix.contains(*nh)));
            if self.connected.contains(&c.prefix) {
                c.nexthops = Arc::from([]);
            }
            self.scope_link_local(&mut c, &mut scoped);
            self.resolve_change(&mut c, &mut cache);
            out.push(c);
        }
        for nh in touched {
            let deps: Vec<(Family, IpNet)> = self
                .recursive
                .get(&nh)
                .map(|d| d.iter().copied().collect())
                .unwrap_or_default();
            for (family, prefix) in deps {
                if out.iter().any(|c| c.prefix == prefix) {
                    continue;
                }
                self.forget(family, prefix);
                let mut c = FibChange {
                    family,
                    prefix,
                    nexthops: self.rib.fib_nexthops(family, prefix).into(),
                };
                cache.remove(&nh);
                self.resolve_change(&mut c, &mut cache);
                out.push(c);
            }
        }
        self.tell_link_local(scoped);
        out
    }

    /// Keeps the IPv6 link-local next hops of `c` whose session's link is
    /// known, recording (next hop, the session's local address) in
    /// `scoped`; drops the others (the route stays unresolved through them).
    fn scope_link_local(&self, c: &mut FibChange, scoped: &mut Vec<(Ipv6Addr, IpAddr)>) {
        let link_local = |nh: &IpAddr| matches!(nh, IpAddr::V6(v6) if v6.is_unicast_link_local());
        if !c.nexthops.iter().any(link_local) {
            return;
        }
        let mut kept: Vec<IpAddr> = Vec::with_capacity(c.nexthops.len());
        for &nh in c.nexthops.iter() {
            let IpAddr::V6(v6) = nh else {
                kept.push(nh);
                continue;
            };
            if !v6.is_unicast_link_local() {
                kept.push(nh);
                continue;
            }
            let local = self
                .rib
                .session_local_addr(c.family, c.prefix, nh)
                .filter(|l| !self.kernel_known || self.connected.iter().any(|n| n.contains(l)));
            match local {
                Some(l) => {
                    if !scoped.contains(&(v6, l)) {
                        scoped.push((v6, l));
                    }
                    kept.push(nh);
                }
                None => tracing::debug!(
                    prefix = %c.prefix,
                    next_hop = %nh,
                    "link-local next hop on no known interface: unresolved, not installed"
                ),
            }
        }
        if kept.len() != c.nexthops.len() {
            c.nexthops = kept.into();
        }
    }

    /// Tells the FIB task on which session's link each link-local next hop
    /// lies (before the changes that use them).
    fn tell_link_local(&self, scoped: Vec<(Ipv6Addr, IpAddr)>) {
        if !scoped.is_empty() {
            let _ = self.fib.send(crate::fib::FibMsg::LinkLocal(scoped));
        }
    }

    /// Replaces the off-link next hops of `c` by what they resolve to, and
    /// records the dependency.
    fn resolve_change(&mut self, c: &mut FibChange, cache: &mut HashMap<IpAddr, Vec<IpAddr>>) {
        if c.nexthops.iter().all(|nh| self.on_link(*nh)) {
            return;
        }
        let mut resolved: Vec<IpAddr> = Vec::new();
        for &nh in c.nexthops.iter() {
            if self.on_link(nh) {
                resolved.push(nh);
                continue;
            }
            let via = match cache.get(&nh) {
                Some(v) => v.clone(),
                None => {
                    let v = self.resolve(nh, &c.prefix);
                    cache.insert(nh, v.clone());
                    v
                }
            };
            if via.is_empty() {
                tracing::debug!(prefix = %c.prefix, next_hop = %nh, "next hop unreachable: not installed");
            }
            self.recursive
                .entry(nh)
                .or_default()
                .insert((c.family, c.prefix));
            resolved.extend(via);
        }
        resolved.sort_unstable();
        resolved.dedup();
        c.nexthops = resolved.into();
    }

    /// Drops `prefix` from the dependents of every next hop.
    fn forget(&mut self, family: Family, prefix: IpNet) {
        if self.recursive.is_empty() {
            return;
        }
        self.recursive.retain(|_, deps| {
            deps.remove(&(family, prefix));
            !deps.is_empty()
        });
    }
}
