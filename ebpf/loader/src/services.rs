//! Service load balancing from userspace: frontends, backends, the
//! lookup-table pool, source ranges, conntrack timeouts, and reading and
//! collecting Tern's conntrack (layouts: tern-ebpf-common's `services`).
//!
//! The table pool is an mmapable array: a table is written straight into
//! the map's memory (16,381 ids are a memcpy, not 16,381 syscalls). The
//! caller writes a new table into free room, then points the frontend at it,
//! then frees the old room, so a packet never sees a half-written table.
use std::net::IpAddr;

use aya::maps::{Array, HashMap, LpmTrie, MapData, lpm_trie::Key};
use ipnet::IpNet;
use tern_ebpf_common::services::{
    AFFINITY_MAP, BACKENDS_MAP, CT_MAP, LB_TABLE_MAP, PROG_SOCK, SERVICES_CONFIG_MAP, SERVICES_MAP,
    SOCK_NETNS_MAP, SOURCE_RANGES_MAP,
};
pub use tern_ebpf_common::services::{
    AffinityEntry, AffinityKey, BACKEND_F_PRESENT, Backend, CT_DIR_FORWARD, CT_DIR_REPLY,
    CT_F_EGRESS, CT_F_SNAT, CT_STATE_CLOSING, CT_STATE_ESTABLISHED, CT_STATE_OTHER, CT_STATE_SYN,
    CtEntry, CtKey, LB_TABLE_ENTRIES, MAX_BACKENDS, SNAT_PORT_MAX, SNAT_PORT_MIN, SVC_F_ADDRESS,
    SVC_F_AFFINITY, SVC_F_LOCAL, SVC_F_RANDOM, SVC_F_SOURCE_RANGES, ServiceEntry, ServiceKey,
    ServicesConfig, flow_hash,
};

use crate::{
    Datapath, Error,
    maps::{CT_PIN, ip_key, map_err, not_found},
    table_pool::TablePool,
};

/// A frontend's key for an address, port and protocol number.
pub fn service_key(addr: IpAddr, port: u16, proto: u8) -> ServiceKey {
    ServiceKey {
        addr: ip_key(addr).addr,
        port,
        proto,
        pad: 0,
    }
}

fn source_key(service: u32, p: &IpNet) -> Key<[u8; 20]> {
    let p = p.trunc();
    let (addr, len) = match p {
        IpNet::V4(n) => (
            ip_key(IpAddr::V4(n.addr())).addr,
            96 + u32::from(n.prefix_len()),
        ),
        IpNet::V6(n) => (n.addr().octets(), u32::from(n.prefix_len())),
    };
    let mut data = [0u8; 20];
    data[..4].copy_from_slice(&service.to_be_bytes());
    data[4..].copy_from_slice(&addr);
    Key::new(32 + len, data)
}

impl Datapath {
    /// Turns the service lookups on or off (off: the programs skip them).
    pub fn set_services_enabled(&mut self, on: bool) -> Result<(), Error> {
        if self.services == on {
            return Ok(());
        }
        let config = self.config()?;
        self.services = on;
        self.set_config(&config)
    }

    /// Sets the conntrack timeouts.
    pub fn set_conntrack_timeouts(&mut self, t: ServicesConfig) -> Result<(), Error> {
        let mut map: Array<&mut MapData, ServicesConfig> = Array::try_from(
            self.ebpf
                .map_mut(SERVICES_CONFIG_MAP)
                .ok_or(Error::Missing(SERVICES_CONFIG_MAP))?,
        )
        .map_err(map_err(SERVICES_CONFIG_MAP))?;
        map.set(0, t, 0).map_err(map_err(SERVICES_CONFIG_MAP))
    }

    fn services_map(&mut self) -> Result<HashMap<&mut MapData, ServiceKey, ServiceEntry>, Error> {
        HashMap::try_from(
            self.ebpf
                .map_mut(SERVICES_MAP)
                .ok_or(Error::Missing(SERVICES_MAP))?,
        )
        .map_err(map_err(SERVICES_MAP))
    }

    /// Adds or changes a frontend (or an address marker, [`SVC_F_ADDRESS`]).
    pub fn upsert_frontend(&mut self, key: ServiceKey, entry: ServiceEntry) -> Result<(), Error> {
        self.services_map()?
            .insert(key, entry, 0)
            .map_err(map_err(SERVICES_MAP))
    }

    /// Removes a frontend; false if there was none.
    pub fn remove_frontend(&mut self, key: &ServiceKey) -> Result<bool, Error> {
        match self.services_map()?.remove(key) {
            Ok(()) => Ok(true),
            Err(e) if not_found(&e) => Ok(false),
            Err(e) => Err(map_err(SERVICES_MAP)(e)),
        }
    }

