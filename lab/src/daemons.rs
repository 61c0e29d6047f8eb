//! Starting and probing the daemons of FRR, Tern, GoBGP and BIRD nodes:
//! where their binaries are, their run directories and config copies, the
//! detached `setsid nsenter --net=... -- DAEMON` launch, and the vtysh / tern /
//! gobgp / birdc commands that tell whether a node answers.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::Options;
use crate::error::LabError;
use crate::names::{FRR_RUN_DIR, FRR_SBIN_DIR, NETNS_DIR, TERN_RUN_DIR};
use crate::process::{self, ProcessRecord};
use crate::state::NodeState;
use crate::sys;
use crate::topology::{Node, Role};

/// FRR daemons started on every FRR node, in start order.
pub const FRR_DAEMONS: &[&str] = &["zebra", "bgpd"];
/// FRR daemons a node may turn on in a `daemons` file bound to
/// /etc/frr/daemons (`bfdd=yes`, as in FRR's containers), started after
/// [`FRR_DAEMONS`] in this order.
pub const FRR_OPTIONAL_DAEMONS: &[&str] = &["staticd", "bfdd"];
/// Container path of FRR's daemons file.
pub const FRR_DAEMONS_FILE: &str = "/etc/frr/daemons";

/// The FRR daemons to start on `node`: zebra and bgpd, and those of
/// [`FRR_OPTIONAL_DAEMONS`] its daemons file sets to `yes`.
pub(crate) fn frr_daemons(node: &Node) -> Result<Vec<&'static str>, LabError> {
    let mut out = FRR_DAEMONS.to_vec();
    let Some(bind) = node.binds.iter().find(|b| b.container == FRR_DAEMONS_FILE) else {
        return Ok(out);
    };
    let text = fs::read_to_string(&bind.host)
        .map_err(|e| LabError::io(format!("reading {}", bind.host.display()), e))?;
    for d in FRR_OPTIONAL_DAEMONS {
        let on = text.lines().any(|l| {
            l.split_once('=')
                .is_some_and(|(k, v)| k.trim() == *d && v.trim() == "yes")
        });
        if on {
            out.push(d);
        }
    }
    Ok(out)
}

/// The user FRR's daemons run as and which must own their run directory.
const FRR_USER: &str = "frr";
/// How long a `zebra -d` / `bgpd -d` launch may take to daemonize.
const DAEMONIZE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for an FRR pid file after the daemonizing parent exited.
const PID_FILE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for a foreground daemon's launcher to exec into it.
const EXEC_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a configuration check (`gobgpd -d`, `bird -p`) may take.
const CONFIG_CHECK_TIMEOUT: Duration = Duration::from_secs(30);
/// BIRD's control socket in the node's directory (`birdc -s`).
pub const BIRD_SOCKET: &str = "bird.ctl";
/// Longest unix socket path (sun_path is 108 bytes with its NUL).
const MAX_SOCKET_PATH: usize = 107;
/// Lines of log shown when a daemon fails.
pub(crate) const LOG_TAIL_LINES: usize = 30;

/// Where the node's files live and what it is called.
pub(crate) struct NodeEnv<'a> {
    pub node: &'a Node,
    /// Namespace and daemon instance name.
    pub namespace: &'a str,
    /// The node's directory under the lab's state directory.
    pub dir: &'a Path,
    /// The node's console log.
    pub log: &'a Path,
}

/// Path of an FRR daemon binary.
pub fn frr_daemon_path(daemon: &str) -> PathBuf {
    Path::new(FRR_SBIN_DIR).join(daemon)
}

/// Finds a tool of the peers' Debian packages (gobgpd, gobgp, bird, birdc):
/// on PATH, else in /usr/sbin or /usr/bin (PATH may lack sbin).
pub(crate) fn peer_tool(name: &str) -> Option<PathBuf> {
    sys::which(name).or_else(|| {
        ["/usr/sbin", "/usr/bin"]
            .iter()
            .map(|dir| Path::new(dir).join(name))
            .find(|p| sys::is_executable(p))
    })
}

