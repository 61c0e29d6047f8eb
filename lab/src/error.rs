//! Error types of the lab runner: `TopologyError` for what is wrong in a
//! topology file, `LabError` for what went wrong while building, inspecting or
//! tearing down a lab on this machine.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::topology::Role;

/// A topology file that cannot be used, with the file it came from.
#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}", file.display())]
pub struct TopologyError {
    /// The topology file as given by the caller.
    pub file: PathBuf,
    /// What is wrong with it.
    pub kind: TopologyErrorKind,
}

/// What is wrong with a topology file.
#[derive(Debug, thiserror::Error)]
pub enum TopologyErrorKind {
    #[error("cannot read the file: {0}")]
    Read(#[source] io::Error),
    #[error("not a valid containerlab topology: {0}")]
    Yaml(#[source] serde_yaml::Error),
    #[error("the lab has no `name`")]
    MissingName,
    #[error("`prefix: {0}` is not supported (tern-lab always names namespaces `clab-LAB-NODE`)")]
    UnsupportedPrefix(String),
    #[error("the file has no `topology.nodes`")]
    NoNodes,
    #[error("lab name `{name}` is not usable: {reason}")]
    BadLabName { name: String, reason: String },
    #[error("node name `{node}` is not usable: {reason}")]
    BadNodeName { node: String, reason: String },
    #[error(
        "node `{node}`: namespace name `{namespace}` is {len} characters long, \
         more than the {max} that FRR and ternd socket paths allow: shorten the lab or node name"
    )]
    NamespaceTooLong {
        node: String,
        namespace: String,
        len: usize,
        max: usize,
    },
    #[error(
        "node `{node}`: unknown key `{key}` (tern-lab understands: kind, image, binds, exec, env, startup-config)"
    )]
    UnknownNodeKey { node: String, key: String },
    #[error("node `{node}`: {message}")]
    BadNode { node: String, message: String },
    #[error(
        "node `{node}` has no `kind` (tern-lab does not apply `topology.kinds` or `defaults`; set `kind: linux`)"
    )]
    MissingKind { node: String },
    #[error("node `{node}`: kind `{kind}` is not supported by tern-lab (only `linux`)")]
    UnsupportedKind { node: String, kind: String },
    #[error(
        "node `{node}` has no `image` (tern-lab does not apply `topology.kinds` or `defaults`; the image decides the node's role)"
    )]
    MissingImage { node: String },
    #[error("node `{node}`: bind `{bind}` is not `host:container[:ro|rw]`: {reason}")]
    BadBind {
        node: String,
        bind: String,
        reason: String,
    },
    #[error("node `{node}`: the host side of bind `{bind}` does not exist: {}", path.display())]
    BindSourceMissing {
        node: String,
        bind: String,
        path: PathBuf,
    },
    #[error(
        "node `{node}` ({role} node) has no configuration: add a bind `HOST_FILE:{container_path}` or `startup-config: HOST_FILE`"
    )]
    MissingConfig {
        node: String,
        role: Role,
        container_path: &'static str,
    },
    #[error("node `{node}`: configuration file {} does not exist or is not a file", path.display())]
    ConfigNotFound { node: String, path: PathBuf },
    #[error(
        "node `{node}`: the bind for {container_path} ({}) and `startup-config` ({}) name different files: keep one",
        bind.display(), startup.display()
    )]
    AmbiguousConfig {
        node: String,
        container_path: &'static str,
        bind: PathBuf,
        startup: PathBuf,
    },
    #[error("node `{node}`: exec line {line}: {reason}")]
    BadExec {
        node: String,
        line: usize,
        reason: String,
    },
    #[error("node `{node}`: env `{key}`: {reason}")]
    BadEnv {
        node: String,
        key: String,
        reason: String,
    },
    #[error("link #{link}: {reason}")]
    BadLink { link: usize, reason: String },
    #[error("link #{link}: endpoint `{endpoint}` is not `node:interface`")]
    BadEndpoint { link: usize, endpoint: String },
    #[error(
        "link #{link}: endpoint `{endpoint}` names node `{node}`, which is not declared under topology.nodes"
    )]
    UnknownNode {
        link: usize,
        endpoint: String,
        node: String,
    },
    #[error(
        "link #{link}: endpoint `{endpoint}`: interface name `{interface}` is not usable: {reason}"
    )]
    BadInterfaceName {
        link: usize,
        endpoint: String,
        interface: String,
        reason: String,
    },
    #[error("link #{link}: interface `{node}:{interface}` is already used by link #{first_link}")]
    InterfaceReused {
        link: usize,
        node: String,
        interface: String,
        first_link: usize,
    },
}

