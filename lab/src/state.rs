//! The lab's state on disk: /run/tern-lab/LAB/state.json lists each node's
//! namespace, instance, processes (pid + program + start time), log paths and
//! the run directories the runner created. It is written before anything is
//! created and after every step, atomically (temp file, fsync, rename), so
//! `down` can undo a partial or crashed `up`.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::LabError;
use crate::process::ProcessRecord;
use crate::topology::Role;

/// Version of the state file format.
pub const STATE_VERSION: u32 = 1;
const STATE_FILE: &str = "state.json";

/// How far `up` got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// `up` is running (or crashed part-way).
    Starting,
    /// `up` finished: every daemon answered.
    Up,
}

/// What the runner knows about one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    pub name: String,
    pub role: Role,
    /// Network namespace.
    pub namespace: String,
    /// FRR / ternd instance name (`-N`); the same as the namespace.
    pub instance: String,
    /// Whether `up` created the namespace (it is only deleted if so, or if a
    /// sweep finds it under this lab's prefix).
    pub namespace_created: bool,
    /// The node's directory: logs, pid files, config copy.
    pub dir: PathBuf,
    /// The node's console log (stdout/stderr of its processes).
    pub log: PathBuf,
    /// Run directories the runner created for the node's daemons.
    pub run_dirs: Vec<PathBuf>,
    pub processes: Vec<ProcessRecord>,
    /// Pods wired by tern-cni on this node (Tern nodes with `tern.pods`).
    #[serde(default)]
    pub pods: Vec<crate::pods::PodState>,
}

/// The state of one lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabState {
    pub version: u32,
    pub lab: String,
    pub topology_file: PathBuf,
    pub phase: Phase,
    /// Seconds since the Unix epoch when `up` started.
    pub started_unix: u64,
    pub nodes: Vec<NodeState>,
}

impl LabState {
    /// The state directory of a lab under `root`.
    pub fn dir(root: &Path, lab: &str) -> PathBuf {
        root.join(lab)
    }

    /// The node state called `name`.
    pub fn node_mut(&mut self, name: &str) -> Option<&mut NodeState> {
        self.nodes.iter_mut().find(|n| n.name == name)
    }

    /// Reads the state of `lab`; `Ok(None)` when there is none.
    pub fn load(root: &Path, lab: &str) -> Result<Option<LabState>, LabError> {
        let path = Self::dir(root, lab).join(STATE_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LabError::io(format!("reading {}", path.display()), e)),
        };
        let state: LabState = serde_json::from_str(&text).map_err(|e| LabError::State {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if state.version != STATE_VERSION {
            return Err(LabError::State {
                path,
                reason: format!(
                    "format version {} is not the supported {STATE_VERSION}",
                    state.version
                ),
            });
        }
        Ok(Some(state))
    }

    /// Writes the state atomically: a temp file in the same directory,
    /// fsync, rename over state.json, fsync of the directory.
    pub fn save(&self, root: &Path) -> Result<(), LabError> {
        let dir = Self::dir(root, &self.lab);
        let path = dir.join(STATE_FILE);
        let tmp = dir.join(format!(".{STATE_FILE}.tmp"));
        let ctx = |what: &str| format!("{what} {}", tmp.display());
        let json = serde_json::to_vec_pretty(self).map_err(|e| LabError::State {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let mut file = fs::File::create(&tmp).map_err(|e| LabError::io(ctx("creating"), e))?;
        file.write_all(&json)
            .and_then(|()| file.write_all(b"\n"))
            .map_err(|e| LabError::io(ctx("writing"), e))?;
        file.sync_all()
            .map_err(|e| LabError::io(ctx("syncing"), e))?;
        drop(file);
        fs::rename(&tmp, &path).map_err(|e| {
            LabError::io(
                format!("renaming {} to {}", tmp.display(), path.display()),
                e,
            )
        })?;
        fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| LabError::io(format!("syncing {}", dir.display()), e))?;
        Ok(())
    }
}

/// Namespaces listed in the state files of labs other than `lab`, so a sweep
/// of `clab-LAB-*` never takes a namespace of lab `LAB-x`.
pub fn namespaces_of_other_labs(root: &Path, lab: &str) -> BTreeSet<String> {
    let mut claimed = BTreeSet::new();
    let Ok(entries) = fs::read_dir(root) else {
        return claimed;
    };
    for entry in entries.flatten() {
        let Some(other) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if other == lab {
            continue;
        }
        match LabState::load(root, &other) {
            Ok(Some(state)) => claimed.extend(state.nodes.into_iter().map(|n| n.namespace)),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(lab = %other, error = %e, "ignoring unreadable state of another lab")
            }
        }
    }
    claimed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_and_load_round_trip() {
        let root = tempfile::tempdir().expect("tempdir");
        let state = LabState {
            version: STATE_VERSION,
            lab: "rt".into(),
            topology_file: "x.clab.yml".into(),
            phase: Phase::Starting,
            started_unix: 1,
            nodes: vec![NodeState {
                name: "n1".into(),
                role: Role::Frr,
                namespace: "clab-rt-n1".into(),
                instance: "clab-rt-n1".into(),
                namespace_created: true,
                dir: "/run/tern-lab/rt/n1".into(),
                log: "/run/tern-lab/rt/n1/node.log".into(),
                run_dirs: vec!["/var/run/frr/clab-rt-n1".into()],
                processes: vec![ProcessRecord {
                    name: "zebra".into(),
                    pid: 42,
                    program: "/usr/lib/frr/zebra".into(),
                    start_time: Some(7),
                    log: "/run/tern-lab/rt/n1/zebra.log".into(),
                }],
                pods: Vec::new(),
            }],
        };
        fs::create_dir(LabState::dir(root.path(), "rt")).expect("mkdir");
        state.save(root.path()).expect("save");
        state.save(root.path()).expect("save again");
        let loaded = LabState::load(root.path(), "rt").expect("load");
        assert_eq!(loaded, Some(state));
        assert!(LabState::load(root.path(), "nope").expect("load").is_none());

        let claimed = namespaces_of_other_labs(root.path(), "other");
        assert!(claimed.contains("clab-rt-n1"));
        assert!(namespaces_of_other_labs(root.path(), "rt").is_empty());
    }

    #[test]
    fn corrupt_state_is_an_error() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = LabState::dir(root.path(), "bad");
        fs::create_dir(&dir).expect("mkdir");
        fs::write(dir.join(STATE_FILE), "{not json").expect("write");
        assert!(matches!(
            LabState::load(root.path(), "bad"),
            Err(LabError::State { .. })
        ));
    }
}
