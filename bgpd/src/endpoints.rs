//! The pod endpoint registry: which pod interfaces `tern-cni` wired on this
//! node. In memory, saved atomically to `/run/tern[/NAME]/endpoints.json`
//! after every change so that a restarted ternd knows its pods again (the
//! caller writes the [`Save`] that [`Registry::unsaved`] hands out, outside
//! the daemon's lock: file I/O never holds up other requests), and published
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
    sync::{Arc, Mutex},
};

use tern_control::Endpoint;
use tern_netlink::Link;
use tokio::sync::watch;

/// File name of the saved registry inside the instance's run directory.
pub const STATE_FILE: &str = "endpoints.json";

/// Most endpoints one node registers: as many as the datapath has ids for
/// (ids 1 and up, below the eBPF maps' limit), so that every registered
/// endpoint can be programmed.
pub const MAX_ENDPOINTS: usize = tern_ebpf::datapath::MAX_ENDPOINTS as usize - 1;

/// Most addresses of one endpoint (the endpoint map is sized for them).
const MAX_ADDRESSES: usize = tern_ebpf::datapath::MAX_ENDPOINT_ADDRESSES as usize;

/// The pod endpoints of this node.
#[derive(Debug)]
pub struct Registry {
    endpoints: BTreeMap<(String, String), Endpoint>,
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
            tx,
            file,
            generation: 0,
            saved: Arc::new(Mutex::new(0)),
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
    /// claims its host veth or one of its addresses. In memory: see
    /// [`Registry::unsaved`].
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
        self.changed();
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
            self.changed();
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
        if self.endpoints.len() != before {
            self.changed();
        }
    }

    fn publish(&self) {
        self.tx.send_replace(self.list());
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
        let bytes = match serde_json::to_vec_pretty(&self.list()) {
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
    if ep.addresses.is_empty() || ep.addresses.len() > MAX_ADDRESSES {
        return Err(format!("endpoint: 1 to {MAX_ADDRESSES} addresses"));
    }
    if let Some(ns) = &ep.namespace {
        tern_control::check_namespace(ns).map_err(|e| format!("endpoint: {e}"))?;
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
            namespace: None,
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
    fn the_registry_takes_as_many_endpoints_as_the_datapath_has_ids() {
        let mut reg = Registry::new(None);
        for i in 0..MAX_ENDPOINTS {
            let n = u32::try_from(i).unwrap();
            let addr = std::net::Ipv4Addr::from(0x0a00_0000 + n).to_string() + "/32";
            reg.add(ep(&format!("c{i}"), &format!("lxc{i}"), n + 10, &addr))
                .unwrap();
        }
        let e = reg
            .add(ep("one-more", "lxcmore", 9, "10.255.255.255/32"))
            .unwrap_err();
        assert!(e.contains("too many endpoints"), "{e}");
        // Every one of them gets an id of the datapath's (1 and up).
        assert!(MAX_ENDPOINTS < tern_ebpf::datapath::MAX_ENDPOINTS as usize);
        // Replacing an existing one is still fine.
        reg.add(ep("c0", "lxc0", 10, "10.0.0.0/32")).unwrap();
        let mut many = ep("c1", "lxc1", 11, "10.0.0.1/32");
        many.addresses = (0..=MAX_ADDRESSES)
            .map(|i| format!("10.200.0.{i}/32").parse().unwrap())
            .collect();
        assert!(
            reg.add(many).is_err(),
            "more addresses than the map has room for"
        );
    }

    #[test]
    fn add_replace_del_prune_and_reload() {
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
        reg.add(ep("a", "terna", 10, "10.0.0.2/32")).unwrap();
        // A save taken earlier and written later does not undo a newer one.
        let older = reg.unsaved().unwrap();
        reg.add(ep("b", "ternb", 11, "10.0.0.3/32")).unwrap();
        save(&reg);
        older.write().unwrap();
        assert_eq!(Registry::load(file.clone()).list().len(), 2);
        assert_eq!(rx.borrow().len(), 2);
        // c takes b's address: b was left behind, c replaces it.
        reg.add(ep("c", "ternc", 12, "10.0.0.3/32")).unwrap();
        let keys: Vec<_> = reg.list().into_iter().map(|e| e.container_id).collect();
        assert_eq!(keys, ["a", "c"]);
        assert!(reg.add(ep("", "ternd", 1, "10.0.0.9/32")).is_err());
        reg.del("a", "eth0").unwrap();
        reg.del("a", "eth0").unwrap();
        assert_eq!(rx.borrow().len(), 1);
        save(&reg);
        let again = Registry::load(file.clone());
        assert_eq!(again.list(), reg.list());
        // c's veth was re-created with another ifindex: dropped.
        reg.prune(&[link("ternc", 99)]);
        assert!(reg.list().is_empty());
        assert!(rx.borrow().is_empty());
        save(&reg);
        assert!(Registry::load(file).list().is_empty());
    }

    #[test]
    fn namespaces_are_checked() {
        let mut reg = Registry::new(None);
        let mut good = ep("a", "terna", 10, "10.0.0.2/32");
        good.namespace = Some("kube-system".into());
        reg.add(good.clone()).unwrap();
        let mut bad = ep("b", "ternb", 11, "10.0.0.3/32");
        bad.namespace = Some("Kube_System".into());
        let e = reg.add(bad).unwrap_err();
        assert_eq!(
            e,
            r#"endpoint: namespace "Kube_System": may hold only lower-case letters, digits and '-'"#
        );
        assert_eq!(reg.list(), [good]);
    }

    #[test]
    fn a_state_file_without_namespaces_loads() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(STATE_FILE);
        // As ternd wrote it before endpoints had a namespace.
        std::fs::write(
            &file,
            br#"[{"container_id":"a","ifname":"eth0","netns":"/var/run/netns/x",
                "host_ifname":"terna","host_ifindex":10,"pod_mac":"02:00:00:00:00:01",
                "host_mac":"02:00:00:00:00:02","addresses":["10.0.0.2/32"],"mtu":1500}]"#,
        )
        .unwrap();
        assert_eq!(
            Registry::load(file).list(),
            [ep("a", "terna", 10, "10.0.0.2/32")]
        );
    }

    #[test]
    fn garbage_state_file_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(STATE_FILE);
        std::fs::write(&file, b"{not json").unwrap();
        assert!(Registry::load(file).list().is_empty());
    }
}
