//! Running external programs (ip, nsenter, FRR, ternd, vtysh, tern): with
//! captured output and a deadline, with errors that show the command line and
//! what it printed; plus PATH lookup, log tails and small file helpers.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::LabError;
use crate::names::NETNS_DIR;

/// The captured result of a finished command.
#[derive(Debug, Clone)]
pub(crate) struct Captured {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Captured {
    /// stdout followed by stderr, as a user would have seen them.
    pub fn combined(&self) -> String {
        let mut out = self.stdout.clone();
        if !self.stderr.is_empty() {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&self.stderr);
        }
        out
    }
}

/// A command line as text, quoted so it can be pasted into a shell.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut words = vec![quote(cmd.get_program())];
    words.extend(cmd.get_args().map(quote));
    words.join(" ")
}

fn quote(word: &OsStr) -> String {
    let text = word.to_string_lossy();
    shlex::try_quote(&text)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| text.into_owned())
}

/// A `Command` that runs `argv` inside the network namespace `namespace`,
/// through `nsenter --net` (not `ip netns exec`, which remounts /sys and so
/// hides /sys/fs/bpf).
pub(crate) fn nsenter(namespace: &str, argv: &[impl AsRef<OsStr>]) -> Command {
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net={NETNS_DIR}/{namespace}")).arg("--");
    cmd.args(argv);
    cmd
}

/// Runs a command to completion with stdin closed, capturing its output; it
/// is killed if it runs longer than `timeout`.
pub(crate) fn capture(cmd: &mut Command, timeout: Duration) -> Result<Captured, LabError> {
    let command = describe(cmd);
    tracing::debug!(%command, "running");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| LabError::Spawn {
            command: command.clone(),
            source,
        })?;
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());
    let status = wait_deadline(&mut child, timeout).map_err(|e| LabError::io(&command, e))?;
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    match status {
        Some(status) => Ok(Captured {
            status,
            stdout,
            stderr,
        }),
        None => Err(LabError::Command {
            command,
            status: format!("killed after {} s without finishing", timeout.as_secs()),
            output: format!("{stdout}{stderr}"),
        }),
    }
}

/// Like `capture`, but a non-zero exit is an error carrying the output.
pub(crate) fn run(cmd: &mut Command, timeout: Duration) -> Result<Captured, LabError> {
    let out = capture(cmd, timeout)?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(LabError::Command {
            command: describe(cmd),
            status: describe_status(out.status),
            output: out.combined(),
        })
    }
}

/// Waits for `child` until `timeout`; kills and reaps it when time is up
/// (returning `None`).
pub(crate) fn wait_deadline(
    child: &mut Child,
    timeout: Duration,
) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            // The child may exit between the check and the kill: both are fine.
            let _ = child.kill();
            child.wait()?;
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn reader<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            // A read error only truncates what we show; the exit status decides.
            let _ = pipe.read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// An exit status in words: `exit code 2` or `killed by signal 9`.
pub(crate) fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        (None, None) => "unknown status".to_owned(),
    }
}

/// Finds an executable called `name` on PATH.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

/// Whether `path` is a regular file with an execute bit.
pub(crate) fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The last `lines` lines of each existing file, each block headed by its path.
pub(crate) fn log_tail(paths: &[PathBuf], lines: usize) -> String {
    let mut out = String::new();
    for path in paths {
        let Ok(bytes) = fs::read(path) else { continue };
        let text = String::from_utf8_lossy(&bytes);
        let all: Vec<&str> = text.lines().collect();
        if all.is_empty() {
            continue;
        }
        out.push_str(&format!("==> {} <==\n", path.display()));
        for line in &all[all.len().saturating_sub(lines)..] {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Removes lines vtysh prints on every call when an instance has no
/// /etc/frr/INSTANCE/vtysh.conf (harmless, and the runner does not create one).
pub(crate) fn strip_vtysh_noise(text: &str) -> String {
    text.lines()
        .filter(|l| !(l.starts_with("% Can't open configuration file") && l.contains("vtysh.conf")))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Creates a directory (not its parents) with `mode`; `Ok(false)` if it
/// already existed.
pub(crate) fn create_dir(path: &Path, mode: u32) -> Result<bool, LabError> {
    match fs::create_dir(path) {
        Ok(()) => {
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
                .map_err(|e| LabError::io(format!("chmod {}", path.display()), e))?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(LabError::io(format!("mkdir {}", path.display()), e)),
    }
}

/// Changes the owner of `path` to the user and group called `name`.
pub(crate) fn chown_to(path: &Path, name: &str) -> Result<(), LabError> {
    let user = nix::unistd::User::from_name(name)
        .map_err(|e| LabError::io(format!("looking up user {name}"), e.into()))?
        .ok_or_else(|| LabError::MissingTool {
            tool: format!("user {name}"),
            hint: "install the Debian package that creates it (run lab/setup.sh)".to_owned(),
        })?;
    nix::unistd::chown(path, Some(user.uid), Some(user.gid))
        .map_err(|e| LabError::io(format!("chown {name}:{name} {}", path.display()), e.into()))
}

/// Fails unless the process runs as root.
pub(crate) fn require_root() -> Result<(), LabError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(LabError::NotRoot)
    }
}

/// Fails with a helpful message unless every tool is on PATH.
pub(crate) fn require_tools(tools: &[&str]) -> Result<(), LabError> {
    for tool in tools {
        if which(tool).is_none() {
            return Err(LabError::MissingTool {
                tool: (*tool).to_owned(),
                hint: "install it (bash lab/setup.sh installs everything the lab uses)".to_owned(),
            });
        }
    }
    Ok(())
}
