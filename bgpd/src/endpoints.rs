//! The pod endpoint registry: the one store of which pod interfaces
//! `tern-cni` wired on this node and which addresses they hold. In memory,
//! saved atomically to `/run/tern[/NAME]/endpoints.json` after every change
//! so that a restarted ternd knows its pods again (the caller writes the
//! [`Save`] that [`Registry::unsaved`] hands out, outside the daemon's task,
//! before it answers: file I/O never holds up other requests), and
//! published on a `tokio::sync::watch` channel for the datapath to program
//! its maps from.
//!
//! ternd allocates the pods' addresses (tern-cni keeps no state of its own):
//! ADD first claims an address of each of the network's pod CIDRs for its
//! key (container id, ifname) — a [`Reservation`], saved before the plugin
//! makes the veth — then registers the wired [`Endpoint`] with exactly those
//! addresses; DEL frees them. A repeated claim of a key gets the same
//! addresses, so a plugin killed between the two steps leaves a
//! reservation that the retried ADD reuses and DEL frees; a reservation
//! whose pod namespace and host veth are both gone is reclaimed by the next
//! claim. The first host address of each pod CIDR is left for the node; a
//! cursor per CIDR makes freed addresses come back last. An endpoint whose
//! host veth is gone (or was re-created with another ifindex) is dropped by
//! [`Registry::prune`], its addresses freed with it.
//!
//! A pod in a VRF (the claim's and endpoint's `vrf`) takes its addresses
//! apart from the main table's and the other VRFs' pods: an address is
//! unique within one VRF (or the main table), and two VRFs may hand out the
//! same address from the same pod CIDR (each has its own cursor).
//!
//! A registry file that cannot be read is never guessed at: the registry
//! starts empty and refuses to allocate until the file is fixed or removed
//! (an address could otherwise be handed out twice).
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    io::Write,
    net::IpAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use tern_control::{Endpoint, EndpointClaim, IpamFile, Refusal, Reservation};
use tern_netlink::Link;
use tokio::sync::watch;

/// File name of the saved registry inside the instance's run directory.
pub const STATE_FILE: &str = "endpoints.json";

/// Most pod interfaces one node holds addresses for: as many as the
/// datapath has ids for (ids 1 and up, below the eBPF maps' limit), so that
/// every registered endpoint can be programmed.
pub const MAX_ENDPOINTS: usize = tern_ebpf::datapath::MAX_ENDPOINTS as usize - 1;

/// Most addresses of one endpoint (the endpoint map is sized for them).
const MAX_ADDRESSES: usize = tern_ebpf::datapath::MAX_ENDPOINT_ADDRESSES as usize;

type Key = (String, String);

/// An endpoint request the registry refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub reason: Refusal,
    pub message: String,
}

impl Refused {
    fn new(reason: Refusal, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refused {}

/// The file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    endpoints: Vec<Endpoint>,
    #[serde(default)]
    reserved: Vec<Reservation>,
    /// Last address handed out, per pod CIDR.
    #[serde(default)]
    last: BTreeMap<IpNet, IpAddr>,
    /// The same for each VRF's pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    vrf_last: BTreeMap<String, BTreeMap<IpNet, IpAddr>>,
}

/// The pod endpoints of this node and the addresses they hold.
#[derive(Debug)]
pub struct Registry {
    endpoints: BTreeMap<Key, Endpoint>,
    /// Addresses of keys whose ADD has not registered its endpoint yet.
    reserved: BTreeMap<Key, Reservation>,
    last: BTreeMap<IpNet, IpAddr>,
    vrf_last: BTreeMap<String, BTreeMap<IpNet, IpAddr>>,
    /// Why the file could not be read: allocations are refused.
    unreadable: Option<String>,
    tx: watch::Sender<Vec<Endpoint>>,
    file: Option<PathBuf>,
    /// Counts the changes; the file holds the state of `saved`.
    generation: u64,
    saved: Arc<Mutex<u64>>,
}

/// The registry's state to write to its file, taken after a change.
#[derive(Debug)]
pub struct Save {
    file: PathBuf,
    bytes: Vec<u8>,
    generation: u64,
    saved: Arc<Mutex<u64>>,
}

impl Save {
    /// Writes the file (blocking), unless a later state was written
    /// already: saves run in any order and the newest one wins.
    pub fn write(self) -> Result<(), String> {
        let mut saved = self.saved.lock().unwrap_or_else(|p| p.into_inner());
        if *saved >= self.generation {
            return Ok(());
        }
        save(&self.file, &self.bytes)
            .map_err(|e| format!("cannot save {}: {e}", self.file.display()))?;
        *saved = self.generation;
        Ok(())
    }

    /// [`Save::write`] on a blocking thread.
    pub async fn write_async(self) -> Result<(), String> {
        tokio::task::spawn_blocking(move || self.write())
            .await
            .unwrap_or_else(|e| Err(format!("saving the endpoint registry failed: {e}")))
    }
}

impl Registry {
    /// An empty registry that saves to `file` (none: memory only).
    pub fn new(file: Option<PathBuf>) -> Self {
        let (tx, _) = watch::channel(Vec::new());
        Self {
            endpoints: BTreeMap::new(),
            reserved: BTreeMap::new(),
            last: BTreeMap::new(),
            vrf_last: BTreeMap::new(),
            unreadable: None,
            tx,
            file,
            generation: 0,
            saved: Arc::new(Mutex::new(0)),
        }
    }

