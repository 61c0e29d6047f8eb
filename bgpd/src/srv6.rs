//! ternd's side of the SRv6 L3VPN: which pods are in which VRF, the
//! prefixes each VRF has on this node (what BGP exports), and the SRv6
//! plan (`tern_srv6::plan`) turned into what the eBPF datapath holds.
//!
//! A VRF's prefixes on this node are its pods' host routes, /32 and /128,
//! the routes ternd installs in the VRF's table: FRR's `redistribute
//! kernel` / `redistribute connected` of a VRF exports the routes of the
//! VRF's table one by one in the same way. An operator who wants the pod
//! CIDR announced as one prefix writes `network PREFIX` in the VRF's
//! address family (as with FRR), which the plan exports whether or not a
//! pod has an address in it.
use std::{
    collections::{BTreeMap, BTreeSet},
    net::Ipv6Addr,
};

use ipnet::{IpNet, Ipv6Net};
use tern_control::Endpoint;
use tern_ebpf::srv6::{Behavior as DpBehavior, Srv6Encap};
use tern_srv6::{Behavior, Srv6Config, Srv6Plan};

use crate::vpn::VrfPrefixes;

/// The table of each VRF that has one (a VRF without `table` programs
/// nothing).
pub fn vrf_tables(cfg: &Srv6Config) -> BTreeMap<String, u32> {
    cfg.vrfs
        .values()
        .filter_map(|v| v.table.map(|t| (v.name.clone(), t)))
        .collect()
}

/// The locators for `show segment-routing srv6 locator`, by name; the
/// one BGP takes its SIDs from is owned by bgp.
pub fn locator_views(cfg: &Srv6Config) -> Vec<tern_control::Srv6LocatorView> {
    cfg.locators
        .values()
        .zip(1..)
        .map(|(l, id)| {
            let s = l.structure();
            tern_control::Srv6LocatorView {
                name: l.name().to_owned(),
                id,
                prefix: l.prefix().to_string(),
                block_len: s.block_len,
                node_len: s.node_len,
                function_len: s.func_len,
                argument_len: s.arg_len,
                owner: (cfg.bgp_locator.as_deref() == Some(l.name())).then(|| "bgp".to_owned()),
            }
        })
        .collect()
}

/// Why a pod cannot join `vrf`, or its table.
pub fn vrf_table(cfg: &Srv6Config, vrf: &str) -> Result<u32, String> {
    match cfg.vrfs.get(vrf) {
        None => Err(format!(
            "VRF {vrf} is not configured (no `vrf {vrf}` block)"
        )),
        Some(v) => v
            .table
            .ok_or_else(|| format!("VRF {vrf} has no table (`vrf {vrf}` / `table N`)")),
    }
}

/// Each configured VRF's prefixes on this node: the host routes of its
/// pods (every configured VRF appears, an empty one with no prefix, so
/// that BGP withdraws what it exported before).
pub fn vrf_prefixes(cfg: &Srv6Config, endpoints: &[Endpoint]) -> VrfPrefixes {
    let mut out: BTreeMap<String, BTreeSet<IpNet>> = cfg
        .vrfs
        .keys()
        .map(|v| (v.clone(), BTreeSet::new()))
        .collect();
    for ep in endpoints {
        if let Some(set) = ep.vrf.as_ref().and_then(|v| out.get_mut(v)) {
            set.extend(ep.addresses.iter().map(IpNet::trunc));
        }
    }
    out.into_iter()
        .map(|(v, s)| (v, s.into_iter().collect()))
        .collect()
}

/// The datapath's SR policies, local SIDs and locators of a plan (the VRF
/// interfaces come from the pods the datapath programmed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Srv6Wanted {
    pub encaps: Vec<(u32, IpNet, Srv6Encap)>,
    pub sids: Vec<(Ipv6Addr, DpBehavior, u32)>,
    pub locators: Vec<Ipv6Net>,
    /// Local SIDs of a behavior the datapath does not implement (never
    /// allocated by the model; counted rather than silently dropped).
    pub unsupported: usize,
}

fn dp_behavior(b: Behavior) -> Option<DpBehavior> {
    match b {
        Behavior::EndDt4 => Some(DpBehavior::EndDt4),
        Behavior::EndDt6 => Some(DpBehavior::EndDt6),
        Behavior::EndDt46 => Some(DpBehavior::EndDt46),
        Behavior::Other(_) => None,
    }
}

/// What the datapath holds for `plan` on a node configured with `cfg`: an
/// SR policy (H.Encaps.Red, the remote SID alone: the source is the node's
/// IPv6 address, the uplink's) per VRF table and remote prefix, the
/// decapsulation of each local SID into its VRF's table, and every
/// configured locator (a packet to a locator that is no SID is dropped).
pub fn wanted(cfg: &Srv6Config, plan: &Srv6Plan) -> Srv6Wanted {
    let mut w = Srv6Wanted {
        encaps: plan
            .encap
            .iter()
            .map(|e| (e.table, e.prefix, Srv6Encap::new(vec![e.sid])))
            .collect(),
        locators: cfg.locators.values().map(|l| l.prefix()).collect(),
        ..Srv6Wanted::default()
    };
    for d in &plan.decap {
        match dp_behavior(d.behavior) {
            Some(b) => w.sids.push((d.sid, b, d.table)),
            None => w.unsupported += 1,
        }
    }
    w.locators.sort();
    w.locators.dedup();
    w
}

#[cfg(test)]
#[path = "srv6_tests.rs"]
mod tests;