    /// Every frontend and address marker programmed.
    pub fn frontends(&self) -> Result<Vec<(ServiceKey, ServiceEntry)>, Error> {
        let map: HashMap<&MapData, ServiceKey, ServiceEntry> = HashMap::try_from(
            self.ebpf
                .map(SERVICES_MAP)
                .ok_or(Error::Missing(SERVICES_MAP))?,
        )
        .map_err(map_err(SERVICES_MAP))?;
        let mut out = Vec::new();
        for kv in map.iter() {
            out.push(kv.map_err(map_err(SERVICES_MAP))?);
        }
        out.sort_by_key(|(k, _)| *k);
        Ok(out)
    }

    /// Writes backend `id` (a zero [`Backend`] removes it: its connections
    /// then pick again).
    pub fn set_backend(&mut self, id: u32, b: Backend) -> Result<(), Error> {
        if id == 0 || id >= MAX_BACKENDS {
            return Err(Error::Invalid(format!(
                "backend id {id} is not in 1..{MAX_BACKENDS}"
            )));
        }
        let mut map: Array<&mut MapData, Backend> = Array::try_from(
            self.ebpf
                .map_mut(BACKENDS_MAP)
                .ok_or(Error::Missing(BACKENDS_MAP))?,
        )
        .map_err(map_err(BACKENDS_MAP))?;
        map.set(id, b, 0).map_err(map_err(BACKENDS_MAP))
    }

    fn pool(&mut self) -> Result<&mut TablePool, Error> {
        if self.pool.is_none() {
            let data = self
                .ebpf
                .map(LB_TABLE_MAP)
                .ok_or(Error::Missing(LB_TABLE_MAP))?;
            let data: &MapData = match data {
                aya::maps::Map::Array(d) => d,
                _ => return Err(Error::Invalid(format!("{LB_TABLE_MAP} is not an array"))),
            };
            self.pool = Some(TablePool::map(data)?);
        }
        self.pool
            .as_mut()
            .ok_or_else(|| Error::Invalid("table pool".into()))
    }

    /// Writes backend ids into the table pool at `off`.
    pub fn write_table(&mut self, off: u32, ids: &[u32]) -> Result<(), Error> {
        self.pool()?.write(off, ids)
    }

    /// Reads `len` ids of the table pool at `off` (tests, diagnostics).
    pub fn read_table(&mut self, off: u32, len: u32) -> Result<Vec<u32>, Error> {
        self.pool()?
            .read(off, len)
            .ok_or_else(|| Error::Invalid(format!("{len} ids at {off} are outside the pool")))
    }

    /// Adds (`add`) or removes a source range of service `id`.
    pub fn set_source_range(&mut self, id: u32, prefix: &IpNet, add: bool) -> Result<(), Error> {
        let mut map: LpmTrie<&mut MapData, [u8; 20], u32> = LpmTrie::try_from(
            self.ebpf
                .map_mut(SOURCE_RANGES_MAP)
                .ok_or(Error::Missing(SOURCE_RANGES_MAP))?,
        )
        .map_err(map_err(SOURCE_RANGES_MAP))?;
        let key = source_key(id, prefix);
        if add {
            map.insert(&key, 1, 0).map_err(map_err(SOURCE_RANGES_MAP))
        } else {
            match map.remove(&key) {
                Ok(()) => Ok(()),
                Err(e) if not_found(&e) => Ok(()),
                Err(e) => Err(map_err(SOURCE_RANGES_MAP)(e)),
            }
        }
    }

    /// Every conntrack entry.
    pub fn conntrack(&self) -> Result<Vec<(CtKey, CtEntry)>, Error> {
        let map: HashMap<&MapData, CtKey, CtEntry> =
            HashMap::try_from(self.ebpf.map(CT_MAP).ok_or(Error::Missing(CT_MAP))?)
                .map_err(map_err(CT_MAP))?;
        let mut out = Vec::new();
        for kv in map.iter() {
            match kv {
                Ok(e) => out.push(e),
                // An entry evicted while the walk passed it.
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(map_err(CT_MAP)(e)),
            }
        }
        Ok(out)
    }

