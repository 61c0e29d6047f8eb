//! `up`: builds a lab from a topology: state directory, one namespace per
//! node, veth links, daemons, exec lines, then waits until every daemon
//! answers. Any failure tears down what was created and reports the cause.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::Options;
use crate::daemons::{self, FRR_DAEMONS, LOG_TAIL_LINES, NodeEnv};
use crate::down;
use crate::error::LabError;
use crate::netns::{self, VethEnd};
use crate::process::ProcessRecord;
use crate::state::{LabState, NodeState, Phase, STATE_VERSION};
use crate::sys;
use crate::topology::{Node, Role, Topology};

/// How long one exec line may run.
const EXEC_LINE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one readiness probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between readiness rounds.
const PROBE_INTERVAL: Duration = Duration::from_millis(250);

/// What `up` built.
#[derive(Debug, Clone, Serialize)]
pub struct UpReport {
    pub lab: String,
    pub state_dir: PathBuf,
    pub nodes: Vec<NodeState>,
    pub links: usize,
    pub elapsed: Duration,
}

/// The binaries a lab needs besides FRR's: tern's for Tern nodes, the
/// peers' daemons for GoBGP and BIRD nodes.
#[derive(Default)]
struct Bins {
    ternd: Option<PathBuf>,
    tern: Option<PathBuf>,
    gobgpd: Option<PathBuf>,
    bird: Option<PathBuf>,
    cni: Option<PathBuf>,
}

impl Bins {
    fn get<'a>(path: &'a Option<PathBuf>, name: &str) -> Result<&'a Path, LabError> {
        path.as_deref().ok_or_else(|| LabError::BinaryNotFound {
            name: name.to_owned(),
            searched: Vec::new(),
        })
    }
}

/// Builds the lab described by `topo`. Refuses if any part of it exists;
/// on failure removes everything it created and returns the cause.
pub fn up(topo: &Topology, opts: &Options) -> Result<UpReport, LabError> {
    let started = Instant::now();
    let bins = preflight(topo, opts)?;
    refuse_if_present(topo, opts)?;

    fs::create_dir_all(&opts.state_root)
        .map_err(|e| LabError::io(format!("creating {}", opts.state_root.display()), e))?;
    let lab_dir = LabState::dir(&opts.state_root, &topo.name);
    // Creating the lab's directory is the lock: a concurrent `up` of the same
    // lab finds it and refuses.
    if !sys::create_dir(&lab_dir, 0o755)? {
        return Err(LabError::AlreadyUp {
            lab: topo.name.clone(),
            detail: format!("{} appeared while starting", lab_dir.display()),
        });
    }
    let mut state = initial_state(topo, &lab_dir);
    let result = state
        .save(&opts.state_root)
        .and_then(|()| build(topo, opts, &bins, &mut state));
    match result {
        Ok(()) => {
            tracing::info!(lab = %topo.name, "lab is up");
            Ok(UpReport {
                lab: topo.name.clone(),
                state_dir: lab_dir,
                nodes: state.nodes,
                links: topo.links.len(),
                elapsed: started.elapsed(),
            })
        }
        Err(cause) => {
            tracing::warn!(lab = %topo.name, "up failed: tearing down what it created");
            tracing::debug!(error = %cause, "cause");
            let cleanup_problems = match down::teardown(&topo.name, Some(&state), opts) {
                Ok(_) => Vec::new(),
                Err(LabError::DownIncomplete { problems, .. }) => problems,
                Err(other) => vec![other.to_string()],
            };
            Err(LabError::UpFailed {
                lab: topo.name.clone(),
                cause: Box::new(cause),
                cleanup_problems,
            })
        }
    }
}

/// Checks root, tools and binaries before anything is created.
fn preflight(topo: &Topology, opts: &Options) -> Result<Bins, LabError> {
    sys::require_root()?;
    sys::require_tools(&["ip", "nsenter", "setsid"])?;
    if topo.nodes.iter().any(|n| n.role == Role::Frr) {
        sys::require_tools(&["vtysh"])?;
        for daemon in FRR_DAEMONS {
            let path = daemons::frr_daemon_path(daemon);
            if !sys::is_executable(&path) {
                return Err(LabError::MissingTool {
                    tool: path.display().to_string(),
                    hint: "install the Debian package frr (bash lab/setup.sh)".to_owned(),
                });
            }
        }
    }
    let has = |role: Role| topo.nodes.iter().any(|n| n.role == role);
    let mut bins = Bins::default();
    if has(Role::Tern) {
        bins.ternd = Some(daemons::find_tern_binary("ternd", opts)?);
        bins.tern = Some(daemons::find_tern_binary("tern", opts)?);
    }
    if topo.nodes.iter().any(|n| !n.pods.is_empty()) {
        bins.cni = Some(daemons::find_tern_binary("tern-cni", opts)?);
    }
    if has(Role::Gobgp) {
        bins.gobgpd = Some(daemons::require_peer_tool("gobgpd", "gobgpd")?);
        daemons::require_peer_tool("gobgp", "gobgpd")?;
    }
    if has(Role::Bird) {
        bins.bird = Some(daemons::require_peer_tool("bird", "bird2")?);
        daemons::require_peer_tool("birdc", "bird2")?;
    }
    Ok(bins)
}

