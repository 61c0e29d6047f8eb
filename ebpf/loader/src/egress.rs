//! The egress gateway from userspace: [`Datapath::sync_egress`] makes the
//! steering, policy and match maps hold exactly what ternd's plan says
//! (layouts: tern-ebpf-common's `egress`), and
//! [`Datapath::egress_conntrack`] reads the translated flows back.
//!
//! The sync compares with what the maps hold and writes only the
//! difference: entries that changed are overwritten in place (a packet sees
//! the old or the new one, never none), and entries that are gone are
//! deleted after the new ones are written.
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use aya::maps::{Array, HashMap, LpmTrie, MapData, lpm_trie::Key};
use ipnet::IpNet;
use tern_ebpf_common::egress::{
    CONFIG_MAP, GW_F_LOCAL, MATCH_DESTINATION, MATCH_KEY_LEN, MATCH_MAP, MATCH_SOURCE,
    POLICIES_MAP, POLICY_F_LOCAL, STEER_F_EXCLUDED, STEER_MAP,
};
pub use tern_ebpf_common::egress::{
    EgressConfig, Gateway, MAX_GATEWAYS, PolicyGateways, PolicyKey, Steer, flow_hash, gateway_key,
    match_key, pick_score,
};
use tern_ebpf_common::services::{CT_DIR_FORWARD, CT_F_EGRESS, CtEntry, CtKey};

use crate::{
    Datapath, Error,
    maps::{ip_key, map_err, not_found},
};

/// One gateway of a policy, as ternd knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EgressGateway {
    /// The gateway node's address: where the tunnel goes.
    pub node: IpAddr,
    /// The address its flows leave with.
    pub egress_ip: IpAddr,
    /// The node is this one.
    pub local: bool,
}

/// The healthy gateways of one policy in one family (at most
/// [`MAX_GATEWAYS`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressPolicyEntry {
    pub policy_id: u32,
    pub v6: bool,
    pub gateways: Vec<EgressGateway>,
}

/// Traffic of a local pod to a destination prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressSteerEntry {
    pub source: IpAddr,
    pub destination: IpNet,
    pub policy_id: u32,
    /// Not steered (an exclude).
    pub excluded: bool,
}

/// What a gateway accepts for a policy: a source prefix, or a destination
/// prefix (`allow` false: an exclude).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressMatchEntry {
    pub policy_id: u32,
    /// A destination prefix; false: a source prefix.
    pub destination: bool,
    pub prefix: IpNet,
    pub allow: bool,
}

/// Everything the datapath holds for the egress gateway.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EgressState {
    pub policies: Vec<EgressPolicyEntry>,
    pub steer: Vec<EgressSteerEntry>,
    pub matches: Vec<EgressMatchEntry>,
    /// The gateway's SNAT settings.
    pub config: EgressConfig,
}

/// What a sync changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EgressSyncStats {
    pub written: usize,
    pub removed: usize,
}

/// A prefix in the 128-bit space of the map keys (IPv4 mapped).
fn prefix128(net: &IpNet) -> ([u8; 16], u32) {
    let len = u32::from(net.prefix_len());
    match net.trunc() {
        IpNet::V4(n) => (ip_key(IpAddr::V4(n.addr())).addr, 96 + len),
        IpNet::V6(n) => (n.addr().octets(), len),
    }
}

fn steer_key(source: IpAddr, destination: &IpNet) -> ([u8; 32], u32) {
    let (dst, len) = prefix128(destination);
    let mut data = [0u8; 32];
    data[..16].copy_from_slice(&ip_key(source).addr);
    data[16..].copy_from_slice(&dst);
    (data, 128 + len)
}

fn match_data(m: &EgressMatchEntry) -> ([u8; MATCH_KEY_LEN], u32) {
    let (addr, len) = prefix128(&m.prefix);
    let kind = if m.destination {
        MATCH_DESTINATION
    } else {
        MATCH_SOURCE
    };
    (match_key(m.policy_id, kind, &addr), 64 + len)
}