    /// The registry saved in `file` by an earlier ternd (a bare list of
    /// endpoints as ternd wrote it before it allocated addresses, or the
    /// registry with its reservations). A file that cannot be read leaves
    /// the registry empty and refusing allocations (see the module's doc).
    pub fn load(file: PathBuf) -> Self {
        let mut reg = Self::new(Some(file.clone()));
        let parsed = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice::<Saved>(&bytes)
                .or_else(|e| {
                    serde_json::from_slice::<Vec<Endpoint>>(&bytes)
                        .map(|endpoints| Saved {
                            endpoints,
                            ..Saved::default()
                        })
                        .map_err(|_| e.to_string())
                })
                .map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        };
        match parsed {
            Ok(Some(saved)) => {
                for ep in saved.endpoints {
                    if validate(&ep).is_ok()
                        && reg
                            .holders(&ep.addresses, ep.vrf.as_deref(), None)
                            .is_empty()
                    {
                        reg.endpoints.insert(key(&ep), ep);
                    }
                }
                for r in saved.reserved {
                    let k = (r.container_id.clone(), r.ifname.clone());
                    if !reg.endpoints.contains_key(&k)
                        && reg.holders(&r.addresses, r.vrf.as_deref(), None).is_empty()
                    {
                        reg.reserved.insert(k, r);
                    }
                }
                reg.last = saved.last;
                reg.vrf_last = saved.vrf_last;
                tracing::info!(file = %file.display(), endpoints = reg.endpoints.len(), reserved = reg.reserved.len(), "endpoint registry loaded");
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(file = %file.display(), error = %e, "endpoint registry unreadable: no address is allocated until it is fixed or removed");
                reg.unreadable = Some(format!(
                    "the endpoint registry {} is unreadable ({e}): fix or remove it and restart ternd",
                    file.display()
                ));
            }
        }
        reg.publish();
        reg
    }

    /// The endpoint set, now and on every change (sorted by key).
    pub fn subscribe(&self) -> watch::Receiver<Vec<Endpoint>> {
        self.tx.subscribe()
    }

    /// Every endpoint, sorted by (container id, ifname).
    pub fn list(&self) -> Vec<Endpoint> {
        self.endpoints.values().cloned().collect()
    }

    /// The addresses held for ADDs that have not registered their endpoint.
    pub fn reservations(&self) -> Vec<Reservation> {
        self.reserved.values().cloned().collect()
    }

    /// The keys other than `except` holding one of `addrs` in `vrf` (None:
    /// the main table).
    fn holders(&self, addrs: &[IpNet], vrf: Option<&str>, except: Option<&Key>) -> BTreeSet<Key> {
        let wanted: BTreeSet<IpAddr> = addrs.iter().map(IpNet::addr).collect();
        let eps = self
            .endpoints
            .iter()
            .map(|(k, e)| (k, &e.addresses, e.vrf.as_deref()));
        let res = self
            .reserved
            .iter()
            .map(|(k, r)| (k, &r.addresses, r.vrf.as_deref()));
        eps.chain(res)
            .filter(|(k, a, v)| {
                Some(*k) != except && *v == vrf && a.iter().any(|n| wanted.contains(&n.addr()))
            })
            .map(|(k, _, _)| k.clone())
            .collect()
    }

    /// The addresses held in `vrf` (None: the main table).
    fn used_in(&self, vrf: Option<&str>) -> BTreeSet<IpAddr> {
        let eps = self
            .endpoints
            .values()
            .filter(|e| e.vrf.as_deref() == vrf)
            .flat_map(|e| e.addresses.iter());
        let res = self
            .reserved
            .values()
            .filter(|r| r.vrf.as_deref() == vrf)
            .flat_map(|r| r.addresses.iter());
        eps.chain(res).map(IpNet::addr).collect()
    }

    /// The allocation cursors of `vrf` (None: the main table's).
    fn cursors(&self, vrf: Option<&str>) -> Option<&BTreeMap<IpNet, IpAddr>> {
        match vrf {
            None => Some(&self.last),
            Some(v) => self.vrf_last.get(v),
        }
    }

    /// The key other than `k` whose host veth is `host`, if any.
    fn host_holder(&self, host: &str, k: &Key) -> Option<Key> {
        let eps = self.endpoints.iter().map(|(ok, e)| (ok, &e.host_ifname));
        let res = self.reserved.iter().map(|(ok, r)| (ok, &r.host_ifname));
        eps.chain(res)
            .find(|(ok, h)| *ok != k && h.as_str() == host)
            .map(|(ok, _)| ok.clone())
    }

    fn held(&self) -> usize {
        self.endpoints.len() + self.reserved.len()
    }

    /// Allocates an address of each pool of `claim` for its key (ADD, before
    /// the veth is made), or hands back the addresses the key holds. An
    /// endpoint of the key goes back to being a reservation: the plugin
    /// re-creates its veth and registers it again. Reservations of other
    /// keys whose namespace and host veth (in `links`) are both gone are
    /// reclaimed first.
    pub fn reserve(
        &mut self,
        claim: EndpointClaim,
        links: &[Link],
    ) -> Result<Reservation, Refused> {
        self.reserve_avoiding(claim, links, &BTreeSet::new())
    }

    /// [`Registry::reserve`], never handing out an address of `in_use`:
    /// the addresses the node routes to a pod veth (the kernel's routes of
    /// tern-cni's protocol), which a pod holds even when the registry does
    /// not know it (its file was removed, or another ternd wired it).
    pub fn reserve_avoiding(
        &mut self,
        claim: EndpointClaim,
        links: &[Link],
        in_use: &BTreeSet<IpAddr>,
    ) -> Result<Reservation, Refused> {
        if let Some(why) = &self.unreadable {
            return Err(Refused::new(Refusal::Io, why.clone()));
        }
        validate_claim(&claim)?;
        let k = (claim.container_id.clone(), claim.ifname.clone());
        self.reclaim(&k, links);
        let mismatch = |held: &[IpNet], held_vrf: Option<&str>| {
            Refused::new(
                Refusal::Conflict,
                format!(
                    "container {} interface {} holds {held:?}{}, not an address of each of {:?}{}: DEL it first",
                    claim.container_id,
                    claim.ifname,
                    in_vrf(held_vrf),
                    claim.pools,
                    in_vrf(claim.vrf.as_deref())
                ),
            )
        };
        if let Some(ep) = self.endpoints.get(&k) {
            let addresses = in_pools(&ep.addresses, &claim.pools)
                .filter(|_| ep.vrf == claim.vrf)
                .ok_or_else(|| mismatch(&ep.addresses, ep.vrf.as_deref()))?;
            tracing::info!(container_id = %claim.container_id, ifname = %claim.ifname, "endpoint added again: its addresses are held until it registers");
            self.endpoints.remove(&k);
            return Ok(self.hold(k, claim, addresses));
        }
        if let Some(r) = self.reserved.get(&k) {
            let addresses = in_pools(&r.addresses, &claim.pools)
                .filter(|_| r.vrf == claim.vrf)
                .ok_or_else(|| mismatch(&r.addresses, r.vrf.as_deref()))?;
            if r.netns == claim.netns && r.host_ifname == claim.host_ifname {
                return Ok(r.clone());
            }
            return Ok(self.hold(k, claim, addresses));
        }
        if let Some(other) = self.host_holder(&claim.host_ifname, &k) {
            return Err(Refused::new(
                Refusal::Conflict,
                format!(
                    "host veth name {} is already used by container {} interface {}",
                    claim.host_ifname, other.0, other.1
                ),
            ));
        }
        if self.held() >= MAX_ENDPOINTS {
            return Err(Refused::new(
                Refusal::Full,
                format!("too many endpoints (at most {MAX_ENDPOINTS})"),
            ));
        }
        let vrf = claim.vrf.as_deref();
        let mut used = self.used_in(vrf);
        // The routes the node has to pods are the main table's: a VRF's
        // addresses may be theirs.
        if vrf.is_none() {
            used.extend(in_use.iter().copied());
        }
        let mut addresses = Vec::new();
        let mut cursors = Vec::new();
        for pool in &claim.pools {
            let last = self.cursors(vrf).and_then(|c| c.get(pool)).copied();
            let addr = next_free(pool, last, &used).ok_or_else(|| {
                Refused::new(
                    Refusal::NoAddress,
                    format!("no free address left in pod CIDR {pool}{}", in_vrf(vrf)),
                )
            })?;
            cursors.push((*pool, addr));
            addresses.push(IpNet::from(addr));
        }
        match &claim.vrf {
            None => self.last.extend(cursors),
            Some(v) => self.vrf_last.entry(v.clone()).or_default().extend(cursors),
        }
        tracing::info!(container_id = %claim.container_id, ifname = %claim.ifname, ?addresses, "addresses allocated");
        Ok(self.hold(k, claim, addresses))
    }

