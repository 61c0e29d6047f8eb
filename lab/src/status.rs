//! `status` and `exec`: what each node of a lab is doing (namespace present,
//! processes alive, what its daemon says), and running a command inside a
//! node's namespace.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use serde::Serialize;

use crate::Options;
use crate::daemons;
use crate::error::LabError;
use crate::netns;
use crate::state::{LabState, NodeState, Phase};
use crate::sys;
use crate::topology::{Role, Topology};

/// How long one status command may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// One recorded process.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessStatus {
    pub name: String,
    pub pid: i32,
    pub program: PathBuf,
    pub alive: bool,
}

/// One status command and what it printed.
#[derive(Debug, Clone, Serialize)]
pub struct CheckOutput {
    pub command: String,
    pub success: bool,
    pub output: String,
}

/// The status of one node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub role: Role,
    pub namespace: String,
    pub namespace_present: bool,
    pub processes: Vec<ProcessStatus>,
    pub checks: Vec<CheckOutput>,
    pub healthy: bool,
}

/// The status of a lab.
#[derive(Debug, Clone, Serialize)]
pub struct LabStatus {
    pub lab: String,
    /// Whether the lab has state on this machine.
    pub state_present: bool,
    pub phase: Option<Phase>,
    pub nodes: Vec<NodeStatus>,
    /// Every node healthy and `up` finished.
    pub healthy: bool,
}

/// Inspects the lab named in `topo`: the recorded state when there is one,
/// else the topology's nodes (all unhealthy, as the lab is not up). Runs
/// each daemon's show commands (vtysh for FRR nodes, tern for Tern nodes,
/// `gobgp neighbor` for GoBGP nodes, `birdc show protocols` for BIRD nodes).
pub fn status(topo: &Topology, opts: &Options) -> Result<LabStatus, LabError> {
    let state = LabState::load(&opts.state_root, &topo.name)?;
    let tern = if topo.nodes.iter().any(|n| n.role == Role::Tern)
        || state
            .as_ref()
            .is_some_and(|s| s.nodes.iter().any(|n| n.role == Role::Tern))
    {
        daemons::find_tern_binary("tern", opts).ok()
    } else {
        None
    };

    let nodes: Vec<NodeStatus> = match &state {
        Some(state) => state
            .nodes
            .iter()
            .map(|n| {
                let processes: Vec<ProcessStatus> = n
                    .processes
                    .iter()
                    .map(|p| ProcessStatus {
                        name: p.name.clone(),
                        pid: p.pid,
                        program: p.program.clone(),
                        alive: p.is_running(),
                    })
                    .collect();
                node_status(
                    &n.name,
                    n.role,
                    &n.namespace,
                    processes,
                    Some(n),
                    tern.as_deref(),
                )
            })
            .collect(),
        None => topo
            .nodes
            .iter()
            .map(|n| {
                let mut s = node_status(
                    &n.name,
                    n.role,
                    &topo.namespace(&n.name),
                    Vec::new(),
                    None,
                    None,
                );
                s.healthy = false;
                s
            })
            .collect(),
    };
    let phase = state.as_ref().map(|s| s.phase);
    Ok(LabStatus {
        lab: topo.name.clone(),
        state_present: state.is_some(),
        phase,
        healthy: phase == Some(Phase::Up) && nodes.iter().all(|n| n.healthy),
        nodes,
    })
}

fn node_status(
    name: &str,
    role: Role,
    namespace: &str,
    processes: Vec<ProcessStatus>,
    state: Option<&NodeState>,
    tern: Option<&std::path::Path>,
) -> NodeStatus {
    let namespace_present = netns::exists(namespace);
    let mut checks = Vec::new();
    if let Some(state) = state.filter(|_| namespace_present) {
        if role == Role::Tern && tern.is_none() {
            checks.push(CheckOutput {
                command: "tern".to_owned(),
                success: false,
                output: "the tern CLI was not found (TERN_BIN_DIR, next to tern-lab, PATH)"
                    .to_owned(),
            });
        }
        for mut cmd in daemons::status_checks(state, tern) {
            let command = sys::describe(&cmd);
            let check = match sys::capture(&mut cmd, CHECK_TIMEOUT) {
                Ok(out) => CheckOutput {
                    command,
                    success: out.status.success(),
                    output: sys::strip_vtysh_noise(&out.combined()),
                },
                Err(e) => CheckOutput {
                    command,
                    success: false,
                    output: e.to_string(),
                },
            };
            checks.push(check);
        }
    }
    let daemons_expected = role != Role::Host;
    let healthy = namespace_present
        && (!daemons_expected || !processes.is_empty())
        && processes.iter().all(|p| p.alive)
        && checks.iter().all(|c| c.success);
    NodeStatus {
        name: name.to_owned(),
        role,
        namespace: namespace.to_owned(),
        namespace_present,
        processes,
        checks,
        healthy,
    }
}

/// Runs `argv` inside `node`'s namespace (with the node's `env:`), with this
/// process's stdin, stdout and stderr, and returns its exit status.
pub fn exec(topo: &Topology, node: &str, argv: &[String]) -> Result<ExitStatus, LabError> {
    let Some(n) = topo.node(node) else {
        return Err(LabError::UnknownNode {
            lab: topo.name.clone(),
            node: node.to_owned(),
        });
    };
    let namespace = topo.namespace(node);
    if !netns::exists(&namespace) {
        return Err(LabError::NoNamespace {
            node: node.to_owned(),
            namespace,
        });
    }
    let mut cmd = sys::nsenter(&namespace, argv);
    cmd.envs(&n.env);
    let command = sys::describe(&cmd);
    cmd.status()
        .map_err(|source| LabError::Spawn { command, source })
}