/// Refuses when this lab's state or any of its namespaces exist.
fn refuse_if_present(topo: &Topology, opts: &Options) -> Result<(), LabError> {
    let already = |detail: String| LabError::AlreadyUp {
        lab: topo.name.clone(),
        detail,
    };
    let lab_dir = LabState::dir(&opts.state_root, &topo.name);
    if lab_dir.exists() {
        return Err(already(format!(
            "state directory {} exists",
            lab_dir.display()
        )));
    }
    let present = down::lab_namespaces(&topo.name, None, opts)?;
    if !present.is_empty() {
        return Err(already(format!("namespaces exist: {}", present.join(", "))));
    }
    Ok(())
}

fn initial_state(topo: &Topology, lab_dir: &Path) -> LabState {
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    LabState {
        version: STATE_VERSION,
        lab: topo.name.clone(),
        topology_file: std::path::absolute(&topo.file).unwrap_or_else(|_| topo.file.clone()),
        phase: Phase::Starting,
        started_unix,
        nodes: topo
            .nodes
            .iter()
            .map(|n| {
                let dir = lab_dir.join(&n.name);
                NodeState {
                    name: n.name.clone(),
                    role: n.role,
                    namespace: topo.namespace(&n.name),
                    instance: topo.namespace(&n.name),
                    namespace_created: false,
                    log: dir.join("node.log"),
                    dir,
                    run_dirs: Vec::new(),
                    processes: Vec::new(),
                    pods: Vec::new(),
                }
            })
            .collect(),
    }
}

/// Applies `f` to the node's state and saves the state file.
fn record(
    state: &mut LabState,
    opts: &Options,
    node: &str,
    f: impl FnOnce(&mut NodeState),
) -> Result<(), LabError> {
    if let Some(ns) = state.node_mut(node) {
        f(ns);
    }
    state.save(&opts.state_root)
}

fn node_paths(state: &LabState, node: &str) -> Result<(String, PathBuf, PathBuf), LabError> {
    state
        .nodes
        .iter()
        .find(|n| n.name == node)
        .map(|n| (n.namespace.clone(), n.dir.clone(), n.log.clone()))
        .ok_or_else(|| LabError::State {
            path: PathBuf::from(&state.lab),
            reason: format!("node {node} missing from the state"),
        })
}

fn build(
    topo: &Topology,
    opts: &Options,
    bins: &Bins,
    state: &mut LabState,
) -> Result<(), LabError> {
    // Namespaces and node directories.
    for node in &topo.nodes {
        let (namespace, dir, _) = node_paths(state, &node.name)?;
        sys::create_dir(&dir, 0o755)?;
        tracing::info!(node = %node.name, %namespace, "creating namespace");
        if netns::exists(&namespace) {
            return Err(LabError::AlreadyUp {
                lab: topo.name.clone(),
                detail: format!("namespace {namespace} appeared while starting"),
            });
        }
        // A half-done `ip netns add` is found by the teardown's sweep.
        netns::add(&namespace)?;
        record(state, opts, &node.name, |n| n.namespace_created = true)?;
    }

    // Links.
    for link in &topo.links {
        let a = topo.namespace(&link.a.node);
        let b = topo.namespace(&link.b.node);
        tracing::info!(a = %link.a, b = %link.b, "creating link");
        netns::add_veth(
            &VethEnd {
                namespace: &a,
                interface: &link.a.interface,
            },
            &VethEnd {
                namespace: &b,
                interface: &link.b.interface,
            },
            link.mtu,
        )?;
    }

    // Daemons.
    for node in &topo.nodes {
        let (namespace, dir, log) = node_paths(state, &node.name)?;
        let env = NodeEnv {
            node,
            namespace: &namespace,
            dir: &dir,
            log: &log,
        };
        match node.role {
            Role::Frr => {
                let (conf, run_dir) = daemons::prepare_frr(&env)?;
                record(state, opts, &node.name, |n| n.run_dirs.extend(run_dir))?;
                for daemon in daemons::frr_daemons(node)? {
                    let proc = daemons::start_frr_daemon(&env, daemon, &conf)?;
                    record(state, opts, &node.name, |n| n.processes.push(proc))?;
                }
            }
            Role::Tern => {
                let ternd = Bins::get(&bins.ternd, "ternd")?;
                let (conf, run_dir) = daemons::prepare_tern(&env)?;
                record(state, opts, &node.name, |n| n.run_dirs.extend(run_dir))?;
                let proc = daemons::start_ternd(&env, ternd, &conf)?;
                record(state, opts, &node.name, |n| n.processes.push(proc))?;
            }
            Role::Gobgp => {
                let gobgpd = Bins::get(&bins.gobgpd, "gobgpd")?;
                let conf = daemons::prepare_gobgp(&env, gobgpd)?;
                let proc = daemons::start_gobgpd(&env, gobgpd, &conf)?;
                record(state, opts, &node.name, |n| n.processes.push(proc))?;
            }
            Role::Bird => {
                let bird = Bins::get(&bins.bird, "bird")?;
                let conf = daemons::prepare_bird(&env, bird)?;
                let proc = daemons::start_bird(&env, bird, &conf)?;
                record(state, opts, &node.name, |n| n.processes.push(proc))?;
            }
            Role::Host => {}
        }
    }

    // Exec lines, node by node, in file order.
    for node in &topo.nodes {
        run_exec_lines(node, &topo.namespace(&node.name))?;
    }

    wait_ready(opts, bins, state)?;
    // Pods, as a container runtime makes them: ternd answers by now.
    if let Some(cni) = &bins.cni {
        crate::pods::add_pods(topo, cni, state, &mut |s| s.save(&opts.state_root))?;
    }
    state.phase = Phase::Up;
    state.save(&opts.state_root)
}