    fn hold(&mut self, k: Key, claim: EndpointClaim, addresses: Vec<IpNet>) -> Reservation {
        let r = Reservation {
            container_id: claim.container_id,
            ifname: claim.ifname,
            netns: claim.netns,
            host_ifname: claim.host_ifname,
            addresses,
            network: claim.network,
            vrf: claim.vrf,
        };
        self.reserved.insert(k, r.clone());
        self.changed();
        r
    }

    /// Frees the reservations of keys other than `k` whose pod namespace
    /// path and host veth are both gone (a pod deleted without a CNI DEL
    /// after an ADD killed part-way).
    fn reclaim(&mut self, k: &Key, links: &[Link]) {
        let gone: Vec<Key> = self
            .reserved
            .iter()
            .filter(|(ok, r)| {
                *ok != k
                    && !Path::new(&r.netns).exists()
                    && !links.iter().any(|l| l.name == r.host_ifname)
            })
            .map(|(ok, _)| ok.clone())
            .collect();
        for g in gone {
            if let Some(r) = self.reserved.remove(&g) {
                tracing::info!(container_id = %r.container_id, ifname = %r.ifname, addresses = ?r.addresses, netns = %r.netns, "reservation reclaimed: namespace and veth are gone");
                self.changed();
            }
        }
    }

    /// Registers `ep` (ADD, once the veth is made): its key must hold
    /// exactly its addresses and host veth. Registering an endpoint again
    /// with the same addresses replaces it. In memory: see
    /// [`Registry::unsaved`].
    pub fn add(&mut self, ep: Endpoint) -> Result<Vec<Endpoint>, Refused> {
        validate(&ep).map_err(|m| Refused::new(Refusal::Invalid, m))?;
        let k = key(&ep);
        let same = |addrs: &[IpNet], host: &str| {
            let a: BTreeSet<&IpNet> = addrs.iter().collect();
            let b: BTreeSet<&IpNet> = ep.addresses.iter().collect();
            a == b && addrs.len() == ep.addresses.len() && host == ep.host_ifname
        };
        let held = match (self.reserved.get(&k), self.endpoints.get(&k)) {
            (Some(r), _) => Some((r.addresses.clone(), r.host_ifname.clone(), r.vrf.clone())),
            (None, Some(e)) => Some((e.addresses.clone(), e.host_ifname.clone(), e.vrf.clone())),
            (None, None) => None,
        };
        match held {
            None => {
                return Err(Refused::new(
                    Refusal::Unknown,
                    format!(
                        "container {} interface {} holds no addresses: allocate them first (EndpointAllocate)",
                        ep.container_id, ep.ifname
                    ),
                ));
            }
            Some((addrs, host, vrf)) if !same(&addrs, &host) || vrf != ep.vrf => {
                return Err(Refused::new(
                    Refusal::Conflict,
                    format!(
                        "container {} interface {} holds {addrs:?}{} on {host}, not {:?}{} on {}",
                        ep.container_id,
                        ep.ifname,
                        in_vrf(vrf.as_deref()),
                        ep.addresses,
                        in_vrf(ep.vrf.as_deref()),
                        ep.host_ifname
                    ),
                ));
            }
            Some(_) => {}
        }
        tracing::info!(container_id = %ep.container_id, ifname = %ep.ifname, host = %ep.host_ifname, "endpoint added");
        self.reserved.remove(&k);
        self.endpoints.insert(k, ep);
        self.changed();
        Ok(self.list())
    }

    /// Turns a registered endpoint back into a reservation (its
    /// registration is refused after all: the datapath could not program
    /// it); the plugin's cleanup frees it, a retried ADD reuses it.
    pub fn unregister(&mut self, container_id: &str, ifname: &str) {
        let k = (container_id.to_owned(), ifname.to_owned());
        if let Some(ep) = self.endpoints.remove(&k) {
            self.reserved.insert(
                k,
                Reservation {
                    container_id: ep.container_id,
                    ifname: ep.ifname,
                    netns: ep.netns,
                    host_ifname: ep.host_ifname,
                    addresses: ep.addresses,
                    network: ep.network,
                    vrf: ep.vrf,
                },
            );
            self.changed();
        }
    }

    /// Forgets an endpoint or reservation and frees its addresses; an
    /// unknown one is not an error.
    pub fn del(&mut self, container_id: &str, ifname: &str) -> Result<Vec<Endpoint>, Refused> {
        let k = (container_id.to_owned(), ifname.to_owned());
        let was_endpoint = self.endpoints.remove(&k).is_some();
        let was_reserved = self.reserved.remove(&k).is_some();
        if was_endpoint || was_reserved {
            tracing::info!(%container_id, %ifname, "endpoint removed, addresses freed");
            self.changed();
        }
        Ok(self.list())
    }

