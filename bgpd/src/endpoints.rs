//! The pod endpoint registry: which pod interfaces `tern-cni` wired on this
//! node. In memory, saved atomically to `/run/tern[/NAME]/endpoints.json` on
//! every change so that a restarted ternd knows its pods again, and published
//! on a `tokio::sync::watch` channel for the datapath to program its maps
//! from.
//!
//! The CNI plugin holds the truth about addresses (its IPAM state); the
//! registry follows it: an added endpoint replaces any other endpoint that
//! claims the same host veth or one of its addresses (left behind by a DEL
//! that could not reach ternd), and endpoints whose host veth is gone (or
//! was re-created with another ifindex) are dropped by [`Registry::prune`].
use std::{
    collections::BTreeMap,
    io::Write,
    path::{Path, PathBuf},
};

use tern_control::Endpoint;
use tern_netlink::Link;
use tokio::sync::watch;

/// File name of the saved registry inside the instance's run directory.
pub const STATE_FILE: &str = "endpoints.json";

/// Most endpoints one node registers.
pub const MAX_ENDPOINTS: usize = 65_536;

/// The pod endpoints of this node.
#[derive(Debug)]
pub struct Registry {
    endpoints: BTreeMap<(String, String), Endpoint>,
    tx: watch::Sender<Vec<Endpoint>>,
    file: Option<PathBuf>,
}

impl Registry {
    /// An empty registry that saves to `file` (none: memory only).
    pub fn new(file: Option<PathBuf>) -> Self {
        let (tx, _) = watch::channel(Vec::new());
        Self {
            endpoints: BTreeMap::new(),
            tx,
            file,
        }
    }

    /// The registry saved in `file` by an earlier ternd; an unreadable file
    /// is logged and ignored (the CNI re-registers on its next ADD/CHECK).
    pub fn load(file: PathBuf) -> Self {
        let mut reg = Self::new(Some(file.clone()));
        match std::fs::read(&file) {
            Ok(bytes) => match serde_json::from_slice::<Vec<Endpoint>>(&bytes) {
                Ok(eps) => {
                    for ep in eps {
                        if validate(&ep).is_ok() {
                            reg.endpoints.insert(key(&ep), ep);
                        }
                    }
                    tracing::info!(file = %file.display(), endpoints = reg.endpoints.len(), "endpoint registry loaded");
                }
                Err(e) => {
                    tracing::warn!(file = %file.display(), error = %e, "endpoint registry unreadable: starting empty")
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "endpoint registry unreadable: starting empty")
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

    /// Registers `ep`, replacing the entry of the same key and any other that
    /// claims its host veth or one of its addresses.
    pub fn add(&mut self, ep: Endpoint) -> Result<Vec<Endpoint>, String> {
        validate(&ep)?;
        let k = key(&ep);
        if !self.endpoints.contains_key(&k) && self.endpoints.len() >= MAX_ENDPOINTS {
            return Err(format!("too many endpoints (at most {MAX_ENDPOINTS})"));
        }
        let clashing: Vec<_> = self
            .endpoints
            .iter()
            .filter(|(ok, o)| {
                **ok != k
                    && (o.host_ifname == ep.host_ifname
                        || o.addresses.iter().any(|a| ep.addresses.contains(a)))
            })
            .map(|(ok, _)| ok.clone())
            .collect();
        for c in clashing {
            tracing::info!(container_id = %c.0, ifname = %c.1, "stale endpoint replaced");
            self.endpoints.remove(&c);
        }
        tracing::info!(container_id = %ep.container_id, ifname = %ep.ifname, host = %ep.host_ifname, "endpoint added");
        self.endpoints.insert(k, ep);
        self.changed()?;
        Ok(self.list())
    }

    /// Forgets an endpoint; an unknown one is not an error.
    pub fn del(&mut self, container_id: &str, ifname: &str) -> Result<Vec<Endpoint>, String> {
        if self
            .endpoints
            .remove(&(container_id.to_owned(), ifname.to_owned()))
            .is_some()
        {
            tracing::info!(%container_id, %ifname, "endpoint removed");
            self.changed()?;
        }
        Ok(self.list())
    }

    /// Drops endpoints whose host veth no longer exists under its name and
    /// ifindex (the pod's namespace was deleted without a CNI DEL).
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
        if self.endpoints.len() != before
            && let Err(e) = self.changed()
        {
            tracing::warn!(error = %e, "cannot save the endpoint registry");
        }
    }

    fn publish(&self) {
        self.tx.send_replace(self.list());
    }

    fn changed(&mut self) -> Result<(), String> {
        self.publish();
        let Some(file) = &self.file else {
            return Ok(());
        };
        let text = serde_json::to_vec_pretty(&self.list()).map_err(|e| e.to_string())?;
        save(file, &text).map_err(|e| format!("cannot save {}: {e}", file.display()))
    }
}

fn key(ep: &Endpoint) -> (String, String) {
    (ep.container_id.clone(), ep.ifname.clone())
}

fn validate(ep: &Endpoint) -> Result<(), String> {
    if ep.container_id.is_empty() || ep.container_id.len() > 1024 {
        return Err("endpoint: container id must be 1 to 1024 bytes".into());
    }
    if ep.ifname.is_empty() || ep.ifname.len() > 15 {
        return Err("endpoint: ifname must be 1 to 15 bytes".into());
    }
    if ep.host_ifname.is_empty() || ep.host_ifname.len() > 15 {
        return Err("endpoint: host interface name must be 1 to 15 bytes".into());
    }
    if ep.addresses.is_empty() || ep.addresses.len() > 16 {
        return Err("endpoint: 1 to 16 addresses".into());
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

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
        }
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

    #[test]
    fn add_replace_del_prune_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(STATE_FILE);
        let mut reg = Registry::load(file.clone());
        let rx = reg.subscribe();
        reg.add(ep("a", "terna", 10, "10.0.0.2/32")).unwrap();
        reg.add(ep("b", "ternb", 11, "10.0.0.3/32")).unwrap();
        assert_eq!(rx.borrow().len(), 2);
        // c takes b's address: b was left behind, c replaces it.
        reg.add(ep("c", "ternc", 12, "10.0.0.3/32")).unwrap();
        let keys: Vec<_> = reg.list().into_iter().map(|e| e.container_id).collect();
        assert_eq!(keys, ["a", "c"]);
        assert!(reg.add(ep("", "ternd", 1, "10.0.0.9/32")).is_err());
        reg.del("a", "eth0").unwrap();
        reg.del("a", "eth0").unwrap();
        assert_eq!(rx.borrow().len(), 1);
        let again = Registry::load(file.clone());
        assert_eq!(again.list(), reg.list());
        // c's veth was re-created with another ifindex: dropped.
        reg.prune(&[link("ternc", 99)]);
        assert!(reg.list().is_empty());
        assert!(rx.borrow().is_empty());
        assert!(Registry::load(file).list().is_empty());
    }

    #[test]
    fn garbage_state_file_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(STATE_FILE);
        std::fs::write(&file, b"{not json").unwrap();
        assert!(Registry::load(file).list().is_empty());
    }
}