/// Like `peer_tool`, but a missing tool is an error naming its package.
pub(crate) fn require_peer_tool(name: &str, package: &str) -> Result<PathBuf, LabError> {
    peer_tool(name).ok_or_else(|| LabError::MissingTool {
        tool: name.to_owned(),
        hint: format!("install the Debian package {package} (bash lab/setup.sh)"),
    })
}

/// Finds `ternd` or `tern`: in `opts.tern_bin_dir`, else $TERN_BIN_DIR; then
/// next to the running executable (and, for a test binary in
/// target/PROFILE/deps, in target/PROFILE); then on PATH.
pub fn find_tern_binary(name: &str, opts: &Options) -> Result<PathBuf, LabError> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    match &opts.tern_bin_dir {
        Some(dir) => dirs.push(dir.clone()),
        None => {
            if let Some(dir) = std::env::var_os("TERN_BIN_DIR").filter(|d| !d.is_empty()) {
                dirs.push(PathBuf::from(dir));
            }
        }
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        dirs.push(dir.to_owned());
        if dir.file_name().is_some_and(|n| n == "deps")
            && let Some(parent) = dir.parent()
        {
            dirs.push(parent.to_owned());
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    let mut searched = Vec::new();
    for dir in dirs {
        let candidate = dir.join(name);
        if sys::is_executable(&candidate) {
            return Ok(fs::canonicalize(&candidate).unwrap_or(candidate));
        }
        searched.push(dir);
    }
    Err(LabError::BinaryNotFound {
        name: name.to_owned(),
        searched,
    })
}

/// Copies the node's configuration into its directory (daemons read it as
/// their own user, and a copy keeps `write memory` away from the source).
fn copy_config(
    env: &NodeEnv<'_>,
    file_name: &str,
    owner: Option<&str>,
) -> Result<PathBuf, LabError> {
    let Some(source) = &env.node.config else {
        return Err(LabError::State {
            path: env.dir.to_owned(),
            reason: format!("node {} has no configuration file", env.node.name),
        });
    };
    let target = env.dir.join(file_name);
    fs::copy(source, &target).map_err(|e| {
        LabError::io(
            format!("copying {} to {}", source.display(), target.display()),
            e,
        )
    })?;
    fs::set_permissions(&target, fs::Permissions::from_mode(0o640))
        .map_err(|e| LabError::io(format!("chmod {}", target.display()), e))?;
    if let Some(owner) = owner {
        sys::chown_to(&target, owner)?;
    }
    Ok(target)
}

/// Creates `parent/instance` (and `parent` if missing); returns the path if
/// this call created it.
fn make_run_dir(
    parent: &str,
    instance: &str,
    owner: Option<&str>,
) -> Result<Option<PathBuf>, LabError> {
    let parent = Path::new(parent);
    if sys::create_dir(parent, 0o755)?
        && let Some(owner) = owner
    {
        sys::chown_to(parent, owner)?;
    }
    let dir = parent.join(instance);
    let created = sys::create_dir(&dir, 0o755)?;
    if let Some(owner) = owner {
        sys::chown_to(&dir, owner)?;
    }
    Ok(created.then_some(dir))
}

/// Prepares an FRR node: its directory writable by `frr` (pid files), its
/// config copy, and /var/run/frr/INSTANCE owned by `frr`. Returns the config
/// copy and the run directory if it was created here.
pub(crate) fn prepare_frr(env: &NodeEnv<'_>) -> Result<(PathBuf, Option<PathBuf>), LabError> {
    sys::chown_to(env.dir, FRR_USER)?;
    let conf = copy_config(env, "frr.conf", Some(FRR_USER))?;
    let run_dir = make_run_dir(FRR_RUN_DIR, env.namespace, Some(FRR_USER))?;
    Ok((conf, run_dir))
}

/// Prepares a Tern node: its config copy and /run/tern/INSTANCE.
pub(crate) fn prepare_tern(env: &NodeEnv<'_>) -> Result<(PathBuf, Option<PathBuf>), LabError> {
    let conf = copy_config(env, "ternd.conf", None)?;
    let run_dir = make_run_dir(TERN_RUN_DIR, env.namespace, None)?;
    Ok((conf, run_dir))
}

/// `setsid nsenter --net=/run/netns/NS -- PROGRAM ARGS...`, detached: stdin
/// from /dev/null, stdout and stderr appended to `log`, the node's `env:`
/// added to the environment.
fn detached(
    env: &NodeEnv<'_>,
    log: &Path,
    program: &Path,
    args: &[OsString],
) -> Result<Command, LabError> {
    let log_out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| LabError::io(format!("opening {}", log.display()), e))?;
    let log_err = log_out
        .try_clone()
        .map_err(|e| LabError::io(format!("opening {}", log.display()), e))?;
    let mut cmd = Command::new("setsid");
    cmd.arg("nsenter")
        .arg(format!("--net={NETNS_DIR}/{}", env.namespace))
        .arg("--")
        .arg(program)
        .args(args)
        .envs(&env.node.env)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log_out))
        .stderr(Stdio::from(log_err));
    Ok(cmd)
}