fn policy_value(p: &EgressPolicyEntry) -> Result<PolicyGateways, Error> {
    if p.gateways.len() > MAX_GATEWAYS {
        return Err(Error::Invalid(format!(
            "egress policy {} has {} gateways of one family, at most {MAX_GATEWAYS} fit the map",
            p.policy_id,
            p.gateways.len()
        )));
    }
    let mut v = PolicyGateways {
        count: p.gateways.len() as u32,
        ..PolicyGateways::default()
    };
    if p.gateways.iter().any(|g| g.local) {
        v.flags = POLICY_F_LOCAL;
    }
    for (slot, g) in v.gateways.iter_mut().zip(&p.gateways) {
        if g.egress_ip.is_ipv6() != p.v6 {
            return Err(Error::Invalid(format!(
                "egress IP {} is not of policy {}'s family",
                g.egress_ip, p.policy_id
            )));
        }
        let node = ip_key(g.node).addr;
        let egress_ip = ip_key(g.egress_ip).addr;
        *slot = Gateway {
            key: gateway_key(&node, &egress_ip),
            node,
            egress_ip,
            flags: if g.local { GW_F_LOCAL } else { 0 },
            node_family: if g.node.is_ipv4() { 4 } else { 6 },
        };
    }
    Ok(v)
}

/// Makes an LPM trie hold exactly `want` (keyed by data and prefix length).
fn sync_lpm<const N: usize, V: aya::Pod + PartialEq>(
    map: &mut LpmTrie<&mut MapData, [u8; N], V>,
    name: &'static str,
    want: &BTreeMap<([u8; N], u32), V>,
    stats: &mut EgressSyncStats,
) -> Result<(), Error> {
    let mut have = BTreeSet::new();
    for k in map.keys() {
        match k {
            Ok(k) => {
                have.insert((k.data(), k.prefix_len()));
            }
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(map_err(name)(e)),
        }
    }
    for ((data, len), v) in want {
        let key = Key::new(*len, *data);
        let same = match map.get(&key, 0) {
            Ok(old) => old == *v,
            Err(e) if not_found(&e) => false,
            Err(e) => return Err(map_err(name)(e)),
        };
        if !same {
            map.insert(&key, *v, 0).map_err(map_err(name))?;
            stats.written += 1;
        }
    }
    for (data, len) in have {
        if !want.contains_key(&(data, len)) {
            match map.remove(&Key::new(len, data)) {
                Ok(()) => stats.removed += 1,
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(map_err(name)(e)),
            }
        }
    }
    Ok(())
}

impl Datapath {
    /// Writes the gateway's SNAT settings; the next flow sees them.
    /// `c.pad` is ignored (written as 0).
    pub fn set_egress_config(&mut self, c: EgressConfig) -> Result<(), Error> {
        if c.port_min == 0 || c.ports().is_empty() {
            return Err(Error::Invalid(format!(
                "egress port range {}-{} is empty or starts at 0",
                c.port_min, c.port_max
            )));
        }
        let mut map: Array<&mut MapData, EgressConfig> = Array::try_from(
            self.ebpf
                .map_mut(CONFIG_MAP)
                .ok_or(Error::Missing(CONFIG_MAP))?,
        )
        .map_err(map_err(CONFIG_MAP))?;
        map.set(0, EgressConfig { pad: 0, ..c }, 0)
            .map_err(map_err(CONFIG_MAP))
    }