    /// Removes expired connections: both entries of a connection go when
    /// both have expired by `now` (CLOCK_MONOTONIC nanoseconds), and an
    /// entry whose partner is gone goes when it expires. Returns the
    /// number of entries removed.
    pub fn conntrack_gc(&mut self, now: u64) -> Result<usize, Error> {
        let mut map: HashMap<&mut MapData, CtKey, CtEntry> =
            HashMap::try_from(self.ebpf.map_mut(CT_MAP).ok_or(Error::Missing(CT_MAP))?)
                .map_err(map_err(CT_MAP))?;
        collect(&mut map, now)
    }

    /// Removes one conntrack entry; false if there was none.
    pub fn remove_conntrack_entry(&mut self, key: &CtKey) -> Result<bool, Error> {
        let mut map: HashMap<&mut MapData, CtKey, CtEntry> =
            HashMap::try_from(self.ebpf.map_mut(CT_MAP).ok_or(Error::Missing(CT_MAP))?)
                .map_err(map_err(CT_MAP))?;
        match map.remove(key) {
            Ok(()) => Ok(true),
            Err(e) if not_found(&e) => Ok(false),
            Err(e) => Err(map_err(CT_MAP)(e)),
        }
    }

    /// Removes the affinity entries of service `id` (it was deleted).
    pub fn clear_affinity(&mut self, id: u32) -> Result<(), Error> {
        let mut map: HashMap<&mut MapData, AffinityKey, AffinityEntry> = HashMap::try_from(
            self.ebpf
                .map_mut(AFFINITY_MAP)
                .ok_or(Error::Missing(AFFINITY_MAP))?,
        )
        .map_err(map_err(AFFINITY_MAP))?;
        let keys: Vec<AffinityKey> = map
            .keys()
            .filter_map(Result::ok)
            .filter(|k| k.service_id == id)
            .collect();
        for k in keys {
            let _ = map.remove(&k);
        }
        Ok(())
    }
}

/// [`Datapath::conntrack_gc`] on the conntrack map pinned under `pin_dir`
/// (`dp_ct`): a daemon runs it on a thread of its own, away from the
/// [`Datapath`] and whatever lock guards it (a full table is a walk of
/// 262,144 entries).
pub fn conntrack_gc_pinned(pin_dir: &std::path::Path, now: u64) -> Result<usize, Error> {
    let path = pin_dir.join(CT_PIN);
    let data = MapData::from_pin(&path).map_err(|e| Error::Pin {
        path: path.clone(),
        source: std::io::Error::other(e),
    })?;
    let mut map: HashMap<MapData, CtKey, CtEntry> =
        HashMap::try_from(aya::maps::Map::LruHashMap(data)).map_err(map_err(CT_MAP))?;
    collect(&mut map, now)
}

/// Removes expired connections from `map` (see [`Datapath::conntrack_gc`]).
fn collect<T: std::borrow::BorrowMut<MapData>>(
    map: &mut HashMap<T, CtKey, CtEntry>,
    now: u64,
) -> Result<usize, Error> {
    let mut entries = Vec::new();
    for kv in map.iter() {
        match kv {
            Ok(e) => entries.push(e),
            // An entry evicted while the walk passed it.
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(map_err(CT_MAP)(e)),
        }
    }
    let live: std::collections::HashMap<CtKey, u64> =
        entries.iter().map(|(k, e)| (*k, e.expires)).collect();
    let mut removed = 0;
    for (k, e) in &entries {
        if e.expires > now || live.get(&partner_key(k, e)).is_some_and(|exp| *exp > now) {
            continue;
        }
        // Read again: the tuple may have opened a new connection since
        // the walk (its entries rewritten, not expired): keep those. The
        // window left is the one between this read and the delete.
        match map.get(k, 0) {
            Ok(e) if e.expires > now => continue,
            Ok(_) => {}
            Err(e) if not_found(&e) => continue,
            Err(e) => return Err(map_err(CT_MAP)(e)),
        }
        match map.remove(k) {
            Ok(()) => removed += 1,
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(map_err(CT_MAP)(e)),
        }
    }
    Ok(removed)
}

/// The key of the other direction's entry of the same connection.
pub fn partner_key(k: &CtKey, e: &CtEntry) -> CtKey {
    if k.dir == CT_DIR_FORWARD {
        // Reply: from the backend to the client, or to the node after SNAT.
        let snat = e.flags & CT_F_SNAT != 0;
        CtKey {
            src: e.addr_a,
            dst: if snat { e.addr_b } else { k.src },
            sport: e.port_a,
            dport: if snat { e.port_b } else { k.sport },
            proto: k.proto,
            dir: CT_DIR_REPLY,
            pad: 0,
        }
    } else {
        CtKey {
            src: e.addr_b,
            dst: e.addr_a,
            sport: e.port_b,
            dport: e.port_a,
            proto: k.proto,
            dir: CT_DIR_FORWARD,
            pad: 0,
        }
    }
}