    /// Takes the allocations of an older tern-cni's IPAM file as
    /// reservations, all or none: an allocation whose key ternd already
    /// holds with the same addresses is skipped; one whose key holds other
    /// addresses, or whose address or host veth another key holds, refuses
    /// the whole file.
    pub fn import(&mut self, file: IpamFile) -> Result<Vec<Endpoint>, Refused> {
        if let Some(why) = &self.unreadable {
            return Err(Refused::new(Refusal::Io, why.clone()));
        }
        let conflict = |m: String| Refused::new(Refusal::Conflict, format!("IPAM file: {m}"));
        let mut new: BTreeMap<Key, Reservation> = BTreeMap::new();
        let mut taken: BTreeMap<IpAddr, Key> = BTreeMap::new();
        for a in file.allocations {
            let k = (a.container_id.clone(), a.ifname.clone());
            let r = Reservation {
                container_id: a.container_id,
                ifname: a.ifname,
                netns: a.netns,
                host_ifname: a.host_ifname,
                addresses: a.addresses,
                network: None,
                vrf: None,
            };
            validate_reservation(&r)
                .map_err(|m| Refused::new(Refusal::Invalid, format!("IPAM file: {m}")))?;
            let held = self
                .endpoints
                .get(&k)
                .map(|e| &e.addresses)
                .or_else(|| self.reserved.get(&k).map(|r| &r.addresses));
            if let Some(held) = held {
                let a: BTreeSet<_> = held.iter().collect();
                let b: BTreeSet<_> = r.addresses.iter().collect();
                if a != b {
                    return Err(conflict(format!(
                        "container {} interface {} holds {held:?} in ternd but {:?} in the file",
                        k.0, k.1, r.addresses
                    )));
                }
                continue;
            }
            if let Some(other) = self
                .holders(&r.addresses, None, Some(&k))
                .into_iter()
                .next()
            {
                return Err(conflict(format!(
                    "{:?} of container {} interface {} are held by container {} interface {}",
                    r.addresses, k.0, k.1, other.0, other.1
                )));
            }
            if let Some(other) = self.host_holder(&r.host_ifname, &k) {
                return Err(conflict(format!(
                    "host veth {} of container {} is used by container {}",
                    r.host_ifname, k.0, other.0
                )));
            }
            for n in &r.addresses {
                if let Some(other) = taken.insert(n.addr(), k.clone())
                    && other != k
                {
                    return Err(conflict(format!(
                        "{} is allocated to both container {} and container {}",
                        n.addr(),
                        other.0,
                        k.0
                    )));
                }
            }
            new.insert(k, r);
        }
        if self.held() + new.len() > MAX_ENDPOINTS {
            return Err(Refused::new(
                Refusal::Full,
                format!("IPAM file: too many endpoints (at most {MAX_ENDPOINTS})"),
            ));
        }
        for (pool, addr) in file.last {
            if let Ok(pool) = pool.parse::<IpNet>() {
                self.last.entry(pool).or_insert(addr);
            }
        }
        tracing::info!(allocations = new.len(), "IPAM file imported");
        self.reserved.extend(new);
        self.changed();
        Ok(self.list())
    }

    /// Drops endpoints whose host veth no longer exists under its name and
    /// ifindex (the pod's namespace was deleted without a CNI DEL), freeing
    /// their addresses.
    pub fn prune(&mut self, links: &[Link]) {
        let before = self.endpoints.len();
        self.endpoints.retain(|_, ep| {
            let alive = links
                .iter()
                .any(|l| l.name == ep.host_ifname && l.index == ep.host_ifindex);
            if !alive {
                tracing::info!(container_id = %ep.container_id, host = %ep.host_ifname, "endpoint dropped: host veth is gone");
            }
            alive
        });
        if self.endpoints.len() != before {
            self.changed();
        }
    }

    fn publish(&self) {
        self.tx.send_if_modified(|eps| {
            let now = self.list();
            let modified = *eps != now;
            *eps = now;
            modified
        });
    }

    fn changed(&mut self) {
        self.generation += 1;
        self.publish();
    }

    /// The state to write to the file when it changed since the last
    /// write; None without a file or a change.
    pub fn unsaved(&self) -> Option<Save> {
        let file = self.file.as_ref()?;
        let saved = *self.saved.lock().unwrap_or_else(|p| p.into_inner());
        if saved >= self.generation {
            return None;
        }
        let state = Saved {
            endpoints: self.list(),
            reserved: self.reservations(),
            last: self.last.clone(),
            vrf_last: self.vrf_last.clone(),
        };
        let bytes = match serde_json::to_vec_pretty(&state) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "cannot encode the endpoint registry");
                return None;
            }
        };
        Some(Save {
            file: file.clone(),
            bytes,
            generation: self.generation,
            saved: Arc::clone(&self.saved),
        })
    }
}

fn key(ep: &Endpoint) -> (String, String) {
    (ep.container_id.clone(), ep.ifname.clone())
}

fn validate_key(container_id: &str, ifname: &str, host_ifname: &str) -> Result<(), String> {
    if container_id.is_empty() || container_id.len() > 1024 {
        return Err("endpoint: container id must be 1 to 1024 bytes".into());
    }
    if ifname.is_empty() || ifname.len() > 15 {
        return Err("endpoint: ifname must be 1 to 15 bytes".into());
    }
    if host_ifname.is_empty() || host_ifname.len() > 15 {
        return Err("endpoint: host interface name must be 1 to 15 bytes".into());
    }
    Ok(())
}

fn validate_addresses(addresses: &[IpNet]) -> Result<(), String> {
    if addresses.is_empty() || addresses.len() > MAX_ADDRESSES {
        return Err(format!("endpoint: 1 to {MAX_ADDRESSES} addresses"));
    }
    Ok(())
}

fn validate(ep: &Endpoint) -> Result<(), String> {
    validate_key(&ep.container_id, &ep.ifname, &ep.host_ifname)?;
    validate_addresses(&ep.addresses)?;
    if let Some(ns) = &ep.namespace {
        tern_control::check_namespace(ns).map_err(|e| format!("endpoint: {e}"))?;
    }
    Ok(())
}

