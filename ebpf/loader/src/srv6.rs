//! The SRv6 L3VPN datapath from userspace: the VRF of each pod interface,
//! the SR policies (H.Encaps.Red) of each VRF's remote prefixes, and this
//! node's End.DT4 / End.DT6 / End.DT46 SIDs and locators (layouts:
//! tern-ebpf-common's `srv6`).
//!
//! Single entries are written with the `upsert_*` / `remove_*` calls; a
//! control plane that reconciles hands the whole state to
//! [`Datapath::sync_srv6`], which writes the difference only (new and
//! changed entries first, stale ones after, so a packet never misses an
//! entry that stays).
//!
//! The programs look into these maps only while one of them holds
//! something: the first write turns the lookups on, and the write that
//! leaves them all empty ([`Datapath::clear_srv6`] or the last removal)
//! turns them off again.
use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv6Addr},
};

use aya::maps::{HashMap, LpmTrie, MapData, lpm_trie::Key};
use ipnet::{IpNet, Ipv6Net};
pub use tern_ebpf_common::srv6::{
    Behavior, DEFAULT_HOP_LIMIT, ENCAP_KEY_LEN, LocalSid, MAX_ENCAP_ROUTES, MAX_LOCAL_SIDS,
    MAX_LOCATORS, MAX_SEGMENTS, Srv6Policy, encap_key, encap_overhead,
};
use tern_ebpf_common::srv6::{ENCAP_MAP, LOCATORS_MAP, SIDS_MAP, VRF_IFACES_MAP};

use crate::{
    Datapath, Error,
    maps::{ip_key, key_ip, map_err, not_found},
};

/// An SR policy as the control plane gives it: the SIDs in the order the
/// packet visits them (the last is the remote PE's SID of the VRF).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Srv6Encap {
    /// 1..=[`MAX_SEGMENTS`] SIDs.
    pub segments: Vec<Ipv6Addr>,
    /// The outer source address (`None`: the node's IPv6 address from
    /// [`crate::DatapathConfig`]).
    pub source: Option<Ipv6Addr>,
    /// The outer hop limit (`None`: [`DEFAULT_HOP_LIMIT`]).
    pub hop_limit: Option<u8>,
}

impl Srv6Encap {
    /// A policy of `segments` with the node's source and the default hop limit.
    pub fn new(segments: Vec<Ipv6Addr>) -> Self {
        Srv6Encap {
            segments,
            source: None,
            hop_limit: None,
        }
    }

    /// The map value, or why it cannot be one.
    pub fn to_policy(&self) -> Result<Srv6Policy, Error> {
        let n = self.segments.len();
        if n == 0 || n > MAX_SEGMENTS {
            return Err(Error::Invalid(format!(
                "an SR policy has 1 to {MAX_SEGMENTS} segments, not {n}"
            )));
        }
        let mut p = Srv6Policy {
            count: n as u32,
            hop_limit: self.hop_limit.map_or(0, u32::from),
            source: self.source.map_or([0; 16], |a| a.octets()),
            ..Srv6Policy::default()
        };
        for (slot, sid) in p.segments.iter_mut().zip(&self.segments) {
            check_unicast(*sid, "segment")?;
            *slot = sid.octets();
        }
        if let Some(src) = self.source {
            check_unicast(src, "source")?;
        }
        if self.hop_limit == Some(0) {
            return Err(Error::Invalid("an outer hop limit of 0".into()));
        }
        Ok(p)
    }

    fn from_policy(p: &Srv6Policy) -> Self {
        let n = (p.count as usize).min(MAX_SEGMENTS);
        Srv6Encap {
            segments: p.segments[..n].iter().map(|s| Ipv6Addr::from(*s)).collect(),
            source: (p.source != [0; 16]).then(|| Ipv6Addr::from(p.source)),
            hop_limit: u8::try_from(p.hop_limit).ok().filter(|l| *l != 0),
        }
    }
}