/// A failure while building, inspecting or tearing down a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("tern-lab must run as root (it creates network namespaces and starts routing daemons)")]
    NotRoot,
    #[error("`{tool}` is needed but was not found: {hint}")]
    MissingTool { tool: String, hint: String },
    #[error("`{name}` was not found (searched: {})", format_paths(searched))]
    BinaryNotFound {
        name: String,
        searched: Vec<PathBuf>,
    },
    #[error("lab {lab} is already up: run tern-lab down ({detail})")]
    AlreadyUp { lab: String, detail: String },
    #[error("lab {lab} is not up (no state in {})", state_dir.display())]
    NotUp { lab: String, state_dir: PathBuf },
    #[error("lab {lab} has no node `{node}`")]
    UnknownNode { lab: String, node: String },
    #[error("node `{node}`: namespace {namespace} does not exist (is the lab up?)")]
    NoNamespace { node: String, namespace: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("could not run `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: io::Error,
    },
    #[error("`{command}` failed ({status}){}", format_output(output))]
    Command {
        command: String,
        status: String,
        output: String,
    },
    #[error(
        "node `{node}`: exec line {index} `{line}` failed ({status}){}",
        format_output(output)
    )]
    ExecFailed {
        node: String,
        index: usize,
        line: String,
        status: String,
        output: String,
    },
    #[error("node `{node}`: {daemon} failed: {reason}{}", format_log(log_tail))]
    DaemonFailed {
        node: String,
        daemon: String,
        reason: String,
        log_tail: String,
    },
    #[error(
        "node `{node}` did not become ready within {} s; last check `{check}`: {last_error}{}",
        waited.as_secs(), format_log(log_tail)
    )]
    NotReady {
        node: String,
        waited: Duration,
        check: String,
        last_error: String,
        log_tail: String,
    },
    #[error("state file {}: {reason}", path.display())]
    State { path: PathBuf, reason: String },
    #[error("node `{node}`, pod `{pod}`: {reason}{}", format_output(output))]
    Pod {
        node: String,
        pod: String,
        reason: String,
        output: String,
    },
    #[error(
        "bringing up lab {lab} failed: {cause}{}",
        cleanup_note(cleanup_problems)
    )]
    UpFailed {
        lab: String,
        cause: Box<LabError>,
        cleanup_problems: Vec<String>,
    },
    #[error("tearing down lab {lab} was incomplete:\n  {}", problems.join("\n  "))]
    DownIncomplete { lab: String, problems: Vec<String> },
}

impl LabError {
    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        LabError::Io {
            context: context.into(),
            source,
        }
    }

    /// The underlying cause when `up` failed and rolled back, else `self`.
    pub fn root_cause(&self) -> &LabError {
        match self {
            LabError::UpFailed { cause, .. } => cause.root_cause(),
            other => other,
        }
    }
}

fn format_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "nowhere".to_owned();
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn format_output(output: &str) -> String {
    let trimmed = output.trim_end();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!(":\n{}", indent(trimmed))
    }
}

fn format_log(tail: &str) -> String {
    let trimmed = tail.trim_end();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("\n  log tail:\n{}", indent(trimmed))
    }
}

fn cleanup_note(problems: &[String]) -> String {
    if problems.is_empty() {
        "\n  (everything it had created was removed)".to_owned()
    } else {
        format!(
            "\n  cleanup was incomplete, run `tern-lab down`:\n    {}",
            problems.join("\n    ")
        )
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
