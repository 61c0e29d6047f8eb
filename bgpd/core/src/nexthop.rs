//! What the kernel is given for each best path (zebra's job in FRR), worked
//! out from the Loc-RIB and the node's connected subnets: a BGP
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
//! address. That address comes out with the changes, for the FIB to
//! install the route out of that interface; when the session's link is not known (a multihop
//! session, a local address on no connected subnet) the route is left
//! unresolved and not installed, as zebra does with a link-local next hop
//! it has no interface for.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;

use crate::family::Family;
use crate::rib::{FibChange, Rib};

/// The routes resolved through each recursive next hop.
type Dependents = BTreeMap<IpAddr, BTreeSet<(Family, IpNet)>>;

/// The kernel's view of a batch of best-path changes.
#[derive(Debug, Default)]
pub struct KernelChanges {
    /// The changes with next hops the kernel can use (resolved, scoped).
    pub changes: Vec<FibChange>,
    /// IPv6 link-local next hops and the local address of the session that
    /// taught each: the route goes out of the interface whose subnet holds
    /// that address.
    pub link_local: Vec<(Ipv6Addr, IpAddr)>,
}

/// Next-hop tracking: the connected subnets as last told, and the routes
/// resolved through each recursive next hop.
#[derive(Debug, Default)]
pub struct Tracker {
    connected: BTreeSet<IpNet>,
    /// Whether the connected subnets were told yet: until then next hops
    /// are taken as they are.
    known: bool,
    recursive: Dependents,
}

fn family_of_addr(a: IpAddr) -> Family {
    match a {
        IpAddr::V4(_) => Family::Ipv4Unicast,
        IpAddr::V6(_) => Family::Ipv6Unicast,
    }
}

impl Tracker {
    /// The node's connected subnets now; true when they changed (or were
    /// told for the first time), and the whole FIB must be worked out again.
    pub fn set_connected(&mut self, connected: BTreeSet<IpNet>) -> bool {
        if self.known && connected == self.connected {
            return false;
        }
        self.connected = connected;
        self.known = true;
        true
    }

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
    fn resolve(&self, rib: &Rib, nh: IpAddr, prefix: &IpNet) -> Vec<IpAddr> {
        let family = family_of_addr(nh);
        let Some(view) = rib.longest_match(family, nh) else {
            return Vec::new();
        };
        if view.prefix == *prefix {
            return Vec::new();
        }
        let via = rib.fib_nexthops(family, view.prefix);
        if via.iter().all(|v| self.on_link(*v)) {
            via
        } else {
            Vec::new()
        }
    }

    /// The changes as the kernel must see them (see the module's text).
    pub fn kernel_view(&mut self, rib: &Rib, fib: Vec<FibChange>) -> KernelChanges {
        let mut scoped: Vec<(Ipv6Addr, IpAddr)> = Vec::new();
        // Until the watch has told the connected subnets, next hops are
        // taken as they are.
        if !self.known {
            let mut fib = fib;
            for c in &mut fib {
                self.scope_link_local(rib, c, &mut scoped);
            }
            return KernelChanges {
                changes: fib,
                link_local: scoped,
            };
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
            self.scope_link_local(rib, &mut c, &mut scoped);
            self.resolve_change(rib, &mut c, &mut cache);
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
                    nexthops: rib.fib_nexthops(family, prefix).into(),
                };
                cache.remove(&nh);
                self.resolve_change(rib, &mut c, &mut cache);
                out.push(c);
            }
        }
        KernelChanges {
            changes: out,
            link_local: scoped,
        }
    }

    /// Keeps the IPv6 link-local next hops of `c` whose session's link is
    /// known, recording (next hop, the session's local address) in
    /// `scoped`; drops the others (the route stays unresolved through them).
    fn scope_link_local(&self, rib: &Rib, c: &mut FibChange, scoped: &mut Vec<(Ipv6Addr, IpAddr)>) {
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
            let local = rib
                .session_local_addr(c.family, c.prefix, nh)
                .filter(|l| !self.known || self.connected.iter().any(|n| n.contains(l)));
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

    /// Replaces the off-link next hops of `c` by what they resolve to, and
    /// records the dependency.
    fn resolve_change(
        &mut self,
        rib: &Rib,
        c: &mut FibChange,
        cache: &mut HashMap<IpAddr, Vec<IpAddr>>,
    ) {
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
                    let v = self.resolve(rib, nh, &c.prefix);
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