/// Everything the SRv6 maps hold, as [`Datapath::sync_srv6`] takes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Srv6State {
    /// Pod interfaces in a VRF: (ifindex, table).
    pub vrf_ifaces: Vec<(u32, u32)>,
    /// SR policies: (table, prefix, policy).
    pub encaps: Vec<(u32, IpNet, Srv6Encap)>,
    /// Local SIDs: (SID, behavior, table).
    pub sids: Vec<(Ipv6Addr, Behavior, u32)>,
    /// This node's locators.
    pub locators: Vec<Ipv6Net>,
}

/// What [`Datapath::sync_srv6`] changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Srv6SyncStats {
    pub written: usize,
    pub removed: usize,
}

fn check_unicast(a: Ipv6Addr, what: &str) -> Result<(), Error> {
    if a.is_unspecified() || a.is_multicast() || a.is_loopback() || a.to_ipv4_mapped().is_some() {
        return Err(Error::Invalid(format!(
            "SRv6 {what} {a} is not a unicast IPv6 address"
        )));
    }
    Ok(())
}

/// A VRF's table: its own, not the kernel's unspecified, default, main or
/// local table (a VRF pod routed there would leave its VRF).
fn check_table(table: u32) -> Result<(), Error> {
    if table == 0 || (253..=255).contains(&table) {
        return Err(Error::Invalid(format!(
            "table {table} is not a VRF's (0, 253, 254 and 255 are the kernel's)"
        )));
    }
    Ok(())
}

/// A prefix in the 128-bit layout of the map keys (IPv4 mapped).
fn prefix128(net: &IpNet) -> ([u8; 16], u32) {
    let len = u32::from(net.prefix_len());
    match net.trunc() {
        IpNet::V4(n) => (ip_key(IpAddr::V4(n.addr())).addr, 96 + len),
        IpNet::V6(n) => (n.addr().octets(), len),
    }
}

/// The prefix of a 128-bit key and length (IPv4 when mapped and long enough).
fn net128(addr: [u8; 16], len: u32) -> Option<IpNet> {
    match key_ip(&tern_ebpf_common::datapath::IpKey { addr }) {
        IpAddr::V4(a) if len >= 96 => IpNet::new(IpAddr::V4(a), (len - 96) as u8).ok(),
        _ => IpNet::new(IpAddr::V6(Ipv6Addr::from(addr)), len as u8).ok(),
    }
}

fn encap_lpm_key(table: u32, prefix: &IpNet) -> Key<[u8; ENCAP_KEY_LEN]> {
    let (addr, len) = prefix128(prefix);
    Key::new(32 + len, encap_key(table, &addr))
}

impl Datapath {
    fn encap_map(
        &mut self,
    ) -> Result<LpmTrie<&mut MapData, [u8; ENCAP_KEY_LEN], Srv6Policy>, Error> {
        LpmTrie::try_from(
            self.ebpf
                .map_mut(ENCAP_MAP)
                .ok_or(Error::Missing(ENCAP_MAP))?,
        )
        .map_err(map_err(ENCAP_MAP))
    }

    fn sids_map(&mut self) -> Result<HashMap<&mut MapData, [u8; 16], LocalSid>, Error> {
        HashMap::try_from(
            self.ebpf
                .map_mut(SIDS_MAP)
                .ok_or(Error::Missing(SIDS_MAP))?,
        )
        .map_err(map_err(SIDS_MAP))
    }

    fn locators_map(&mut self) -> Result<LpmTrie<&mut MapData, [u8; 16], u32>, Error> {
        LpmTrie::try_from(
            self.ebpf
                .map_mut(LOCATORS_MAP)
                .ok_or(Error::Missing(LOCATORS_MAP))?,
        )
        .map_err(map_err(LOCATORS_MAP))
    }