fn validate_reservation(r: &Reservation) -> Result<(), String> {
    validate_key(&r.container_id, &r.ifname, &r.host_ifname)?;
    validate_addresses(&r.addresses)
}

/// A claim's pools: at most one of each family, no host bits, room for an
/// address besides the node's.
fn validate_claim(c: &EndpointClaim) -> Result<(), Refused> {
    let bad = |m: String| Refused::new(Refusal::Invalid, m);
    validate_key(&c.container_id, &c.ifname, &c.host_ifname).map_err(bad)?;
    let v4 = c.pools.iter().filter(|p| p.addr().is_ipv4()).count();
    if c.pools.is_empty() || v4 > 1 || c.pools.len() - v4 > 1 {
        return Err(bad("endpoint: one IPv4 and/or one IPv6 pod CIDR".into()));
    }
    for p in &c.pools {
        let max = if p.addr().is_ipv4() { 30 } else { 126 };
        if p.trunc() != *p || p.prefix_len() > max {
            return Err(bad(format!(
                "endpoint: pod CIDR {p} has host bits set or is longer than /{max}"
            )));
        }
    }
    Ok(())
}

/// `held` as one host address inside each of `pools`, in the pools' order;
/// None when they do not fit one to one.
fn in_pools(held: &[IpNet], pools: &[IpNet]) -> Option<Vec<IpNet>> {
    if held.len() != pools.len() {
        return None;
    }
    pools
        .iter()
        .map(|p| held.iter().find(|a| p.contains(&a.addr())).copied())
        .collect()
}

fn to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => u128::from(v),
    }
}

fn from_u128(v: u128, v6: bool) -> Option<IpAddr> {
    if v6 {
        Some(IpAddr::V6(v.into()))
    } else {
        u32::try_from(v).ok().map(|x| IpAddr::V4(x.into()))
    }
}

/// The first free address after `cursor` (wrapping), from the second host
/// address of `pool` up to the last (IPv4: before the broadcast address).
fn next_free(pool: &IpNet, cursor: Option<IpAddr>, used: &BTreeSet<IpAddr>) -> Option<IpAddr> {
    let v6 = pool.addr().is_ipv6();
    let base = to_u128(pool.network());
    let top = to_u128(pool.broadcast());
    let first = base.checked_add(2)?;
    let last = if v6 { top } else { top.checked_sub(1)? };
    if first > last {
        return None;
    }
    let size = last - first + 1;
    let start = match cursor.map(to_u128) {
        Some(c) if c >= first && c < last => c + 1,
        _ => first,
    };
    // At most |used| + 1 probes find a free address when there is one.
    let probes = size.min(used.len() as u128 + 1);
    (0..probes).find_map(|i| {
        let v = first + (start - first + i) % size;
        let a = from_u128(v, v6)?;
        (!used.contains(&a)).then_some(a)
    })
}