    /// Makes the egress maps hold exactly `s`, and the programs apply them
    /// while `s` has a policy. Refuses (changing nothing) a state that does
    /// not fit the maps.
    pub fn sync_egress(&mut self, s: &EgressState) -> Result<EgressSyncStats, Error> {
        let mut policies = BTreeMap::new();
        for p in &s.policies {
            let key = PolicyKey {
                policy_id: p.policy_id,
                family: if p.v6 { 6 } else { 4 },
            };
            if policies.insert(key, policy_value(p)?).is_some() {
                return Err(Error::Invalid(format!(
                    "egress policy {} listed twice for one family",
                    p.policy_id
                )));
            }
        }
        let mut steer = BTreeMap::new();
        for e in &s.steer {
            if e.source.is_ipv6() != matches!(e.destination, IpNet::V6(_)) {
                return Err(Error::Invalid(format!(
                    "egress steering from {} to {}: families differ",
                    e.source, e.destination
                )));
            }
            let v = Steer {
                policy_id: e.policy_id,
                flags: if e.excluded { STEER_F_EXCLUDED } else { 0 },
            };
            steer.insert(steer_key(e.source, &e.destination), v);
        }
        let matches: BTreeMap<_, u32> = s
            .matches
            .iter()
            .map(|m| (match_data(m), u32::from(m.allow)))
            .collect();
        self.set_egress_config(s.config)?;
        let mut stats = EgressSyncStats::default();
        // Policies first (a steering entry finds its gateways), then the
        // matches, then the steering; removal in the same order would leave
        // a steering entry without its policy for a moment: harmless, the
        // packet is dropped as having no gateway, which it is about to have.
        {
            let mut map: HashMap<&mut MapData, PolicyKey, PolicyGateways> = HashMap::try_from(
                self.ebpf
                    .map_mut(POLICIES_MAP)
                    .ok_or(Error::Missing(POLICIES_MAP))?,
            )
            .map_err(map_err(POLICIES_MAP))?;
            let mut have = Vec::new();
            for k in map.keys() {
                match k {
                    Ok(k) => have.push(k),
                    Err(e) if not_found(&e) => {}
                    Err(e) => return Err(map_err(POLICIES_MAP)(e)),
                }
            }
            for (k, v) in &policies {
                let same = match map.get(k, 0) {
                    Ok(old) => old == *v,
                    Err(e) if not_found(&e) => false,
                    Err(e) => return Err(map_err(POLICIES_MAP)(e)),
                };
                if !same {
                    map.insert(k, v, 0).map_err(map_err(POLICIES_MAP))?;
                    stats.written += 1;
                }
            }
            for k in have {
                if !policies.contains_key(&k) {
                    match map.remove(&k) {
                        Ok(()) => stats.removed += 1,
                        Err(e) if not_found(&e) => {}
                        Err(e) => return Err(map_err(POLICIES_MAP)(e)),
                    }
                }
            }
        }
        {
            let mut map: LpmTrie<&mut MapData, [u8; MATCH_KEY_LEN], u32> = LpmTrie::try_from(
                self.ebpf
                    .map_mut(MATCH_MAP)
                    .ok_or(Error::Missing(MATCH_MAP))?,
            )
            .map_err(map_err(MATCH_MAP))?;
            sync_lpm(&mut map, MATCH_MAP, &matches, &mut stats)?;
        }
        {
            let mut map: LpmTrie<&mut MapData, [u8; 32], Steer> = LpmTrie::try_from(
                self.ebpf
                    .map_mut(STEER_MAP)
                    .ok_or(Error::Missing(STEER_MAP))?,
            )
            .map_err(map_err(STEER_MAP))?;
            sync_lpm(&mut map, STEER_MAP, &steer, &mut stats)?;
        }
        let on = !s.policies.is_empty();
        if self.egress != on {
            let config = self.config()?;
            self.egress = on;
            self.set_config(&config)?;
        }
        Ok(stats)
    }

    /// Whether the programs apply egress gateway policies.
    pub fn egress_enabled(&self) -> bool {
        self.egress
    }

    /// The translated flows of the egress gateway: the forward entries of
    /// Tern's conntrack with the egress flag (key: the pod's packet; entry:
    /// `addr_b:port_b` the egress IP and port, `service_id` the policy).
    pub fn egress_conntrack(&self) -> Result<Vec<(CtKey, CtEntry)>, Error> {
        Ok(self
            .conntrack()?
            .into_iter()
            .filter(|(k, e)| k.dir == CT_DIR_FORWARD && e.flags & CT_F_EGRESS != 0)
            .collect())
    }
}