    fn vrf_ifaces_map(&mut self) -> Result<HashMap<&mut MapData, u32, u32>, Error> {
        HashMap::try_from(
            self.ebpf
                .map_mut(VRF_IFACES_MAP)
                .ok_or(Error::Missing(VRF_IFACES_MAP))?,
        )
        .map_err(map_err(VRF_IFACES_MAP))
    }

    /// Puts the pod interface `ifindex` into the VRF of `table`: its packets
    /// are encapsulated by the VRF's policies or routed in its table, never
    /// in the main table. Refused for an interface of the endpoint map: its
    /// pod's addresses would be delivered to from outside the VRF.
    pub fn set_vrf_iface(&mut self, ifindex: u32, table: u32) -> Result<(), Error> {
        check_table(table)?;
        self.check_not_endpoint(ifindex)?;
        self.vrf_ifaces_map()?
            .insert(ifindex, table, 0)
            .map_err(map_err(VRF_IFACES_MAP))?;
        self.update_srv6_flag()
    }

    /// The VRF table of the pod interface `ifindex`, if it is in one.
    pub fn vrf_of_iface(&self, ifindex: u32) -> Result<Option<u32>, Error> {
        let map: HashMap<&MapData, u32, u32> = HashMap::try_from(
            self.ebpf
                .map(VRF_IFACES_MAP)
                .ok_or(Error::Missing(VRF_IFACES_MAP))?,
        )
        .map_err(map_err(VRF_IFACES_MAP))?;
        match map.get(&ifindex, 0) {
            Ok(t) => Ok(Some(t)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(map_err(VRF_IFACES_MAP)(e)),
        }
    }

    /// A VRF interface must not be an endpoint's: the endpoint map's
    /// addresses are delivered to from the main table and the uplink.
    fn check_not_endpoint(&self, ifindex: u32) -> Result<(), Error> {
        if self.pod_ifaces()?.iter().any(|(i, _)| *i == ifindex) {
            return Err(Error::Invalid(format!(
                "interface {ifindex} has endpoints in the main table: it cannot join a VRF"
            )));
        }
        Ok(())
    }

    /// Takes `ifindex` out of its VRF; false if it was in none.
    pub fn remove_vrf_iface(&mut self, ifindex: u32) -> Result<bool, Error> {
        let removed = match self.vrf_ifaces_map()?.remove(&ifindex) {
            Ok(()) => true,
            Err(e) if not_found(&e) => false,
            Err(e) => return Err(map_err(VRF_IFACES_MAP)(e)),
        };
        self.update_srv6_flag()?;
        Ok(removed)
    }

    /// Every pod interface in a VRF: (ifindex, table), by ifindex.
    pub fn vrf_ifaces(&self) -> Result<Vec<(u32, u32)>, Error> {
        let map: HashMap<&MapData, u32, u32> = HashMap::try_from(
            self.ebpf
                .map(VRF_IFACES_MAP)
                .ok_or(Error::Missing(VRF_IFACES_MAP))?,
        )
        .map_err(map_err(VRF_IFACES_MAP))?;
        let mut out = map
            .iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_err(VRF_IFACES_MAP))?;
        out.sort_unstable();
        Ok(out)
    }

    /// Adds or replaces the SR policy of `prefix` in the VRF of `table`.
    pub fn upsert_srv6_encap(
        &mut self,
        table: u32,
        prefix: IpNet,
        encap: &Srv6Encap,
    ) -> Result<(), Error> {
        check_table(table)?;
        let value = encap.to_policy()?;
        self.encap_map()?
            .insert(&encap_lpm_key(table, &prefix), value, 0)
            .map_err(map_err(ENCAP_MAP))?;
        self.update_srv6_flag()
    }

    /// Removes the SR policy of `prefix` in `table`; false if there was none.
    pub fn remove_srv6_encap(&mut self, table: u32, prefix: IpNet) -> Result<bool, Error> {
        let removed = match self.encap_map()?.remove(&encap_lpm_key(table, &prefix)) {
            Ok(()) => true,
            Err(e) if not_found(&e) => false,
            Err(e) => return Err(map_err(ENCAP_MAP)(e)),
        };
        self.update_srv6_flag()?;
        Ok(removed)
    }

