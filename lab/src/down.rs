//! `down`: tears a lab down, from its state file when there is one and by
//! sweeping its `clab-LAB-*` names when there is not (a crashed `up`). Stops
//! recorded daemons (only while they still run the recorded program), kills
//! what is left inside the lab's namespaces, deletes the namespaces, the
//! daemons' run directories and the state directory. Idempotent.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::Options;
use crate::error::LabError;
use crate::names::{self, FRR_RUN_DIR, TERN_PIN_DIR, TERN_RUN_DIR};
use crate::netns;
use crate::process::{self, StopOutcome};
use crate::state::{self, LabState};
use crate::sys;
use crate::topology::Topology;

/// What `down` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DownReport {
    pub lab: String,
    /// Whether there was anything of the lab on this machine.
    pub found_anything: bool,
    /// Processes stopped, as `node/name pid N (how)`.
    pub stopped: Vec<String>,
    /// Namespaces deleted.
    pub namespaces: Vec<String>,
    /// Directories removed.
    pub removed: Vec<PathBuf>,
    /// Things worth knowing that were not errors.
    pub notes: Vec<String>,
}

/// Tears down the lab named in `topo` (see `down_lab`).
pub fn down(topo: &Topology, opts: &Options) -> Result<DownReport, LabError> {
    down_lab(&topo.name, opts)
}

/// Tears down lab `lab`: works from its state file, and without one (or
/// with an unreadable one) sweeps the namespaces and run directories named
/// `clab-LAB-*` that no other lab's state claims. Saying so and succeeding
/// when nothing is there.
pub fn down_lab(lab: &str, opts: &Options) -> Result<DownReport, LabError> {
    names::check_name(lab).map_err(|reason| LabError::State {
        path: LabState::dir(&opts.state_root, lab),
        reason: format!("`{lab}` is not a lab name: {reason}"),
    })?;
    sys::require_root()?;
    sys::require_tools(&["ip"])?;
    let state = match LabState::load(&opts.state_root, lab) {
        Ok(state) => state,
        Err(e) => {
            tracing::warn!(error = %e, "state unreadable: sweeping the lab's names instead");
            None
        }
    };
    teardown(lab, state.as_ref(), opts)
}

/// Whether a namespace or instance name belongs to `lab`: listed in its
/// state, or named `clab-LAB-NODE` (NODE a valid node name) and not listed
/// in the state of another lab (such as `LAB-x`, whose names share the prefix).
fn owned(name: &str, prefix: &str, ours: &BTreeSet<String>, others: &BTreeSet<String>) -> bool {
    if ours.contains(name) {
        return true;
    }
    match name.strip_prefix(prefix) {
        Some(node) => names::check_name(node).is_ok() && !others.contains(name),
        None => false,
    }
}

fn state_namespaces(state: Option<&LabState>) -> BTreeSet<String> {
    state
        .map(|s| s.nodes.iter().map(|n| n.namespace.clone()).collect())
        .unwrap_or_default()
}

/// The existing namespaces that belong to `lab`.
pub(crate) fn lab_namespaces(
    lab: &str,
    state: Option<&LabState>,
    opts: &Options,
) -> Result<Vec<String>, LabError> {
    let prefix = names::namespace_prefix(lab);
    let ours = state_namespaces(state);
    let others = state::namespaces_of_other_labs(&opts.state_root, lab);
    Ok(netns::list()?
        .into_iter()
        .filter(|n| owned(n, &prefix, &ours, &others))
        .collect())
}

/// Run directories (/var/run/frr/NAME, /run/tern/NAME) that belong to `lab`.
fn lab_run_dirs(lab: &str, state: Option<&LabState>, opts: &Options) -> Vec<PathBuf> {
    let prefix = names::namespace_prefix(lab);
    let ours = state_namespaces(state);
    let others = state::namespaces_of_other_labs(&opts.state_root, lab);
    let mut dirs: BTreeSet<PathBuf> = state
        .map(|s| {
            s.nodes
                .iter()
                .flat_map(|n| n.run_dirs.iter().cloned())
                .collect()
        })
        .unwrap_or_default();
    for parent in [FRR_RUN_DIR, TERN_RUN_DIR, TERN_PIN_DIR] {
        let Ok(entries) = fs::read_dir(parent) else {
            continue;
        };
        for entry in entries.flatten() {
            if let Some(name) = entry.file_name().to_str()
                && owned(name, &prefix, &ours, &others)
            {
                dirs.insert(Path::new(parent).join(name));
            }
        }
    }
    dirs.into_iter().filter(|d| d.exists()).collect()
}