/// Starts one FRR daemon (`-d`, so it daemonizes itself) and reads its pid
/// from its pid file.
pub(crate) fn start_frr_daemon(
    env: &NodeEnv<'_>,
    daemon: &str,
    conf: &Path,
) -> Result<ProcessRecord, LabError> {
    let program = frr_daemon_path(daemon);
    let pid_file = env.dir.join(format!("{daemon}.pid"));
    let daemon_log = env.dir.join(format!("{daemon}.log"));
    let args: Vec<OsString> = vec![
        "-d".into(),
        "-N".into(),
        env.namespace.into(),
        "-f".into(),
        conf.into(),
        "-i".into(),
        pid_file.clone().into(),
        // No TCP vty: vtysh uses the unix sockets.
        "-P".into(),
        "0".into(),
        format!("--log=file:{}", daemon_log.display()).into(),
    ];
    let mut cmd = detached(env, env.log, &program, &args)?;
    let command = sys::describe(&cmd);
    tracing::info!(node = %env.node.name, %command, "starting {daemon}");
    let failed = |reason: String| LabError::DaemonFailed {
        node: env.node.name.clone(),
        daemon: daemon.to_owned(),
        reason,
        log_tail: sys::log_tail(&[daemon_log.clone(), env.log.to_owned()], LOG_TAIL_LINES),
    };
    let mut child = cmd.spawn().map_err(|source| LabError::Spawn {
        command: command.clone(),
        source,
    })?;
    let status = sys::wait_deadline(&mut child, DAEMONIZE_TIMEOUT)
        .map_err(|e| LabError::io(&command, e))?
        .ok_or_else(|| {
            failed(format!(
                "`{command}` did not daemonize within {} s",
                DAEMONIZE_TIMEOUT.as_secs()
            ))
        })?;
    if !status.success() {
        return Err(failed(format!(
            "`{command}` ended with {}",
            sys::describe_status(status)
        )));
    }
    let deadline = Instant::now() + PID_FILE_TIMEOUT;
    let pid = loop {
        let read = fs::read_to_string(&pid_file).ok();
        if let Some(pid) = read.and_then(|t| t.trim().parse::<i32>().ok())
            && process::runs_program(pid, &program)
        {
            break pid;
        }
        if Instant::now() >= deadline {
            return Err(failed(format!(
                "no running process in pid file {} {} s after start",
                pid_file.display(),
                PID_FILE_TIMEOUT.as_secs()
            )));
        }
        thread::sleep(Duration::from_millis(50));
    };
    tracing::info!(node = %env.node.name, pid, "{daemon} running");
    Ok(ProcessRecord {
        name: daemon.to_owned(),
        pid,
        program,
        start_time: process::start_time(pid),
        log: daemon_log,
    })
}

/// Starts ternd in the foreground of a detached child and records its pid.
pub(crate) fn start_ternd(
    env: &NodeEnv<'_>,
    ternd: &Path,
    conf: &Path,
) -> Result<ProcessRecord, LabError> {
    let args: Vec<OsString> = vec!["-N".into(), env.namespace.into(), "-f".into(), conf.into()];
    start_foreground(env, "ternd", ternd, &args, env.log)
}