    /// Every SR policy: (table, prefix, policy), by table and prefix.
    pub fn srv6_encaps(&self) -> Result<Vec<(u32, IpNet, Srv6Encap)>, Error> {
        Ok(self
            .encap_entries()?
            .into_iter()
            .map(|((t, p), v)| (t, p, Srv6Encap::from_policy(&v)))
            .collect())
    }

    /// The encap map's entries as stored.
    fn encap_entries(&self) -> Result<BTreeMap<(u32, IpNet), Srv6Policy>, Error> {
        let map: LpmTrie<&MapData, [u8; ENCAP_KEY_LEN], Srv6Policy> =
            LpmTrie::try_from(self.ebpf.map(ENCAP_MAP).ok_or(Error::Missing(ENCAP_MAP))?)
                .map_err(map_err(ENCAP_MAP))?;
        let mut out = BTreeMap::new();
        for kv in map.iter() {
            let (k, v) = kv.map_err(map_err(ENCAP_MAP))?;
            let d = k.data();
            let table = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
            let mut addr = [0u8; 16];
            addr.copy_from_slice(&d[4..]);
            if let Some(p) = net128(addr, k.prefix_len().saturating_sub(32)) {
                out.insert((table, p), v);
            }
        }
        Ok(out)
    }

    /// Instantiates the local SID `sid` with `behavior` into the VRF of `table`.
    pub fn upsert_srv6_sid(
        &mut self,
        sid: Ipv6Addr,
        behavior: Behavior,
        table: u32,
    ) -> Result<(), Error> {
        check_unicast(sid, "SID")?;
        check_table(table)?;
        let v = LocalSid {
            behavior: behavior as u32,
            table,
        };
        self.sids_map()?
            .insert(sid.octets(), v, 0)
            .map_err(map_err(SIDS_MAP))?;
        self.update_srv6_flag()
    }

    /// Removes the local SID `sid`; false if there was none.
    pub fn remove_srv6_sid(&mut self, sid: Ipv6Addr) -> Result<bool, Error> {
        let removed = match self.sids_map()?.remove(&sid.octets()) {
            Ok(()) => true,
            Err(e) if not_found(&e) => false,
            Err(e) => return Err(map_err(SIDS_MAP)(e)),
        };
        self.update_srv6_flag()?;
        Ok(removed)
    }