/// Removes everything of `lab` this machine holds. `state` is what `up`
/// recorded, if anything.
pub(crate) fn teardown(
    lab: &str,
    state: Option<&LabState>,
    opts: &Options,
) -> Result<DownReport, LabError> {
    let mut report = DownReport {
        lab: lab.to_owned(),
        found_anything: state.is_some(),
        ..DownReport::default()
    };
    let mut problems = Vec::new();

    // 0. Pods: CNI DEL while ternd still runs, then their namespaces.
    if let Some(state) = state {
        let pods = crate::pods::del_pods(state);
        for p in pods.released {
            report.stopped.push(format!("pod {p} (CNI DEL)"));
        }
        report.namespaces.extend(pods.deleted);
        problems.extend(pods.problems);
    }

    // 1. Recorded daemons, last started first.
    if let Some(state) = state {
        for node in state.nodes.iter().rev() {
            for proc in node.processes.iter().rev() {
                let what = format!("{}/{} pid {}", node.name, proc.name, proc.pid);
                match proc.stop(opts.stop_timeout) {
                    StopOutcome::AlreadyGone => {
                        report.notes.push(format!("{what} had already exited"))
                    }
                    StopOutcome::NotOurs => report.notes.push(format!(
                        "{what} now runs another program than {}: left alone",
                        proc.program.display()
                    )),
                    StopOutcome::Terminated => report.stopped.push(format!("{what} (SIGTERM)")),
                    StopOutcome::Killed => report.stopped.push(format!("{what} (SIGKILL)")),
                    StopOutcome::Survived => problems.push(format!("{what} survived SIGKILL")),
                }
            }
        }
    }

    // 2. Whatever still runs inside the lab's namespaces, then the namespaces.
    let namespaces = lab_namespaces(lab, state, opts)?;
    report.found_anything |= !namespaces.is_empty();
    for ns in &namespaces {
        match netns::pids(ns) {
            Ok(pids) if !pids.is_empty() => {
                tracing::info!(namespace = %ns, ?pids, "stopping processes left in the namespace");
                let survivors = process::terminate_all(&pids, opts.stop_timeout);
                let stopped = pids.iter().filter(|p| !survivors.contains(p));
                report
                    .stopped
                    .extend(stopped.map(|p| format!("pid {p} in namespace {ns}")));
                if !survivors.is_empty() {
                    problems.push(format!(
                        "pids {survivors:?} in namespace {ns} survived SIGKILL"
                    ));
                }
            }
            Ok(_) => {}
            Err(e) => problems.push(format!("listing processes of {ns}: {e}")),
        }
        tracing::info!(namespace = %ns, "deleting namespace");
        match netns::delete(ns) {
            Ok(()) => report.namespaces.push(ns.clone()),
            Err(e) if !netns::exists(ns) => {
                tracing::debug!(namespace = %ns, error = %e, "namespace vanished meanwhile");
            }
            Err(e) => problems.push(e.to_string()),
        }
    }

    // 3. Run directories of the lab's daemons.
    for dir in lab_run_dirs(lab, state, opts) {
        report.found_anything = true;
        match remove_dir(&dir) {
            Ok(()) => report.removed.push(dir),
            Err(e) => problems.push(e.to_string()),
        }
    }

    // 4. The state directory, last: it is what lets a later `down` retry.
    let lab_dir = LabState::dir(&opts.state_root, lab);
    if lab_dir.exists() {
        report.found_anything = true;
        if problems.is_empty() {
            match remove_dir(&lab_dir) {
                Ok(()) => report.removed.push(lab_dir),
                Err(e) => problems.push(e.to_string()),
            }
        } else {
            report.notes.push(format!(
                "kept {} so that `down` can be retried",
                lab_dir.display()
            ));
        }
    }

    if problems.is_empty() {
        if report.found_anything {
            tracing::info!(lab, "lab is down");
        } else {
            tracing::info!(lab, "nothing of the lab was found");
        }
        Ok(report)
    } else {
        Err(LabError::DownIncomplete {
            lab: lab.to_owned(),
            problems,
        })
    }
}

fn remove_dir(dir: &Path) -> Result<(), LabError> {
    tracing::info!(dir = %dir.display(), "removing");
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LabError::io(format!("removing {}", dir.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_of_names() {
        let prefix = names::namespace_prefix("lab");
        let ours: BTreeSet<String> = ["clab-lab-a".to_owned()].into();
        let others: BTreeSet<String> = ["clab-lab-x-b".to_owned()].into();
        assert!(owned("clab-lab-a", &prefix, &ours, &others));
        assert!(owned("clab-lab-stray", &prefix, &ours, &others));
        // Lab `lab-x` is up and owns this one.
        assert!(!owned("clab-lab-x-b", &prefix, &ours, &others));
        assert!(!owned("clab-labx-a", &prefix, &ours, &others));
        assert!(!owned("clab-lab-", &prefix, &ours, &others));
        assert!(!owned("other", &prefix, &ours, &others));
    }
}