/// CLOCK_MONOTONIC now, in nanoseconds (the clock of bpf_ktime_get_ns).
pub fn monotonic_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// The cgroup v2 hierarchy's mount point (from /proc/self/mounts): the
/// socket programs attach to its root, so every process's sockets pass
/// them (they act only for the namespaces in `TERN_SOCK_NETNS`).
pub fn cgroup2_root() -> Option<std::path::PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        let (_, path, kind) = (w.next()?, w.next()?, w.next()?);
        (kind == "cgroup2").then(|| std::path::PathBuf::from(path))
    })
}

/// The cookie of a network namespace: `path` (a netns file such as
/// /var/run/netns/NAME or /proc/PID/ns/net), or the caller's own with
/// None. Read from a socket made in it (SO_NETNS_COOKIE, Linux 5.14).
pub fn netns_cookie(path: Option<&std::path::Path>) -> std::io::Result<u64> {
    fn own() -> std::io::Result<u64> {
        let s = std::net::UdpSocket::bind("127.0.0.1:0")
            .or_else(|_| std::net::UdpSocket::bind("[::1]:0"))?;
        cookie_of(&s)
    }
    match path {
        None => own(),
        Some(p) => {
            let file = std::fs::File::open(p)?;
            std::thread::scope(|scope| {
                scope
                    .spawn(|| {
                        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                            .map_err(std::io::Error::from)?;
                        // A namespace's loopback may be down: any socket
                        // will do, it need not be bound.
                        let s = std::net::UdpSocket::bind("0.0.0.0:0")
                            .or_else(|_| std::net::UdpSocket::bind("[::]:0"));
                        match s {
                            Ok(s) => cookie_of(&s),
                            Err(_) => own(),
                        }
                    })
                    .join()
                    .map_err(|_| std::io::Error::other("netns cookie thread panicked"))?
            })
        }
    }
}

#[allow(unsafe_code)]
fn cookie_of(s: &std::net::UdpSocket) -> std::io::Result<u64> {
    use std::os::fd::AsRawFd;
    const SO_NETNS_COOKIE: libc::c_int = 71;
    let mut v: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: a valid socket fd and an u64 buffer of the length passed.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            (&mut v as *mut u64).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(v)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

impl Datapath {
    /// Loads the socket programs and attaches them to the cgroup v2 root
    /// (several may run there: each ternd's act only for its namespaces).
    pub fn attach_socket_lb(&mut self) -> Result<std::path::PathBuf, Error> {
        use aya::programs::{CgroupAttachMode, CgroupSockAddr};
        let root = cgroup2_root()
            .ok_or_else(|| Error::Invalid("no cgroup v2 hierarchy is mounted".into()))?;
        let dir = std::fs::File::open(&root).map_err(|source| Error::Pin {
            path: root.clone(),
            source,
        })?;
        for name in PROG_SOCK {
            let prog: &mut CgroupSockAddr = self
                .ebpf
                .program_mut(name)
                .ok_or(Error::Missing(name))?
                .try_into()
                .map_err(|source| Error::Program { name, source })?;
            if prog.fd().is_err() {
                prog.load()
                    .map_err(|source| Error::Program { name, source })?;
            }
            // A link (aya uses bpf_link_create on Linux >= 5.7) always lets
            // other programs run in the same cgroup; it takes no flags
            // (BPF_F_ALLOW_MULTI there is EINVAL), so the mode is the
            // default one.
            prog.attach(&dir, CgroupAttachMode::Single)
                .map_err(|source| Error::Program { name, source })?;
        }
        Ok(root)
    }

    /// Makes the socket programs serve exactly the namespaces `cookies`.
    pub fn set_socket_lb_netns(
        &mut self,
        cookies: &std::collections::BTreeSet<u64>,
    ) -> Result<(), Error> {
        let mut map: HashMap<&mut MapData, u64, u32> = HashMap::try_from(
            self.ebpf
                .map_mut(SOCK_NETNS_MAP)
                .ok_or(Error::Missing(SOCK_NETNS_MAP))?,
        )
        .map_err(map_err(SOCK_NETNS_MAP))?;
        let have: Vec<u64> = map.keys().filter_map(Result::ok).collect();
        for c in cookies {
            if !have.contains(c) {
                map.insert(c, 1, 0).map_err(map_err(SOCK_NETNS_MAP))?;
            }
        }
        for c in have.iter().filter(|c| !cookies.contains(c)) {
            let _ = map.remove(c);
        }
        Ok(())
    }
}