    /// Every local SID: (SID, behavior, table), by SID. A value of an
    /// unknown behavior (never written here) is left out.
    pub fn srv6_sids(&self) -> Result<Vec<(Ipv6Addr, Behavior, u32)>, Error> {
        let map: HashMap<&MapData, [u8; 16], LocalSid> =
            HashMap::try_from(self.ebpf.map(SIDS_MAP).ok_or(Error::Missing(SIDS_MAP))?)
                .map_err(map_err(SIDS_MAP))?;
        let mut out = Vec::new();
        for kv in map.iter() {
            let (k, v) = kv.map_err(map_err(SIDS_MAP))?;
            if let Some(b) = Behavior::from_u32(v.behavior) {
                out.push((Ipv6Addr::from(k), b, v.table));
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Declares `locator` this node's: its addresses that are no SID are
    /// dropped (counted as `srv6-unknown-sid`) instead of going to the stack.
    pub fn upsert_srv6_locator(&mut self, locator: Ipv6Net) -> Result<(), Error> {
        let n = locator.trunc();
        check_unicast(n.addr(), "locator")?;
        self.locators_map()?
            .insert(
                &Key::new(u32::from(n.prefix_len()), n.addr().octets()),
                0,
                0,
            )
            .map_err(map_err(LOCATORS_MAP))?;
        self.update_srv6_flag()
    }

    /// Forgets the locator; false if it was not there.
    pub fn remove_srv6_locator(&mut self, locator: Ipv6Net) -> Result<bool, Error> {
        let n = locator.trunc();
        let key = Key::new(u32::from(n.prefix_len()), n.addr().octets());
        let removed = match self.locators_map()?.remove(&key) {
            Ok(()) => true,
            Err(e) if not_found(&e) => false,
            Err(e) => return Err(map_err(LOCATORS_MAP)(e)),
        };
        self.update_srv6_flag()?;
        Ok(removed)
    }

    /// This node's locators.
    pub fn srv6_locators(&self) -> Result<Vec<Ipv6Net>, Error> {
        let map: LpmTrie<&MapData, [u8; 16], u32> = LpmTrie::try_from(
            self.ebpf
                .map(LOCATORS_MAP)
                .ok_or(Error::Missing(LOCATORS_MAP))?,
        )
        .map_err(map_err(LOCATORS_MAP))?;
        let mut out = Vec::new();
        for k in map.keys() {
            let k = k.map_err(map_err(LOCATORS_MAP))?;
            if let Ok(n) = Ipv6Net::new(Ipv6Addr::from(k.data()), k.prefix_len() as u8) {
                out.push(n);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Empties every SRv6 map (VRF interfaces, policies, SIDs, locators);
    /// the programs stop looking into them.
    pub fn clear_srv6(&mut self) -> Result<(), Error> {
        for (ifindex, _) in self.vrf_ifaces()? {
            match self.vrf_ifaces_map()?.remove(&ifindex) {
                Ok(()) => {}
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(map_err(VRF_IFACES_MAP)(e)),
            }
        }
        let keys = {
            let map = self.encap_map()?;
            map.keys()
                .collect::<Result<Vec<_>, _>>()
                .map_err(map_err(ENCAP_MAP))?
        };
        for k in keys {
            match self.encap_map()?.remove(&k) {
                Ok(()) => {}
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(map_err(ENCAP_MAP)(e)),
            }
        }
        for (sid, _, _) in self.srv6_sids()? {
            self.remove_srv6_sid(sid)?;
        }
        // A SID of a behavior srv6_sids leaves out would keep one entry:
        // remove whatever keys remain.
        let keys = {
            let map = self.sids_map()?;
            map.keys()
                .collect::<Result<Vec<_>, _>>()
                .map_err(map_err(SIDS_MAP))?
        };
        for k in keys {
            match self.sids_map()?.remove(&k) {
                Ok(()) => {}
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(map_err(SIDS_MAP)(e)),
            }
        }
        for l in self.srv6_locators()? {
            self.remove_srv6_locator(l)?;
        }
        self.update_srv6_flag()
    }

    /// Makes the SRv6 maps hold exactly `state`, writing only what
    /// differs: new and changed entries first (in place: a packet sees the
    /// old or the new one), then the stale ones removed. The whole state is
    /// checked first: one invalid entry refuses it all, changing nothing.
    pub fn sync_srv6(&mut self, state: &Srv6State) -> Result<Srv6SyncStats, Error> {
        let mut ifaces = BTreeMap::new();
        for (ifindex, table) in &state.vrf_ifaces {
            check_table(*table)?;
            self.check_not_endpoint(*ifindex)?;
            if ifaces.insert(*ifindex, *table).is_some() {
                return Err(Error::Invalid(format!(
                    "interface {ifindex} listed in two VRFs"
                )));
            }
        }
        let mut encaps = BTreeMap::new();
        for (table, prefix, e) in &state.encaps {
            check_table(*table)?;
            encaps.insert((*table, prefix.trunc()), e.to_policy()?);
        }
        let mut sids = BTreeMap::new();
        for (sid, behavior, table) in &state.sids {
            check_unicast(*sid, "SID")?;
            check_table(*table)?;
            let v = LocalSid {
                behavior: *behavior as u32,
                table: *table,
            };
            sids.insert(sid.octets(), v);
        }
        let mut locators = std::collections::BTreeSet::new();
        for l in &state.locators {
            check_unicast(l.trunc().addr(), "locator")?;
            locators.insert(l.trunc());
        }
        let mut st = Srv6SyncStats::default();
        // Writes.
        let have_ifaces: BTreeMap<u32, u32> = self.vrf_ifaces()?.into_iter().collect();
        for (ifindex, table) in &ifaces {
            if have_ifaces.get(ifindex) != Some(table) {
                self.vrf_ifaces_map()?
                    .insert(*ifindex, *table, 0)
                    .map_err(map_err(VRF_IFACES_MAP))?;
                st.written += 1;
            }
        }
        let have_encaps = self.encap_entries()?;
        for ((table, prefix), v) in &encaps {
            if have_encaps.get(&(*table, *prefix)) != Some(v) {
                self.encap_map()?
                    .insert(&encap_lpm_key(*table, prefix), *v, 0)
                    .map_err(map_err(ENCAP_MAP))?;
                st.written += 1;
            }
        }
        let have_sids: BTreeMap<[u8; 16], LocalSid> = {
            let map: HashMap<&MapData, [u8; 16], LocalSid> =
                HashMap::try_from(self.ebpf.map(SIDS_MAP).ok_or(Error::Missing(SIDS_MAP))?)
                    .map_err(map_err(SIDS_MAP))?;
            map.iter()
                .collect::<Result<_, _>>()
                .map_err(map_err(SIDS_MAP))?
        };
        for (sid, v) in &sids {
            if have_sids.get(sid) != Some(v) {
                self.sids_map()?
                    .insert(*sid, *v, 0)
                    .map_err(map_err(SIDS_MAP))?;
                st.written += 1;
            }
        }
        let have_locators = self.srv6_locators()?;
        for l in &locators {
            if !have_locators.contains(l) {
                self.locators_map()?
                    .insert(
                        &Key::new(u32::from(l.prefix_len()), l.addr().octets()),
                        0,
                        0,
                    )
                    .map_err(map_err(LOCATORS_MAP))?;
                st.written += 1;
            }
        }
        // Removals.
        for ifindex in have_ifaces.keys().filter(|i| !ifaces.contains_key(*i)) {
            match self.vrf_ifaces_map()?.remove(ifindex) {
                Ok(()) => st.removed += 1,
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(map_err(VRF_IFACES_MAP)(e)),
            }
        }
        for (table, prefix) in have_encaps.keys().filter(|k| !encaps.contains_key(*k)) {
            match self.encap_map()?.remove(&encap_lpm_key(*table, prefix)) {
                Ok(()) => st.removed += 1,
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(map_err(ENCAP_MAP)(e)),
            }
        }
        for sid in have_sids.keys().filter(|s| !sids.contains_key(*s)) {
            match self.sids_map()?.remove(sid) {
                Ok(()) => st.removed += 1,
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(map_err(SIDS_MAP)(e)),
            }
        }
        for l in have_locators.iter().filter(|l| !locators.contains(*l)) {
            let key = Key::new(u32::from(l.prefix_len()), l.addr().octets());
            match self.locators_map()?.remove(&key) {
                Ok(()) => st.removed += 1,
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(map_err(LOCATORS_MAP)(e)),
            }
        }
        self.update_srv6_flag()?;
        Ok(st)
    }

    /// Whether the programs look into the SRv6 maps.
    pub fn srv6_enabled(&self) -> bool {
        self.srv6
    }

    /// Turns the programs' SRv6 lookups on while any SRv6 map holds an
    /// entry, off when none does.
    fn update_srv6_flag(&mut self) -> Result<(), Error> {
        let on = self.vrf_ifaces_map()?.keys().next().is_some()
            || self.encap_map()?.keys().next().is_some()
            || self.sids_map()?.keys().next().is_some()
            || self.locators_map()?.keys().next().is_some();
        if self.srv6 != on {
            let config = self.config()?;
            self.srv6 = on;
            self.set_config(&config)?;
        }
        Ok(())
    }
}