/// Prepares a GoBGP node: checks its configuration with `gobgpd --dry-run`
/// and returns the config copy.
pub(crate) fn prepare_gobgp(env: &NodeEnv<'_>, gobgpd: &Path) -> Result<PathBuf, LabError> {
    let conf = copy_config(env, "gobgpd.conf", None)?;
    let mut check = Command::new(gobgpd);
    check.args(gobgpd_config_args(&conf)).arg("--dry-run");
    check_config(env, "gobgpd", &mut check)?;
    Ok(conf)
}

fn gobgpd_config_args(conf: &Path) -> Vec<OsString> {
    vec!["-f".into(), conf.into(), "-t".into(), "toml".into()]
}

/// Starts gobgpd in the foreground (plain-text log in `gobgpd.log`, gRPC API
/// on its default :50051, which is the node's own inside its namespace).
pub(crate) fn start_gobgpd(
    env: &NodeEnv<'_>,
    gobgpd: &Path,
    conf: &Path,
) -> Result<ProcessRecord, LabError> {
    let mut args = gobgpd_config_args(conf);
    args.extend(["--log-plain".into(), "--pprof-disable".into()]);
    let log = env.dir.join("gobgpd.log");
    start_foreground(env, "gobgpd", gobgpd, &args, &log)
}

/// BIRD's control socket of a node whose directory is `dir`.
pub fn bird_socket(dir: &Path) -> PathBuf {
    dir.join(BIRD_SOCKET)
}

/// Prepares a BIRD node: checks its configuration with `bird -p` and that its
/// control socket path fits a unix socket; returns the config copy.
pub(crate) fn prepare_bird(env: &NodeEnv<'_>, bird: &Path) -> Result<PathBuf, LabError> {
    let socket = bird_socket(env.dir);
    let len = socket.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(LabError::DaemonFailed {
            node: env.node.name.clone(),
            daemon: "bird".to_owned(),
            reason: format!(
                "its control socket {} is {len} bytes long, more than a unix socket \
                 allows ({MAX_SOCKET_PATH}): use a shorter lab or node name",
                socket.display()
            ),
            log_tail: String::new(),
        });
    }
    let conf = copy_config(env, "bird.conf", None)?;
    let mut check = Command::new(bird);
    check.arg("-p").arg("-c").arg(&conf);
    check_config(env, "bird", &mut check)?;
    Ok(conf)
}

/// Starts BIRD in the foreground (`-f`: its `log stderr` lines go to
/// `bird.log`), control socket `bird.ctl` and pid file `bird.pid` in the
/// node's directory.
pub(crate) fn start_bird(
    env: &NodeEnv<'_>,
    bird: &Path,
    conf: &Path,
) -> Result<ProcessRecord, LabError> {
    let args: Vec<OsString> = vec![
        "-f".into(),
        "-c".into(),
        conf.into(),
        "-s".into(),
        bird_socket(env.dir).into(),
        "-P".into(),
        env.dir.join("bird.pid").into(),
    ];
    let log = env.dir.join("bird.log");
    start_foreground(env, "bird", bird, &args, &log)
}

/// Runs a daemon's configuration check; a failure names the daemon and shows
/// what the check printed.
fn check_config(env: &NodeEnv<'_>, daemon: &str, check: &mut Command) -> Result<(), LabError> {
    let command = sys::describe(check);
    let out = sys::capture(check, CONFIG_CHECK_TIMEOUT)?;
    if out.status.success() {
        return Ok(());
    }
    Err(LabError::DaemonFailed {
        node: env.node.name.clone(),
        daemon: daemon.to_owned(),
        reason: format!(
            "its configuration was refused: `{command}` ended with {}",
            sys::describe_status(out.status)
        ),
        log_tail: out.combined(),
    })
}