fn run_exec_lines(node: &Node, namespace: &str) -> Result<(), LabError> {
    for (i, line) in node.exec.iter().enumerate() {
        tracing::info!(node = %node.name, line = %line.line, "exec");
        let mut cmd = sys::nsenter(namespace, &line.argv);
        cmd.envs(&node.env);
        let failed = |status: String, output: String| LabError::ExecFailed {
            node: node.name.clone(),
            index: i + 1,
            line: line.line.clone(),
            status,
            output,
        };
        match sys::capture(&mut cmd, EXEC_LINE_TIMEOUT) {
            Ok(out) if out.status.success() => {}
            Ok(out) => return Err(failed(sys::describe_status(out.status), out.combined())),
            Err(LabError::Command { status, output, .. }) => return Err(failed(status, output)),
            Err(other) => return Err(other),
        }
    }
    Ok(())
}

/// Polls every node with daemons until its check command succeeds, failing
/// early when one of its processes dies.
fn wait_ready(opts: &Options, bins: &Bins, state: &LabState) -> Result<(), LabError> {
    let started = Instant::now();
    let deadline = started + opts.ready_timeout;
    let tern = bins.tern.as_deref();
    let mut pending: Vec<&NodeState> = state
        .nodes
        .iter()
        .filter(|n| n.role != Role::Host)
        .collect();
    let mut last_error: Vec<String> = vec![String::new(); pending.len()];
    while !pending.is_empty() {
        let mut i = 0;
        while i < pending.len() {
            let node = pending[i];
            if let Some(dead) = node.processes.iter().find(|p| !p.is_running()) {
                return Err(LabError::DaemonFailed {
                    node: node.name.clone(),
                    daemon: dead.name.clone(),
                    reason: format!(
                        "pid {} exited while waiting for the node to answer",
                        dead.pid
                    ),
                    log_tail: tail_for(node, dead),
                });
            }
            let Some(mut check) = daemons::ready_check(node, tern) else {
                pending.remove(i);
                last_error.remove(i);
                continue;
            };
            match sys::capture(&mut check, PROBE_TIMEOUT) {
                Ok(out) if out.status.success() => {
                    tracing::info!(node = %node.name, after_ms = started.elapsed().as_millis() as u64, "node answers");
                    pending.remove(i);
                    last_error.remove(i);
                    continue;
                }
                Ok(out) => {
                    last_error[i] = format!(
                        "{}: {}",
                        sys::describe_status(out.status),
                        sys::strip_vtysh_noise(&out.combined()).trim()
                    );
                }
                Err(e) => last_error[i] = e.to_string(),
            }
            i += 1;
        }
        if pending.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            let node = pending[0];
            let check = daemons::ready_check(node, tern)
                .map(|c| sys::describe(&c))
                .unwrap_or_default();
            let logs: Vec<PathBuf> = node
                .processes
                .iter()
                .map(|p| p.log.clone())
                .chain(std::iter::once(node.log.clone()))
                .collect();
            return Err(LabError::NotReady {
                node: node.name.clone(),
                waited: opts.ready_timeout,
                check,
                last_error: last_error[0].clone(),
                log_tail: sys::log_tail(&dedup(logs), LOG_TAIL_LINES),
            });
        }
        thread::sleep(PROBE_INTERVAL);
    }
    Ok(())
}

fn tail_for(node: &NodeState, proc: &ProcessRecord) -> String {
    sys::log_tail(
        &dedup(vec![proc.log.clone(), node.log.clone()]),
        LOG_TAIL_LINES,
    )
}

fn dedup(mut paths: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut seen = std::collections::BTreeSet::new();
    paths.retain(|p| seen.insert(p.clone()));
    paths
}