/// Temporary file in the same directory, fsync, rename, fsync of the directory.
fn save(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{STATE_FILE}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// " in VRF NAME", or nothing for the main table (for messages).
fn in_vrf(vrf: Option<&str>) -> String {
    vrf.map(|v| format!(" in VRF {v}")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A namespace path that exists: its reservation is never reclaimed.
    const NETNS: &str = "/proc/self/ns/net";

    fn claim(cid: &str, host: &str, pools: &[&str]) -> EndpointClaim {
        EndpointClaim {
            container_id: cid.into(),
            ifname: "eth0".into(),
            netns: NETNS.into(),
            host_ifname: host.into(),
            pools: pools.iter().map(|p| p.parse().unwrap()).collect(),
            network: None,
            vrf: None,
        }
    }

    fn ep(cid: &str, host: &str, idx: u32, addr: &str) -> Endpoint {
        Endpoint {
            container_id: cid.into(),
            ifname: "eth0".into(),
            netns: "/var/run/netns/x".into(),
            host_ifname: host.into(),
            host_ifindex: idx,
            pod_mac: "02:00:00:00:00:01".into(),
            host_mac: "02:00:00:00:00:02".into(),
            addresses: vec![addr.parse().unwrap()],
            mtu: 1500,
            namespace: None,
            network: None,
            vrf: None,
        }
    }

    /// Allocates from `pool` and registers the endpoint on `host`/`idx`.
    fn wire(reg: &mut Registry, cid: &str, host: &str, idx: u32, pool: &str) -> Endpoint {
        let r = reg.reserve(claim(cid, host, &[pool]), &[]).unwrap();
        let mut e = ep(cid, host, idx, "192.0.2.1/32");
        e.addresses = r.addresses;
        reg.add(e.clone()).unwrap();
        e
    }

    fn link(name: &str, index: u32) -> Link {
        Link {
            index,
            name: name.into(),
            kind: Some("veth".into()),
            admin_up: true,
            lower_up: true,
            loopback: false,
            flags: 0,
            link_type: "Ethernet".into(),
            parent_ifindex: None,
            oper_state: tern_netlink::OperState::Up,
            mtu: 1500,
            hw_addr: vec![],
            stats: Default::default(),
            addresses: vec![],
        }
    }

    const POOLS: [&str; 2] = ["10.0.0.0/29", "fd00::/125"];

    fn v4(r: &Reservation) -> String {
        r.addresses[0].to_string()
    }

    #[test]
    fn allocate_reuse_release_exhaust() {
        let mut reg = Registry::new(None);
        let a = reg.reserve(claim("a", "h1", &POOLS), &[]).unwrap();
        assert_eq!(v4(&a), "10.0.0.2/32");
        assert_eq!(a.addresses[1].to_string(), "fd00::2/128");
        // The same key again: the same addresses.
        assert_eq!(reg.reserve(claim("a", "h1", &POOLS), &[]).unwrap(), a);
        let b = reg.reserve(claim("b", "h2", &POOLS), &[]).unwrap();
        assert_eq!(v4(&b), "10.0.0.3/32");
        reg.del("a", "eth0").unwrap();
        reg.del("a", "eth0").unwrap();
        // The cursor moves on: .2 comes back only after the others.
        let c = reg.reserve(claim("c", "h3", &POOLS), &[]).unwrap();
        assert_eq!(v4(&c), "10.0.0.4/32");
        for k in ["d", "e", "f"] {
            reg.reserve(claim(k, &format!("h{k}"), &POOLS), &[])
                .unwrap();
        }
        // 10.0.0.2 .. .6 usable (.1 node, .7 broadcast): 5 addresses.
        let all: BTreeSet<_> = reg.reservations().iter().map(|r| r.addresses[0]).collect();
        assert_eq!(all.len(), 5);
        let e = reg.reserve(claim("g", "hg", &POOLS), &[]).unwrap_err();
        assert_eq!(e.reason, Refusal::NoAddress, "{e}");
        // Two keys never share a host veth name.
        reg.del("f", "eth0").unwrap();
        let e = reg.reserve(claim("g", "h3", &POOLS), &[]).unwrap_err();
        assert_eq!(e.reason, Refusal::Conflict, "{e}");
        // A key holding addresses of other pools is told to DEL first.
        let e = reg
            .reserve(claim("b", "h2", &["10.9.0.0/24"]), &[])
            .unwrap_err();
        assert_eq!(e.reason, Refusal::Conflict, "{e}");
        // Bad pools are refused.
        for pools in [
            &["10.0.0.0/24", "10.1.0.0/24"][..],
            &["10.0.0.1/24"],
            &["10.0.0.0/31"],
            &[],
        ] {
            let e = reg.reserve(claim("z", "hz", pools), &[]).unwrap_err();
            assert_eq!(e.reason, Refusal::Invalid, "{pools:?}");
        }
    }

    /// No address is ever held by two keys: not across two networks whose
    /// pod CIDRs overlap, not when a pod the registry does not know holds
    /// it (its route in the kernel), and an endpoint claiming another
    /// key's address is refused, never moved.
    #[test]
    fn no_address_is_handed_out_twice() {
        let mut reg = Registry::new(None);
        // Two networks, overlapping pod CIDRs.
        let a = reg
            .reserve(claim("a", "terna", &["10.0.0.0/24"]), &[])
            .unwrap();
        let b = reg
            .reserve(claim("b", "ternb", &["10.0.0.0/25"]), &[])
            .unwrap();
        assert_ne!(a.addresses, b.addresses);
        // A live pod the registry lost (its file removed): the kernel
        // routes 10.0.0.4 and .5 to pods; they are skipped.
        let routed: BTreeSet<IpAddr> = ["10.0.0.4", "10.0.0.5"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let mut fresh = Registry::new(None);
        let mut got = Vec::new();
        for k in ["c", "d", "e"] {
            let r = fresh
                .reserve_avoiding(
                    claim(k, &format!("tern{k}"), &["10.0.0.0/29"]),
                    &[],
                    &routed,
                )
                .unwrap();
            got.push(v4(&r));
        }
        // .1 is the node's, .7 the broadcast address.
        assert_eq!(got, ["10.0.0.2/32", "10.0.0.3/32", "10.0.0.6/32"]);
        let e = fresh
            .reserve_avoiding(claim("f", "ternf", &["10.0.0.0/29"]), &[], &routed)
            .unwrap_err();
        assert_eq!(e.reason, Refusal::NoAddress, "{got:?}");
        // An endpoint that names another key's address: refused, the
        // holder keeps its endpoint.
        let mut live = ep("a", "terna", 10, "10.0.0.9/32");
        live.addresses = a.addresses.clone();
        reg.add(live.clone()).unwrap();
        let mut thief = ep("b", "ternb", 11, "10.0.0.9/32");
        thief.addresses = a.addresses.clone();
        assert_eq!(reg.add(thief).unwrap_err().reason, Refusal::Conflict);
        let mut stranger = ep("z", "ternz", 12, "10.0.0.9/32");
        stranger.addresses = a.addresses.clone();
        assert_eq!(reg.add(stranger).unwrap_err().reason, Refusal::Unknown);
        assert_eq!(reg.list(), [live]);
    }

    #[test]
    fn registration_needs_the_reserved_addresses() {
        let mut reg = Registry::new(None);
        let rx = reg.subscribe();
        // Never allocated.
        let e = reg.add(ep("a", "terna", 10, "10.0.0.2/32")).unwrap_err();
        assert_eq!(e.reason, Refusal::Unknown, "{e}");
        let r = reg.reserve(claim("a", "terna", &POOLS), &[]).unwrap();
        assert!(rx.borrow().is_empty(), "a reservation is not an endpoint");
        // Other addresses, or another veth: refused.
        let mut wrong = ep("a", "terna", 10, "10.0.0.5/32");
        assert_eq!(
            reg.add(wrong.clone()).unwrap_err().reason,
            Refusal::Conflict
        );
        wrong.addresses = r.addresses.clone();
        wrong.host_ifname = "ternz".into();
        assert_eq!(reg.add(wrong).unwrap_err().reason, Refusal::Conflict);
        let mut good = ep("a", "terna", 10, "10.0.0.2/32");
        good.addresses = r.addresses.clone();
        good.netns = r.netns.clone();
        reg.add(good.clone()).unwrap();
        assert_eq!(*rx.borrow(), [good.clone()]);
        assert!(reg.reservations().is_empty());
        // Registered again, as it is: fine.
        reg.add(good.clone()).unwrap();
        // ADD again: held as a reservation until it registers again.
        assert_eq!(reg.reserve(claim("a", "terna", &POOLS), &[]).unwrap(), r);
        assert!(rx.borrow().is_empty());
        reg.add(good.clone()).unwrap();
        // The datapath could not program it: back to a reservation.
        reg.unregister("a", "eth0");
        assert!(reg.list().is_empty());
        assert_eq!(reg.reservations(), [r]);
        reg.del("a", "eth0").unwrap();
        assert!(reg.reservations().is_empty());
    }

    #[test]
    fn reservations_of_gone_pods_are_reclaimed() {
        let dir = tempfile::tempdir().unwrap();
        let alive = dir.path().display().to_string();
        let mut reg = Registry::new(None);
        let mut gone = claim("gone", "terngone", &["10.0.0.0/30"]);
        gone.netns = dir.path().join("no-such-ns").display().to_string();
        let held = reg.reserve(gone.clone(), &[]).unwrap();
        // A /30 has one address for pods: the next claim reclaims it once
        // the namespace and the veth are both gone, not before.
        let mut next = claim("next", "ternnext", &["10.0.0.0/30"]);
        next.netns = alive.clone();
        let veth = [link("terngone", 5)];
        assert_eq!(
            reg.reserve(next.clone(), &veth).unwrap_err().reason,
            Refusal::NoAddress
        );
        let mut kept = gone.clone();
        kept.container_id = "kept".into();
        kept.host_ifname = "ternkept".into();
        kept.netns = alive;
        reg.del("gone", "eth0").unwrap();
        let k = reg.reserve(kept, &[]).unwrap();
        assert_eq!(k.addresses, held.addresses);
        // The namespace exists: never reclaimed.
        assert_eq!(
            reg.reserve(next.clone(), &[]).unwrap_err().reason,
            Refusal::NoAddress
        );
        reg.del("kept", "eth0").unwrap();
        reg.reserve(gone, &[]).unwrap();
        assert_eq!(reg.reserve(next, &[]).unwrap().addresses, held.addresses);
        assert_eq!(reg.reservations().len(), 1);
    }

    #[test]
    fn the_registry_takes_as_many_endpoints_as_the_datapath_has_ids() {
        let mut reg = Registry::new(None);
        for i in 0..MAX_ENDPOINTS {
            let n = u32::try_from(i).unwrap();
            wire(
                &mut reg,
                &format!("c{i}"),
                &format!("lxc{i}"),
                n + 10,
                "10.0.0.0/16",
            );
        }
        let e = reg
            .reserve(claim("one-more", "lxcmore", &["10.0.0.0/16"]), &[])
            .unwrap_err();
        assert_eq!(e.reason, Refusal::Full, "{e}");
        assert!(e.message.contains("too many endpoints"), "{e}");
        // Every one of them gets an id of the datapath's (1 and up).
        assert!(MAX_ENDPOINTS < tern_ebpf::datapath::MAX_ENDPOINTS as usize);
        // Allocating again for an existing one is still fine.
        reg.reserve(claim("c0", "lxc0", &["10.0.0.0/16"]), &[])
            .unwrap();
        let mut many = reg.list()[1].clone();
        many.addresses = (0..=MAX_ADDRESSES)
            .map(|i| format!("10.200.0.{i}/32").parse().unwrap())
            .collect();
        assert_eq!(
            reg.add(many).unwrap_err().reason,
            Refusal::Invalid,
            "more addresses than the map has room for"
        );
    }

    #[test]
    fn add_del_prune_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(STATE_FILE);
        let mut reg = Registry::load(file.clone());
        let rx = reg.subscribe();
        let save = |reg: &Registry| {
            if let Some(s) = reg.unsaved() {
                s.write().unwrap();
            }
            assert!(reg.unsaved().is_none());
        };
        wire(&mut reg, "a", "terna", 10, "10.0.0.0/24");
        // A save taken earlier and written later does not undo a newer one.
        let older = reg.unsaved().unwrap();
        wire(&mut reg, "b", "ternb", 11, "10.0.0.0/24");
        // A reservation is saved too, and so are the cursors.
        let r = reg
            .reserve(claim("c", "ternc", &["10.0.0.0/24"]), &[])
            .unwrap();
        save(&reg);
        older.write().unwrap();
        let loaded = Registry::load(file.clone());
        assert_eq!(loaded.list().len(), 2);
        assert_eq!(loaded.reservations(), [r]);
        assert_eq!(rx.borrow().len(), 2);
        let mut loaded = loaded;
        let d = loaded
            .reserve(claim("d", "terndd", &["10.0.0.0/24"]), &[])
            .unwrap();
        assert_eq!(d.addresses[0].to_string(), "10.0.0.5/32");
        reg.del("a", "eth0").unwrap();
        reg.del("a", "eth0").unwrap();
        assert_eq!(rx.borrow().len(), 1);
        save(&reg);
        let again = Registry::load(file.clone());
        assert_eq!(again.list(), reg.list());
        // b's veth was re-created with another ifindex: dropped, address
        // freed; a reservation has no veth yet and stays.
        reg.prune(&[link("ternb", 99)]);
        assert!(reg.list().is_empty());
        assert!(rx.borrow().is_empty());
        assert_eq!(reg.reservations().len(), 1);
        reg.del("c", "eth0").unwrap();
        save(&reg);
        let empty = Registry::load(file);
        assert!(empty.list().is_empty() && empty.reservations().is_empty());
    }

    #[test]
    fn namespaces_are_checked() {
        let mut reg = Registry::new(None);
        let r = reg.reserve(claim("a", "terna", &POOLS), &[]).unwrap();
        let mut good = ep("a", "terna", 10, "10.0.0.2/32");
        good.addresses = r.addresses;
        good.namespace = Some("kube-system".into());
        reg.add(good.clone()).unwrap();
        let r = reg.reserve(claim("b", "ternb", &POOLS), &[]).unwrap();
        let mut bad = ep("b", "ternb", 11, "10.0.0.3/32");
        bad.addresses = r.addresses;
        bad.namespace = Some("Kube_System".into());
        let e = reg.add(bad).unwrap_err();
        assert_eq!(
            e.message,
            r#"endpoint: namespace "Kube_System": may hold only lower-case letters, digits and '-'"#
        );
        assert_eq!(e.reason, Refusal::Invalid);
        assert_eq!(reg.list(), [good]);
    }

    #[test]
    fn a_state_file_of_an_older_ternd_loads() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(STATE_FILE);
        // As ternd wrote it before endpoints had a namespace, and before
        // it allocated the addresses (a bare list).
        std::fs::write(
            &file,
            br#"[{"container_id":"a","ifname":"eth0","netns":"/var/run/netns/x",
                "host_ifname":"terna","host_ifindex":10,"pod_mac":"02:00:00:00:00:01",
                "host_mac":"02:00:00:00:00:02","addresses":["10.0.0.2/32"],"mtu":1500}]"#,
        )
        .unwrap();
        let mut reg = Registry::load(file);
        assert_eq!(reg.list(), [ep("a", "terna", 10, "10.0.0.2/32")]);
        // Its addresses are held.
        let r = reg
            .reserve(claim("b", "ternb", &["10.0.0.0/30"]), &[])
            .unwrap_err();
        assert_eq!(r.reason, Refusal::NoAddress);
    }

    #[test]
    fn an_unreadable_state_file_starts_empty_and_allocates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(STATE_FILE);
        std::fs::write(&file, b"{not json").unwrap();
        let mut reg = Registry::load(file);
        assert!(reg.list().is_empty());
        let e = reg.reserve(claim("a", "terna", &POOLS), &[]).unwrap_err();
        assert_eq!(e.reason, Refusal::Io);
        assert!(e.message.contains("fix or remove it"), "{e}");
        assert_eq!(
            reg.import(IpamFile::default()).unwrap_err().reason,
            Refusal::Io
        );
        // DEL still answers.
        reg.del("a", "eth0").unwrap();
    }

    #[test]
    fn an_ipam_file_is_imported_whole_or_not_at_all() {
        let mut reg = Registry::new(None);
        let a = wire(&mut reg, "a", "terna", 10, "10.0.0.0/24");
        let file = |allocs: serde_json::Value| -> IpamFile {
            serde_json::from_value(serde_json::json!({
                "allocations": allocs,
                "last": {"10.0.0.0/24": "10.0.0.7"},
            }))
            .unwrap()
        };
        let alloc = |cid: &str, host: &str, addr: &str| {
            serde_json::json!({"containerId": cid, "ifname": "eth0", "netns": NETNS,
                "hostIfname": host, "addresses": [addr]})
        };
        // Another key holds 10.0.0.2: refused, nothing taken.
        let clash = file(serde_json::json!([
            alloc("old1", "ternold1", "10.0.0.9/32"),
            alloc("old2", "ternold2", "10.0.0.2/32"),
        ]));
        assert_eq!(reg.import(clash).unwrap_err().reason, Refusal::Conflict);
        assert!(reg.reservations().is_empty());
        // The same address twice in the file.
        let twice = file(serde_json::json!([
            alloc("old1", "ternold1", "10.0.0.9/32"),
            alloc("old2", "ternold2", "10.0.0.9/32"),
        ]));
        assert_eq!(reg.import(twice).unwrap_err().reason, Refusal::Conflict);
        // a's own allocation (the same addresses) is skipped; the rest held.
        let good = file(serde_json::json!([
            alloc("a", "terna", &a.addresses[0].to_string()),
            alloc("old1", "ternold1", "10.0.0.9/32"),
        ]));
        reg.import(good.clone()).unwrap();
        assert_eq!(reg.list(), [a]);
        let held: Vec<_> = reg
            .reservations()
            .into_iter()
            .map(|r| r.container_id)
            .collect();
        assert_eq!(held, ["old1"]);
        // Importing again changes nothing; ternd's own cursor is kept.
        reg.import(good.clone()).unwrap();
        assert_eq!(reg.reservations().len(), 1);
        let next = reg
            .reserve(claim("n", "ternn", &["10.0.0.0/24"]), &[])
            .unwrap();
        assert_eq!(next.addresses[0].to_string(), "10.0.0.3/32");
        // A ternd without one takes the file's.
        let mut fresh = Registry::new(None);
        fresh.import(good).unwrap();
        let next = fresh
            .reserve(claim("n", "ternn", &["10.0.0.0/24"]), &[])
            .unwrap();
        assert_eq!(next.addresses[0].to_string(), "10.0.0.8/32");
        // The old plugin's retried ADD gets its address back.
        let old = reg
            .reserve(claim("old1", "ternold1", &["10.0.0.0/24"]), &[])
            .unwrap();
        assert_eq!(old.addresses[0].to_string(), "10.0.0.9/32");
    }

    #[test]
    fn vrfs_share_addresses_but_never_hold_one_twice() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(STATE_FILE);
        let mut reg = Registry::load(file.clone());
        let pool = "10.240.1.0/24";
        let in_vrf = |cid: &str, host: &str, vrf: Option<&str>| EndpointClaim {
            vrf: vrf.map(str::to_owned),
            ..claim(cid, host, &[pool])
        };
        let addr = |r: &Reservation| r.addresses[0].to_string();
        let red1 = reg
            .reserve(in_vrf("r1", "ternr1", Some("red")), &[])
            .unwrap();
        let red2 = reg
            .reserve(in_vrf("r2", "ternr2", Some("red")), &[])
            .unwrap();
        let blue1 = reg
            .reserve(in_vrf("b1", "ternb1", Some("blue")), &[])
            .unwrap();
        let main1 = reg.reserve(in_vrf("m1", "ternm1", None), &[]).unwrap();
        assert_eq!(addr(&red1), "10.240.1.2/32");
        assert_eq!(addr(&red2), "10.240.1.3/32", "never twice in one VRF");
        assert_eq!(
            addr(&blue1),
            "10.240.1.2/32",
            "the same address in another VRF"
        );
        assert_eq!(
            addr(&main1),
            "10.240.1.2/32",
            "the main table is a space of its own"
        );
        assert_eq!(red1.vrf.as_deref(), Some("red"));
        // Registering needs the VRF the addresses were taken in.
        let mut e = ep("r1", "ternr1", 21, "10.240.1.2/32");
        let refused = reg.add(e.clone()).unwrap_err();
        assert_eq!(refused.reason, Refusal::Conflict, "{refused}");
        e.vrf = Some("red".into());
        reg.add(e.clone()).unwrap();
        // The same key claimed again in another VRF is refused.
        let refused = reg
            .reserve(in_vrf("r1", "ternr1", Some("blue")), &[])
            .unwrap_err();
        assert_eq!(refused.reason, Refusal::Conflict, "{refused}");
        // Saved and loaded again: each VRF keeps its addresses and cursor.
        if let Some(s) = reg.unsaved() {
            s.write().unwrap();
        }
        let mut loaded = Registry::load(file);
        assert_eq!(loaded.list(), [e]);
        assert_eq!(loaded.reservations().len(), 3);
        let blue2 = loaded
            .reserve(in_vrf("b2", "ternb2", Some("blue")), &[])
            .unwrap();
        assert_eq!(addr(&blue2), "10.240.1.3/32");
        let red3 = loaded
            .reserve(in_vrf("r3", "ternr3", Some("red")), &[])
            .unwrap();
        assert_eq!(addr(&red3), "10.240.1.4/32");
    }
}