/// Starts a daemon that stays in the foreground of a detached child (output
/// appended to `log`) and records its pid.
fn start_foreground(
    env: &NodeEnv<'_>,
    daemon: &str,
    program: &Path,
    args: &[OsString],
    log: &Path,
) -> Result<ProcessRecord, LabError> {
    let mut cmd = detached(env, log, program, args)?;
    let command = sys::describe(&cmd);
    tracing::info!(node = %env.node.name, %command, "starting {daemon}");
    let failed = |reason: String| LabError::DaemonFailed {
        node: env.node.name.clone(),
        daemon: daemon.to_owned(),
        reason,
        log_tail: sys::log_tail(&[log.to_owned()], LOG_TAIL_LINES),
    };
    let mut child = cmd.spawn().map_err(|source| LabError::Spawn {
        command: command.clone(),
        source,
    })?;
    let pid = i32::try_from(child.id()).map_err(|_| failed("pid out of range".to_owned()))?;
    // setsid and nsenter exec in turn (neither forks here): wait until the
    // pid runs the daemon itself, so the record names the right program.
    let deadline = Instant::now() + EXEC_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| LabError::io(&command, e))? {
            return Err(failed(format!(
                "it exited at once with {}",
                sys::describe_status(status)
            )));
        }
        if process::runs_program(pid, program) {
            break;
        }
        if Instant::now() >= deadline {
            return Err(failed(format!(
                "pid {pid} did not become {} within {} s",
                program.display(),
                EXEC_TIMEOUT.as_secs()
            )));
        }
        thread::sleep(Duration::from_millis(20));
    }
    tracing::info!(node = %env.node.name, pid, "{daemon} running");
    Ok(ProcessRecord {
        name: daemon.to_owned(),
        pid,
        program: program.to_owned(),
        start_time: process::start_time(pid),
        log: log.to_owned(),
    })
}

/// The command that answers when a node's daemons are ready, if it has any.
pub(crate) fn ready_check(node: &NodeState, tern: Option<&Path>) -> Option<Command> {
    let instance = node.instance.as_str();
    match node.role {
        Role::Frr => Some(vtysh(instance, "show version")),
        Role::Tern => tern.map(|t| tern_cli(t, instance, "show version")),
        Role::Gobgp => Some(gobgp_cli(&node.namespace, &["global"])),
        Role::Bird => Some(birdc(&node.dir, "show status")),
        Role::Host => None,
    }
}

/// The commands `status` shows for a node.
pub(crate) fn status_checks(node: &NodeState, tern: Option<&Path>) -> Vec<Command> {
    let instance = node.instance.as_str();
    match node.role {
        Role::Frr => vec![vtysh(instance, "show bgp summary")],
        Role::Tern => tern
            .map(|t| {
                let mut v = vec![
                    tern_cli(t, instance, "show version"),
                    tern_cli(t, instance, "show interface brief"),
                    tern_cli(t, instance, "show bgp summary"),
                ];
                if !node.pods.is_empty() {
                    v.push(tern_cli(t, instance, "show datapath endpoints"));
                }
                v
            })
            .unwrap_or_default(),
        Role::Gobgp => vec![gobgp_cli(&node.namespace, &["neighbor"])],
        Role::Bird => vec![birdc(&node.dir, "show protocols")],
        Role::Host => Vec::new(),
    }
}

fn vtysh(instance: &str, command: &str) -> Command {
    let mut cmd = Command::new("vtysh");
    cmd.args(["-N", instance, "-c", command]);
    cmd
}

fn tern_cli(tern: &Path, instance: &str, command: &str) -> Command {
    let mut cmd = Command::new(tern);
    cmd.args(["-N", instance, "-c", command]);
    cmd
}

/// `gobgp ARGS...` inside the node's namespace, where it reaches the node's
/// gobgpd at its default 127.0.0.1:50051.
fn gobgp_cli(namespace: &str, args: &[&str]) -> Command {
    let mut argv = vec![peer_tool("gobgp").unwrap_or_else(|| PathBuf::from("gobgp"))];
    argv.extend(args.iter().map(PathBuf::from));
    sys::nsenter(namespace, &argv)
}

/// `birdc -s DIR/bird.ctl COMMAND` (a unix socket: no namespace needed).
fn birdc(dir: &Path, command: &str) -> Command {
    let mut cmd = Command::new(peer_tool("birdc").unwrap_or_else(|| PathBuf::from("birdc")));
    cmd.arg("-s").arg(bird_socket(dir));
    cmd.args(command.split_whitespace());
    cmd
}
