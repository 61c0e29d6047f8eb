//! Address management on disk: one JSON state file per network
//! (`DATADIR/ipam.json`), guarded by an exclusive flock on `DATADIR/lock`
//! that a plugin holds for its whole ADD/DEL/CHECK, and written atomically
//! (temporary file, fsync, rename, fsync of the directory).
//!
//! Allocations are keyed by (container id, ifname): a repeated ADD gets the
//! same addresses, DEL frees them. The state is committed before the veth is
//! made, so a plugin killed in between leaves an allocation that the next
//! ADD of the same key reuses and the next DEL frees; an address is never
//! handed out twice. The first host address of each pod CIDR is left for the
//! node; a cursor per CIDR makes freed addresses come back last.
use std::{
    collections::{BTreeMap, BTreeSet},
    fs::{File, OpenOptions},
    io::Write,
    net::IpAddr,
    path::{Path, PathBuf},
};

use ipnet::IpNet;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::spec::{CniError, Code};

/// Name of the state file in the data directory.
pub const STATE_FILE: &str = "ipam.json";

/// One pod interface's addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Allocation {
    pub container_id: String,
    pub ifname: String,
    pub netns: String,
    pub host_ifname: String,
    /// /32 and /128 host prefixes.
    pub addresses: Vec<IpNet>,
}

/// The state file's content.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub allocations: Vec<Allocation>,
    /// Last address handed out, per pod CIDR.
    #[serde(default)]
    pub last: BTreeMap<String, IpAddr>,
}

impl State {
    pub fn find(&self, container_id: &str, ifname: &str) -> Option<&Allocation> {
        self.allocations
            .iter()
            .find(|a| a.container_id == container_id && a.ifname == ifname)
    }

    /// Removes the allocation of a key; whether there was one.
    pub fn release(&mut self, container_id: &str, ifname: &str) -> bool {
        let before = self.allocations.len();
        self.allocations
            .retain(|a| !(a.container_id == container_id && a.ifname == ifname));
        before != self.allocations.len()
    }

    /// Allocates one free address in each pool for a new key.
    pub fn allocate(
        &mut self,
        pools: &[IpNet],
        container_id: &str,
        ifname: &str,
        netns: &str,
        host_ifname: &str,
    ) -> Result<Allocation, CniError> {
        let used: BTreeSet<IpAddr> = self
            .allocations
            .iter()
            .flat_map(|a| a.addresses.iter().map(|n| n.addr()))
            .collect();
        let mut addresses = Vec::new();
        for pool in pools {
            let cursor = self.last.get(&pool.to_string()).copied();
            let addr = next_free(pool, cursor, &used).ok_or_else(|| {
                CniError::new(
                    Code::NoAddress,
                    format!("no free address left in pod CIDR {pool}"),
                )
            })?;
            self.last.insert(pool.to_string(), addr);
            let len = if addr.is_ipv4() { 32 } else { 128 };
            addresses.push(
                IpNet::new(addr, len).map_err(|e| CniError::new(Code::NoAddress, e.to_string()))?,
            );
        }
        let a = Allocation {
            container_id: container_id.to_owned(),
            ifname: ifname.to_owned(),
            netns: netns.to_owned(),
            host_ifname: host_ifname.to_owned(),
            addresses,
        };
        self.allocations.push(a.clone());
        Ok(a)
    }
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

/// The data directory, locked for as long as this value lives.
pub struct Store {
    dir: PathBuf,
    _lock: Flock<File>,
}

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> CniError {
    move |e| CniError::new(Code::Io, what).details(e.to_string())
}

impl Store {
    /// Creates the directory if needed and takes the lock (waits for other
    /// plugins of the same network).
    pub fn lock(dir: &Path) -> Result<Store, CniError> {
        std::fs::create_dir_all(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
        let path = dir.join("lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(format!("cannot open {}", path.display())))?;
        let lock = Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| {
            CniError::new(Code::Io, format!("cannot lock {}", path.display()))
                .details(e.to_string())
        })?;
        Ok(Store {
            dir: dir.to_owned(),
            _lock: lock,
        })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// The state; a missing file is an empty state, an unreadable one an
    /// error (guessing would risk handing out an address twice).
    pub fn load(&self) -> Result<State, CniError> {
        let path = self.path();
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                CniError::new(
                    Code::Io,
                    format!("IPAM state {} is corrupt; fix or remove it", path.display()),
                )
                .details(e.to_string())
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(io_err(format!("cannot read {}", path.display()))(e)),
        }
    }

    /// Writes the state atomically.
    pub fn save(&self, state: &State) -> Result<(), CniError> {
        let path = self.path();
        let tmp = self
            .dir
            .join(format!(".{STATE_FILE}.tmp-{}", std::process::id()));
        let bytes =
            serde_json::to_vec_pretty(state).map_err(|e| CniError::new(Code::Io, e.to_string()))?;
        let r = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            File::open(&self.dir)?.sync_all()
        })();
        if r.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        r.map_err(io_err(format!("cannot write {}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pools() -> Vec<IpNet> {
        vec![
            "10.0.0.0/29".parse().unwrap(),
            "fd00::/125".parse().unwrap(),
        ]
    }

    #[test]
    fn allocate_reuse_release_exhaust() {
        let mut s = State::default();
        let a = s.allocate(&pools(), "a", "eth0", "/n/a", "h1").unwrap();
        assert_eq!(a.addresses[0].to_string(), "10.0.0.2/32");
        assert_eq!(a.addresses[1].to_string(), "fd00::2/128");
        let b = s.allocate(&pools(), "b", "eth0", "/n/b", "h2").unwrap();
        assert_eq!(b.addresses[0].to_string(), "10.0.0.3/32");
        assert!(s.release("a", "eth0"));
        assert!(!s.release("a", "eth0"));
        // The cursor moves on: .2 comes back only after the others.
        let c = s.allocate(&pools(), "c", "eth0", "/n/c", "h3").unwrap();
        assert_eq!(c.addresses[0].to_string(), "10.0.0.4/32");
        for k in ["d", "e", "f"] {
            s.allocate(&pools(), k, "eth0", "/n", "h").unwrap();
        }
        // 10.0.0.2 .. .6 usable (.1 node, .7 broadcast): 5 addresses.
        let all: BTreeSet<_> = s.allocations.iter().map(|a| a.addresses[0]).collect();
        assert_eq!(all.len(), 5);
        let e = s.allocate(&pools(), "g", "eth0", "/n", "h").unwrap_err();
        assert_eq!(e.code, Code::NoAddress);
    }

    #[test]
    fn store_round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::lock(dir.path()).unwrap();
        assert_eq!(st.load().unwrap(), State::default());
        let mut s = State::default();
        s.allocate(&pools(), "a", "eth0", "/n/a", "h1").unwrap();
        st.save(&s).unwrap();
        assert_eq!(st.load().unwrap(), s);
        std::fs::write(st.path(), b"{oops").unwrap();
        assert_eq!(st.load().unwrap_err().code, Code::Io);
    }
}
